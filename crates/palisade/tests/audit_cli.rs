//! `palisade audit validate` exit statuses, run against the real binary.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

fn validate(dir: &std::path::Path, extra: &[&str]) -> Output {
    let keys = dir.join("keys.json");
    std::fs::write(&keys, r#"{"PublicKeyList": []}"#).unwrap();
    let trails = dir.join("trails");
    std::fs::create_dir_all(&trails).unwrap();
    Command::new(BIN)
        .args(["audit", "validate", "--dir"])
        .arg(&trails)
        .arg("--public-keys")
        .arg(&keys)
        .args(extra)
        .output()
        .unwrap()
}

/// Regression: an empty directory (or one that is not a trail) was "VALID: no files", exit 0.
#[test]
fn a_directory_without_trail_files_is_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("trails/bucket/unrelated")).unwrap();
    std::fs::write(dir.path().join("trails/bucket/unrelated/x.txt"), "x").unwrap();
    let out = validate(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("INVALID: no log files, digests or checkpoints found"),
        "{stdout}"
    );
    assert!(
        stderr.contains("no log files, digests or checkpoints found under"),
        "{stderr}"
    );
}

/// Regression: --start-time later than --end-time was accepted (and validated nothing).
#[test]
fn a_start_time_after_the_end_time_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(
        dir.path(),
        &["--start-time", "2027-01-01", "--end-time", "2020-01-02"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--start-time 2027-01-01 is after --end-time 2020-01-02"),
        "{stderr}"
    );
}
