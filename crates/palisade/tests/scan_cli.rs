//! `palisade scan` options as the real binary parses them.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// Regression: `--identifiers -EMAIL_ADDRESS` (the `-ID` syntax of --help) failed with clap's
/// "unexpected argument '-E'".
#[test]
fn identifiers_accepts_an_exclusion_as_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pii.txt");
    std::fs::write(&f, "mail alice@example.com from 10.1.2.3\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "scan",
            "--format",
            "jsonl",
            "--identifiers",
            "-EMAIL_ADDRESS",
        ])
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("IP_ADDRESS"), "{stdout}");
    assert!(!stdout.contains("EMAIL_ADDRESS"), "{stdout}");
}
