//! The JSON decision corpus (`tests/corpus/*.json`): cases written from the
//! AWS documentation, each with the expected decision and blocking layers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::simulate::simulate_cases;
use serde_json::Value;
use std::path::Path;

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn corpus_decisions_match() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut total = 0;
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
        for case in cases {
            total += 1;
            let name = format!(
                "{}: {}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"].as_str().unwrap_or("?")
            );
            let result = match simulate_cases(&case.to_string()) {
                Ok(mut r) => r.remove(0),
                Err(e) => {
                    failures.push(format!("{name}: error {e}"));
                    continue;
                }
            };
            let expect = &case["expect"];
            if result["decision"] != expect["decision"] {
                failures.push(format!(
                    "{name}: got {} {}, want {}",
                    result["decision"], result["blockedBy"], expect["decision"]
                ));
            } else if expect.get("blockedBy").is_some()
                && sorted(&result["blockedBy"]) != sorted(&expect["blockedBy"])
            {
                failures.push(format!(
                    "{name}: blockedBy {}, want {}",
                    result["blockedBy"], expect["blockedBy"]
                ));
            }
        }
    }
    assert!(total >= 150, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn simulate_example_file() {
    let input = include_str!("data/simulate_example.json");
    let out = simulate_cases(input).unwrap();
    let got: Vec<(&str, Vec<String>)> = out
        .iter()
        .map(|r| (r["decision"].as_str().unwrap(), sorted(&r["blockedBy"])))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Allowed", vec![]),
            ("ImplicitlyDenied", vec!["resource".to_string()]),
            ("ExplicitlyDenied", vec!["session".to_string()]),
        ]
    );
    assert_eq!(out[0]["matched"].as_array().unwrap().len(), 6, "{}", out[0]);
}
