//! Differential test against the official `aws-sigv4` signer: requests it signs must verify,
//! and every single-byte mutation of method, path, query, a signed header value or the body
//! must be rejected unless the official signer itself signs the mutated request identically
//! (for example `%2f` versus `%2F`, or a path that normalises to the same one).

// Test helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use palisade_sigv4::{Request, Verifier, parse};
use proptest::prelude::*;
use time::OffsetDateTime;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const EPOCH_SECS: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z

#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Signs with the official signer; `None` if it refuses the request (e.g. an invalid URI).
/// Returns the headers it adds and the signature.
fn official_sign(req: &Req, token: Option<&str>) -> Option<(Vec<(String, String)>, String)> {
    let creds = Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test");
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .settings(SigningSettings::default())
        .build()
        .ok()?
        .into();
    let uri = if req.query.is_empty() {
        format!("https://example.amazonaws.com{}", req.path)
    } else {
        format!("https://example.amazonaws.com{}?{}", req.path, req.query)
    };
    if uri.parse::<http::Uri>().ok()?.path() != req.path {
        return None;
    }
    for (n, v) in &req.headers {
        http::HeaderName::from_bytes(n.as_bytes()).ok()?;
        http::HeaderValue::from_str(v).ok()?;
    }
    let signable = SignableRequest::new(
        &req.method,
        uri,
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .ok()?;
    let (instructions, signature) = sign(signable, &params).ok()?.into_parts();
    let added = instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Some((added, signature))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(EPOCH_SECS as i64).unwrap()
}

fn verify(verifier: &Verifier, req: &Req, added: &[(String, String)]) -> bool {
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .chain(added.iter())
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = Request {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        headers: &headers,
    };
    match parse(&request) {
        Ok(parsed) => verifier
            .verify(&parsed, &request, &req.body, SECRET, now())
            .is_ok(),
        Err(_) => false,
    }
}

/// Percent-encodes `s` as a client would, leaving some reserved characters raw so the
/// verifier sees the variety real clients send.
fn encode(s: &str, raw_ok: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-_.~".contains(c) || raw_ok.contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

const ODD: &str = "[a-zA-Z0-9 ._~!$&'()*+,;=:@%/\\-éሴ😀]{0,8}";

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => ODD.prop_map(|s| encode(&s, "!$&'()*+,;=:@")),
            1 => Just(".".to_owned()),
            1 => Just("..".to_owned()),
            1 => Just(String::new()),
        ],
        0..5,
    )
    .prop_map(|segs| format!("/{}", segs.join("/")))
}

fn query_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec((ODD, ODD, any::<bool>()), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, loose)| {
                let raw = if loose { "!$'()*,;:@/" } else { "" };
                let k = if k.is_empty() { "k".to_owned() } else { k };
                format!("{}={}", encode(&k, raw), encode(&v, raw))
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn request_strategy() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        path_strategy(),
        query_strategy(),
        prop::collection::vec("[ -~]{0,16}", 0..3),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(method, path, query, values, body)| {
            let mut headers = vec![("Host".to_owned(), "example.amazonaws.com".to_owned())];
            for (i, v) in values.into_iter().enumerate() {
                // Leading and trailing spaces are stripped by every HTTP parser.
                headers.push((format!("X-Test-{i}"), v.trim().to_owned()));
            }
            headers.push((
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded;  charset=utf-8".to_owned(),
            ));
            Req {
                method: method.to_owned(),
                path,
                query,
                headers,
                body,
            }
        })
}

/// All single-byte replacements at every position of `s`, by `subs`.
fn mutations(s: &[u8], subs: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..s.len() {
        for &r in subs {
            let mut m = s.to_vec();
            let r = if r == m[i] { r ^ 0x01 } else { r };
            m[i] = r;
            out.push(m);
        }
    }
    out
}

