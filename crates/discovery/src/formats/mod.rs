//! Input formats: how a buffer is scanned and how detection offsets become Macie locations
//! (`lineRanges`, `cells`, `records`).

use serde::Serialize;

use crate::engine::{Detection, Engine, Scanner};

pub mod archive;
pub mod csv;
pub mod json;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod text;

/// A Macie-style occurrence location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// Text: 1-based lines; `start_column` is 1-based and counts characters.
    Line {
        /// First line.
        start: u64,
        /// Last line.
        end: u64,
        /// Column of the first character on the first line.
        #[serde(rename = "startColumn")]
        start_column: u64,
    },
    /// CSV/TSV: 1-based row (the header is row 1) and column.
    Cell {
        /// Row.
        row: u64,
        /// Column.
        column: u64,
        /// Header of the column; `None` where the header is sensitive data itself.
        #[serde(rename = "columnName", skip_serializing_if = "Option::is_none")]
        column_name: Option<String>,
    },
    /// JSON, JSON Lines, Parquet: 0-based record index and a JSON path (omitted when the data is
    /// in a key name).
    Record {
        /// Record (JSON Lines line, Parquet row; always 0 for JSON).
        #[serde(rename = "recordIndex")]
        record_index: u64,
        /// `$.a.b[2]`.
        #[serde(rename = "jsonPath", skip_serializing_if = "Option::is_none")]
        json_path: Option<String>,
    },
}

impl Location {
    /// The Macie occurrence field that holds this kind of location.
    pub fn occurrence_kind(&self) -> &'static str {
        match self {
            Location::Line { .. } => "lineRanges",
            Location::Cell { .. } => "cells",
            Location::Record { .. } => "records",
        }
    }
}

/// A detection with its location. `offset` is `None` where bytes have no position in the file
/// (Parquet values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// What was found.
    pub detection: Detection,
    /// Where.
    pub location: Location,
    /// Byte offset in the file or decompressed member.
    pub offset: Option<u64>,
    /// Matched bytes (kept only with `--reveal`).
    pub value: Option<String>,
    /// 1-based line of the file the detection starts on, where the location does not say it
    /// (cells and records of CSV and JSON: SARIF needs a line); `None` for text, whose location
    /// has it, and for Parquet, whose values have none.
    pub line: Option<u64>,
}

/// How a buffer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Any text.
    Text,
    /// Delimited by commas, or by semicolons or tabs as its header line shows; header-aware.
    Csv,
    /// Tab-separated, header-aware.
    Tsv,
    /// One JSON document.
    Json,
    /// One JSON document per line.
    JsonLines,
    /// Apache Parquet.
    Parquet,
    /// gzip stream.
    Gzip,
    /// zip archive.
    Zip,
    /// tar archive (`.tar.gz` is a gzip stream of one).
    Tar,
    /// Not analysed (images, executables, …).
    Binary,
}

/// Picks a format from the name and the first bytes.
pub fn detect(name: &str, head: &[u8]) -> Format {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    if head.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    if head.starts_with(b"PAR1") {
        return Format::Parquet;
    }
    // POSIX and GNU tar headers say `ustar` at 257; a pre-POSIX tar is known by its name.
    if head.get(257..262) == Some(b"ustar") || ext == "tar" {
        return Format::Tar;
    }
    if utf16_order(head).is_some()
        && !matches!(ext, "csv" | "tsv" | "tab" | "json" | "jsonl" | "ndjson")
    {
        return Format::Text;
    }
    match ext {
        "csv" => Format::Csv,
        "tsv" | "tab" => Format::Tsv,
        "json" => Format::Json,
        "jsonl" | "ndjson" => Format::JsonLines,
        _ => {
            // NUL bytes in the first 8 KiB: binary, like grep's heuristic.
            let probe = head.get(..head.len().min(8192)).unwrap_or(head);
            if memchr::memchr(0, probe).is_some() {
                Format::Binary
            } else {
                Format::Text
            }
        }
    }
}

/// The byte order a UTF-16 byte-order mark at the start of `data` announces (true: little
/// endian), as Windows tools write CSV and text exports.
pub fn utf16_order(data: &[u8]) -> Option<bool> {
    match data.get(..2) {
        Some([0xff, 0xfe]) => Some(true),
        Some([0xfe, 0xff]) => Some(false),
        _ => None,
    }
}

/// `data` after a UTF-16 byte-order mark, as UTF-8 (unpaired surrogates become U+FFFD).
fn utf16_to_utf8(data: &[u8], little: bool) -> String {
    let units = data
        .get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|p| match p {
            [a, b] if little => u16::from_le_bytes([*a, *b]),
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Why a file (or archive member) was not analysed, with Macie's `status.reason` values where
/// Macie has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// Macie-style reason code.
    pub reason: &'static str,
    /// Human detail.
    pub detail: String,
}

/// Scans a non-archive buffer in the given format. What a format expands to in memory (Parquet's
/// values) is held to the archive limits and counted in `budget`; `partial` is set when the
/// content is analysed only in part.
pub fn scan_buffer(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    format: Format,
    data: &[u8],
    opts: &archive::Options,
    budget: &mut archive::Budget,
    partial: &mut Option<Skip>,
) -> Result<Vec<Located>, Skip> {
    let reveal = opts.reveal;
    // UTF-16 text is scanned as the UTF-8 it decodes to (bug: a UTF-16 CSV export was scanned
    // as its raw bytes, where no identifier matches, and reported clean); offsets are then in
    // the decoded text.
    let decoded;
    let data: &[u8] = match (format, utf16_order(data)) {
        (
            Format::Text | Format::Csv | Format::Tsv | Format::Json | Format::JsonLines,
            Some(little),
        ) => {
            decoded = utf16_to_utf8(data, little);
            decoded.as_bytes()
        }
        _ => data,
    };
    let mut out = match format {
        Format::Text => text::scan(scanner, data),
        Format::Csv => csv::scan(engine, scanner, data, csv::sniff_delimiter(data))?,
        Format::Tsv => csv::scan(engine, scanner, data, b'\t')?,
        Format::Json => json::scan(engine, scanner, data, false, partial)?,
        Format::JsonLines => json::scan(engine, scanner, data, true, partial)?,
        #[cfg(feature = "parquet")]
        Format::Parquet => {
            let cap = archive::member_limit(data.len() as u64, &opts.limits, budget);
            // The parquet crate panics on some malformed files instead of failing; a crafted
            // file must cost its own scan, not the run (a worker's panic ends every scan).
            let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                parquet::scan(engine, scanner, data, reveal, cap)
            }));
            let (found, expanded) = scanned.map_err(|_| Skip {
                reason: "INVALID_OR_CORRUPTED_FILE",
                detail: "the parquet reader failed on malformed metadata or pages".into(),
            })??;
            budget.add(expanded);
            found
        }
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => {
            let _ = budget;
            return Err(Skip {
                reason: "UNSUPPORTED_FILE_TYPE_EXCEPTION",
                detail: "built without the parquet feature".into(),
            });
        }
        Format::Binary | Format::Gzip | Format::Zip | Format::Tar => {
            return Err(Skip {
                reason: "UNSUPPORTED_FILE_TYPE_EXCEPTION",
                detail: "binary content".into(),
            });
        }
    };
    if reveal {
        for l in &mut out {
            if l.value.is_none() {
                l.value = data
                    .get(l.detection.start..l.detection.end)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
            }
        }
    }
    Ok(out)
}
