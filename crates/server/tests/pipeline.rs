//! In-process tests of the request pipeline: real signed requests through `pipeline::handle`,
//! with an in-memory store, no sockets.

// The helpers below are test code too; clippy's allow-unwrap-in-tests only covers #[test] fns.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use palisade_seal::Sealer;
use palisade_server::context::ConnInfo;
use palisade_server::identity::Caller;
use palisade_server::state::AppState;
use palisade_server::{Config, pipeline};
use palisade_sigv4::{Canonicalization, SigningParams};
use palisade_store::{SqliteStore, Store};

const KEY: &str = "AKIAPIPELINETEST0001";
const SECRET: &str = "pipelineSecretKey00000000000000000000000";

struct Harness {
    state: AppState,
    store: Arc<dyn Store>,
}

async fn harness(dev: bool) -> Harness {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let sealer = Arc::new(Sealer::new(&[9u8; 32]).unwrap());
    let mut config = Config::new(std::env::temp_dir());
    config.dev = dev;
    let (state, _writer) = AppState::new(config, store.clone(), sealer);
    store.ensure_account("123456789012").await.unwrap();
    state
        .keys
        .put(&Caller::root("123456789012", None), KEY, SECRET)
        .await
        .unwrap();
    Harness { state, store }
}

fn conn() -> ConnInfo {
    ConnInfo {
        remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
        tls: None,
    }
}

/// Credentials a test request is signed with.
struct Creds<'a> {
    key: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
}

/// A POST to `/` signed by our own signer, as a client would send it.
fn sign_request(
    service: &str,
    target: Option<&str>,
    content_type: &str,
    body: &str,
    creds: &Creds<'_>,
) -> Request<Full<Bytes>> {
    let mut headers: Vec<(&str, &str)> =
        vec![("host", "localhost:4566"), ("content-type", content_type)];
    if let Some(t) = target {
        headers.push(("x-amz-target", t));
    }
    let out = palisade_sigv4::sign(
        &palisade_sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
        },
        body.as_bytes(),
        &SigningParams {
            access_key_id: creds.key,
            secret_access_key: creds.secret,
            security_token: creds.token,
            region: "us-east-1",
            service,
            time: time::OffsetDateTime::now_utc(),
            canonicalization: Canonicalization::AWS,
            content_sha256_header: false,
        },
    )
    .unwrap();
    let mut builder = Request::post("/");
    for (n, v) in headers.iter().chain(out.headers().iter()) {
        builder = builder.header(*n, *v);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// A request signed with the root key of the harness (or a wrong `secret`).
fn signed(
    service: &str,
    target: Option<&str>,
    content_type: &str,
    body: &str,
    secret: &str,
) -> Request<Full<Bytes>> {
    let creds = Creds {
        key: KEY,
        secret,
        token: None,
    };
    sign_request(service, target, content_type, body, &creds)
}

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const JSON: &str = "application/x-amz-json-1.1";

async fn call(h: &Harness, request: Request<Full<Bytes>>) -> (u16, String) {
    let response = pipeline::handle(&h.state, &conn(), request).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn signed_get_caller_identity_returns_the_root_arn() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "sts",
            None,
            FORM,
            "Action=GetCallerIdentity&Version=2011-06-15",
            SECRET,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Arn>arn:aws:iam::123456789012:root</Arn>"),
        "{body}"
    );
    assert!(body.contains("<Account>123456789012</Account>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
}

#[tokio::test]
async fn wrong_secret_is_refused_and_audited() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "sts",
            None,
            FORM,
            "Action=GetCallerIdentity&Version=2011-06-15",
            "wrong",
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    let events = h.store.recent_events("123456789012", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].error_code.as_deref(),
        Some("SignatureDoesNotMatch")
    );
    assert_eq!(events[0].access_key_id.as_deref(), Some(KEY));
}

#[tokio::test]
async fn unknown_json_operation_is_unknown_operation_exception() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed("kms", Some("TrentService.Nope"), JSON, "{}", SECRET),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("\"__type\":\"UnknownOperationException\""),
        "{body}"
    );
}

#[tokio::test]
async fn an_operation_palisade_does_not_support_gets_the_services_own_error() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "kms",
            Some("TrentService.DescribeCustomKeyStores"),
            JSON,
            "{}",
            SECRET,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("UnsupportedOperationException"), "{body}");
}

