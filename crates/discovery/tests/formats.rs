//! Locations per format, archives and their limits, and the command's outputs and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;

use palisade_discovery::Engine;
use palisade_discovery::cli::{OutputFormat, ScanArgs, run_with};
use palisade_discovery::formats::Location;
use palisade_discovery::formats::archive::{
    FileResult, Limits, Options, scan_object, scan_object_with,
};

fn engine() -> Engine {
    Engine::with_defaults().unwrap()
}

fn types(e: &Engine, r: &FileResult) -> Vec<String> {
    r.outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| e.type_id(&l.detection).to_owned())
        .collect()
}

#[test]
fn text_line_ranges() {
    let e = engine();
    let data = "first line\nsecond: é jane@example.com\n";
    let r = scan_object(&e, "a.txt", data.as_bytes(), false);
    let l = &r[0].outcome.as_ref().unwrap()[0];
    assert_eq!(
        l.location,
        Location::Line {
            start: 2,
            end: 2,
            start_column: 11
        }
    );
    assert_eq!(l.offset, Some(data.find("jane").unwrap() as u64));
    assert!(l.value.is_none(), "values stay hidden without reveal");
}

#[test]
fn csv_cells_and_column_keywords() {
    let e = engine();
    // No keyword in the text, but the column is named "ssn": Macie's column-name rule.
    let data = "name,ssn,note\n\"Doe, J\",536-22-8901,ok\nx,123-45-6780,\"multi\nline\"\n";
    let r = scan_object(&e, "people.csv", data.as_bytes(), true);
    let dets = r[0].outcome.as_ref().unwrap();
    let ssn: Vec<_> = dets
        .iter()
        .filter(|l| e.type_id(&l.detection) == "USA_SOCIAL_SECURITY_NUMBER")
        .collect();
    assert_eq!(ssn.len(), 2, "{dets:?}");
    assert_eq!(
        ssn[0].location,
        Location::Cell {
            row: 2,
            column: 2,
            column_name: Some("ssn".into())
        }
    );
    assert_eq!(ssn[0].value.as_deref(), Some("536-22-8901"));
    // Same number in a column without a keyword: not reported.
    let r = scan_object(&e, "other.csv", b"name,code\nx,536-22-8901\n", false);
    assert!(!types(&e, &r[0]).contains(&"USA_SOCIAL_SECURITY_NUMBER".to_string()));
}

#[test]
fn a_custom_match_running_across_two_csv_cells_is_no_value() {
    // Bug: `\d{3},\d{3}` matched `123,456` across two cells and was reported at the first;
    // Macie matches each cell on its own. Inside one (quoted) cell it is still a value.
    use palisade_discovery::{CustomIdentifier, EngineBuilder, Selection};
    let e = EngineBuilder::new()
        .selection(Selection::None)
        .custom(CustomIdentifier::new("PAIR", r"[0-9]{3},[0-9]{3}"))
        .build()
        .unwrap();
    let r = scan_object(&e, "t.csv", b"a,b,c\n123,456,x\n\"789,012\",y,z\n", false);
    let found: Vec<_> = r[0]
        .outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| l.location.clone())
        .collect();
    assert_eq!(
        found,
        [Location::Cell {
            row: 3,
            column: 1,
            column_name: Some("a".into())
        }],
        "{found:?}"
    );
}

#[test]
fn a_keyword_in_a_neighbouring_cell_or_field_does_not_count() {
    // Bug: "ssn" in the cell (or JSON field) beside a number within 30 characters met the
    // keyword rule; Macie takes the keyword from the value, its column name or its path.
    let e = engine();
    let ssn = |name: &str, data: &[u8]| {
        let r = scan_object(&e, name, data, false);
        types(&e, &r[0])
            .iter()
            .filter(|t| *t == "USA_SOCIAL_SECURITY_NUMBER")
            .count()
    };
    assert_eq!(ssn("a.csv", b"note,value\nssn next,536-22-8901\n"), 0);
    assert_eq!(ssn("a.csv", b"note,value\nx,ssn 536-22-8901\n"), 1);
    assert_eq!(ssn("a.json", br#"{"note": "ssn", "v": "536-22-8901"}"#), 0);
    assert_eq!(
        ssn("a.json", br#"{"note": "x", "v": "ssn 536-22-8901"}"#),
        1
    );
    assert_eq!(ssn("a.txt", b"ssn next, 536-22-8901\n"), 1);
}

#[test]
fn tsv_cells() {
    let e = engine();
    let r = scan_object(&e, "t.tsv", b"id\temail\n1\tbob@example.org\n", false);
    let l = &r[0].outcome.as_ref().unwrap()[0];
    assert_eq!(
        l.location,
        Location::Cell {
            row: 2,
            column: 2,
            column_name: Some("email".into())
        }
    );
}

#[test]
fn json_paths_and_records() {
    let e = engine();
    let data = r#"{"customer": {"contact": ["x", "jane@example.com"], "ssn": "536-22-8901"}, "note": "line\n4539148803436467"}"#;
    let r = scan_object(&e, "a.json", data.as_bytes(), false);
    let dets = r[0].outcome.as_ref().unwrap();
    let find = |t: &str| {
        dets.iter()
            .find(|l| e.type_id(&l.detection) == t)
            .unwrap_or_else(|| panic!("no {t} in {dets:?}"))
            .location
            .clone()
    };
    assert_eq!(
        find("EMAIL_ADDRESS"),
        Location::Record {
            record_index: 0,
            json_path: Some("$.customer.contact[1]".into())
        }
    );
    assert_eq!(
        find("USA_SOCIAL_SECURITY_NUMBER"),
        Location::Record {
            record_index: 0,
            json_path: Some("$.customer.ssn".into())
        }
    );
    // `\n` before the card number does not glue an `n` onto it.
    assert_eq!(
        find("CREDIT_CARD_NUMBER_(NO_KEYWORD)"),
        Location::Record {
            record_index: 0,
            json_path: Some("$.note".into())
        }
    );
}

#[test]
fn json_unicode_escapes_do_not_glue_to_the_value() {
    // Bug: Go's JSON encoder writes `<` as `\u003c`, and the email was reported as
    // `u003cbob.jones@example.com`.
    let e = engine();
    let data = "{\"to\":\"John \\u003cbob.jones@example.com\\u003e\"}\n";
    let r = scan_object(&e, "a.jsonl", data.as_bytes(), false);
    let dets = r[0].outcome.as_ref().unwrap();
    assert_eq!(types(&e, &r[0]), vec!["EMAIL_ADDRESS"]);
    let d = &dets[0].detection;
    assert_eq!(&data[d.start..d.end], "bob.jones@example.com");
}

#[test]
fn jsonl_record_index_and_key_names() {
    let e = engine();
    let data = "{\"a\": 1}\n{\"b\": \"x\"}\n{\"jane@example.com\": \"k\", \"ip\": \"10.1.2.3\"}\n";
    let r = scan_object(&e, "a.jsonl", data.as_bytes(), false);
    let dets = r[0].outcome.as_ref().unwrap();
    assert_eq!(
        dets[0].location,
        Location::Record {
            record_index: 2,
            json_path: None
        },
        "data in a key name: path omitted"
    );
    assert_eq!(
        dets[1].location,
        Location::Record {
            record_index: 2,
            json_path: Some("$.ip".into())
        }
    );
}

#[test]
fn json_nesting_limit() {
    let e = engine();
    let deep = "[".repeat(300) + &"]".repeat(300);
    let r = scan_object(&e, "deep.json", deep.as_bytes(), false);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "JSON_NESTING_LEVEL_OVER_LIMIT"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn gzip_and_nested_zip() {
    let e = engine();
    let inner_csv = b"email\nann@example.com\n";
    let nested = zip_of(&[("inner.csv", inner_csv)]);
    let gz = gzip(b"ip 192.168.1.20\n");
    let outer = zip_of(&[
        ("nested.zip", &nested),
        ("log.txt.gz", &gz),
        ("bin.dat", b"\0\0\0"),
    ]);
    let r = scan_object(&e, "outer.zip", &outer, false);
    let paths: Vec<&str> = r.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "outer.zip!nested.zip!inner.csv",
            "outer.zip!log.txt.gz",
            "outer.zip!bin.dat"
        ]
    );
    assert_eq!(types(&e, &r[0]), ["EMAIL_ADDRESS"]);
    assert!(matches!(
        r[0].outcome.as_ref().unwrap()[0].location,
        Location::Cell { .. }
    ));
    assert_eq!(types(&e, &r[1]), ["IP_ADDRESS"]);
    // Offsets are in the decompressed member.
    assert_eq!(r[1].outcome.as_ref().unwrap()[0].offset, Some(3));
    assert_eq!(
        r[2].outcome.as_ref().unwrap_err().reason,
        "UNSUPPORTED_FILE_TYPE_EXCEPTION"
    );
}

fn scan_with(limits: Limits, name: &str, data: &[u8]) -> Vec<FileResult> {
    let opts = Options {
        limits,
        reveal: false,
    };
    scan_object_with(&engine(), name, data, &opts)
}

#[test]
fn bomb_ratio_is_refused() {
    // 8 MiB of zeros compress to ~8 KiB: a ratio of ~1000, past the 1 MiB floor.
    let bomb = gzip(&vec![0u8; 8 << 20]);
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let r = scan_with(limits, "bomb.txt.gz", &bomb);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "ARCHIVE_COMPRESSION_RATIO_OVER_LIMIT"
    );
}

#[test]
fn bomb_size_and_total_limits() {
    let data = gzip(&vec![b'a'; 2 << 20]);
    let limits = Limits {
        max_member_bytes: 1 << 20,
        ..Limits::default()
    };
    let r = scan_with(limits, "big.txt.gz", &data);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "FILE_EXCEEDS_SIZE_LIMIT"
    );

    let member = vec![b'b'; 600 << 10];
    let z = zip_of(&[("a.txt", &member), ("b.txt", &member)]);
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    let r = scan_with(limits, "two.zip", &z);
    assert!(r[0].outcome.is_ok());
    assert_eq!(
        r[1].outcome.as_ref().unwrap_err().reason,
        "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT"
    );
}

