//! Regressions for the defects a review of `palisade mask`/`unmask` found: each test names the
//! defect it pins (the numbering of the review).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

mod common;

use common::KEY;
use common::{mask_args, unmask_args};
use palisade_masking::cli::{run_mask, run_unmask};
use palisade_masking::masker::Summary;

fn keyfile(dir: &Path, raw: &str) -> PathBuf {
    let p = dir.join(format!("keys-{}.json", &raw[..4]));
    std::fs::write(&p, format!(r#"{{"keys": {{"pii": {{"raw": "{raw}"}}}}}}"#)).unwrap();
    p
}

const OTHER_KEY: &str = "HxwdHh8YGRobFBUWFxAREhMMDQ4PCAkKCwQFBgcAAQI=";

/// Masks `input` (written to a file named `name`) with `rules`: the result and the output
/// text, if any was written.
fn mask(
    name: &str,
    rules: &str,
    input: &[u8],
) -> (Result<Summary, palisade_masking::MaskError>, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path(), KEY);
    let rules_path = dir.path().join("rules.yaml");
    std::fs::write(&rules_path, rules).unwrap();
    let in_path = dir.path().join(name);
    std::fs::write(&in_path, input).unwrap();
    let out = dir.path().join(format!("out-{name}"));
    let r = run_mask(&mask_args(&in_path, &out, &rules_path, &keys));
    let written = std::fs::read_to_string(&out).ok();
    // Nothing else is left beside the output (no temporary file).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".palisade-mask-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    (r, written)
}

/// Defect 1: a CSV with an unclosed quote exited 0 with every later row in clear (the reader
/// took the rest of the file as one cell).
#[test]
fn defect_1_csv_unclosed_quote_fails_closed_and_writes_nothing() {
    let rules = "rules: [{column: email, transform: redact}]\n";
    let input = b"id,comment,email\n1,\"he said \"\"hi,a@b.com\n2,ok,ann@x.com\n3,ok,cy@x.com\n";
    let (r, out) = mask("b.csv", rules, input);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("record 2") && e.contains("not closed"), "{e}");
    assert!(!e.contains("ann@x.com"), "{e}");
    assert_eq!(out, None);
    // Also in a header, and in a TSV.
    let (r, out) = mask("h.csv", rules, b"id,\"email\n1,ann@x.com\n");
    assert!(r.unwrap_err().to_string().contains("record 1"));
    assert_eq!(out, None);
    let (r, out) = mask("t.tsv", rules, b"id\temail\n1\t\"ann@x.com\n2\tcy@x.com\n");
    assert!(r.is_err());
    assert_eq!(out, None);
    // Quotes that close, doubled quotes and a literal quote inside a field are fine.
    let (r, out) = mask(
        "ok.csv",
        rules,
        b"id,comment,email\n1,\"he said \"\"hi\"\"\",a@b.com\n2,5\" disk,ann@x.com\n3,\"a\"b,c@d.org",
    );
    r.unwrap();
    assert_eq!(
        out.unwrap(),
        // `"a"b` is the value `ab` to the reader, and is written as such.
        "id,comment,email\n1,\"he said \"\"hi\"\"\",\n2,5\" disk,\n3,ab,"
    );
}

/// Defect 12: a CSV parse error named two record numbers ("record 2: CSV parse error:
/// record 1 (line 2 …)").
#[test]
fn defect_12_csv_parse_error_names_one_record() {
    let rules = "rules: [{column: email, transform: redact}]\n";
    let (r, _) = mask("u.csv", rules, b"id,email\n1,a@b.com\n2,\xff\xfe\n");
    let e = r.unwrap_err().to_string();
    assert!(e.contains("record 3: field 2 is not valid UTF-8"), "{e}");
    assert_eq!(e.matches("record").count(), 1, "{e}");
}

/// Defect 2: a free-text identifier rule did nothing on CSV (and Parquet) and exited 0.
#[test]
fn defect_2_free_text_rule_masks_every_csv_cell() {
    let rules = "rules: [{identifiers: [\"*\"], transform: replace}]\n";
    let input = b"id,comment,contact\n1,mail ann@example.com now,bob@example.org\n2,none,\n3,x,y,extra cy@example.net\n";
    let (r, out) = mask("f.csv", rules, input);
    let s = r.unwrap();
    let out = out.unwrap();
    assert_eq!(
        out,
        "id,comment,contact\n1,mail <EMAIL_ADDRESS> now,<EMAIL_ADDRESS>\n2,none,\n3,x,y,extra <EMAIL_ADDRESS>\n"
    );
    assert_eq!(s.rules[0].transformed, 3);
}

/// Defect 3: a JSON rule that matched nothing passed silently (CSV refuses the column).
#[test]
fn defect_3_jsonl_rules_that_match_nothing_are_refused() {
    let (r, out) = mask(
        "in.jsonl",
        "rules: [{column: emial, transform: redact}]\n",
        b"{\"email\":\"ann@x.com\"}\n",
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("emial") && e.contains("matches no value"), "{e}");
    assert_eq!(out, None);
    // A path some records have is fine.
    let (r, out) = mask(
        "in.jsonl",
        "rules: [{column: email, transform: redact}]\n",
        b"{\"id\":1}\n{\"email\":\"ann@x.com\"}\n",
    );
    r.unwrap();
    assert_eq!(out.unwrap(), "{\"id\":1}\n{}\n");
}

