//! Regressions for the defects a second review of `palisade mask`/`unmask` found (shared
//! envelope manifests, numbers under format-preserving encryption, date shifts keyed by a
//! masked entity, policies naming one field two ways): each test names the bug it pins.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;

mod common;

use common::keyfile;
use common::{mask_args, unmask_args};
use palisade_masking::cli::{run_mask, run_unmask};

/// Bug: concurrent runs sharing one `--envelope` manifest each read, merged and renamed it
/// without a lock (through one fixed `.tmp` name), so some outputs' data keys were dropped
/// (mask exited 0, unmask then failed "data key … is not in the envelope manifest") and some
/// runs failed with a misleading "No such file or directory".
#[test]
fn concurrent_runs_sharing_an_envelope_keep_every_data_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - {column: note, transform: {type: encrypt, key: pii}}\n",
    )
    .unwrap();
    let shared = dir.path().join("shared.json");
    const RUNS: usize = 12;
    let inputs: Vec<PathBuf> = (0..RUNS)
        .map(|i| {
            let p = dir.path().join(format!("in{i}.csv"));
            std::fs::write(&p, format!("id,note\n{i},secret number {i}\n")).unwrap();
            p
        })
        .collect();
    std::thread::scope(|s| {
        for (i, input) in inputs.iter().enumerate() {
            let (keys, rules, shared) = (&keys, &rules, &shared);
            let out = dir.path().join(format!("m{i}.csv"));
            s.spawn(move || {
                let mut args = mask_args(input, &out, rules, keys);
                args.envelope = Some(shared.clone());
                run_mask(&args).unwrap();
            });
        }
    });
    let manifest = palisade_masking::keys::Envelope::load(&shared).unwrap();
    assert_eq!(manifest.data_keys.len(), RUNS);
    for (i, input) in inputs.iter().enumerate() {
        let out = dir.path().join(format!("u{i}.csv"));
        let mut args = unmask_args(&dir.path().join(format!("m{i}.csv")), &out, &rules, &keys);
        args.envelope = Some(shared.clone());
        run_unmask(&args).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            std::fs::read_to_string(input).unwrap()
        );
    }
    // No temporary manifest is left behind; the lock file stays for the next runs.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(dir.path().join("shared.json.lock").exists());
}

/// Bug: a manifest that exists but cannot be read was found only after the output had been
/// written, leaving ciphertexts whose data key was saved nowhere.
#[test]
fn an_unreadable_manifest_fails_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - {column: note, transform: {type: encrypt, key: pii}}\n",
    )
    .unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "id,note\n1,secret\n").unwrap();
    let shared = dir.path().join("shared.json");
    std::fs::write(&shared, "not json").unwrap();
    let out = dir.path().join("m.csv");
    let mut args = mask_args(&input, &out, &rules, &keys);
    args.envelope = Some(shared.clone());
    let e = run_mask(&args).unwrap_err().to_string();
    assert!(e.contains("shared.json"), "{e}");
    assert!(!out.exists());
}

/// Bug: FF1 on a JSON number whose output started with 0 wrote it as a string
/// (`{"n": 100001}` → `{"n": "028364"}`), and unmask gave back the string `"100001"`: the
/// record was not restored byte for byte and the field changed type.
#[test]
fn fpe_on_json_numbers_keeps_them_numbers_and_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - {column: n, transform: {type: fpe, key: pii}}\n  \
         - {column: x, transform: {type: fpe, key: pii, context: x}}\n",
    )
    .unwrap();
    let input = dir.path().join("nums.jsonl");
    let text: String = (0..200)
        .map(|i| {
            format!(
                "{{\"n\": {}, \"x\": {}.500, \"s\": \"{i}\"}}\n",
                100_000 + i,
                if i % 3 == 0 { -(1000 + i) } else { 1000 + i }
            )
        })
        .collect();
    std::fs::write(&input, &text).unwrap();
    let masked = dir.path().join("m.jsonl");
    run_mask(&mask_args(&input, &masked, &rules, &keys)).unwrap();
    let m = std::fs::read_to_string(&masked).unwrap();
    for line in m.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(doc["n"].is_number() && doc["x"].is_number(), "{line}");
    }
    assert_ne!(m, text);
    let clear = dir.path().join("c.jsonl");
    run_unmask(&unmask_args(&masked, &clear, &rules, &keys)).unwrap();
    assert_eq!(std::fs::read_to_string(&clear).unwrap(), text);

    // An alphabet with letters (or a surrogate) cannot write a number: refused, naming the
    // rule and the field, instead of turning the number into a string.
    std::fs::write(
        &rules,
        "rules:\n  - {name: n36, column: n, transform: {type: fpe, key: pii, radix: 36}}\n",
    )
    .unwrap();
    let out = dir.path().join("never.jsonl");
    let e = run_mask(&mask_args(&input, &out, &rules, &keys))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("n36") && e.contains("JSON number") && e.contains("radix 10"),
        "{e}"
    );
    assert!(!out.exists());
}

/// Bug: a `--policies` run on a table no policy names (the README's own example, `people.csv`
/// against `table: customers`) wrote a clear copy and exited 0.
#[test]
fn a_table_no_policy_applies_to_is_refused_not_copied_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path());
    let policies = dir.path().join("policies.yaml");
    std::fs::write(
        &policies,
        "policies:\n  - name: last4\n    table: customers\n    \
         attachments: [{public: true}]\n    rules:\n      - {column: card, transform: replace}\n",
    )
    .unwrap();
    let input = dir.path().join("people.csv");
    std::fs::write(&input, "name,card\nann,4111111111111111\n").unwrap();
    let out = dir.path().join("view.csv");
    let mut a = mask_args(&input, &out, &keys, &keys);
    a.rules = None;
    a.policies = Some(policies);
    a.as_principal = Some("arn:aws:iam::111122223333:role/analyst".into());
    let err = run_mask(&a).unwrap_err().to_string();
    assert!(
        err.contains("\"people\"") && err.contains("--table"),
        "{err}"
    );
    assert!(!out.exists());
    a.table = Some("customers".into());
    run_mask(&a).unwrap();
    assert!(
        !std::fs::read_to_string(&out)
            .unwrap()
            .contains("4111111111111111")
    );
}