#[test]
fn bomb_nesting_depth() {
    let mut data = gzip(b"jane@example.com");
    for _ in 0..4 {
        data = gzip(&data);
    }
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let r = scan_with(limits, "deep.gz", &data);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "ARCHIVE_NESTING_LEVEL_OVER_LIMIT"
    );
    let r = scan_with(Limits::default(), "deep.gz", &data);
    assert!(r[0].outcome.as_ref().unwrap().len() == 1);
}

fn args(paths: Vec<std::path::PathBuf>, format: OutputFormat) -> ScanArgs {
    ScanArgs {
        paths,
        identifiers: "ALL".into(),
        custom: vec![],
        allow_list: vec![],
        format,
        sample: None,
        max_file_size: 1 << 20,
        reveal: false,
        threads: Some(2),
        no_progress: true,
        max_archive_depth: 10,
        max_compression_ratio: 1000,
        follow: false,
    }
}

fn run(a: &ScanArgs) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(a, &mut out, &mut err, false);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn cli_exit_codes_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clean.txt"), "nothing to see here\n").unwrap();
    let (code, _, _) = run(&args(
        vec![dir.path().join("clean.txt")],
        OutputFormat::Table,
    ));
    assert_eq!(code, 0);

    std::fs::write(
        dir.path().join("pii.txt"),
        "card number 4539 1488 0343 6467\nSSN: 536-22-8901\n",
    )
    .unwrap();
    let (code, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Jsonl));
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "CREDIT_CARD_NUMBER");
    assert_eq!(lines[0]["offset"], 12);
    assert_eq!(lines[0]["length"], 19);
    assert_eq!(lines[1]["location"]["lineRanges"][0]["start"], 2);
    assert!(!out.contains("4539"), "no values without --reveal");

    let mut a = args(vec![dir.path().to_owned()], OutputFormat::Jsonl);
    a.reveal = true;
    let (_, out, _) = run(&a);
    assert!(out.contains("4539 1488 0343 6467"));

    let (code, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Json));
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["type"], "SensitiveData:S3Object/Multiple");
    assert_eq!(f["severity"]["description"], "High");
    assert!(!out.contains("536-22"));

    let (_, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Sarif));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 2);

    let (_, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Table));
    assert!(out.contains("IDENTIFIER"));
    assert!(out.contains("USA_SOCIAL_SECURITY_NUMBER"));

    let (code, _, err) = run(&args(vec![dir.path().join("missing")], OutputFormat::Table));
    assert_eq!(code, 2);
    assert!(err.contains("missing"));

    let mut a = args(vec![dir.path().to_owned()], OutputFormat::Table);
    a.identifiers = "NOT_AN_ID".into();
    let (code, _, err) = run(&a);
    assert_eq!(code, 2);
    assert!(err.contains("NOT_AN_ID"));
}

#[test]
fn a_file_with_more_detections_than_a_batch_is_printed_in_order_and_counted_once() {
    // Text files are printed batch by batch while they are scanned (memory stays bounded): the
    // batches of two large files scanned at once must not interleave, and each file's finding
    // and summary count all its detections.
    use palisade_discovery::formats::text::BATCH;
    let dir = tempfile::tempdir().unwrap();
    let n = BATCH * 2 + 17;
    let emails: String = (0..n)
        .map(|i| format!("mail user{i}@example.com\n"))
        .collect();
    std::fs::write(dir.path().join("a.txt"), &emails).unwrap();
    std::fs::write(dir.path().join("b.txt"), "SSN: 536-22-8901\n").unwrap();
    std::fs::write(dir.path().join("c.txt"), &emails).unwrap();
    let (code, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Jsonl));
    assert_eq!(code, 1);
    let paths: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["path"].to_string())
        .collect();
    assert_eq!(paths.len(), 2 * n + 1);
    let file = |p: &String| p.rsplit('/').next().unwrap_or("").to_owned();
    let mut order: Vec<String> = paths.iter().map(file).collect();
    order.dedup();
    assert_eq!(order, ["a.txt\"", "b.txt\"", "c.txt\""]);
    let offsets: Vec<u64> = out
        .lines()
        .take(n)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["offset"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "in file order");

    let (_, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Json));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["detectionsByType"]["EMAIL_ADDRESS"], 2 * n);
    assert_eq!(doc["summary"]["filesWithFindings"], 3);
    assert_eq!(doc["summary"]["filesScanned"], 3);
    let result = &doc["findings"][0]["classificationDetails"]["result"];
    let a = &result["sensitiveData"][0];
    assert_eq!(a["totalCount"], n);
    // Only Macie's first 15 occurrences are kept of a streamed file, and they are the first.
    let lines = &a["detections"][0]["occurrences"]["lineRanges"];
    assert_eq!(lines.as_array().unwrap().len(), 15);
    assert_eq!(lines[0]["start"], 1);
    assert_eq!(lines[14]["start"], 15);
    assert_eq!(result["additionalOccurrences"], true);

    // SARIF is written result by result too, and is still one valid document.
    let (_, out, _) = run(&args(vec![dir.path().to_owned()], OutputFormat::Sarif));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * n + 1);
    assert_eq!(results[n]["ruleId"], "USA_SOCIAL_SECURITY_NUMBER");
    let rules: Vec<&str> = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["EMAIL_ADDRESS", "USA_SOCIAL_SECURITY_NUMBER"]);
    std::fs::write(dir.path().join("b.txt"), "nothing here\n").unwrap();
    let (code, out, _) = run(&args(vec![dir.path().join("b.txt")], OutputFormat::Sarif));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(doc["version"], "2.1.0");
}

#[test]
fn cli_custom_identifiers_and_allow_lists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(
        &data,
        "employee id EMP-123456 and EMP-999999 TEST and a@b.example.com\n",
    )
    .unwrap();
    let custom = dir.path().join("custom.json");
    std::fs::write(
        &custom,
        r#"[{"name": "EMPLOYEE_ID", "regex": "EMP-[0-9]{6}", "keywords": ["employee"],
             "maximumMatchDistance": 20, "ignoreWords": ["EMP-999999"]}]"#,
    )
    .unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "A@B.example.com\n").unwrap();
    let mut a = args(vec![data.clone()], OutputFormat::Jsonl);
    a.custom = vec![custom];
    a.allow_list = vec![allow];
    let (code, out, _) = run(&a);
    assert_eq!(code, 1);
    let types: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["EMPLOYEE_ID"], "{out}");

    let allow_re = dir.path().join("allow.json");
    std::fs::write(
        &allow_re,
        r#"{"name": "ids", "criteria": {"regex": "EMP-[0-9]+"}}"#,
    )
    .unwrap();
    let mut a = args(vec![data], OutputFormat::Jsonl);
    a.identifiers = "NONE".into();
    a.custom = vec![dir.path().join("custom.json")];
    a.allow_list = vec![allow_re];
    let (code, out, _) = run(&a);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn custom_keyword_distance() {
    use palisade_discovery::{CustomIdentifier, EngineBuilder, Selection};
    let mut c = CustomIdentifier::new("EMP", "EMP-[0-9]{6}");
    c.keywords = vec!["employee".into()];
    c.maximum_match_distance = 15;
    let e = EngineBuilder::new()
        .selection(Selection::None)
        .custom(c)
        .build()
        .unwrap();
    // "employee" ends 12 bytes before the match ends: within 15.
    assert_eq!(e.scan_bytes(b"employee EMP-123456").len(), 1);
    // Too far.
    assert_eq!(e.scan_bytes(b"employee          EMP-123456").len(), 0);
    // After the match: keywords must precede.
    assert_eq!(e.scan_bytes(b"EMP-123456 employee").len(), 0);
    // Regression: the distance was counted in bytes; Macie counts characters. Two characters
    // of two bytes each between them: 14 characters (16 bytes) from the keyword's end.
    assert_eq!(e.scan_bytes("employee ßß EMP-123456".as_bytes()).len(), 1);
}

