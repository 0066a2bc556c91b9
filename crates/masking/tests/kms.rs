//! The KMS key source against a tiny fake KMS speaking awsJson1_1 on loopback.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_masking::cli::run;
use palisade_masking::keys::{Envelope, KeySpec, Keys, envelope_path};
use palisade_masking::kms::{Credentials, KmsClient};
use palisade_masking::rules::RulesFile;
use palisade_masking::transform::Direction;
use serde_json::{Value, json};

/// (X-Amz-Target, access key id) of each call.
type CallLog = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `max` connections (over TLS with `tls`), then stops.
fn fake_kms(max: usize) -> (String, CallLog) {
    fake_kms_on(max, None)
}

fn fake_kms_on(max: usize, tls: Option<Arc<rustls::ServerConfig>>) -> (String, CallLog) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let stream = stream.unwrap();
            match &tls {
                None => serve_one(stream, &log2),
                Some(config) => {
                    let conn = rustls::ServerConnection::new(Arc::clone(config)).unwrap();
                    let mut tls_stream = rustls::StreamOwned::new(conn, stream);
                    serve_one(&mut tls_stream, &log2);
                    tls_stream.conn.send_close_notify();
                    let _ = tls_stream.flush();
                }
            }
        }
    });
    (format!("{scheme}://{addr}"), log)
}