/// Defect 3: a `.json` file holding an array was read as one JSON Lines record: nothing
/// masked, exit 0, a full plaintext copy.
#[test]
fn defect_3_json_array_document_elements_are_records() {
    let rules = "rules: [{column: email, transform: replace}]\n";
    let input =
        b"[\n  {\"id\": 1, \"email\": \"ann@x.com\"},\n  {\"id\": 2, \"email\": \"cy@x.com\"}\n]\n";
    let (r, out) = mask("people.json", rules, input);
    let s = r.unwrap();
    assert_eq!(s.records, 2);
    assert_eq!(
        out.unwrap(),
        "[\n  {\"id\": 1, \"email\": \"<EMAIL>\"},\n  {\"id\": 2, \"email\": \"<EMAIL>\"}\n]\n"
    );
    // One object, and JSON Lines named .json, still work.
    let (r, out) = mask("one.json", rules, b"{\"email\": \"ann@x.com\"}");
    r.unwrap();
    assert_eq!(out.unwrap(), "{\"email\": \"<EMAIL>\"}");
    let (r, out) = mask(
        "lines.json",
        rules,
        b"{\"email\":\"ann@x.com\"}\n{\"email\":\"cy@x.com\"}\n",
    );
    assert_eq!(r.unwrap().records, 2);
    assert_eq!(
        out.unwrap(),
        "{\"email\":\"<EMAIL>\"}\n{\"email\":\"<EMAIL>\"}\n"
    );
}

/// Defect 4: identifiers rules on a CSV column masked nothing where scan reported the
/// identifier, because the column name never reached the keyword rules.
#[test]
fn defect_4_column_name_counts_as_the_keyword_scan_uses() {
    let rules = "rules: [{column: dob, identifiers: [DATE_OF_BIRTH], transform: replace}]\n";
    let (r, out) = mask("d.csv", rules, b"id,dob\n1,1980-02-29\n2,12/31/1975\n");
    let s = r.unwrap();
    assert_eq!(s.rules[0].transformed, 2, "{}", out.unwrap_or_default());
    assert_eq!(
        out.unwrap(),
        "id,dob\n1,<DATE_OF_BIRTH>\n2,<DATE_OF_BIRTH>\n"
    );
    // The same with a free-text rule, and in JSON Lines by the member's name.
    let rules = "rules: [{identifiers: [DATE_OF_BIRTH], transform: replace}]\n";
    let (r, out) = mask("d.csv", rules, b"id,dob\n1,1980-02-29\n");
    r.unwrap();
    assert_eq!(out.unwrap(), "id,dob\n1,<DATE_OF_BIRTH>\n");
    let (r, out) = mask("d.jsonl", rules, b"{\"person\":{\"dob\":\"1980-02-29\"}}\n");
    r.unwrap();
    assert_eq!(out.unwrap(), "{\"person\":{\"dob\":\"<DATE_OF_BIRTH>\"}}\n");
}

/// Defect 4: JSON object keys holding PII were never read by free-text rules.
#[test]
fn defect_4_json_object_keys_are_masked() {
    let rules = "rules: [{identifiers: [EMAIL], transform: replace}]\n";
    let (r, out) = mask(
        "k.jsonl",
        rules,
        b"{\"ann@example.com\":{\"role\":\"admin\"},\"n\":1}\n",
    );
    r.unwrap();
    let out = out.unwrap();
    assert!(!out.contains("ann@example.com"), "{out}");
    assert!(out.contains("\"<EMAIL>\":{\"role\":\"admin\"}"), "{out}");
    // Two keys that mask to the same key are refused rather than merged.
    let (r, out) = mask(
        "k.jsonl",
        rules,
        b"{\"ann@example.com\":1,\"bob@example.com\":2}\n",
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("same key") && !e.contains("example.com"), "{e}");
    assert_eq!(out, None);
}

/// Defect 6: JSON numbers were rounded before masking: two 23-digit numbers got the same
/// token, and 19.90 unmasked to 19.9.
#[test]
fn defect_6_json_numbers_are_masked_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path(), KEY);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - {column: account, transform: {type: fpe, key: pii, context: acct}}\n  \
         - {column: price, transform: {type: fpe, key: pii, context: price}}\n",
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    // 123456.90 printed 123456.9 once read into a `Number`.
    let text = "{\"account\":12345678901234567890123,\"price\":123456.90}\n\
                {\"account\":12345678901234567890124,\"price\":[1234.500, 1000000]}\n";
    std::fs::write(&input, text).unwrap();
    let masked = dir.path().join("m.jsonl");
    run_mask(&mask_args(&input, &masked, &rules, &keys)).unwrap();
    let m = std::fs::read_to_string(&masked).unwrap();
    let docs: Vec<&str> = m.lines().collect();
    let account = |line: &str| {
        let start = line.find("\"account\":").unwrap() + 10;
        line[start..].split(',').next().unwrap().to_owned()
    };
    let (a, b) = (account(docs[0]), account(docs[1]));
    assert_eq!(a.len(), 23, "{m}");
    assert!(
        a.bytes().all(|c| c.is_ascii_digit()),
        "written as a number: {m}"
    );
    assert_ne!(a, b, "{m}");
    let clear = dir.path().join("c.jsonl");
    run_unmask(&unmask_args(&masked, &clear, &rules, &keys)).unwrap();
    assert_eq!(std::fs::read_to_string(&clear).unwrap(), text);
}