#[test]
fn custom_identifiers_report_text_other_identifiers_also_matched() {
    // Bug: detections were merged without overlaps across all identifiers, so of three custom
    // identifiers matching the same employee number only the first was reported, and a custom
    // SSN pattern was hidden by the managed SSN identifier. Macie runs each custom identifier
    // over the whole object.
    use palisade_discovery::{CustomIdentifier, EngineBuilder};
    let mut b = EngineBuilder::new();
    for (name, re) in [
        ("empA", "EMP-[0-9]{6}"),
        ("empB", "EMP-9+"),
        ("empC", "MP-9"),
        ("ssn", "[0-9]{3}-[0-9]{2}-[0-9]{4}"),
    ] {
        b = b.custom(CustomIdentifier::new(name, re));
    }
    let e = b.build().unwrap();
    let text = b"employee EMP-999111, ssn 536-22-9999";
    let mut found: Vec<(String, usize)> = e
        .scan_bytes(text)
        .iter()
        .map(|d| (e.type_id(d).to_owned(), d.start))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("USA_SOCIAL_SECURITY_NUMBER".to_owned(), 25),
            ("empA".to_owned(), 9),
            ("empB".to_owned(), 9),
            ("empC".to_owned(), 10),
            ("ssn".to_owned(), 25),
        ]
    );
}

#[test]
fn sampling_and_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(dir.path().join(format!("f{i}.txt")), "jane@example.com").unwrap();
    }
    let mut a = args(vec![dir.path().to_owned()], OutputFormat::Jsonl);
    a.sample = Some(20.0);
    let (_, out, _) = run(&a);
    let n = out.lines().count();
    assert!((2..=20).contains(&n), "{n} of 50 sampled at 20%");
    let mut a = args(vec![dir.path().to_owned()], OutputFormat::Json);
    a.max_file_size = 4;
    let (code, out, _) = run(&a);
    // Files left unscanned fail the run, whichever limit left them out.
    assert_eq!(code, 2);
    assert!(out.contains("FILE_EXCEEDS_SIZE_LIMIT"));
}

#[test]
fn scan_reader_matches_scan_bytes() {
    let e = engine();
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!("line {i} mail user{i}@example.com\n"));
    }
    let a = e.scan_bytes(text.as_bytes());
    let b = e.scan_reader(text.as_bytes()).unwrap();
    assert_eq!(a.len(), 200_000);
    assert_eq!(a, b);
}

/// Text files are streamed through a reused buffer: across chunk boundaries the detections,
/// lines and character columns must be those of a scan of the whole text.
#[test]
fn streamed_text_is_located_as_the_whole_text() {
    use palisade_discovery::formats::text;
    let e = engine();
    let mut text = String::new();
    for i in 0..200_000 {
        let pad = "é".repeat(i % 7);
        text.push_str(&format!("{pad}line {i} mail user{i}@example.com ok\n"));
        if i % 1000 == 0 {
            text.push_str("login from 192.168.7.9 at noon\n\n");
        }
    }
    assert!(text.len() > 9 << 20, "the text spans several chunks");
    let whole = text::scan(&mut e.scanner(), text.as_bytes());
    let streamed = text::scan_stream(&mut e.scanner(), text.as_bytes(), false).unwrap();
    assert_eq!(whole.len(), 200_200);
    assert_eq!(whole, streamed);
    let revealed = text::scan_stream(&mut e.scanner(), text.as_bytes(), true).unwrap();
    assert_eq!(revealed[0].value.as_deref(), Some("user0@example.com"));
    assert_eq!(revealed[1].value.as_deref(), Some("192.168.7.9"));
}

/// Regression: `--max-file-size=18446744073709551615` panicked with "attempt to add with
/// overflow" (the one-byte-over read limit).
#[test]
fn largest_max_file_size_scans_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pii.txt");
    std::fs::write(&f, "mail alice@example.com\n").unwrap();
    let mut a = args(vec![f], OutputFormat::Jsonl);
    a.max_file_size = u64::MAX;
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("EMAIL_ADDRESS"), "{out}");
}

/// Regression: command-line paths that were symlinks to directories (`d1/ld`, no trailing
/// slash), dangling symlinks, symlink loops or FIFOs were skipped: "0 files scanned", exit 0.
/// A symlink named on the command line is followed; one that resolves to nothing scannable is
/// an error (exit 2).
#[cfg(unix)]
#[test]
fn command_line_symlinks_are_followed_and_unscannable_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("pii.txt"), "mail alice@example.com\n").unwrap();
    let link = dir.path().join("ld");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (code, out, err) = run(&args(vec![link], OutputFormat::Jsonl));
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("EMAIL_ADDRESS"), "{out}");

    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("missing"), &dangling).unwrap();
    let looped = dir.path().join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for p in [dangling, looped, fifo] {
        let (code, _, err) = run(&args(vec![p.clone()], OutputFormat::Table));
        assert_eq!(code, 2, "{}: {err}", p.display());
        assert!(err.contains(&p.display().to_string()), "{err}");
    }
}

/// Regression: after a line that is not JSON, JSON Lines record indexes shifted (the bad line
/// counted one record per word: reported as record 4, the next record as 5 instead of 2).
/// Records are lines, 0-based; a bad line's detections are located by line.
#[test]
fn jsonl_records_are_lines_even_after_a_line_that_is_not_json() {
    let e = engine();
    let data = "{\"email\":\"alice@example.com\"}\nnot json here bob@example.com\n{\"c\":\"eve@example.com\"}\nan \"unclosed quote carol@example.com\n{\"d\":\"dan@example.com\"}\n";
    let r = scan_object(&e, "r.jsonl", data.as_bytes(), false);
    let got: Vec<String> = r[0]
        .outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| match &l.location {
            Location::Record {
                record_index,
                json_path,
            } => format!("{record_index} {}", json_path.as_deref().unwrap_or("-")),
            Location::Line { start, .. } => format!("line {start}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, ["0 $.email", "line 2", "2 $.c", "line 4", "4 $.d"]);
}

/// Regression: a JSON Lines line ending in a backslash inside a string (`{"a":"x\`) took the
/// newline for an escaped character, so every later record was numbered one too low (the email
/// of line 1 reported as record 0, at `$` rather than `$.e`) and the bad-line lookup marked the
/// wrong records.
#[test]
fn a_backslash_before_a_jsonl_newline_does_not_merge_two_records() {
    let e = engine();
    let data = "{\"a\":\"x\\\n{\"e\":\"bob@example.com\"}\n";
    let r = scan_object(&e, "bs.jsonl", data.as_bytes(), false);
    let found = r[0].outcome.as_ref().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].location,
        Location::Record {
            record_index: 1,
            json_path: Some("$.e".to_owned())
        }
    );
    let why = r[0].partial.as_ref().unwrap();
    assert!(
        why.detail.starts_with("record 0 is not JSON"),
        "{}",
        why.detail
    );
}

/// Regression: malformed JSON and JSON Lines were scanned as if valid, their detections
/// reported as records at `$`, the file as complete. What is not JSON is still scanned (never
/// hidden), located by line as Macie locates a structured file's malformed parts, and the file
/// is analysed in part (INVALID_OR_CORRUPTED_FILE, the error's place in the detail).
#[test]
fn malformed_json_is_scanned_as_text_and_reported_partial() {
    let e = engine();
    for (name, data, detail) in [
        (
            "inv.json",
            &b"{not json bob@example.com"[..],
            "the file is not JSON: expected a quoted key at line 1, column 2",
        ),
        (
            "trail.json",
            b"{\"a\":\"x\"} trailing carol@example.com",
            "the file is not JSON: expected a value at line 1, column 11",
        ),
        (
            "inv.jsonl",
            b"{\"a\":\"x\"}\n{broken carol@example.com\n{\"b\": tru}\n",
            "record 1 is not JSON: expected a quoted key at line 2, column 2",
        ),
    ] {
        let r = scan_object(&e, name, data, false);
        let found = r[0].outcome.as_ref().unwrap();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert!(
            matches!(found[0].location, Location::Line { .. }),
            "{name}: {found:?}"
        );
        let why = r[0].partial.as_ref().unwrap();
        assert_eq!(why.reason, "INVALID_OR_CORRUPTED_FILE");
        assert!(why.detail.starts_with(detail), "{name}: {}", why.detail);
    }
    let r = scan_object(&e, "inv.jsonl", b"{\"a\":1}\n{x\n[1,]\n", false);
    let why = r[0].partial.as_ref().unwrap();
    assert!(
        why.detail.ends_with("(2 lines are not JSON)"),
        "{}",
        why.detail
    );
    // Valid JSON of every kind of value, several documents, a BOM, blank lines: complete.
    for (name, data) in [
        (
            "ok.json",
            &b"\xEF\xBB\xBF {\"a\": [1, -2.5e+3, 0, true, false, null, \"\\u00e9\\n\"], \"b\": {}} [] \n"[..],
        ),
        ("ok.jsonl", b"{\"a\":1}\n\n[2]\r\n\"s\"\n"),
    ] {
        let r = scan_object(&e, name, data, false);
        assert!(r[0].outcome.is_ok() && r[0].partial.is_none(), "{name}: {r:?}");
    }
}

