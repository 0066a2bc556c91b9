//! Regressions for the defects a review of mask/unmask round trips found (entities written as
//! numbers, reversible rules stacked on one field, decimal buckets, quotes in TSV, failed runs
//! with an envelope): each test names the bug it pins.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;

mod common;

use common::keyfile;
use common::{mask_args, unmask_args};
use palisade_masking::cli::{run_mask, run_unmask};

/// Masks `input` (named `name`) with `rules` (YAML), unmasks the result, and returns the
/// masked and the unmasked text.
fn round_trip(dir: &Path, name: &str, input: &str, rules: &str) -> (String, String) {
    let keys = keyfile(dir);
    let r = dir.join("rules.yaml");
    std::fs::write(&r, rules).unwrap();
    let i = dir.join(name);
    std::fs::write(&i, input).unwrap();
    let m = dir.join(format!("m-{name}"));
    run_mask(&mask_args(&i, &m, &r, &keys)).unwrap();
    let u = dir.join(format!("u-{name}"));
    run_unmask(&unmask_args(&m, &u, &r, &keys)).unwrap();
    (
        std::fs::read_to_string(m).unwrap(),
        std::fs::read_to_string(u).unwrap(),
    )
}

/// Bug: a date shift keyed on a JSON number read the entity `1.50000` as `1.5` when masking
/// and as written when unmasking (a big integer likewise), so those records' dates came back
/// moved by another amount, with exit 0.
#[test]
fn a_date_shift_keyed_on_a_json_number_reverses() {
    let dir = tempfile::tempdir().unwrap();
    let input = "{\"pid\": 12345678901234567890123, \"dob\": \"2000-01-01\"}\n\
                 {\"pid\": 1.50000, \"dob\": \"2000-01-01\"}\n\
                 {\"pid\": 1234567, \"dob\": \"2000-01-01\"}\n";
    for pid_rule in ["fpe", "deterministic_encrypt"] {
        let rules = format!(
            "rules:\n  - path: $.pid\n    transform: {{type: {pid_rule}, key: pii}}\n  \
             - path: $.dob\n    transform: {{type: date_shift, key: pii, lower_days: -300, upper_days: 300, entity: pid}}\n"
        );
        let (_, clear) = round_trip(dir.path(), "in.jsonl", input, &rules);
        let dobs: Vec<&str> = clear
            .lines()
            .map(|l| &l[l.find("dob").unwrap()..])
            .collect();
        assert_eq!(dobs, ["dob\": \"2000-01-01\"}"; 3], "{pid_rule}: {clear}");
    }
}

/// Bug: unmasking undid two reversible rules on one field in the order they were applied
/// (format-preserving encryption, then a deterministic token), and failed ("surrogate length
/// does not match the token").
#[test]
fn stacked_reversible_rules_on_one_field_are_undone_in_reverse() {
    let rules = "rules:\n  - column: ssn\n    transform: {type: fpe, key: pii}\n  \
                 - column: ssn\n    transform: {type: deterministic_encrypt, key: pii, surrogate: SSN}\n";
    for (name, input) in [
        ("in.csv", "ssn,n\n123456789,1\n987654321,2\n"),
        ("in.jsonl", "{\"ssn\": \"123456789\"}\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules.replace(
            "column: ssn",
            if name.ends_with("csv") {
                "column: ssn"
            } else {
                "path: $.ssn"
            },
        );
        let (masked, clear) = round_trip(dir.path(), name, input, &rules);
        assert!(masked.contains("SSN("), "{masked}");
        assert_eq!(clear, input);
    }
}

/// Bug: a value with a quote inside it, written bare, came back from unmask quoted
/// (`5" pipe` as `"5"" pipe"`), which a TSV reader without CSV quoting reads as another value.
#[test]
fn a_bare_quote_inside_a_value_stays_bare() {
    let rules = "rules:\n  - column: a\n    transform: {type: deterministic_encrypt, key: pii}\n";
    for (name, input) in [
        ("in.csv", "a,b\n5\" pipe,x\n\"\"\"q\",y\n"),
        ("in.tsv", "a\tb\n5\" pipe\tx\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_, clear) = round_trip(dir.path(), name, input, rules);
        assert_eq!(clear, input);
    }
}

/// Bug: a run that failed after saving the envelope manifest it created left that manifest,
/// holding a data key nothing was encrypted with, beside no output.
#[test]
fn a_failed_run_leaves_no_manifest_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - column: a\n    transform: {type: encrypt, key: pii}\n  \
         - column: d\n    transform: {type: date_shift, key: pii, lower_days: 1, upper_days: 2}\n",
    )
    .unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "a,d\nx,2020-01-01\ny,not-a-date\n").unwrap();
    let out = dir.path().join("m.csv");
    assert!(run_mask(&mask_args(&input, &out, &rules, &keys)).is_err());
    assert!(!out.exists());
    assert!(!dir.path().join("m.csv.keys.json").exists());
    // A manifest that was there before keeps its keys.
    std::fs::write(&input, "a,d\nx,2020-01-01\n").unwrap();
    run_mask(&mask_args(&input, &out, &rules, &keys)).unwrap();
    let manifest = dir.path().join("m.csv.keys.json");
    let before = palisade_masking::keys::Envelope::load(&manifest).unwrap();
    std::fs::write(&input, "a,d\ny,not-a-date\n").unwrap();
    let other = dir.path().join("m2.csv");
    let mut args = mask_args(&input, &other, &rules, &keys);
    args.envelope = Some(manifest.clone());
    assert!(run_mask(&args).is_err());
    let after = palisade_masking::keys::Envelope::load(&manifest).unwrap();
    // It keeps its keys, and gains none for the run that failed.
    assert_eq!(after.data_keys, before.data_keys);
    // A stream has had what was masked before the failure: the data keys of it stay.
    std::fs::write(
        &input,
        "a,d
x,2020-01-01
y,not-a-date
",
    )
    .unwrap();
    let streamed = dir.path().join("streamed.keys.json");
    let mut args = mask_args(&input, std::path::Path::new("/dev/null"), &rules, &keys);
    args.envelope = Some(streamed.clone());
    assert!(run_mask(&args).is_err());
    assert!(streamed.exists());
}

