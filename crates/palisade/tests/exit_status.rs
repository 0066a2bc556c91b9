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