fn serve_one(mut stream: impl Read + Write, log: &CallLog) {
    let mut headers = Vec::new();
    let body = {
        let mut reader = BufReader::new(&mut stream);
        loop {
            let mut line = String::new();
            // A client that gave up (e.g. a refused certificate) ends the connection.
            if reader.read_line(&mut line).is_err() {
                return;
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.trim_end().split_once(": ") {
                headers.push((n.to_ascii_lowercase(), v.to_owned()));
            }
        }
        let h = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut body = vec![0u8; h("content-length").parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        body
    };
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let auth = h("authorization");
    let target = h("x-amz-target");
    // Review defect 11: requests had no User-Agent (CloudTrail's userAgent was "").
    assert_eq!(
        h("user-agent"),
        concat!("palisade-mask/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(h("content-type"), "application/x-amz-json-1.1");
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential="), "{auth}");
    assert!(auth.contains("/us-east-1/kms/aws4_request"), "{auth}");
    assert!(
        auth.contains("x-amz-target") && auth.contains("Signature="),
        "{auth}"
    );
    let access_key = auth
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    log.lock()
        .unwrap()
        .push((target.clone(), access_key.clone()));
    let req: Value = serde_json::from_slice(&body).unwrap();
    let (status, resp) = if access_key == "AKIDDENIED" {
        (
            400,
            json!({"__type": "AccessDeniedException", "message": "not allowed by the key policy"}),
        )
    } else if target == "TrentService.GenerateDataKey" {
        assert_eq!(req["KeySpec"], "AES_256");
        let plain: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7)).collect();
        // The blob carries the encryption context, which Decrypt must be given again.
        let blob = format!(
            "fake:{}:{}:{}",
            req["KeyId"].as_str().unwrap(),
            B64.encode(req["EncryptionContext"].to_string()),
            B64.encode(&plain)
        );
        (
            200,
            json!({"Plaintext": B64.encode(&plain), "CiphertextBlob": B64.encode(blob), "KeyId": req["KeyId"]}),
        )
    } else if target == "TrentService.Decrypt" {
        let blob = String::from_utf8(B64.decode(req["CiphertextBlob"].as_str().unwrap()).unwrap())
            .unwrap();
        let parts: Vec<&str> = blob.split(':').collect();
        let context = match parts.len() {
            4 => String::from_utf8(B64.decode(parts[2]).unwrap()).unwrap(),
            _ => "null".to_owned(),
        };
        let plain = parts.last().unwrap().to_string();
        let context: Value = serde_json::from_str(&context).unwrap();
        if req["EncryptionContext"] == context {
            (200, json!({"Plaintext": plain, "KeyId": "k"}))
        } else {
            (
                400,
                json!({"__type": "InvalidCiphertextException", "message": ""}),
            )
        }
    } else {
        (
            400,
            json!({"__type": "UnknownOperationException", "message": ""}),
        )
    };
    let body = resp.to_string();
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
}

fn client(endpoint: &str, access_key: &str) -> KmsClient {
    KmsClient::new(
        endpoint,
        "us-east-1",
        Credentials {
            access_key_id: access_key.into(),
            secret_access_key: "secret".into(),
            session_token: None,
        },
    )
    .unwrap()
}

fn rules() -> RulesFile {
    RulesFile::from_value(&json!({"rules": [
        {"column": "card", "transform": {"type": "encrypt", "key": "envelope", "context": "card"}},
        {"column": "email", "transform": {"type": "deterministic_encrypt", "key": "wrapped", "surrogate": "EMAIL"}}
    ]}))
    .unwrap()
}

fn keys(endpoint: &str, access_key: &str) -> Keys {
    let mut k = Keys::new();
    k.insert("envelope", KeySpec::KmsKey("alias/masking".into()));
    let wrapped = format!("fake:alias/masking:{}", B64.encode([9u8; 32]));
    k.insert(
        "wrapped",
        KeySpec::KmsWrapped {
            key_id: "alias/masking".into(),
            ciphertext_blob: B64.encode(wrapped),
            encryption_context: None,
        },
    );
    k.set_kms(Box::new(client(endpoint, access_key)));
    k
}

#[test]
fn kms_envelope_and_wrapped_keys_round_trip() {
    let (endpoint, log) = fake_kms(16);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(
        &input,
        "card,email\n4111111111111111,ann@example.com\n5500000000000004,bob@example.org\n",
    )
    .unwrap();
    let masked = dir.path().join("m.csv");
    let mut k = keys(&endpoint, "AKIDTEST");
    let compiled = rules().compile(&mut k, Direction::Mask).unwrap();
    run(
        compiled,
        &input,
        &masked,
        None,
        Direction::Mask,
        true,
        false,
    )
    .unwrap();
    k.envelope().save(&envelope_path(&masked)).unwrap();
    let text = std::fs::read_to_string(&masked).unwrap();
    assert!(!text.contains("4111") && !text.contains("ann@"), "{text}");
    let env = Envelope::load(&envelope_path(&masked)).unwrap();
    assert_eq!(env.data_keys.len(), 1);
    assert_eq!(env.data_keys[0].source, "kms");
    assert_eq!(env.data_keys[0].key_id.as_deref(), Some("alias/masking"));
    // One GenerateDataKey per run, one Decrypt per wrapped key.
    let calls: Vec<String> = log.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(
        calls,
        vec!["TrentService.GenerateDataKey", "TrentService.Decrypt"]
    );

    let mut k = keys(&endpoint, "AKIDTEST");
    k.add_envelope(&env).unwrap();
    let compiled = rules().compile(&mut k, Direction::Unmask).unwrap();
    let clear = dir.path().join("c.csv");
    run(
        compiled,
        &masked,
        &clear,
        None,
        Direction::Unmask,
        true,
        false,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&clear).unwrap(),
        std::fs::read_to_string(&input).unwrap()
    );

    // A caller the key policy refuses cannot unmask.
    let mut k = keys(&endpoint, "AKIDDENIED");
    let e = k.add_envelope(&env).unwrap_err().to_string();
    assert!(
        e.contains("kms Decrypt") && e.contains("AccessDeniedException"),
        "{e}"
    );
}

#[test]
fn kms_unreachable_is_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut k = keys(&format!("http://{addr}"), "AKIDTEST");
    let e = rules()
        .compile(&mut k, Direction::Mask)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("GenerateDataKey") && e.contains("cannot connect"),
        "{e}"
    );
}

