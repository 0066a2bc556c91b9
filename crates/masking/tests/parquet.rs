//! Parquet end to end: schema kept, levels kept, string columns masked and unmasked.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(feature = "parquet")]

use std::path::Path;
use std::sync::Arc;

use palisade_masking::cli::run;
use palisade_masking::keys::Keys;
use palisade_masking::rules::RulesFile;
use palisade_masking::transform::Direction;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const SCHEMA: &str = "message people {
  required binary id (UTF8);
  optional binary email (UTF8);
  optional binary dob (UTF8);
  required int64 n;
  repeated binary tags (UTF8);
  optional binary note (UTF8);
}";

fn write_input(path: &Path, groups: usize, rows: usize) {
    let schema = Arc::new(parse_message_type(SCHEMA).unwrap());
    // As Arrow writers leave their schema (`ARROW:schema`) for readers.
    let kv =
        parquet::file::metadata::KeyValue::new("origin".to_owned(), "palisade-test".to_owned());
    let props = Arc::new(
        WriterProperties::builder()
            .set_key_value_metadata(Some(vec![kv]))
            .build(),
    );
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    for g in 0..groups {
        let mut rg = w.next_row_group().unwrap();
        let ids: Vec<ByteArray> = (0..rows)
            .map(|i| ByteArray::from(format!("p{}", (g * rows + i) % 7).as_str()))
            .collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&ids, None, None)
            .unwrap();
        c.close().unwrap();
        // email: every third row null
        let def: Vec<i16> = (0..rows).map(|i| if i % 3 == 2 { 0 } else { 1 }).collect();
        let emails: Vec<ByteArray> = (0..rows)
            .filter(|i| i % 3 != 2)
            .map(|i| ByteArray::from(format!("user{i}@example.com").as_str()))
            .collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&emails, Some(&def), None)
            .unwrap();
        c.close().unwrap();
        let dobs: Vec<ByteArray> = (0..rows)
            .map(|i| ByteArray::from(format!("1990-01-{:02}", i % 28 + 1).as_str()))
            .collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&dobs, Some(&vec![1; rows]), None)
            .unwrap();
        c.close().unwrap();
        let ns: Vec<i64> = (0..rows as i64).collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int64Type>().write_batch(&ns, None, None).unwrap();
        c.close().unwrap();
        // tags: row i has i % 3 tags
        let (mut vals, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rows {
            if i % 3 == 0 {
                def.push(0);
                rep.push(0);
            }
            for t in 0..i % 3 {
                vals.push(ByteArray::from(format!("tag-{i}-{t}").as_str()));
                def.push(1);
                rep.push(if t == 0 { 0 } else { 1 });
            }
        }
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&vals, Some(&def), Some(&rep))
            .unwrap();
        c.close().unwrap();
        let notes: Vec<ByteArray> = (0..rows)
            .map(|i| ByteArray::from(format!("note {i}").as_str()))
            .collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&notes, Some(&vec![1; rows]), None)
            .unwrap();
        c.close().unwrap();
        rg.close().unwrap();
    }
    w.close().unwrap();
}

fn rows(path: &Path) -> Vec<String> {
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    r.get_row_iter(None)
        .unwrap()
        .map(|row| row.unwrap().to_string())
        .collect()
}

/// Compiles `rules` for `direction` and runs them from `input` to `output` (strict fields, no
/// progress bar).
fn apply(
    rules: &RulesFile,
    keys: &mut Keys,
    input: &Path,
    output: &Path,
    direction: Direction,
) -> Result<palisade_masking::masker::Summary, palisade_masking::error::MaskError> {
    let compiled = rules.compile(keys, direction).unwrap();
    run(compiled, input, output, None, direction, true, false)
}

fn rules() -> RulesFile {
    RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "email", "transform": {"type": "deterministic_encrypt", "key": "k", "context": "email"}},
        {"column": "dob", "transform": {"type": "date_shift", "key": "k", "lower_days": -20, "upper_days": 20, "entity": "id"}},
        {"column": "tags", "transform": {"type": "fpe", "key": "k", "alphabet": "lower_alphanumeric"}},
        {"column": "note", "transform": {"type": "null"}}
    ]}))
    .unwrap()
}

