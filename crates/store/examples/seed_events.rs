//! Fills a data directory's store with synthetic CloudTrail events, for the LookupEvents
//! benchmark (`bench/lookup-events.sh`): `seed_events <data-dir> <count> [account]`.
//!
//! The events vary like a real account's: 40 operations over 5 services, 200 users with one
//! access key each, a resource on most calls, one call in 50 denied, times spread over 30 days.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use palisade_store::{AuditRow, SqliteStore, Store};

const OPS: [(&str, &str); 8] = [
    ("kms", "Encrypt"),
    ("kms", "Decrypt"),
    ("kms", "GenerateDataKey"),
    ("secretsmanager", "GetSecretValue"),
    ("sts", "AssumeRole"),
    ("iam", "GetUser"),
    ("iam", "CreateAccessKey"),
    ("cloudtrail", "LookupEvents"),
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: seed_events <data-dir> <count> [account]"),
    );
    let count: usize = args.next().and_then(|c| c.parse().ok()).expect("a count");
    let account = args.next().unwrap_or_else(|| "123456789012".to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir).await.unwrap();
    store.ensure_account(&account).await.unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let span_ms = 30 * 86_400_000i64;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..count {
        let (svc, op) = OPS[i % OPS.len()];
        let op = format!("{op}{}", (i / OPS.len()) % 5);
        let user = format!("user-{}", (i * 7919) % 200);
        let key = format!("AKIA{:016}", (i * 7919) % 200);
        let time_ms = now_ms - span_ms + (span_ms / count as i64) * i as i64;
        let error = (i % 50 == 0).then(|| "AccessDenied".to_owned());
        let event_id = format!("{:08x}-0000-7000-8000-{:012x}", i / 65536, i);
        let resource = format!(
            "arn:aws:kms:us-east-1:{account}:key/{:08x}-1111-2222-3333-444444444444",
            i % 1000
        );
        let record = serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{account}:user/{user}"),
                             "accountId": account, "accessKeyId": key, "userName": user},
            "eventTime": "2026-11-24T00:00:00Z", "eventSource": format!("{svc}.amazonaws.com"), "eventName": op,
            "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1", "userAgent": "Boto3/1.44.5 md/Botocore#1.44.5 ua/2.1 os/linux#6.1",
            "requestParameters": {"keyId": &resource, "encryptionContext": {"purpose": "bench"}},
            "responseElements": null, "requestID": format!("req-{i}"), "eventID": event_id, "readOnly": i % 3 != 0,
            "resources": [{"ARN": &resource, "accountId": account, "type": "AWS::KMS::Key"}],
            "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account, "eventCategory": "Management",
        })
        .to_string();
        batch.push(AuditRow {
            event_id,
            event_time_ms: time_ms,
            account_id: account.clone(),
            event_source: format!("{svc}.amazonaws.com"),
            event_name: op,
            read_only: i % 3 != 0,
            access_key_id: Some(key),
            user_name: Some(user),
            error_code: error,
            record,
            resources: vec![(resource, "AWS::KMS::Key".to_owned())],
        });
        if batch.len() == 1000 {
            store.append_events(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.append_events(&batch).await.unwrap();
    println!("seeded {count} events into {}", dir.display());
}
