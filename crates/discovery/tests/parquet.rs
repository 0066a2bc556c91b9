//! Parquet: (row, JSON path) locations and column-name keywords.
#![cfg(feature = "parquet")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use palisade_discovery::Engine;
use palisade_discovery::formats::Location;
use palisade_discovery::formats::archive::{
    FileResult, Limits, Options, scan_object, scan_object_with,
};
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

fn write(rows: &[(&str, &str)]) -> Vec<u8> {
    write_with(rows, WriterProperties::new())
}

fn write_with(rows: &[(&str, &str)], props: WriterProperties) -> Vec<u8> {
    let schema = Arc::new(
        parse_message_type(
            "message m { required binary customer_ssn (UTF8); required binary note (UTF8); }",
        )
        .unwrap(),
    );
    let mut buf = Vec::new();
    {
        let mut w = SerializedFileWriter::new(&mut buf, schema, Arc::new(props)).unwrap();
        let mut rg = w.next_row_group().unwrap();
        for col in 0..2 {
            let vals: Vec<ByteArray> = rows
                .iter()
                .map(|r| ByteArray::from(if col == 0 { r.0 } else { r.1 }))
                .collect();
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(&vals, None, None)
                .unwrap();
            c.close().unwrap();
        }
        rg.close().unwrap();
        w.close().unwrap();
    }
    buf
}

/// A file of one required string column `note` holding `vals`, one row group.
fn notes(vals: &[ByteArray], props: WriterProperties) -> Vec<u8> {
    let schema =
        Arc::new(parse_message_type("message m { required binary note (UTF8); }").unwrap());
    let mut data = Vec::new();
    {
        let mut w = SerializedFileWriter::new(&mut data, schema, Arc::new(props)).unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(vals, None, None)
            .unwrap();
        c.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }
    data
}

#[test]
fn rows_paths_and_column_keywords() {
    let e = Engine::with_defaults().unwrap();
    let data = write(&[
        ("000-00-0000", "nothing"),
        ("536-22-8901", "mail jane@example.com"),
    ]);
    let r = scan_object(&e, "t.parquet", &data, true);
    let dets = r[0].outcome.as_ref().unwrap();
    let ssn = dets
        .iter()
        .find(|l| e.type_id(&l.detection) == "USA_SOCIAL_SECURITY_NUMBER")
        .expect("the column name carries the keyword");
    assert_eq!(
        ssn.location,
        Location::Record {
            record_index: 1,
            json_path: Some("$.customer_ssn".into())
        }
    );
    assert_eq!(ssn.offset, None);
    assert_eq!(ssn.value.as_deref(), Some("536-22-8901"));
    let mail = dets
        .iter()
        .find(|l| e.type_id(&l.detection) == "EMAIL_ADDRESS")
        .unwrap();
    assert_eq!(
        mail.location,
        Location::Record {
            record_index: 1,
            json_path: Some("$.note".into())
        }
    );
}

#[test]
fn corrupt_parquet_is_skipped() {
    let e = Engine::with_defaults().unwrap();
    let r = scan_object(&e, "bad.parquet", b"PAR1garbage", false);
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "INVALID_OR_CORRUPTED_FILE"
    );
}

/// Regression: Parquet compressed with ZSTD, GZIP, LZ4 or BROTLI (Spark's and pyarrow's usual
/// codecs) was skipped: "Disabled feature at compile time: zstd".
#[test]
fn every_common_codec_is_read() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    let e = Engine::with_defaults().unwrap();
    for codec in [
        Compression::ZSTD(ZstdLevel::default()),
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
        Compression::BROTLI(BrotliLevel::default()),
        Compression::SNAPPY,
    ] {
        let props = WriterProperties::builder().set_compression(codec).build();
        let data = write_with(&[("536-22-8901", "mail jane@example.com")], props);
        let r = scan_object(&e, "t.parquet", &data, false);
        let dets = r[0]
            .outcome
            .as_ref()
            .unwrap_or_else(|skip| panic!("{codec:?}: {skip:?}"));
        assert!(
            dets.iter()
                .any(|l| e.type_id(&l.detection) == "EMAIL_ADDRESS"),
            "{codec:?}: {dets:?}"
        );
    }
}