#[test]
fn parquet_mask_unmask_keeps_schema_and_levels() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    write_input(&input, 3, 10_000);
    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let masked = dir.path().join("masked.parquet");
    let s = apply(&rules(), &mut keys, &input, &masked, Direction::Mask).unwrap();
    assert_eq!(s.records, 30_000);

    let src = SerializedFileReader::new(std::fs::File::open(&input).unwrap()).unwrap();
    let dst = SerializedFileReader::new(std::fs::File::open(&masked).unwrap()).unwrap();
    assert_eq!(
        src.metadata().file_metadata().schema_descr().root_schema(),
        dst.metadata().file_metadata().schema_descr().root_schema()
    );
    assert_eq!(dst.metadata().num_row_groups(), 3);
    // Bug: the key-value metadata (with it Arrow's schema: `large_string` became `string`)
    // was dropped.
    assert_eq!(
        src.metadata().file_metadata().key_value_metadata(),
        dst.metadata().file_metadata().key_value_metadata()
    );
    assert!(
        src.metadata()
            .file_metadata()
            .key_value_metadata()
            .is_some()
    );
    let before = rows(&input);
    let after = rows(&masked);
    assert_eq!(before.len(), after.len());
    assert!(before[0].contains("user0@example.com") && !after[0].contains("user0@example.com"));
    assert!(after[0].contains("note: null"), "{}", after[0]);
    assert!(
        after[2].contains("email: null"),
        "nulls stay null: {}",
        after[2]
    );
    assert!(after[0].contains("tags: []"), "{}", after[0]);
    assert!(!after[2].contains("tag-2-1"));

    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let reversible = RulesFile {
        version: None,
        rules: rules()
            .rules
            .into_iter()
            .filter(|r| r.transform.reversible())
            .collect(),
    };
    let clear = dir.path().join("clear.parquet");
    apply(&reversible, &mut keys, &masked, &clear, Direction::Unmask).unwrap();
    let back = rows(&clear);
    for (b, a) in before.iter().zip(&back) {
        // Everything but the nulled note comes back.
        let strip = |s: &str| s.split(", note:").next().unwrap().to_owned();
        assert_eq!(strip(b), strip(a));
    }
}

const NUMERIC: &str = "message visits {
  optional int32 visit (DATE);
  required int64 account;
  optional double score;
}";

fn write_numeric(path: &Path) {
    use parquet::data_type::{DoubleType, Int32Type};
    let schema = Arc::new(parse_message_type(NUMERIC).unwrap());
    let props = Arc::new(WriterProperties::builder().build());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[19000, 19001], Some(&[1, 0, 1]), None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&[1234567890, 42424242, 99999999], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&[0.5, 7.25, 3.0], Some(&[1, 1, 1]), None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_numeric_and_date_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("visits.parquet");
    write_numeric(&input);
    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "visit", "transform": {"type": "date_shift", "key": "k", "lower_days": 1, "upper_days": 1}},
        {"column": "account", "transform": {"type": "fpe", "key": "k"}},
        {"column": "score", "transform": {"type": "random_between", "min": 10, "max": 20}}
    ]}))
    .unwrap();
    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let masked = dir.path().join("masked.parquet");
    apply(&rules, &mut keys, &input, &masked, Direction::Mask).unwrap();
    let out = rows(&masked);
    // 19000 days is 2022-01-08; shifted by exactly one day.
    assert!(out[0].starts_with("{visit: 2022-01-09"), "{}", out[0]);
    assert!(out[1].starts_with("{visit: null"), "{}", out[1]);
    assert!(!out[0].contains("1234567890"), "{}", out[0]);
    // random_between draws from [10, 20], both ends included: 20.0 is a valid draw (asserting
    // a leading "1" failed about one run in eleven).
    let score: f64 = out[2]
        .split("score: ")
        .nth(1)
        .and_then(|s| s.trim_end_matches('}').parse().ok())
        .unwrap();
    assert!((10.0..=20.0).contains(&score), "{}", out[2]);
    let reversible = RulesFile {
        version: None,
        rules: rules
            .rules
            .into_iter()
            .filter(|r| r.transform.reversible())
            .collect(),
    };
    let clear = dir.path().join("clear.parquet");
    apply(&reversible, &mut keys, &masked, &clear, Direction::Unmask).unwrap();
    let back = rows(&clear);
    assert!(
        back[0].starts_with("{visit: 2022-01-08, account: 1234567890"),
        "{}",
        back[0]
    );
    assert!(back[1].contains("account: 42424242"), "{}", back[1]);

    let bad = RulesFile::from_value(&serde_json::json!({"rules": [
        {"name": "acct", "column": "account", "transform": {"type": "bucket", "size": 1000}}]}))
    .unwrap();
    let e = apply(
        &bad,
        &mut keys,
        &input,
        &dir.path().join("x.parquet"),
        Direction::Mask,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("acct") && e.contains("account") && e.contains("int64"),
        "{e}"
    );
}