/// Regression: the JSON check took documents following one another for JSON (`{}{}`,
/// `truefalse`, `01`, `{"a":1} 2`), so a `.json` file or JSON Lines line with text after its
/// document was reported complete. Documents run together are trailing text, and so is a
/// second one on a JSON Lines line; a `.json` file's documents apart by whitespace are JSON.
#[test]
fn a_second_document_after_the_first_is_trailing_text() {
    let e = engine();
    // Bare values run together are not JSON.
    for (data, column) in [("truefalse", 5), ("01", 2), ("1{}", 2)] {
        let r = scan_object(&e, "two.json", data.as_bytes(), false);
        let why = r[0].partial.as_ref().unwrap_or_else(|| panic!("{data}"));
        assert_eq!(why.reason, "INVALID_OR_CORRUPTED_FILE");
        assert!(
            why.detail.contains(&format!(
                "expected the end of the document at line 1, column {column}"
            )),
            "{data}: {}",
            why.detail
        );
    }
    // Apart by whitespace, a `.json` file's documents are each JSON (many tools write JSON
    // Lines under that name); a JSON Lines line is one document.
    // Objects and arrays run together (concatenated JSON, as Firehose writes it) are too.
    for data in ["{\"a\":1} 2", "[1]\n[2]\n", "{}{}", "{\"a\":1}[2]"] {
        let r = scan_object(&e, "two.json", data.as_bytes(), false);
        assert!(r[0].partial.is_none(), "{data}");
    }
    for data in ["{}{}", "truefalse", "01", "{\"a\":1} 2"] {
        let line = format!("{{\"e\":\"bob@example.com\"}}\n{data}\n");
        let r = scan_object(&e, "two.jsonl", line.as_bytes(), false);
        let why = r[0].partial.as_ref().unwrap_or_else(|| panic!("{data}"));
        assert!(
            why.detail.starts_with("record 1 is not JSON"),
            "{}",
            why.detail
        );
        assert_eq!(
            r[0].outcome.as_ref().unwrap()[0].location,
            Location::Record {
                record_index: 0,
                json_path: Some("$.e".to_owned())
            }
        );
    }
}

/// Regression: JSON and CSV error messages counted columns with their own copies of a lossy
/// UTF-8 decoder, detections with the text line map, so after an invalid sequence such as
/// `E0 80` (two characters to the decoder, one to the line map) an error and a detection at
/// the same byte named different columns. One helper counts both.
#[test]
fn error_and_detection_columns_agree_after_invalid_utf8() {
    let e = engine();
    let r = scan_object(&e, "u.json", b"\"\xE0\x80\" bob@example.com", false);
    let found = r[0].outcome.as_ref().unwrap();
    let Location::Line { start_column, .. } = found[0].location else {
        panic!("{found:?}");
    };
    assert_eq!(start_column, 5);
    let why = r[0].partial.as_ref().unwrap();
    assert!(
        why.detail
            .contains(&format!("at line 1, column {start_column};")),
        "{}",
        why.detail
    );
    let r = scan_object(&e, "u.csv", b"a,b\n\xE0\x80,\"x\n", false);
    let skip = r[0].outcome.as_ref().unwrap_err();
    assert!(skip.detail.contains("line 2, column 3 "), "{}", skip.detail);
}

/// Regression: a key such as `weird key.with "quotes"` was reported as
/// `$.users[1].weird key.with \"quotes\"`, indistinguishable from nested keys.
#[test]
fn json_keys_that_are_not_plain_names_use_bracket_notation() {
    let e = engine();
    let data = r#"{"users": [{}, {"weird key.with \"quotes\"": "jane@example.com", "it's\\": "bob@example.com", "first-name": "ann@example.com"}]}"#;
    let r = scan_object(&e, "k.json", data.as_bytes(), false);
    let paths: Vec<String> = r[0]
        .outcome
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|l| match &l.location {
            Location::Record { json_path, .. } => json_path.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        paths,
        vec![
            r#"$.users[1]['weird key.with "quotes"']"#.to_owned(),
            r"$.users[1]['it\'s\\']".to_owned(),
            "$.users[1].first-name".to_owned(),
        ]
    );
}

/// Regression: custom identifier and allow list errors said only "error parsing pattern 0" or
/// "data did not match any variant of untagged enum OneOrMany", and a misspelt field
/// (`keyword` for `keywords`) was ignored, dropping the keyword requirement. Errors now give
/// the regex parser's reason and name the entry and the field; unknown fields are refused.
#[test]
fn custom_identifier_and_allow_list_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "EMP-123456\n").unwrap();
    let custom = dir.path().join("c.json");
    let cases = [
        (
            r#"[{"name":"x","regex":"[abc"}]"#,
            "unclosed character class",
        ),
        (
            r#"{"name":"x","regex":"(?=a)b"}"#,
            "look-around, including look-ahead and look-behind, is not supported",
        ),
        (
            r#"{"name":"x","regex":"(a)\\1"}"#,
            "backreferences are not supported",
        ),
        (
            r#"[{"name":"x","regex":"a","maximumMatchDistance":-1}]"#,
            "maximumMatchDistance -1 must be an integer 1-300",
        ),
        (
            r#"[{"name":"ok","regex":"a"},{"regex":"a"}]"#,
            "custom data identifier 1 in",
        ),
        (r#"[{"regex":"a"}]"#, "missing field `name`"),
        (
            r#"{"name":"x","regex":"EMP-[0-9]{6}","keyword":["employee"]}"#,
            "unknown field `keyword`",
        ),
    ];
    for (json, want) in cases {
        std::fs::write(&custom, json).unwrap();
        let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
        a.custom = vec![custom.clone()];
        let (code, _, err) = run(&a);
        assert_eq!(code, 2, "{json}: {err}");
        assert!(err.contains(want), "{json}: {err}");
    }
    // Macie's other request fields are accepted as they are.
    std::fs::write(
        &custom,
        r#"{"name":"emp","regex":"EMP-[0-9]{6}","description":"ids","tags":{"team":"hr"},"clientToken":"t"}"#,
    )
    .unwrap();
    let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
    a.custom = vec![custom.clone()];
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("\"emp\""), "{out}");

    let allow = dir.path().join("a.json");
    for (json, want) in [
        (
            r#"{"name":"w","criteria":{"regex":"(a"}}"#,
            "unclosed group",
        ),
        (
            r#"{"name":"w","criteria":{"regexp":"a"}}"#,
            "unknown field `regexp`",
        ),
    ] {
        std::fs::write(&allow, json).unwrap();
        let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
        a.allow_list = vec![allow.clone()];
        let (code, _, err) = run(&a);
        assert_eq!(code, 2, "{json}: {err}");
        assert!(err.contains(want), "{json}: {err}");
    }
}

/// Regression: `--identifiers ""` or `,` silently meant ALL.
#[test]
fn an_empty_identifier_selection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "mail alice@example.com\n").unwrap();
    for spec in ["", ",", " , "] {
        let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
        a.identifiers = spec.into();
        let (code, out, err) = run(&a);
        assert_eq!(code, 2, "{spec:?}: {out}");
        assert!(err.contains("names no identifier"), "{spec:?}: {err}");
    }
}

