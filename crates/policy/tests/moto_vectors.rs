//! IAM `CreatePolicy` validation vectors (documents and AWS's messages)
//! extracted from moto 5.2.5 by `scripts/extract_moto_vectors.py`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::{Policy, PolicyKind};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/moto_policy_vectors.json")).unwrap()
}

#[test]
fn invalid_documents_are_rejected_with_aws_messages() {
    let v = vectors();
    let cases = v["invalid"].as_array().unwrap();
    assert_eq!(cases.len(), 78);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let doc = case["document"].as_str().unwrap();
        let want = case["error_message"].as_str().unwrap();
        match Policy::parse(doc, PolicyKind::Identity) {
            Ok(_) => failures.push(format!("#{i}: accepted, want {want:?}\n  {doc}")),
            Err(e) => {
                if e.aws_message() != want {
                    failures.push(format!(
                        "#{i}: got {:?} ({e}), want {want:?}\n  {doc}",
                        e.aws_message()
                    ));
                }
                assert_eq!(e.aws_code(), "MalformedPolicyDocument");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_documents_are_accepted() {
    let v = vectors();
    let cases = v["valid"].as_array().unwrap();
    assert_eq!(cases.len(), 54);
    let mut failures = Vec::new();
    for (i, doc) in cases.iter().enumerate() {
        let doc = doc.as_str().unwrap();
        if let Err(e) = Policy::parse(doc, PolicyKind::Identity) {
            failures.push(format!("#{i}: {e}\n  {doc}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