#[test]
fn a_rule_on_a_struct_column_masks_every_leaf_under_it() {
    // Bug: a rule (or masking policy) naming a group column such as `address` matched no leaf
    // (`address.street`, `address.city`): the rules refused it and policies left it in clear.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message people {
  required binary id (UTF8);
  required group address {
    required binary street (UTF8);
    required binary city (UTF8);
  }
}",
        )
        .unwrap(),
    );
    let mut w = SerializedFileWriter::new(
        std::fs::File::create(&input).unwrap(),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut rg = w.next_row_group().unwrap();
    for values in [
        ["p1", "p2"],
        ["1 Main St", "2 High St"],
        ["Springfield", "Shelbyville"],
    ] {
        let mut c = rg.next_column().unwrap().unwrap();
        let vals: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
        c.typed::<ByteArrayType>()
            .write_batch(&vals, None, None)
            .unwrap();
        c.close().unwrap();
    }
    rg.close().unwrap();
    w.close().unwrap();
    let rules = RulesFile::from_value(
        &serde_json::json!({"rules": [{"column": "address", "transform": {"type": "replace"}}]}),
    )
    .unwrap();
    let masked = dir.path().join("masked.parquet");
    apply(&rules, &mut Keys::new(), &input, &masked, Direction::Mask).unwrap();
    let out = rows(&masked).join("\n");
    assert!(
        !out.contains("Main St") && !out.contains("Springfield"),
        "{out}"
    );
    assert!(out.contains("p1"), "{out}");
}

/// Review defect 2: a free-text identifier rule (`identifiers: ["*"]`, no column) did nothing
/// on Parquet and exited 0; it now reads every string column, as scan does.
#[test]
fn defect_2_free_text_rule_masks_every_string_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    write_input(&input, 1, 30);
    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"identifiers": ["*"], "transform": "replace"}
    ]}))
    .unwrap();
    let masked = dir.path().join("masked.parquet");
    let s = apply(&rules, &mut Keys::new(), &input, &masked, Direction::Mask).unwrap();
    // 20 emails, and 30 dates of birth: the column `dob` is the keyword scan requires.
    assert_eq!(s.rules[0].transformed, 50);
    let before = rows(&input);
    let after = rows(&masked);
    assert!(before[0].contains("user0@example.com"), "{}", before[0]);
    assert!(
        after
            .iter()
            .all(|r| !r.contains("@example.com") && r.contains("note ")),
        "{after:?}"
    );
    assert!(after[0].contains("<EMAIL_ADDRESS>"), "{}", after[0]);
    assert!(after[0].contains("<DATE_OF_BIRTH>"), "{}", after[0]);
    // Columns without findings are copied as they were.
    let strip = |s: &str| s.split(", email:").next().unwrap().to_owned();
    assert_eq!(strip(&before[1]), strip(&after[1]));
}

/// Review defect 9: a TIMESTAMP column could not be date-shifted (its integer was "value is
/// not an ISO date"), and `date_truncate` to a year on a DATE column failed ("output is not
/// a YYYY-MM-DD date").
#[test]
fn defect_9_timestamp_columns_shift_and_dates_truncate() {
    use parquet::data_type::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message events {
              required int64 at (TIMESTAMP(MICROS,true));
              required int64 ms (TIMESTAMP_MILLIS);
              required int32 day (DATE);
              required int64 n;
            }",
        )
        .unwrap(),
    );
    let props = Arc::new(WriterProperties::builder().build());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(&input).unwrap(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    // 2022-01-08T12:34:56.789012Z, and 2022-01-08T00:00:00.123Z.
    let at = 1_641_645_296_789_012i64;
    for values in [[at], [1_641_600_000_123i64]] {
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&values, None, None)
            .unwrap();
        c.close().unwrap();
    }
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[19000], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&[7], None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();

    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "at", "transform": {"type": "date_shift", "key": "k", "lower_days": 2, "upper_days": 2}},
        {"column": "ms", "transform": {"type": "date_truncate", "to": "month"}},
        {"column": "day", "transform": {"type": "date_truncate", "to": "year"}}
    ]}))
    .unwrap();
    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let masked = dir.path().join("masked.parquet");
    apply(&rules, &mut keys, &input, &masked, Direction::Mask).unwrap();
    let r = SerializedFileReader::new(std::fs::File::open(&masked).unwrap()).unwrap();
    let rg = r.get_row_group(0).unwrap();
    let int64 = |col: usize| {
        let mut reader = match rg.get_column_reader(col).unwrap() {
            parquet::column::reader::ColumnReader::Int64ColumnReader(r) => r,
            _ => panic!("not int64"),
        };
        let mut vals = Vec::new();
        reader.read_records(10, None, None, &mut vals).unwrap();
        vals
    };
    // Two days later, the time of day kept to the microsecond.
    assert_eq!(int64(0), vec![at + 2 * 86_400_000_000]);
    // 2022-01-01T00:00:00.000Z.
    assert_eq!(int64(1), vec![1_640_995_200_000]);
    let out = rows(&masked);
    assert!(out[0].contains("day: 2022-01-01"), "{}", out[0]);

    // And back.
    let reversible = RulesFile {
        version: None,
        rules: vec![rules.rules[0].clone()],
    };
    let clear = dir.path().join("clear.parquet");
    apply(&reversible, &mut keys, &masked, &clear, Direction::Unmask).unwrap();
    let r = SerializedFileReader::new(std::fs::File::open(&clear).unwrap()).unwrap();
    let mut reader = match r.get_row_group(0).unwrap().get_column_reader(0).unwrap() {
        parquet::column::reader::ColumnReader::Int64ColumnReader(r) => r,
        _ => panic!("not int64"),
    };
    let mut vals = Vec::new();
    reader.read_records(10, None, None, &mut vals).unwrap();
    assert_eq!(vals, vec![at]);
}