fn ssn_cells(name: &str, data: &[u8]) -> Vec<(u64, u64, String)> {
    let e = engine();
    let r = scan_object(&e, name, data, true);
    r[0].outcome
        .as_ref()
        .unwrap()
        .iter()
        .filter(|l| e.type_id(&l.detection) == "USA_SOCIAL_SECURITY_NUMBER")
        .map(|l| match &l.location {
            Location::Cell {
                row,
                column,
                column_name,
            } => (*row, *column, column_name.clone().unwrap_or_default()),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn csv_stray_quote_inside_an_unquoted_cell_does_not_shift_later_rows() {
    let want = vec![
        (2, 3, "ssn".to_owned()),
        (3, 3, "ssn".to_owned()),
        (4, 3, "ssn".to_owned()),
    ];
    let data = "id,note,ssn\n1,size 5\" screen,536-22-8741\n2,fine,234-56-7890\n3,ok,321-54-9876\n";
    assert_eq!(ssn_cells("q.csv", data.as_bytes()), want);
    let tsv = data.replace(',', "\t");
    assert_eq!(ssn_cells("q.tsv", tsv.as_bytes()), want);
    // Quoted cells still hold delimiters, newlines and doubled quotes.
    let data = "id,note,ssn\n1,\"a, \"\"b\"\"\nc\",536-22-8741\n2,x\"y,234-56-7890\n";
    assert_eq!(
        ssn_cells("q.csv", data.as_bytes()),
        vec![(2, 3, "ssn".to_owned()), (3, 3, "ssn".to_owned())]
    );
}

#[test]
fn csv_bom_is_not_part_of_the_first_column_name() {
    assert_eq!(
        ssn_cells("b.csv", b"\xEF\xBB\xBFssn,x\r\n536-22-8741,1\r\n"),
        vec![(2, 1, "ssn".to_owned())]
    );
    assert_eq!(
        ssn_cells("b.csv", b"\xEF\xBB\xBF\"ssn\",x\r\n536-22-8741,1\r\n"),
        vec![(2, 1, "ssn".to_owned())]
    );
}

#[test]
fn allow_list_file_with_a_bom_keeps_its_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(&data, "mail a@b.example.com\n").unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "\u{feff}a@b.example.com\n").unwrap();
    let mut a = args(vec![data], OutputFormat::Jsonl);
    a.allow_list = vec![allow];
    let (code, out, _) = run(&a);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn content_skipped_unscanned_is_reported_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // An archive nested past --max-archive-depth hides what it holds.
    let inner = zip_of(&[("ssn.txt", b"SSN: 536-22-8901\n")]);
    let outer = zip_of(&[("inner.zip", &inner)]);
    std::fs::write(dir.path().join("nested.zip"), outer).unwrap();
    let mut a = args(vec![dir.path().join("nested.zip")], OutputFormat::Json);
    a.max_archive_depth = 1;
    let (code, out, err) = run(&a);
    assert_eq!(code, 2, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["skipped"][0]["status"]["reason"], "ARCHIVE_NESTING_LEVEL_OVER_LIMIT",
        "{out}"
    );
    assert!(err.contains("ARCHIVE_NESTING_LEVEL_OVER_LIMIT"), "{err}");

    // A path that cannot be read is in the report and the table's count, not only on stderr.
    let missing = dir.path().join("missing.csv");
    let (code, out, _) = run(&args(vec![missing.clone()], OutputFormat::Json));
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["skipped"][0]["path"], missing.display().to_string());
    assert_eq!(doc["skipped"][0]["status"]["reason"], "OBJECT_UNAVAILABLE");
    let (code, out, _) = run(&args(vec![missing], OutputFormat::Table));
    assert_eq!(code, 2);
    assert!(out.contains("1 skipped (OBJECT_UNAVAILABLE: 1)"), "{out}");

    // Binary files of a type scan does not read are listed but do not fail the run.
    std::fs::write(dir.path().join("blob.bin"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let (code, out, _) = run(&args(vec![dir.path().join("blob.bin")], OutputFormat::Json));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn gzipped_text_files_are_streamed_with_offsets_in_the_decompressed_text_and_bombs_caught() {
    // Bug: a .log.gz was decompressed whole into memory (a 52 MB log peaked at 320 MB, a
    // 200 MB bomb at 500 MB before it was refused); text inside a gzip is now streamed.
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let gz = |bytes: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut text = "INFO nothing here\n".repeat(100_000);
    let at = text.len();
    text.push_str("mail bob.jones@example.com\n");
    std::fs::write(dir.path().join("app.log.gz"), gz(text.as_bytes())).unwrap();
    let mut a = args(vec![dir.path().join("app.log.gz")], OutputFormat::Jsonl);
    a.max_file_size = 64 << 20;
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["type"], "EMAIL_ADDRESS");
    assert_eq!(line["offset"], at + 5);
    assert_eq!(line["location"]["lineRanges"][0]["start"], 100_001);

    std::fs::write(dir.path().join("zeros.gz"), gz(&vec![0u8; 40 << 20])).unwrap();
    let mut a = args(vec![dir.path().join("zeros.gz")], OutputFormat::Json);
    a.max_file_size = 64 << 20;
    let (code, out, _) = run(&a);
    assert_eq!(code, 2, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["skipped"][0]["status"]["reason"],
        "ARCHIVE_COMPRESSION_RATIO_OVER_LIMIT"
    );
}

/// Regression: members refused for their size never counted toward the archive's total, so a
/// zip of 16 zips of 16 members of 1 GB of zeros inflated 64 GB, all reported
/// FILE_EXCEEDS_SIZE_LIMIT and never ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT. What a refused
/// member decompressed counts, and the archive stops there, nested archives included.
#[test]
fn refused_members_count_toward_the_archive_total_and_stop_it() {
    let big = vec![0u8; 200 << 10];
    let inner = zip_of(&[("a.txt", &big), ("b.txt", &big), ("c.txt", &big)]);
    let outer = zip_of(&[
        ("one.zip", &inner),
        ("two.zip", &inner),
        ("three.zip", &inner),
    ]);
    let limits = Limits {
        max_member_bytes: 100 << 10,
        max_total_bytes: 350 << 10,
        ..Limits::default()
    };
    let r = scan_with(limits, "outer.zip", &outer);
    let reasons: Vec<(&str, &str)> = r
        .iter()
        .map(|x| (x.path.as_str(), x.outcome.as_ref().unwrap_err().reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("outer.zip!one.zip!a.txt", "FILE_EXCEEDS_SIZE_LIMIT"),
            ("outer.zip!one.zip!b.txt", "FILE_EXCEEDS_SIZE_LIMIT"),
            ("outer.zip!one.zip!c.txt", "FILE_EXCEEDS_SIZE_LIMIT"),
            (
                "outer.zip!two.zip!a.txt",
                "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT"
            ),
        ]
    );
}

/// Regression: a symlink to `../outside/creds` inside the scanned directory was scanned, and a
/// link to a file inside the tree scanned that file a second time. As ripgrep: links found
/// inside directories are left out unless `--follow`, which scans what each reaches once.
#[cfg(unix)]
#[test]
fn symlinks_inside_directories_are_not_followed_unless_asked_and_nothing_is_scanned_twice() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(outside.join("creds"), "mail out@example.com\n").unwrap();
    std::fs::write(tree.join("in.txt"), "mail in@example.com\n").unwrap();
    std::os::unix::fs::symlink(outside.join("creds"), tree.join("creds")).unwrap();
    std::os::unix::fs::symlink(tree.join("in.txt"), tree.join("again.txt")).unwrap();
    // A loop back to the top of the tree.
    std::os::unix::fs::symlink(&tree, tree.join("sub").join("up")).unwrap();
    let paths = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["path"].as_str().unwrap().to_owned()
            })
            .collect()
    };

    let (code, out, err) = run(&args(vec![tree.clone()], OutputFormat::Jsonl));
    assert_eq!(code, 1, "{err}");
    assert_eq!(paths(&out), [tree.join("in.txt").display().to_string()]);

    let mut a = args(vec![tree.clone(), tree.join("in.txt")], OutputFormat::Jsonl);
    a.follow = true;
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{err}");
    let mut found = paths(&out);
    found.sort();
    // `again.txt` sorts first and is the name in.txt is reached by first.
    assert_eq!(
        found,
        [
            tree.join("again.txt").display().to_string(),
            tree.join("creds").display().to_string(),
        ]
    );
}

/// Regression: a semicolon- or tab-delimited `.csv` was read as one column: every detection's
/// columnName was the whole header, "id;name;ssn;email", and the column keyword rule was lost.
/// The delimiter is taken from the header line.
#[test]
fn semicolon_and_tab_delimited_csv_files_are_split_into_columns() {
    for d in [";", "\t"] {
        let data = format!("id{d}name{d}ssn{d}email\n1{d}Jane{d}536-22-8901{d}jane@example.com\n");
        let cells = ssn_cells("people.csv", data.as_bytes());
        assert_eq!(cells, [(2, 3, "ssn".to_owned())], "{d:?}");
    }
    // A comma header with a semicolon inside a quoted name stays comma-delimited.
    let cells = ssn_cells("people.csv", b"\"id;x\",\"a;b;c\",ssn\n1,2,536-22-8901\n");
    assert_eq!(cells, [(2, 3, "ssn".to_owned())]);
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Regression: a tar (or tar.gz) of a .txt holding an SSN was skipped as
/// UNSUPPORTED_FILE_TYPE_EXCEPTION ("binary content") and the run passed with exit 0. Tar
/// archives are read like zip, member by member, under the same limits.
#[test]
fn tar_and_tar_gz_members_are_scanned_under_the_archive_limits() {
    let e = engine();
    let ssn = b"ssn 536-22-8901\n";
    let inner = zip_of(&[("inner.csv", b"email\nann@example.com\n")]);
    let t = tar_of(&[("dir/notes.txt", ssn), ("nested.zip", &inner)]);
    for (name, data) in [
        ("a.tar", t.clone()),
        ("a.tar.gz", gzip(&t)),
        ("a.tgz", gzip(&t)),
    ] {
        let r = scan_object(&e, name, &data, false);
        let paths: Vec<&str> = r.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("{name}!dir/notes.txt"),
                format!("{name}!nested.zip!inner.csv")
            ],
            "{name}"
        );
        assert_eq!(types(&e, &r[0]), ["USA_SOCIAL_SECURITY_NUMBER"], "{name}");
        assert_eq!(types(&e, &r[1]), ["EMAIL_ADDRESS"], "{name}");
    }

    let big = vec![b'a'; 200 << 10];
    let t = tar_of(&[("big.txt", &big), ("small.txt", ssn)]);
    let limits = Limits {
        max_member_bytes: 100 << 10,
        ..Limits::default()
    };
    let r = scan_with(limits, "b.tar", &t);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "FILE_EXCEEDS_SIZE_LIMIT"
    );
    assert_eq!(types(&e, &r[1]), ["USA_SOCIAL_SECURITY_NUMBER"]);
    let limits = Limits {
        max_total_bytes: 100 << 10,
        ..Limits::default()
    };
    let r = scan_with(limits, "b.tar", &t);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT"
    );

    // A broken header: the archive is reported corrupt, and the run fails.
    let mut bad = tar_of(&[("x.txt", ssn)]);
    for b in bad.iter_mut().skip(100).take(60) {
        *b = b'z';
    }
    let r = scan_object(&e, "bad.tar", &bad, false);
    let skip = r.last().unwrap().outcome.as_ref().unwrap_err();
    assert_eq!(skip.reason, "INVALID_OR_CORRUPTED_FILE", "{r:?}");
}