/// Defect 7: unmask with a wrong key exited 0 for surrogate (identifier) rules, writing the
/// surrogates back unchanged; column rules refused.
#[test]
fn defect_7_unmask_with_a_wrong_key_fails_for_surrogate_rules() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path(), KEY);
    let wrong = keyfile(dir.path(), OTHER_KEY);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - identifiers: [EMAIL]\n    transform: {type: deterministic_encrypt, key: pii, surrogate: EMAIL}\n",
    )
    .unwrap();
    for (name, text) in [
        ("notes.txt", "mail ann@example.com\nand bob@example.org\n"),
        ("n.csv", "id,note\n1,mail ann@example.com\n"),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, text).unwrap();
        let masked = dir.path().join(format!("m-{name}"));
        run_mask(&mask_args(&input, &masked, &rules, &keys)).unwrap();
        let clear = dir.path().join(format!("c-{name}"));
        let e = run_unmask(&unmask_args(&masked, &clear, &rules, &wrong))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of the") && e.contains("wrong key"), "{e}");
        assert!(!clear.exists());
        // The right key still opens them.
        let s = run_unmask(&unmask_args(&masked, &clear, &rules, &keys)).unwrap();
        assert_eq!(s.rules[0].errors, 0);
        assert_eq!(std::fs::read_to_string(&clear).unwrap(), text);
    }
}

/// Review defect 12: the clear view an exempt `--policies` principal gets was written 0644,
/// although unmasked output is owner-only.
#[cfg(unix)]
#[test]
fn defect_12_an_exempt_principals_clear_view_is_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let keys = keyfile(dir.path(), KEY);
    let policies = dir.path().join("policies.yaml");
    std::fs::write(
        &policies,
        "exempt: ['arn:aws:iam::111122223333:role/admin']\npolicies:\n  - name: everyone\n    \
         attachments: [{public: true, priority: 0}]\n    rules:\n      - {column: card, transform: replace}\n",
    )
    .unwrap();
    let input = dir.path().join("customers.csv");
    std::fs::write(&input, "name,card\nann,4111111111111111\n").unwrap();
    let mode = |arn: &str| {
        let out = dir.path().join("view.csv");
        let _ = std::fs::remove_file(&out);
        let mut a = mask_args(&input, &out, &keys, &keys);
        a.rules = None;
        a.policies = Some(policies.clone());
        a.as_principal = Some(arn.into());
        run_mask(&a).unwrap();
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("arn:aws:iam::111122223333:role/admin"), 0o600);
    // A masked view keeps the ordinary permissions (0666 less the umask).
    assert_ne!(mode("arn:aws:iam::111122223333:user/bob") & 0o044, 0);
}

/// Review defect 10: a text line was read whole (a 120 MB line took 2.6 GB); a long line is
/// now masked in 1 MiB steps with context around them, and values across the steps' edges
/// are masked as when the line is masked whole.
#[test]
fn defect_10_a_long_line_is_masked_in_steps_without_missing_values() {
    const STEP: usize = palisade_masking::formats::text::STEP;
    let mut line = String::new();
    let mut emails = 0usize;
    // Filler with multi-byte characters, and emails every ~97 KB and across each step edge.
    let filler = "é word ";
    let mut k = 0usize;
    for edge in 1..=3usize {
        while line.len() < edge * STEP - 9 {
            if line.len() % 97_000 < filler.len() {
                line.push_str(&format!("u{k}@example.com "));
                emails += 1;
                k += 1;
            } else {
                line.push_str(filler);
            }
        }
        line.push_str(&format!("edge{edge}@example.com "));
        emails += 1;
    }
    line.push_str("tail@example.org\n");
    emails += 1;
    let text = format!("first a@example.com\n{line}last b@example.com\n");
    let (r, out) = mask(
        "long.txt",
        "rules: [{identifiers: [EMAIL], transform: replace}]\n",
        text.as_bytes(),
    );
    let s = r.unwrap();
    let out = out.unwrap();
    assert_eq!(s.records, 3);
    assert_eq!(s.rules[0].transformed, emails as u64 + 2);
    assert!(!out.contains("@example"), "an email was left");
    let expected = {
        let re = regex::Regex::new(r"[a-z0-9]+@example\.(com|org)").unwrap();
        re.replace_all(&text, "<EMAIL>").into_owned()
    };
    assert!(
        out == expected,
        "the output differs from masking the line whole"
    );
}