/// Bug: FF1 on a number column wrote its output through the column's type, so an output
/// starting with 0 (about one in ten) lost digits (`1000000004` came back as `79817581`, with
/// unmask exiting 0) and a double whose output ended in 0 could not be unmasked at all
/// ("value has 5 encryptable characters").
#[test]
fn fpe_on_number_columns_round_trips_every_value() {
    use parquet::data_type::{DoubleType, Int32Type};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nums.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message nums {
  required int64 acct;
  required int32 big32;
  optional double x;
}",
        )
        .unwrap(),
    );
    let n = 300i64;
    // Negative values keep their sign; 2147483600.. are 10-digit int32 values, whose walk is
    // the longest (few 10-digit strings fit an int32).
    let accts: Vec<i64> = (0..n)
        .map(|i| {
            if i % 5 == 0 {
                -(1_000_000_000 + i)
            } else {
                1_000_000_000 + i
            }
        })
        .collect();
    let bigs: Vec<i32> = (0..n).map(|i| 2_147_483_600 - i as i32 * 7).collect();
    let xs: Vec<f64> = (0..n).map(|i| 100.001 + i as f64).collect();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(&input).unwrap(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&accts, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&bigs, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&xs, Some(&vec![1; n as usize]), None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();

    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "acct", "transform": {"type": "fpe", "key": "k"}},
        {"column": "big32", "transform": {"type": "fpe", "key": "k", "context": "b"}},
        {"column": "x", "transform": {"type": "fpe", "key": "k", "context": "x"}}
    ]}))
    .unwrap();
    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let masked = dir.path().join("masked.parquet");
    apply(&rules, &mut keys, &input, &masked, Direction::Mask).unwrap();
    let before = rows(&input);
    let out = rows(&masked);
    // Every value changed and kept its digit count.
    let digits = |row: &str| row.chars().filter(char::is_ascii_digit).count();
    for (b, m) in before.iter().zip(&out) {
        assert_ne!(b, m);
        assert_eq!(digits(b), digits(m), "{b} -> {m}");
    }
    let clear = dir.path().join("clear.parquet");
    apply(&rules, &mut keys, &masked, &clear, Direction::Unmask).unwrap();
    assert_eq!(rows(&clear), before);

    // An alphabet with letters (or a surrogate) could never write a number: refused before
    // anything is written, naming the rule, the column and its type.
    for transform in [
        serde_json::json!({"type": "fpe", "key": "k", "radix": 16}),
        serde_json::json!({"type": "fpe", "key": "k", "surrogate": "ACCT"}),
    ] {
        let bad = RulesFile::from_value(&serde_json::json!({"rules": [
            {"name": "hexacct", "column": "acct", "transform": transform}]}))
        .unwrap();
        let out = dir.path().join("never.parquet");
        let e = apply(&bad, &mut keys, &input, &out, Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hexacct") && e.contains("acct is INT64") && e.contains("radix 10"),
            "{e}"
        );
        assert!(!out.exists());
    }
}