#[test]
fn kms_over_https_with_a_ca_bundle() {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(generated.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .unwrap();
    let (endpoint, log) = fake_kms_on(4, Some(Arc::new(config)));
    assert!(endpoint.starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, generated.cert.pem()).unwrap();
    let creds = || Credentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: "s".into(),
        session_token: None,
    };

    // Without the bundle an https endpoint is refused before connecting.
    let plain = KmsClient::new(&endpoint, "us-east-1", creds()).unwrap();
    let e = palisade_masking::keys::Kms::generate_data_key(&plain, "alias/x", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ca bundle"), "{e}");

    let client = KmsClient::new(&endpoint, "us-east-1", creds())
        .unwrap()
        .with_ca_bundle(&ca)
        .unwrap();
    let (plain_key, blob) =
        palisade_masking::keys::Kms::generate_data_key(&client, "alias/x", &Default::default())
            .unwrap();
    assert_eq!(plain_key.len(), 32);
    assert_eq!(
        palisade_masking::keys::Kms::decrypt(&client, None, &blob, &Default::default()).unwrap(),
        plain_key
    );
    assert_eq!(log.lock().unwrap().len(), 2);

    // Another CA is not trusted.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let client = KmsClient::new(&endpoint, "us-east-1", creds())
        .unwrap()
        .with_ca_bundle(&other_ca)
        .unwrap();
    let e = palisade_masking::keys::Kms::generate_data_key(&client, "alias/x", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("GenerateDataKey"), "{e}");
}

/// Review defect 11: kms_wrapped and kms_key entries had no encryption context; it now goes to
/// GenerateDataKey and Decrypt (the envelope manifest keeps a data key's context for unmask).
#[test]
fn defect_11_encryption_context_reaches_kms() {
    let (endpoint, _log) = fake_kms(16);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "card,email\n4111111111111111,ann@example.com\n").unwrap();
    let context =
        |v: &str| std::collections::BTreeMap::from([("purpose".to_owned(), v.to_owned())]);
    let keys_file = dir.path().join("keys.json");
    let wrapped_ctx = B64.encode(json!({"purpose": "tokens"}).to_string());
    let wrapped = format!("fake:alias/masking:{wrapped_ctx}:{}", B64.encode([9u8; 32]));
    std::fs::write(
        &keys_file,
        json!({"keys": {
            "envelope": {"kms_key": {"key_id": "alias/masking", "encryption_context": {"purpose": "masking"}}},
            "wrapped": {"kms_wrapped": {"key_id": "alias/masking", "ciphertext_blob": B64.encode(wrapped),
                        "encryption_context": {"purpose": "tokens"}}}
        }})
        .to_string(),
    )
    .unwrap();
    let load = |access: &str| {
        let mut k = Keys::load(&keys_file).unwrap();
        k.set_kms(Box::new(client(&endpoint, access)));
        k
    };
    let masked = dir.path().join("m.csv");
    let mut k = load("AKIDTEST");
    let compiled = rules().compile(&mut k, Direction::Mask).unwrap();
    run(
        compiled,
        &input,
        &masked,
        None,
        Direction::Mask,
        true,
        false,
    )
    .unwrap();
    k.envelope().save(&envelope_path(&masked)).unwrap();
    let env = Envelope::load(&envelope_path(&masked)).unwrap();
    assert_eq!(
        env.data_keys[0].encryption_context,
        Some(context("masking"))
    );

    let mut k = load("AKIDTEST");
    k.add_envelope(&env).unwrap();
    let compiled = rules().compile(&mut k, Direction::Unmask).unwrap();
    let clear = dir.path().join("c.csv");
    run(
        compiled,
        &masked,
        &clear,
        None,
        Direction::Unmask,
        true,
        false,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&clear).unwrap(),
        std::fs::read_to_string(&input).unwrap()
    );

    // Without the context, KMS refuses to decrypt the wrapped key.
    let mut env = env;
    env.data_keys[0].encryption_context = None;
    let e = load("AKIDTEST").add_envelope(&env).unwrap_err().to_string();
    assert!(e.contains("InvalidCiphertextException"), "{e}");
}