fn scan_limited(name: &str, data: &[u8], limits: Limits) -> Vec<FileResult> {
    let e = Engine::with_defaults().unwrap();
    let opts = Options {
        limits,
        reveal: false,
    };
    scan_object_with(&e, name, data, &opts)
}

/// Regression: one string that was not UTF-8 ("secretperson@example.com" with one byte 0xFF)
/// skipped the whole file as INVALID_OR_CORRUPTED_FILE, with the parquet crate's error as the
/// skip's detail: "Error reading BYTE_ARRAY as String. Bytes: [115, 101, 99, 255, …]", the
/// value spelled out without --reveal. Strings are read as bytes: the file is scanned.
#[test]
fn a_string_that_is_not_utf8_neither_leaks_nor_skips_the_file() {
    let e = Engine::with_defaults().unwrap();
    let mut bad = b"secretperson@example.com".to_vec();
    bad[3] = 0xFF;
    let vals = [
        ByteArray::from(bad),
        ByteArray::from("mail jane@example.com"),
    ];
    let data = notes(&vals, WriterProperties::new());
    let r = scan_object(&e, "bad.parquet", &data, false);
    let dets = r[0]
        .outcome
        .as_ref()
        .unwrap_or_else(|s| panic!("skipped: {s:?}"));
    let records: Vec<u64> = dets
        .iter()
        .filter(|l| e.type_id(&l.detection) == "EMAIL_ADDRESS")
        .map(|l| match l.location {
            Location::Record { record_index, .. } => record_index,
            _ => u64::MAX,
        })
        .collect();
    assert_eq!(records, [0, 1], "{dets:?}");
    assert!(dets.iter().all(|l| l.value.is_none()));
}

/// A file cut short is skipped with a detail that names what failed, never the library's text
/// (which can quote values).
#[test]
fn corrupt_parquet_details_hold_no_library_text() {
    let e = Engine::with_defaults().unwrap();
    let data = write(&[("536-22-8901", "mail jane@example.com")]);
    // Page bytes overwritten, footer intact.
    let mut broken = data.clone();
    for b in broken.iter_mut().skip(4).take(40) {
        *b = 0xEE;
    }
    for d in [&broken[..], b"PAR1garbage"] {
        let r = scan_object(&e, "bad.parquet", d, false);
        let skip = r[0].outcome.as_ref().unwrap_err();
        assert_eq!(skip.reason, "INVALID_OR_CORRUPTED_FILE");
        assert!(skip.detail.starts_with("cannot read parquet "), "{skip:?}");
        assert!(
            ["corrupt", "truncated", "not supported"]
                .iter()
                .any(|w| skip.detail.ends_with(w)),
            "{skip:?}"
        );
    }
}

/// A small file of one long string repeated in every row (dictionary encoded, so a few KB).
fn repeated(rows: usize, len: usize) -> Vec<u8> {
    use parquet::basic::{Compression, ZstdLevel};
    let long = "x".repeat(len);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let vals: Vec<ByteArray> = (0..rows).map(|_| ByteArray::from(long.as_str())).collect();
    notes(&vals, props)
}

/// Regression: a 62 KB Parquet file of 10M rows of one dictionary-encoded 1000-character string
/// expanded into one buffer until the allocation failed (abort, exit 134): no limit applied to
/// Parquet. Its values are held to the archive limits and refused as they pass them.
#[test]
fn a_parquet_expansion_bomb_is_refused_by_the_archive_limits() {
    let data = repeated(20_000, 1000);
    assert!(data.len() < 64 << 10, "{} bytes", data.len());
    let r = scan_limited(
        "bomb.parquet",
        &data,
        Limits {
            max_member_bytes: 4 << 20,
            max_ratio: u64::MAX,
            ..Limits::default()
        },
    );
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "FILE_EXCEEDS_SIZE_LIMIT"
    );
    let r = scan_limited("bomb.parquet", &data, Limits::default());
    assert_eq!(
        r[0].outcome.as_ref().unwrap_err().reason,
        "ARCHIVE_COMPRESSION_RATIO_OVER_LIMIT"
    );
    // Within the limits, the same shape is scanned.
    let small = repeated(100, 1000);
    let r = scan_limited("ok.parquet", &small, Limits::default());
    assert!(r[0].outcome.is_ok(), "{:?}", r[0].outcome);
}