/// Bug: unmasking a Parquet date shift read its entity column as the input holds it, masked
/// when the entity is itself reversibly masked, so dates came back shifted by the wrong amount
/// (1980-02-29 → 1979-07-26) with exit 0; CSV and JSON Lines read the entity in clear.
#[test]
fn date_shift_unmask_reads_a_masked_entity_in_clear() {
    use parquet::data_type::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message e {
  required binary pid (UTF8);
  required int64 acct;
  optional int32 dob (DATE);
  optional int32 visit (DATE);
}",
        )
        .unwrap(),
    );
    let n = 60usize;
    let pids: Vec<ByteArray> = (0..n)
        .map(|i| ByteArray::from(format!("{}", 1_000_001 + i).as_str()))
        .collect();
    let accts: Vec<i64> = (0..n as i64).map(|i| 5_000_000_000 + i).collect();
    // 3711 days is 1980-02-29.
    let days: Vec<i32> = (0..n as i32).map(|i| 3711 + i * 97).collect();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(&input).unwrap(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<ByteArrayType>()
        .write_batch(&pids, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&accts, None, None)
        .unwrap();
    c.close().unwrap();
    for _ in 0..2 {
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int32Type>()
            .write_batch(&days, Some(&vec![1; n]), None)
            .unwrap();
        c.close().unwrap();
    }
    rg.close().unwrap();
    w.close().unwrap();

    // The date rules come first and last, so that neither rule order nor column order decides.
    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "dob", "transform": {"type": "date_shift", "key": "k", "lower_days": -300, "upper_days": 300, "entity": "pid"}},
        {"column": "pid", "transform": {"type": "fpe", "key": "k"}},
        {"column": "acct", "transform": {"type": "fpe", "key": "k"}},
        {"column": "visit", "transform": {"type": "date_shift", "key": "k", "lower_days": -300, "upper_days": 300, "entity": "acct"}}
    ]}))
    .unwrap();
    let mut keys = Keys::new();
    keys.insert_raw("k", &[5u8; 32]);
    let masked = dir.path().join("m.parquet");
    let summary = apply(&rules, &mut keys, &input, &masked, Direction::Mask).unwrap();
    assert_ne!(rows(&masked), rows(&input));
    let clear = dir.path().join("u.parquet");
    let back = apply(&rules, &mut keys, &masked, &clear, Direction::Unmask).unwrap();
    assert_eq!(rows(&clear), rows(&input));
    // Reading an entity again does not count its values twice.
    for s in [&summary, &back] {
        assert!(s.rules.iter().all(|r| r.transformed == n as u64), "{s:?}");
    }
}

/// Bug: a BINARY column of bytes that are not UTF-8 was read through a lossy conversion, so
/// unmask gave back U+FFFD for them and a hash gave `\x80` and `\x81` one digest, with exit 0.
#[test]
fn bytes_that_are_not_text_are_refused_naming_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bin.parquet");
    write_binary_column(&input, &[b"ok", b"\x80", b"\x00\xff"]);
    for transform in ["deterministic_encrypt", "hash"] {
        let rules = RulesFile::from_value(&serde_json::json!({"rules": [
            {"column": "b", "transform": {"type": transform, "key": "k"}}]}))
        .unwrap();
        let out = dir.path().join("m.parquet");
        let mut keys = Keys::new();
        keys.insert_raw("k", &[5u8; 32]);
        let e = apply(&rules, &mut keys, &input, &out, Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(e.contains("record 2") && e.contains("not UTF-8"), "{e}");
        assert!(!out.exists());
    }
    // A rule that takes no account of the value still strips a column of raw bytes.
    let rules = RulesFile::from_value(&serde_json::json!({"rules": [
        {"column": "b", "transform": {"type": "null"}}]}))
    .unwrap();
    let out = dir.path().join("n.parquet");
    apply(&rules, &mut Keys::new(), &input, &out, Direction::Mask).unwrap();
    let (before, after) = (rows(&input), rows(&out));
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|r| !before.contains(r)),
        "{before:?} {after:?}"
    );
    // A free-text rule that finds something in such a value would write its lossy text back.
    let with_email = dir.path().join("email.parquet");
    write_binary_column(&with_email, &[b"caf\xe9 bob@example.com"]);
    let free = RulesFile::from_value(&serde_json::json!({"rules": [
        {"identifiers": ["*"], "transform": "replace"}]}))
    .unwrap();
    let out = dir.path().join("f.parquet");
    let e = apply(&free, &mut Keys::new(), &with_email, &out, Direction::Mask)
        .unwrap_err()
        .to_string();
    assert!(e.contains("record 1") && e.contains("not UTF-8"), "{e}");
}

/// A Parquet file of one required BINARY column `b` holding `values`.
fn write_binary_column(path: &Path, values: &[&[u8]]) {
    let schema = Arc::new(parse_message_type("message m { required binary b; }").unwrap());
    let props = Arc::new(WriterProperties::builder().build());
    let mut w =
        SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    let values: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
    c.typed::<ByteArrayType>()
        .write_batch(&values, None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}