/// Regression: SARIF results of CSV and JSON files had no region.startLine (Parquet's had an
/// empty region), which GitHub code scanning requires. The cell's or record's line is given,
/// or 1 where values have no line.
#[test]
fn every_sarif_result_has_a_start_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "id,email\n1,\"x\ny\"\n2,bob@example.org\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.jsonl"),
        "{\"a\":1}\n{\"email\":\"ann@example.com\"}\n",
    )
    .unwrap();
    let (_, out, err) = run(&args(vec![dir.path().to_owned()], OutputFormat::Sarif));
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let lines: Vec<(String, u64)> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                loc["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].0.ends_with("a.csv") && lines[0].1 == 4,
        "{lines:?}"
    );
    assert!(
        lines[1].0.ends_with("b.jsonl") && lines[1].1 == 2,
        "{lines:?}"
    );
}

/// Regression: custom identifiers that Macie refuses were accepted: severity levels out of
/// ascending order, a severity given twice, an occurrencesThreshold of 0, and two identifiers
/// of the same name.
#[test]
fn custom_identifiers_break_no_severity_or_name_rule_macie_enforces() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "EMP-123456\n").unwrap();
    let custom = dir.path().join("c.json");
    let level = |t: u64, s: &str| format!(r#"{{"occurrencesThreshold":{t},"severity":"{s}"}}"#);
    let with = |levels: Vec<String>| {
        format!(
            r#"{{"name":"emp","regex":"EMP-[0-9]{{6}}","severityLevels":[{}]}}"#,
            levels.join(",")
        )
    };
    let cases = [
        (
            with(vec![level(10, "LOW"), level(5, "HIGH")]),
            "occurrencesThreshold 10 for LOW is not below 5 for HIGH",
        ),
        (
            with(vec![level(1, "LOW"), level(5, "LOW")]),
            "severity LOW is given twice",
        ),
        (
            with(vec![level(0, "MEDIUM")]),
            "occurrencesThreshold of severity MEDIUM is 0",
        ),
        (
            r#"[{"name":"emp","regex":"a"},{"name":"emp","regex":"b"}]"#.to_owned(),
            "another custom data identifier has this name",
        ),
    ];
    for (json, want) in cases {
        std::fs::write(&custom, &json).unwrap();
        let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
        a.custom = vec![custom.clone()];
        let (code, _, err) = run(&a);
        assert_eq!(code, 2, "{json}: {err}");
        assert!(err.contains(want), "{json}: {err}");
    }
    std::fs::write(
        &custom,
        with(vec![
            level(50, "MEDIUM"),
            level(1, "LOW"),
            level(100, "HIGH"),
        ]),
    )
    .unwrap();
    let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
    a.custom = vec![custom.clone()];
    let (code, _, err) = run(&a);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn long_json_paths_are_cut_from_the_front_as_macie_cuts_them() {
    // Regression: the first 240 characters of a long name and the first 250 of a long path
    // were kept, so the leaf holding the value was cut off; Macie removes characters from the
    // beginning of a name and elements from the beginning of a path.
    let e = engine();
    let long = "k".repeat(300);
    let data = format!(r#"{{"level_one": {{"{long}": {{"leaf": "jane@example.com"}}}}}}"#);
    let r = scan_object(&e, "a.json", data.as_bytes(), false);
    let dets = r[0].outcome.as_ref().unwrap();
    let Location::Record {
        json_path: Some(path),
        ..
    } = &dets[0].location
    else {
        panic!("{dets:?}")
    };
    assert!(path.ends_with(".leaf"), "{path}");
    assert!(path.chars().count() <= 250, "{path}");
    assert_eq!(path, &format!("$.{}.leaf", "k".repeat(240)));
}

#[test]
fn a_zip_member_the_reader_cannot_open_is_named_and_unsupported() {
    // Regression: a member compressed with a method the reader lacks (bzip2 here) was reported
    // as `zip!#0` and as a corrupted file.
    let mut data = zip_of(&[("notes.txt", b"nothing here" as &[u8])]);
    // Rewrite the compression method (stored, 0) to bzip2 (12) in both headers.
    let local = data.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
    data[local + 8] = 12;
    let central = data.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    data[central + 10] = 12;
    let e = engine();
    let r = scan_object(&e, "a.zip", &data, false);
    let skipped: Vec<_> = r
        .iter()
        .filter_map(|f| f.outcome.as_ref().err().map(|s| (f.path.clone(), s.reason)))
        .collect();
    assert_eq!(
        skipped,
        vec![(
            "a.zip!notes.txt".to_owned(),
            "UNSUPPORTED_FILE_TYPE_EXCEPTION"
        )]
    );
}

/// Regression: `zip = "=9.8.1"` kept every patch release (security fixes of a parser of
/// untrusted input) out; the requirement takes 9.8 patches, Cargo.lock pins the one built.
#[test]
fn the_zip_requirement_takes_patch_releases() {
    let manifest = include_str!("../Cargo.toml");
    let zip = manifest.lines().find(|l| l.starts_with("zip = ")).unwrap();
    assert!(zip.contains("version = \"~9.8"), "{zip}");
}

/// Regression: of two zip members sharing a name only the last was scanned, silently, so the
/// first could hide anything (unzip extracts the first).
#[test]
fn zip_members_sharing_a_name_are_all_scanned() {
    let mut data = zip_of(&[
        (
            "data.txt",
            b"hidden ssn 536-22-8741 bob@example.com\n" as &[u8],
        ),
        ("datb.txt", b"nothing here\n"),
    ]);
    // The writer refuses a name twice; rename the second in its local and central headers.
    let mut renamed = 0;
    for i in 0..data.len().saturating_sub(8) {
        if &data[i..i + 8] == b"datb.txt" {
            data[i + 3] = b'a';
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2);
    let e = engine();
    let r = scan_object(&e, "dup.zip", &data, false);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|f| f.path == "dup.zip!data.txt"), "{r:?}");
    assert_eq!(
        types(&e, &r[0]),
        vec!["USA_SOCIAL_SECURITY_NUMBER", "EMAIL_ADDRESS"]
    );
    assert!(types(&e, &r[1]).is_empty());
}

#[test]
fn utf16_exports_are_scanned_as_the_text_they_hold() {
    // Regression: a UTF-16 CSV (as Excel and PowerShell export) was scanned as raw bytes and
    // reported clean; a UTF-16 text file was taken for binary.
    let e = engine();
    let utf16 = |s: &str, little: bool| -> Vec<u8> {
        let mut out = if little {
            vec![0xff, 0xfe]
        } else {
            vec![0xfe, 0xff]
        };
        for u in s.encode_utf16() {
            out.extend(if little {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            });
        }
        out
    };
    for (name, little) in [
        ("people.csv", true),
        ("notes.txt", true),
        ("notes.txt", false),
    ] {
        let data = utf16("name,ssn\nann,536-22-8901\n", little);
        let r = scan_object(&e, name, &data, false);
        assert_eq!(
            types(&e, &r[0]),
            vec!["USA_SOCIAL_SECURITY_NUMBER"],
            "{name} {little}"
        );
    }
}

#[test]
fn json_lines_past_a_batch_keep_their_record_offset_and_line() {
    // JSON Lines are scanned in batches of whole lines (memory follows a batch): what is found
    // in a later batch must still be named by its record, byte offset and line in the file.
    let e = engine();
    let mut data = String::new();
    let filler = "x".repeat(200);
    let mut n = 0;
    while data.len() < 9 << 20 {
        data.push_str(&format!("{{\"id\": {n}, \"note\": \"{filler}\"}}\n"));
        n += 1;
    }
    let at = data.len();
    data.push_str("{\"id\": 0, \"contact\": \"jane@example.com\"}\n");
    let r = scan_object(&e, "big.jsonl", data.as_bytes(), false);
    let dets = r[0].outcome.as_ref().unwrap();
    assert_eq!(dets.len(), 1, "{dets:?}");
    assert_eq!(
        dets[0].location,
        Location::Record {
            record_index: n,
            json_path: Some("$.contact".into())
        }
    );
    assert_eq!(
        dets[0].offset,
        Some((at + data[at..].find("jane").unwrap()) as u64)
    );
    assert_eq!(dets[0].line, Some(n + 1));
}

#[test]
fn json_path_is_omitted_under_a_key_that_is_sensitive_data() {
    let e = engine();
    let data =
        br#"{"users": {"leaky.key@example.com": {"ssn": "536-22-8741"}}, "ssn": "234-56-7890"}"#;
    for (name, data) in [
        ("k.json", data.to_vec()),
        ("k.jsonl", [&data[..], b"\n"].concat()),
    ] {
        let r = scan_object(&e, name, &data, false);
        let found: Vec<(String, Option<String>)> = r[0]
            .outcome
            .as_ref()
            .unwrap()
            .iter()
            .map(|l| match &l.location {
                Location::Record { json_path, .. } => {
                    (e.type_id(&l.detection).to_owned(), json_path.clone())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("EMAIL_ADDRESS".to_owned(), None),
                ("USA_SOCIAL_SECURITY_NUMBER".to_owned(), None),
                (
                    "USA_SOCIAL_SECURITY_NUMBER".to_owned(),
                    Some("$.ssn".to_owned())
                ),
            ],
            "{name}"
        );
    }
}

#[test]
fn csv_column_name_is_omitted_when_the_header_is_sensitive_data() {
    let e = engine();
    let data = b"id,leaky.header@example.com,email\n1,x,bob@example.org\n2,a@example.net,y\n";
    let r = scan_object(&e, "h.csv", data, false);
    let cells: Vec<Location> = r[0]
        .outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| l.location.clone())
        .collect();
    let cell = |row, column, name: Option<&str>| Location::Cell {
        row,
        column,
        column_name: name.map(str::to_owned),
    };
    assert_eq!(
        cells,
        vec![
            cell(1, 2, None),
            cell(2, 3, Some("email")),
            cell(3, 2, None),
        ]
    );
}

#[test]
fn identifiers_none_without_custom_is_an_argument_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(&data, "a@b.example.com EMP-123456\n").unwrap();
    let mut a = args(vec![data], OutputFormat::Jsonl);
    a.identifiers = "NONE".into();
    let (code, out, err) = run(&a);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--identifiers") && err.contains("--custom"),
        "{err}"
    );
    let custom = dir.path().join("c.json");
    std::fs::write(&custom, r#"[{"name": "EMP", "regex": "EMP-[0-9]{6}"}]"#).unwrap();
    a.custom = vec![custom];
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("EMP") && !out.contains("EMAIL_ADDRESS"),
        "{out}"
    );
}