/// Regression: dates of birth in a timestamp[ns] column were rendered as 327369600000000000
/// (the record API reads nanoseconds as a plain integer) and missed; milliseconds and
/// microseconds were found.
#[test]
fn nanosecond_timestamps_are_rendered_as_dates() {
    use parquet::data_type::Int64Type;
    let e = Engine::with_defaults().unwrap();
    let schema = Arc::new(
        parse_message_type("message m { required int64 dob (TIMESTAMP(NANOS,true)); }").unwrap(),
    );
    let mut data = Vec::new();
    {
        let mut w = SerializedFileWriter::new(&mut data, schema, Arc::new(WriterProperties::new()))
            .unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&[327_369_600_000_000_000], None, None)
            .unwrap();
        c.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }
    let r = scan_object(&e, "people.parquet", &data, true);
    let dets = r[0].outcome.as_ref().unwrap();
    let dob = dets
        .iter()
        .find(|l| e.type_id(&l.detection) == "DATE_OF_BIRTH")
        .unwrap_or_else(|| panic!("{dets:?}"));
    assert!(
        dob.value.as_deref().unwrap_or("").contains("1980"),
        "{dob:?}"
    );
}

/// Regression: Parquet findings had mimeType application/vnd.apache.parquet; Macie says
/// application/parquet.
#[test]
fn parquet_findings_have_macies_mime_type() {
    let e = Engine::with_defaults().unwrap();
    let data = write(&[("536-22-8901", "mail jane@example.com")]);
    let r = scan_object(&e, "t.parquet", &data, false);
    let f = palisade_discovery::report::finding(&e, &r[0]).unwrap();
    assert_eq!(
        f["classificationDetails"]["result"]["mimeType"],
        "application/parquet"
    );
}

/// One row of a `map<string,string>` column `attrs` holding `entries`.
fn map_file(entries: &[(&str, &str)]) -> Vec<u8> {
    let schema = Arc::new(
        parse_message_type(
            "message m { required group attrs (MAP) { repeated group key_value { \
             required binary key (UTF8); optional binary value (UTF8); } } }",
        )
        .unwrap(),
    );
    let n = entries.len();
    let rep: Vec<i16> = (0..n).map(|i| i16::from(i > 0)).collect();
    let mut buf = Vec::new();
    {
        let mut w =
            SerializedFileWriter::new(&mut buf, schema, Arc::new(WriterProperties::new())).unwrap();
        let mut rg = w.next_row_group().unwrap();
        for col in 0..2 {
            let vals: Vec<ByteArray> = entries
                .iter()
                .map(|e| ByteArray::from(if col == 0 { e.0 } else { e.1 }))
                .collect();
            let def = vec![col as i16 + 1; n];
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(&vals, Some(&def), Some(&rep))
                .unwrap();
            c.close().unwrap();
        }
        rg.close().unwrap();
        w.close().unwrap();
    }
    buf
}

#[test]
fn map_key_is_scanned_and_never_shown_in_a_path() {
    let e = Engine::with_defaults().unwrap();
    let data = map_file(&[
        ("mk.person@example.com", "ssn 536-22-8741"),
        ("plain.key", "other@example.org"),
    ]);
    let r = scan_object(&e, "m.parquet", &data, false);
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
    // The key is found (no path: it is in a name), the SSN under it has no path either, and a
    // dotted key that is not sensitive is quoted as one element.
    assert!(found.contains(&("EMAIL_ADDRESS".into(), None)), "{found:?}");
    assert!(
        found.contains(&("USA_SOCIAL_SECURITY_NUMBER".into(), None)),
        "{found:?}"
    );
    assert!(
        found.contains(&("EMAIL_ADDRESS".into(), Some("$.attrs['plain.key']".into()))),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|(_, p)| p.as_deref().is_some_and(|p| p.contains("mk.person"))),
        "{found:?}"
    );
}

