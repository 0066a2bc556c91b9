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
use palisade_discovery::formats::archive::scan_object;
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