#[test]
fn custom_detections_below_the_lowest_threshold_make_no_finding_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(&data, "EMP-123456 EMP-234567\n").unwrap();
    let custom = dir.path().join("c.json");
    std::fs::write(
        &custom,
        r#"[{"name": "EMP", "regex": "EMP-[0-9]{6}",
             "severityLevels": [{"occurrencesThreshold": 3, "severity": "HIGH"}]}]"#,
    )
    .unwrap();
    for format in [
        OutputFormat::Json,
        OutputFormat::Jsonl,
        OutputFormat::Table,
        OutputFormat::Sarif,
    ] {
        let mut a = args(vec![data.clone()], format);
        a.identifiers = "NONE".into();
        a.custom = vec![custom.clone()];
        let (code, out, err) = run(&a);
        assert_eq!(code, 0, "{format:?}: {out}{err}");
        assert!(
            !out.contains("EMP-") && !out.contains("d.txt"),
            "{format:?}: {out}"
        );
        if format == OutputFormat::Json {
            assert!(out.contains("\"filesWithFindings\": 0"), "{out}");
        }
    }
    // At the threshold, every detection is printed, at the threshold's severity.
    std::fs::write(&data, "EMP-123456 EMP-234567 EMP-345678\n").unwrap();
    let mut a = args(vec![data.clone()], OutputFormat::Sarif);
    a.identifiers = "NONE".into();
    a.custom = vec![custom.clone()];
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out.matches("\"level\": \"error\"").count(), 3, "{out}");
}

#[test]
fn json_and_jsonl_with_a_utf8_bom_keep_paths_records_and_keywords() {
    let e = engine();
    let doc = r#"{"card_number": "4532015112830366", "email": "bob@example.org"}"#;
    for (name, data, record) in [
        ("b.json", format!("\u{feff}{doc}"), 0),
        ("b.jsonl", format!("\u{feff}{{\"n\": 1}}\n{doc}\n"), 1),
    ] {
        let r = scan_object(&e, name, data.as_bytes(), false);
        let found: Vec<(String, Location)> = r[0]
            .outcome
            .as_ref()
            .unwrap()
            .iter()
            .map(|l| (e.type_id(&l.detection).to_owned(), l.location.clone()))
            .collect();
        let at = |path: &str| Location::Record {
            record_index: record,
            json_path: Some(path.into()),
        };
        assert_eq!(
            found,
            vec![
                ("CREDIT_CARD_NUMBER".to_owned(), at("$.card_number")),
                ("EMAIL_ADDRESS".to_owned(), at("$.email")),
            ],
            "{name}"
        );
    }
}

#[test]
fn overlapping_paths_are_scanned_once() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let deep = sub.join("deep.txt");
    std::fs::write(&deep, "deep.person@example.com\n").unwrap();
    for paths in [
        vec![dir.path().to_owned(), deep.clone()],
        vec![deep.clone(), dir.path().to_owned()],
        vec![sub.clone(), dir.path().to_owned(), sub.join("../sub")],
    ] {
        let (code, out, err) = run(&args(paths, OutputFormat::Jsonl));
        assert_eq!(code, 1, "{err}");
        assert_eq!(out.lines().count(), 1, "{out}");
    }
}

#[test]
fn archive_member_names_are_escaped_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("a.zip");
    std::fs::write(
        &z,
        zip_of(&[
            ("evil\x1b[2J\nname.txt", b"mail a@b.example.com\n"),
            ("x\x1b]0;t\x07.bin", b"\x00\x01\x02 nothing"),
        ]),
    )
    .unwrap();
    let (code, out, err) = run(&args(vec![z], OutputFormat::Table));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "{out:?}{err:?}"
    );
    assert!(out.contains("evil\\u{1b}[2J\\nname.txt"), "{out}");
    // One line per detection, whatever the name holds.
    assert_eq!(
        out.lines().filter(|l| l.contains("EMAIL_ADDRESS")).count(),
        2
    );
}

#[test]
fn sarif_revealed_value_is_a_property_and_columns_are_code_points() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(&data, "h\u{e9} a@b.example.com\n").unwrap();
    let mut a = args(vec![data], OutputFormat::Sarif);
    a.reveal = true;
    let (code, out, err) = run(&a);
    assert_eq!(code, 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run0 = &doc["runs"][0];
    assert_eq!(run0["columnKind"], "unicodeCodePoints");
    let res = &run0["results"][0];
    assert!(res.get("value").is_none(), "{res}");
    assert_eq!(res["properties"]["value"], "a@b.example.com");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["region"]["startColumn"],
        4
    );
}

/// Regression: a truncated .gz log was reported differently per format: jsonl, table and sarif
/// printed the detections of its readable part, json reported no finding and only a skip, and
/// the table's summary said 0 files scanned. Every format now has the readable part's
/// detections, and the file is analysed in part (PARTIAL), which fails the run (exit 2).
#[test]
fn a_truncated_gzip_reports_its_readable_part_the_same_in_every_format() {
    let text: String = (0..20_000)
        .map(|i| format!("line {i} user{i}@example.com\n"))
        .collect();
    let gz = gzip(text.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trunc.log.gz");
    std::fs::write(&f, &gz[..gz.len() / 2]).unwrap();

    let (code, out, err) = run(&args(vec![f.clone()], OutputFormat::Jsonl));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("analysed only in part") && err.contains("INVALID_OR_CORRUPTED_FILE"),
        "{err}"
    );
    let streamed = out.lines().count() as u64;
    assert!(streamed > 1000, "{streamed}");

    let (code, out, _) = run(&args(vec![f.clone()], OutputFormat::Json));
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let result = &doc["findings"][0]["classificationDetails"]["result"];
    assert_eq!(result["status"]["code"], "PARTIAL", "{out}");
    assert_eq!(result["status"]["reason"], "INVALID_OR_CORRUPTED_FILE");
    assert_eq!(
        result["sensitiveData"][0]["detections"][0]["count"],
        streamed
    );
    assert_eq!(doc["skipped"][0]["status"]["code"], "PARTIAL", "{out}");
    assert_eq!(doc["summary"]["filesScanned"], 1);
    assert_eq!(
        doc["summary"]["detectionsByType"]["EMAIL_ADDRESS"],
        streamed
    );

    let (code, out, _) = run(&args(vec![f], OutputFormat::Table));
    assert_eq!(code, 2);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("EMAIL_ADDRESS\t"))
            .count() as u64,
        streamed
    );
    assert!(
        out.contains("1 files scanned")
            && out.contains("1 partly analysed (INVALID_OR_CORRUPTED_FILE: 1)"),
        "{}",
        out.lines().last().unwrap_or_default()
    );
}