/// Regression: Parquet column and struct field names went into `jsonPath` unquoted and
/// unscanned: a column `frank@example.com` was shown as `$.frank@example.com` without --reveal,
/// and `$.a.b` could be a column `a.b` or a field `b` of a struct `a`.
#[test]
fn column_and_field_names_are_quoted_and_scanned_as_json_keys_are() {
    use parquet::basic::{ConvertedType, Repetition, Type as Physical};
    use parquet::schema::types::Type;
    let string = |name: &str| {
        Arc::new(
            Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_converted_type(ConvertedType::UTF8)
                .build()
                .unwrap(),
        )
    };
    let nested = Arc::new(
        Type::group_type_builder("s")
            .with_repetition(Repetition::REQUIRED)
            .with_fields(vec![string("eve@example.com")])
            .build()
            .unwrap(),
    );
    let schema = Arc::new(
        Type::group_type_builder("m")
            .with_fields(vec![string("a.b"), string("frank@example.com"), nested])
            .build()
            .unwrap(),
    );
    let values = ["carol@example.com", "ssn 536-22-8741", "ssn 536-22-8741"];
    let mut data = Vec::new();
    {
        let mut w = SerializedFileWriter::new(&mut data, schema, Arc::new(WriterProperties::new()))
            .unwrap();
        let mut rg = w.next_row_group().unwrap();
        for v in values {
            let mut c = rg.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(&[ByteArray::from(v), ByteArray::from(v)], None, None)
                .unwrap();
            c.close().unwrap();
        }
        rg.close().unwrap();
        w.close().unwrap();
    }
    let e = Engine::with_defaults().unwrap();
    let r = scan_object(&e, "n.parquet", &data, false);
    let mut found: Vec<(String, u64, Option<String>)> = r[0]
        .outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| match &l.location {
            Location::Record {
                record_index,
                json_path,
            } => (
                e.type_id(&l.detection).to_owned(),
                *record_index,
                json_path.clone(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    found.sort();
    let email =
        |row, path: Option<&str>| ("EMAIL_ADDRESS".to_owned(), row, path.map(str::to_owned));
    let ssn = |row| ("USA_SOCIAL_SECURITY_NUMBER".to_owned(), row, None);
    // Each sensitive name once (not once per row), and nothing under it shows it.
    assert_eq!(
        found,
        vec![
            email(0, None),
            email(0, None),
            email(0, Some("$['a.b']")),
            email(1, Some("$['a.b']")),
            ssn(0),
            ssn(0),
            ssn(1),
            ssn(1),
        ]
    );
}

/// Regression: SARIF results of Parquet files had only `region.startLine` 1, a line a binary
/// file does not have; they also carry the row and path as a logical location (the line stays,
/// since GitHub code scanning rejects a result whose region has no line).
#[test]
fn sarif_parquet_results_have_a_logical_location() {
    use palisade_discovery::cli::{OutputFormat, ScanArgs, run_with};
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.parquet");
    std::fs::write(&f, write(&[("536-22-8901", "nothing")])).unwrap();
    let a = ScanArgs {
        paths: vec![f],
        identifiers: "ALL".into(),
        custom: vec![],
        allow_list: vec![],
        format: OutputFormat::Sarif,
        sample: None,
        max_file_size: 1 << 20,
        reveal: false,
        threads: Some(1),
        no_progress: true,
        max_archive_depth: 10,
        max_compression_ratio: 1000,
        follow: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(run_with(&a, &mut out, &mut err, false), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let loc = &doc["runs"][0]["results"][0]["locations"][0];
    assert_eq!(loc["physicalLocation"]["region"]["startLine"], 1, "{loc}");
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "record 0 $.customer_ssn"
    );
}