#[tokio::test]
async fn json_validation_names_the_field_and_constraint() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "kms",
            Some("TrentService.CreateKey"),
            JSON,
            r#"{"KeyUsage": "NOPE"}"#,
            SECRET,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["__type"], "ValidationException");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("'keyUsage'"), "{message}");
    assert!(message.contains("enum value set"), "{message}");
}

#[tokio::test]
async fn query_validation_names_the_missing_member() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "iam",
            None,
            FORM,
            "Action=CreateUser&Version=2010-05-08",
            SECRET,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
    assert!(body.contains("userName"), "{body}");
    assert!(body.contains("must not be null"), "{body}");
}

#[tokio::test]
async fn wrong_json_type_is_a_serialization_exception() {
    let h = harness(false).await;
    let (status, body) = call(
        &h,
        signed(
            "kms",
            Some("TrentService.CreateKey"),
            JSON,
            r#"{"Description": 5}"#,
            SECRET,
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SerializationException"), "{body}");
}

#[tokio::test]
async fn dev_mode_accepts_unsigned_requests() {
    let h = harness(true).await;
    let request = Request::post("/")
        .header("content-type", FORM)
        .body(Full::new(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )))
        .unwrap();
    let (status, body) = call(&h, request).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("123456789012"), "{body}");
}

#[tokio::test]
async fn audit_records_hold_no_secret_values() {
    let h = harness(false).await;
    // A validation failure on a request carrying a secret value: the value must not be recorded.
    // (A name over the model's 512 characters.)
    let body = format!(
        r#"{{"Name": "{}", "SecretString": "hunter2-very-secret"}}"#,
        "n".repeat(600)
    );
    let _ = call(
        &h,
        signed(
            "secretsmanager",
            Some("secretsmanager.CreateSecret"),
            JSON,
            &body,
            SECRET,
        ),
    )
    .await;
    let events = h.store.recent_events("123456789012", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].record.contains("ValidationException"),
        "{}",
        events[0].record
    );
    assert!(
        !events[0].record.contains("hunter2"),
        "{}",
        events[0].record
    );
}

/// A request signed with temporary credentials.
fn signed_with_token(key: &str, secret: &str, token: &str, body: &str) -> Request<Full<Bytes>> {
    let creds = Creds {
        key,
        secret,
        token: Some(token),
    };
    sign_request("sts", None, FORM, body, &creds)
}

fn role_session(expires_at: i64) -> palisade_server::session::Session {
    use palisade_server::identity::PrincipalKind;
    use palisade_server::session::{Holder, Session, SessionSource};
    let holder = Holder {
        kind: PrincipalKind::AssumedRole,
        account_id: "123456789012".into(),
        arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
        principal_id: "AROAEXAMPLEEXAMPLE01:s".into(),
    };
    Session {
        role_name: Some("r".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
        role_id: Some("AROAEXAMPLEEXAMPLE01".into()),
        session_name: Some("s".into()),
        ..Session::new(SessionSource::AssumeRole, holder, expires_at - 900, 900)
    }
}

#[tokio::test]
async fn expired_session_credentials_get_expired_token_and_live_ones_work() {
    let h = harness(false).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let secret = "sessionSecretKey000000000000000000000000";
    let body = "Action=GetCallerIdentity&Version=2011-06-15";

    let live = palisade_server::session::seal_token(
        &h.state.sealer,
        "ASIAPIPELINETEST0001",
        secret,
        &role_session(now + 600),
    )
    .unwrap();
    let (status, text) = call(
        &h,
        signed_with_token("ASIAPIPELINETEST0001", secret, &live, body),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"),
        "{text}"
    );

    let expired = palisade_server::session::seal_token(
        &h.state.sealer,
        "ASIAPIPELINETEST0002",
        secret,
        &role_session(now - 1),
    )
    .unwrap();
    let (status, text) = call(
        &h,
        signed_with_token("ASIAPIPELINETEST0002", secret, &expired, body),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("<Code>ExpiredToken</Code>"), "{text}");
    assert!(
        text.contains("The security token included in the request is expired"),
        "{text}"
    );

    // A live token presented with another access key id is not a token at all.
    let (status, text) = call(
        &h,
        signed_with_token("ASIAPIPELINETEST0003", secret, &live, body),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("<Code>InvalidClientTokenId</Code>"), "{text}");
}