/// Bug: policies matched column names case-sensitively, so a policy on `email` left a column
/// headed `Email` in clear (exit 0); Redshift, whose model policies follow, folds identifiers.
/// A rules file still names its columns exactly (and refuses a name the header lacks).
#[test]
fn policies_match_column_names_whatever_their_case() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let policies = dir.path().join("policies.yaml");
    std::fs::write(
        &policies,
        "policies:\n  - name: p\n    attachments: [{public: true}]\n    rules:\n      \
         - {column: email, transform: redact}\n      - {column: ssn, transform: {type: mask, keep_last: 4}}\n",
    )
    .unwrap();
    let input = dir.path().join("customers.csv");
    std::fs::write(&input, "Email,SSN\nann@example.com,123-45-6789\n").unwrap();
    let out = dir.path().join("o.csv");
    let mut a = mask_args(&input, &out, &keys, &keys);
    a.rules = None;
    a.policies = Some(policies);
    a.as_principal = Some("arn:aws:iam::111122223333:user/bob".into());
    run_mask(&a).unwrap();
    let seen = std::fs::read_to_string(&out).unwrap();
    assert!(!seen.contains("ann@") && !seen.contains("123-45"), "{seen}");

    // Names differing only in case are one field in a CSV, where the higher priority wins; in
    // JSON, whose members keep their case, each keeps its own rule (folded there, `Email`'s
    // rule took the place of `email`'s, and member `email` went out in clear).
    let two = dir.path().join("two.yaml");
    std::fs::write(
        &two,
        "policies:\n  - name: public\n    attachments: [{public: true, priority: 0}]\n    rules:\n      \
         - {column: email, transform: redact}\n  - name: analyst\n    attachments: [{role: analyst, priority: 20}]\n    rules:\n      \
         - {column: Email, transform: {type: mask, keep_last: 4}}\n",
    )
    .unwrap();
    let analyst = "arn:aws:sts::111122223333:assumed-role/analyst/s";
    let see = |input: &Path, out: &Path| {
        let mut a = mask_args(input, out, &keys, &keys);
        a.rules = None;
        a.policies = Some(two.clone());
        a.as_principal = Some(analyst.into());
        a.table = Some("customers".into());
        run_mask(&a).unwrap();
        std::fs::read_to_string(out).unwrap()
    };
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "email\nann@example.com\n").unwrap();
    assert_eq!(
        see(&csv, &dir.path().join("c-out.csv")),
        "email\n***********.com\n"
    );
    let jsonl = dir.path().join("c.jsonl");
    std::fs::write(&jsonl, "{\"email\": \"ann@example.com\"}\n").unwrap();
    let seen = see(&jsonl, &dir.path().join("c-out.jsonl"));
    assert!(!seen.contains("ann@"), "{seen}");

    let rules = dir.path().join("r.yaml");
    std::fs::write(&rules, "rules:\n  - {column: email, transform: redact}\n").unwrap();
    let e = run_mask(&mask_args(&input, &out, &rules, &keys))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in the header"), "{e}");
}

/// Bug: a JSON Lines file whose last line had no newline got one when that line was masked.
#[test]
fn a_last_json_line_without_a_newline_stays_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = "{\"a\": \"x\"}\n{\"a\": \"y\"}";
    let rules = "rules:\n  - path: $.a\n    transform: {type: deterministic_encrypt, key: pii}\n";
    let (masked, clear) = round_trip(dir.path(), "in.jsonl", input, rules);
    assert!(!masked.ends_with('\n'), "{masked:?}");
    assert_eq!(clear, input);
}