/// Whether an HTTP server could hand this request to us at all: a valid method token,
/// request-target whose path is exactly `path`, and valid header values. Mutants that are
/// not (e.g. a `?` inside the path) can never reach the verifier.
fn representable(req: &Req) -> bool {
    let uri = format!("https://example.amazonaws.com{}?{}", req.path, req.query);
    http::Method::from_bytes(req.method.as_bytes()).is_ok()
        && uri
            .parse::<http::Uri>()
            .is_ok_and(|u| u.path() == req.path && u.query().unwrap_or("") == req.query)
        && req
            .headers
            .iter()
            .all(|(_, v)| http::HeaderValue::from_str(v).is_ok())
}

fn check_mutant(
    verifier: &Verifier,
    original_sig: &str,
    added: &[(String, String)],
    mutant: &Req,
    what: &str,
) {
    if !representable(mutant) {
        return;
    }
    if verify(verifier, mutant, added) {
        // Accepted: only fine if the official signer agrees the mutant is the same request.
        let same = official_sign(mutant, None).is_some_and(|(_, sig)| sig == original_sig);
        assert!(same, "accepted a mutated {what}: {mutant:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn official_signatures_verify_and_mutations_fail(req in request_strategy(), sub in 0x21u8..0x7f) {
        let verifier = Verifier::default();
        let (added, sig) = official_sign(&req, None).expect("official signer refused a valid request");
        prop_assert!(verify(&verifier, &req, &added), "rejected an official signature: {req:?}");

        // Printable replacements, plus a case flip that catches case-insensitive slips.
        let subs = [sub, b'%', b'/', b'.'];
        for m in mutations(req.method.as_bytes(), &[sub, b'g']) {
            let Ok(method) = String::from_utf8(m) else { continue };
            check_mutant(&verifier, &sig, &added, &Req { method, ..req.clone() }, "method");
        }
        for m in mutations(req.path.as_bytes(), &subs) {
            let Ok(path) = String::from_utf8(m) else { continue };
            check_mutant(&verifier, &sig, &added, &Req { path, ..req.clone() }, "path");
        }
        for m in mutations(req.query.as_bytes(), &[sub, b'%', b'&', b'=']) {
            let Ok(query) = String::from_utf8(m) else { continue };
            check_mutant(&verifier, &sig, &added, &Req { query, ..req.clone() }, "query");
        }
        for h in 0..req.headers.len() {
            for m in mutations(req.headers[h].1.as_bytes(), &[sub, b' ']) {
                let Ok(value) = String::from_utf8(m) else { continue };
                let mut mutant = req.clone();
                mutant.headers[h].1 = value;
                check_mutant(&verifier, &sig, &added, &mutant, "header");
            }
        }
        for m in mutations(&req.body, &[sub]) {
            let mutant = Req { body: m, ..req.clone() };
            prop_assert!(!verify(&verifier, &mutant, &added), "accepted a mutated body");
        }
        // The date the official signer added is signed too.
        for (i, (name, value)) in added.iter().enumerate() {
            if !name.eq_ignore_ascii_case("x-amz-date") {
                continue;
            }
            for m in mutations(value.as_bytes(), &[sub]) {
                let mut added_m = added.clone();
                added_m[i].1 = String::from_utf8(m).unwrap();
                prop_assert!(!verify(&verifier, &req, &added_m), "accepted a mutated x-amz-date");
            }
        }
    }

    #[test]
    fn official_signatures_with_session_token_verify(req in request_strategy()) {
        let verifier = Verifier::default();
        let (added, _) = official_sign(&req, Some("FwoGZXIvYXdzEXAMPLE//token+/=")).unwrap();
        prop_assert!(verify(&verifier, &req, &added));
        let headers: Vec<(&str, &str)> = req.headers.iter().chain(added.iter())
            .map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = Request { method: &req.method, path: &req.path, query: &req.query, headers: &headers };
        let parsed = parse(&request).unwrap();
        prop_assert_eq!(parsed.security_token.as_deref(), Some("FwoGZXIvYXdzEXAMPLE//token+/="));
    }
}
