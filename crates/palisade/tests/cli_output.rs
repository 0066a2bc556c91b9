//! The offline commands when standard output cannot be written: a closed pipe (`| head`) and
//! a full disk (`> /dev/full`), run against the real binary.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

const CASE: &str = r#"{"request":{"principal":"arn:aws:iam::111111111111:user/alice","action":"s3:GetObject","resource":"arn:aws:s3:::b/k"},"identityPolicies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}]}"#;

/// Enough cases that their results overflow a pipe's buffer.
fn many_cases(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("many.json");
    let cases = vec![CASE; 5000].join(",");
    std::fs::write(&p, format!("[{cases}]")).unwrap();
    p
}

/// Regression: `policy simulate many.json | head -1` panicked "failed printing to stdout:
/// Broken pipe" with status 101.
#[test]
fn policy_simulate_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = many_cases(dir.path());
    let mut child = Command::new(BIN)
        .args(["policy", "simulate"])
        .arg(&cases)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("Allowed"), "{first}");
    // The reader is dropped here: the rest of the output meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[cfg(target_os = "linux")]
fn into_full_disk(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::from(full))
        .output()
        .unwrap()
}

/// Regression: `policy simulate`, `policy validate` and `audit validate` panicked on a full
/// disk, and `scan --format jsonl` exited 1 without a word.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_reported_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(d("case.json"), CASE).unwrap();
    std::fs::write(
        d("policy.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    )
    .unwrap();
    std::fs::write(d("pii.txt"), "mail alice@example.com\n").unwrap();
    let runs: [&[&str]; 3] = [
        &["policy", "simulate", &d("case.json")],
        &["policy", "validate", &d("policy.json")],
        &["scan", &d("pii.txt"), "--format", "jsonl"],
    ];
    for args in runs {
        let out = into_full_disk(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write output: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
