//! Exit statuses of the offline commands for input that cannot be read: 2, as in `scan` and
//! `audit validate`, so that scripts can tell it from "found problems" (1).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Regression: `policy validate /nope.json` and `audit events --data-dir /nonexistent` exited
/// 1, like a policy with errors.
#[test]
fn unreadable_input_exits_2_and_says_what() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let missing = missing.to_str().unwrap();
    for command in ["validate", "simulate"] {
        let (code, stderr) = run(&["policy", command, missing]);
        assert_eq!(code, Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!("palisade policy {command}: cannot read {missing}")),
            "{stderr}"
        );
    }
    let (code, stderr) = run(&["audit", "events", "--data-dir", missing]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds no audit event log"), "{stderr}");

    // A policy with errors is still 1.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    )
    .unwrap();
    let (code, stderr) = run(&["policy", "validate", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
}

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Regression: `policy validate --help` did not list the policy types, and `policy simulate
/// --help` did not describe a case.
#[test]
fn policy_help_lists_the_types_and_the_case_format() {
    let validate = help(&["policy", "validate", "--help"]);
    for kind in [
        "identity", "resource", "trust", "boundary", "session", "scp", "rcp", "endpoint",
    ] {
        assert!(
            validate.contains(&format!("- {kind}:")),
            "{kind}: {validate}"
        );
    }
    let simulate = help(&["policy", "simulate", "--help"]);
    for field in [
        "resourceAccount",
        "principalArn",
        "userId",
        "\"trust\"",
        "resourcePolicyType",
        "{\"type\": \"date\", \"value\"",
        "serviceControlPolicies",
    ] {
        assert!(simulate.contains(field), "{field}: {simulate}");
    }
    // An alias still selects its type; an unknown one is a usage error (2).
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("p.json");
    std::fs::write(
        &doc,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#,
    )
    .unwrap();
    let doc = doc.to_str().unwrap();
    assert_eq!(
        run(&["policy", "validate", doc, "--type", "vpce"]).0,
        Some(0)
    );
    let (code, stderr) = run(&["policy", "validate", doc, "--type", "bogus"]);
    assert_eq!(code, Some(2), "{stderr}");
}