/// Regression: only a gzipped log that broke past its first 8 KiB kept the detections of the
/// part read; a small truncated .log.gz, a truncated .csv.gz or .jsonl.gz and a truncated gzip
/// inside a zip were skipped with no detection at all. Each now has the detections of what
/// was decompressed and is analysed in part (PARTIAL), which fails the run.
#[test]
fn every_truncated_gzip_keeps_the_detections_of_the_part_read() {
    let lines = |f: &dyn Fn(usize) -> String| (0..300).map(f).collect::<String>();
    let cut = |data: &str| {
        let gz = gzip(data.as_bytes());
        gz[..gz.len() * 2 / 3].to_vec()
    };
    let log = cut(&lines(&|i| format!("line {i} user{i}@example.com\n")));
    assert!(log.len() < 8192);

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("small.log.gz");
    std::fs::write(&f, &log).unwrap();
    let (code, out, err) = run(&args(vec![f], OutputFormat::Json));
    assert_eq!(code, 2, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let result = &doc["findings"][0]["classificationDetails"]["result"];
    assert_eq!(result["status"]["code"], "PARTIAL", "{out}");
    assert_eq!(result["status"]["reason"], "INVALID_OR_CORRUPTED_FILE");
    assert!(
        result["sensitiveData"][0]["detections"][0]["count"]
            .as_u64()
            .unwrap()
            > 10,
        "{out}"
    );

    let e = engine();
    let csv = cut(&format!(
        "id,email\n{}",
        lines(&|i| format!("{i},user{i}@example.com\n"))
    ));
    let jsonl = cut(&lines(&|i| format!("{{\"e\":\"user{i}@example.com\"}}\n")));
    let zip = zip_of(&[("in.log.gz", &log)]);
    for (name, data, path) in [
        ("t.csv.gz", &csv[..], "t.csv.gz"),
        ("t.jsonl.gz", &jsonl[..], "t.jsonl.gz"),
        ("t.zip", &zip[..], "t.zip!in.log.gz"),
    ] {
        let r = scan_object(&e, name, data, false);
        assert_eq!(r.len(), 1, "{name}: {r:?}");
        assert_eq!(r[0].path, path);
        let found = r[0].outcome.as_ref().unwrap();
        assert!(found.len() > 10, "{name}: {}", found.len());
        let why = r[0].partial.as_ref().unwrap();
        assert_eq!(why.reason, "INVALID_OR_CORRUPTED_FILE", "{name}");
        assert!(
            why.detail.starts_with("cannot decompress"),
            "{}",
            why.detail
        );
    }
    // A truncated .tar.gz: the members read whole are complete, and the archive itself says
    // the rest is unreachable.
    let names: Vec<String> = (0..100).map(|i| format!("m{i}.txt")).collect();
    let bodies: Vec<String> = (0..100)
        .map(|i| format!("member {i} user{i}@example.com {}\n", "x".repeat(i * 7)))
        .collect();
    let members: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    let tgz = gzip(&tar_of(&members));
    let r = scan_object(&e, "t.tar.gz", &tgz[..tgz.len() / 2], false);
    let last = r.last().unwrap();
    assert_eq!(last.path, "t.tar.gz");
    assert!(
        last.outcome
            .as_ref()
            .unwrap_err()
            .detail
            .starts_with("cannot decompress"),
        "{last:?}"
    );
    assert_eq!(r[0].path, "t.tar.gz!m0.txt");
    assert!(r.len() > 10 && r[0].partial.is_none(), "{}", r.len());
    assert_eq!(types(&e, &r[0]), ["EMAIL_ADDRESS"]);

    let r = scan_object(&e, "t.jsonl.gz", &jsonl, false);
    assert_eq!(
        r[0].outcome.as_ref().unwrap()[3].location,
        Location::Record {
            record_index: 3,
            json_path: Some("$.e".to_owned())
        }
    );
}

/// Regression: a quoted CSV/TSV cell never closed silently turned the rest of the file into one
/// cell, every later detection reported in its row; the file is now corrupt, and skipped.
#[test]
fn an_unclosed_quote_makes_a_csv_or_tsv_file_corrupt() {
    let e = engine();
    for (name, data) in [
        (
            "u.csv",
            &b"a,email\n1,\"bob@example.com\n2,carol@example.com\n"[..],
        ),
        (
            "q.tsv",
            b"name\temail\n\"quoted start\tbob@example.com\nx\tcarol@example.com\n",
        ),
    ] {
        let r = scan_object(&e, name, data, false);
        let skip = r[0].outcome.as_ref().unwrap_err();
        assert_eq!(skip.reason, "INVALID_OR_CORRUPTED_FILE", "{name}");
        assert!(skip.detail.contains("unclosed quote"), "{}", skip.detail);
        assert!(skip.detail.contains("line 2"), "{}", skip.detail);
    }
    // A quoted cell spanning lines, closed, is a cell.
    let r = scan_object(&e, "m.csv", b"a,b\n\"x\ny\",bob@example.com\n", false);
    assert_eq!(types(&e, &r[0]), vec!["EMAIL_ADDRESS"]);
}

/// Regression: camelCase field and column names did not count as keywords: `dateOfBirth` and
/// `socialSecurityNumber` found nothing where `date_of_birth` and `social_security_number` did.
#[test]
fn camel_case_names_carry_their_keywords() {
    let e = engine();
    for (name, data, want) in [
        (
            "d.jsonl",
            "{\"dateOfBirth\": \"1980-03-04\"}\n",
            "DATE_OF_BIRTH",
        ),
        (
            "s.jsonl",
            "{\"socialSecurityNumber\": \"536228741\"}\n",
            "USA_SOCIAL_SECURITY_NUMBER",
        ),
        ("d.csv", "id,DateOfBirth\n1,1980-03-04\n", "DATE_OF_BIRTH"),
    ] {
        let r = scan_object(&e, name, data.as_bytes(), false);
        assert!(types(&e, &r[0]).contains(&want.to_owned()), "{name}: {r:?}");
    }
}

/// Regression: an empty allow-list file and entries longer than 90 characters were accepted
/// silently; Macie refuses both (S3_OBJECT_EMPTY; each entry is 1-90 characters).
#[test]
fn an_empty_allow_list_or_an_entry_over_90_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("d.txt");
    std::fs::write(&text, "bob@example.com\n").unwrap();
    let long = format!("{}\n", "a".repeat(91));
    for (file, content, want) in [
        ("empty.txt", "", "has no entries"),
        ("blank.txt", "\n  \n", "has no entries"),
        (
            "empty.json",
            r#"{"criteria":{"words":[]}}"#,
            "has no entries",
        ),
        ("long.txt", long.as_str(), "entry 1 (\"aaaa"),
    ] {
        let allow = dir.path().join(file);
        std::fs::write(&allow, content).unwrap();
        let mut a = args(vec![text.clone()], OutputFormat::Jsonl);
        a.allow_list = vec![allow.clone()];
        let (code, out, err) = run(&a);
        assert_eq!(code, 2, "{file}: {err}");
        assert!(out.is_empty(), "{file}: {out}");
        assert!(err.contains(want), "{file}: {err}");
        assert!(err.contains(&allow.display().to_string()), "{file}: {err}");
    }
    // 90 characters is an entry.
    let allow = dir.path().join("ninety.txt");
    std::fs::write(&allow, "a".repeat(90)).unwrap();
    let mut a = args(vec![text], OutputFormat::Jsonl);
    a.allow_list = vec![allow];
    assert_eq!(run(&a).0, 1);
}

/// Regression: a SARIF log of a run that skipped a corrupt file (exit 2) had no `invocations`,
/// so it read as a clean run; it now says the execution did not succeed, with a notification
/// naming each file skipped or analysed in part and why.
#[test]
fn sarif_invocation_reports_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("corrupt.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage").unwrap();
    let ok = dir.path().join("ok.txt");
    std::fs::write(&ok, "mail bob@example.com\n").unwrap();
    let (code, out, _) = run(&args(vec![bad, ok.clone()], OutputFormat::Sarif));
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inv = &doc["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false, "{out}");
    let n = &inv["toolExecutionNotifications"];
    assert_eq!(n.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(n[0]["level"], "error");
    assert_eq!(n[0]["descriptor"]["id"], "INVALID_OR_CORRUPTED_FILE");
    assert!(
        n[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("cannot decompress"),
        "{out}"
    );
    assert!(
        n[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("corrupt.gz"),
        "{out}"
    );
    let (code, out, _) = run(&args(vec![ok], OutputFormat::Sarif));
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
}
