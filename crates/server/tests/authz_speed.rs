//! How much the authorization step costs a request: p50 and p99 of `Authorizer::authorize` for an
//! IAM user with realistic policies (two inline policies, one group with a policy, one managed
//! policy), enforcement on versus off. Run in release:
//!
//! ```text
//! cargo test -p palisade-server --release --test authz_speed -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use palisade_seal::Sealer;
use palisade_server::Config;
use palisade_server::authz::{Authorizer, PolicyAuthorizer};
use palisade_server::config::Enforcement;
use palisade_server::context::RequestContext;
use palisade_server::identity::{Caller, PrincipalKind};
use palisade_server::route::Route;
use palisade_server::state::AppState;
use palisade_store::{GroupRecord, SqliteStore, Store, UserRecord};
use serde_json::json;

fn ctx(route: Route, caller: &Caller) -> RequestContext {
    RequestContext {
        request_id: "r".into(),
        time: time::OffsetDateTime::now_utc(),
        source_ip: SocketAddr::from(([10, 0, 0, 7], 50000)).ip().to_string(),
        user_agent: "Boto3/1.44.5 md/Botocore#1.44.5 ua/2.1 os/linux lang/python#3.11".into(),
        host: "localhost:4566".into(),
        tls: None,
        region: "us-east-1".into(),
        route: Some(route),
        caller: Some(caller.clone()),
        claimed_access_key: None,
        claimed_key_owner: None,
        request_parameters: None,
        would_be_denied: None,
        via_service: None,
        resources: Vec::new(),
        kms_days_unused: None,
        key_material_ids: Vec::new(),
    }
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement; run in release with --ignored --nocapture"]
async fn authorization_cost_per_request() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let sealer = Arc::new(Sealer::new(&[1u8; 32]).unwrap());
    let (state, _writer) = AppState::new(Config::new(std::env::temp_dir()), store, sealer);
    let account = "123456789012";
    let doc = |actions: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}},{{"Effect":"Deny","Action":"iam:DeleteUser","Resource":"arn:aws:iam::*:user/admin*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
        )
    };
    state
        .iam
        .mutate(account, |tx| {
            tx.insert_group(GroupRecord {
                account_id: account.into(),
                name: "readers".into(),
                id: "AGPAEXAMPLEEXAMPLE01".into(),
                path: "/".into(),
                created_at: 0,
                inline: [("read".to_owned(), doc(r#"["iam:Get*","iam:List*"]"#))].into(),
                attached: vec![],
            });
            tx.insert_user(UserRecord {
                account_id: account.into(),
                name: "bench".into(),
                id: "AIDAEXAMPLEEXAMPLE01".into(),
                path: "/".into(),
                created_at: 0,
                tags: vec![palisade_store::TagRecord {
                    key: "team".into(),
                    value: "red".into(),
                }],
                inline: [
                    ("a".to_owned(), doc(r#""sts:GetCallerIdentity""#)),
                    ("b".to_owned(), doc(r#"["iam:CreateUser","iam:TagUser"]"#)),
                ]
                .into(),
                attached: vec!["arn:aws:iam::aws:policy/IAMReadOnlyAccess".into()],
                groups: vec!["readers".into()],
                boundary: None,
                login: None,
                password_last_used: None,
                ssh_keys: vec![],
                signing_certificates: vec![],
                service_credentials: vec![],
            });
            Ok(())
        })
        .await
        .unwrap();
    let caller = Caller {
        kind: PrincipalKind::IamUser,
        account_id: account.into(),
        arn: format!("arn:aws:iam::{account}:user/bench"),
        principal_id: "AIDAEXAMPLEEXAMPLE01".into(),
        access_key_id: Some("AKIAEXAMPLEEXAMPLE01".into()),
        user_name: Some("bench".into()),
        session: None,
        web_identity: None,
    };
    let iam = palisade_model::schema::service_by_signing_name("iam").unwrap();
    let route = Route {
        service: iam,
        operation: iam.operation("GetUser").unwrap(),
    };
    let input = json!({"UserName": "bench"});
    const N: usize = 50_000;
    let mut report = Vec::new();
    for (label, enforcement) in [("off", Enforcement::Off), ("enforce", Enforcement::Enforce)] {
        let authz = PolicyAuthorizer { enforcement };
        let mut times = Vec::with_capacity(N);
        for i in 0..N + 5_000 {
            let mut c = ctx(route, &caller);
            let start = Instant::now();
            let r = authz.authorize(&state, &caller, route, &mut c, &input);
            let t = start.elapsed().as_nanos();
            assert!(r.is_ok(), "{r:?}");
            if i >= 5_000 {
                times.push(t);
            }
        }
        times.sort_unstable();
        report.push((label, percentile(&times, 0.5), percentile(&times, 0.99)));
    }
    for (label, p50, p99) in &report {
        println!(
            "authorize ({label}): p50 {:.2} us, p99 {:.2} us",
            *p50 as f64 / 1000.0,
            *p99 as f64 / 1000.0
        );
    }
    let added = report[1].1.saturating_sub(report[0].1);
    println!("authorization adds {:.2} us at p50", added as f64 / 1000.0);
}
