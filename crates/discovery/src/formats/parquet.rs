//! Parquet through the record API (no Arrow, to keep the build small): every leaf value becomes a
//! line of a scratch buffer that is scanned once; detections map back to (row, JSON path).
//!
//! The file is untrusted, and the record API trusts it in ways that cost us: it decodes strings
//! as UTF-8 and fails the whole file on one bad value (with the value's bytes in the error),
//! panics on type annotations it does not convert (with the value in the message), and renders
//! dates and timestamps through `unwrap`s that panic out of range. So the column descriptors are
//! rewritten before reading (strings read as bytes, unknown annotations dropped), values are
//! rendered here, and errors are described by what failed, never by the library's text.

use std::collections::HashMap;
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaDataReader, RowGroupMetaData};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::RowGroupReader;
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::record::{Field, Row};
use parquet::schema::types::{ColumnDescPtr, ColumnDescriptor, Type};

use crate::engine::{Engine, IdentSet, Scanner, Structure};
use crate::formats::{Located, Location, Skip};

struct Leaf {
    start: usize,
    end: usize,
    row: u64,
    path: u32,
    /// A map key (its `path` is that of the key's value).
    key: bool,
}

struct Collected {
    buf: Vec<u8>,
    leaves: Vec<Leaf>,
    paths: Vec<String>,
    path_ids: HashMap<String, u32>,
    /// Bytes the values may expand to (the archive limits, applied to what Parquet's encodings
    /// and codecs expand to); `over` is set when a value goes past it.
    limit: u64,
    over: bool,
}

impl Collected {
    fn push(&mut self, row: u64, path: &str, value: &[u8]) {
        self.push_leaf(row, path, value, false);
    }

    fn push_leaf(&mut self, row: u64, path: &str, value: &[u8], key: bool) {
        if self.over {
            return;
        }
        if (self.buf.len() + value.len() + 1) as u64 > self.limit {
            // Checked per value, not per byte: a dictionary-encoded column of one long string
            // repeated in every row expands by its length per row, from a few kilobytes of file.
            self.over = true;
            return;
        }
        let id = match self.path_ids.get(path) {
            Some(&id) => id,
            None => {
                let id = self.paths.len() as u32;
                self.paths.push(path.to_owned());
                self.path_ids.insert(path.to_owned(), id);
                id
            }
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(value);
        let end = self.buf.len();
        self.buf.push(b'\n');
        self.leaves.push(Leaf {
            start,
            end,
            row,
            path: id,
            key,
        });
    }

    fn field(&mut self, row: u64, path: &str, f: &Field, ty: Option<&Type>) {
        if self.over {
            return;
        }
        match f {
            Field::Null => {}
            Field::Str(s) => self.push(row, path, s.as_bytes()),
            Field::Bytes(b) => self.push(row, path, b.data()),
            Field::Group(g) => self.row(row, path, g, ty),
            Field::ListInternal(l) => {
                let element = ty.and_then(list_element);
                for (i, e) in l.elements().iter().enumerate() {
                    self.field(row, &format!("{path}[{i}]"), e, element);
                }
            }
            Field::MapInternal(m) => {
                let value = ty.and_then(map_value);
                for (k, v) in m.entries() {
                    let key = match k {
                        Field::Str(s) => s.clone(),
                        Field::Bytes(b) => String::from_utf8_lossy(b.data()).into_owned(),
                        other => render(other, None),
                    };
                    // Quoted as JSON keys are (bug: `mk.person@example.com` went into the path
                    // as three levels), and scanned as the values are: a map key is data.
                    let mut at = path.to_owned();
                    crate::formats::json::push_element(&mut at, &key);
                    self.push_leaf(row, &at, key.as_bytes(), true);
                    self.field(row, &at, v, value);
                }
            }
            other => self.push(row, path, render(other, ty).as_bytes()),
        }
    }

    fn row(&mut self, row: u64, prefix: &str, r: &Row, ty: Option<&Type>) {
        let children = ty.filter(|t| t.is_group()).map(Type::get_fields);
        for (name, f) in r.get_column_iter() {
            let child = children.and_then(|c| c.iter().find(|t| t.name() == name));
            // Quoted as JSON keys are (bug: `a.b` read as two levels), and scanned once, where
            // the path first appears, as a name is data too (bug: `frank@example.com` was
            // shown in every path under it, without --reveal).
            let mut at = prefix.to_owned();
            crate::formats::json::push_element(&mut at, name);
            if !self.path_ids.contains_key(&at) {
                self.push_leaf(row, &at, name.as_bytes(), true);
            }
            self.field(row, &at, f, child.map(|t| &**t));
        }
    }
}

/// The element type of a list field's schema type, as the record API reads lists (a repeated
/// field outside a LIST group, or a LIST group in its 3-level or legacy 2-level form); `None`
/// where the shape is not one of these (the values are then rendered without their annotation).
fn list_element(t: &Type) -> Option<&Type> {
    if t.is_primitive() {
        return Some(t);
    }
    let is_list = matches!(
        t.get_basic_info().logical_type_ref(),
        Some(LogicalType::List)
    ) || t.get_basic_info().converted_type() == ConvertedType::LIST;
    if !is_list {
        return Some(t);
    }
    let repeated = t.get_fields().first()?;
    match repeated.get_fields() {
        [only] if repeated.is_group() && only.name() != "array" => Some(only),
        _ => Some(repeated),
    }
}

/// The value type of a map field's schema type (`map (MAP) { repeated key_value { key; value } }`).
fn map_value(t: &Type) -> Option<&Type> {
    let kv = t.get_fields().first()?;
    kv.get_fields().get(1).map(|v| &**v)
}

/// Days since 1970-01-01 as a proleptic Gregorian (year, month, day), for any day an i64 of
/// seconds can name (the record API's own rendering panics outside chrono's ±262,000 years).
fn civil(days: i64) -> (i64, u32, u32) {
    // Counted from 0000-03-01, so that the leap day ends a year: 146,097 days per 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `ticks` of `per_second` since the epoch, as the record API writes timestamps
/// (`1980-05-17 00:00:00.000 +00:00`), with `digits` fraction digits.
fn timestamp(ticks: i64, per_second: i64, digits: usize) -> String {
    let secs = ticks.div_euclid(per_second);
    let frac = ticks.rem_euclid(per_second);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:0digits$} +00:00",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A scalar's text. Dates and timestamps are written here: the record API's `Display` panics on
/// values out of chrono's range, and writes nanosecond timestamps (which it reads as plain
/// integers) as a count a date of birth is not found in.
fn render(f: &Field, ty: Option<&Type>) -> String {
    match f {
        Field::Date(days) => {
            let (y, m, d) = civil(i64::from(*days));
            format!("{y:04}-{m:02}-{d:02}")
        }
        Field::TimestampMillis(v) => timestamp(*v, 1_000, 3),
        Field::TimestampMicros(v) => timestamp(*v, 1_000_000, 6),
        Field::Long(v)
            if ty.is_some_and(|t| {
                matches!(
                    t.get_basic_info().logical_type_ref(),
                    Some(LogicalType::Timestamp(ts)) if matches!(ts.unit, TimeUnit::NANOS)
                )
            }) =>
        {
            timestamp(*v, 1_000_000_000, 9)
        }
        other => other.to_string(),
    }
}

/// Whether the record API converts a value of this column without failing or panicking.
fn converts(d: &ColumnDescriptor) -> bool {
    use ConvertedType as C;
    let c = d.converted_type();
    match d.physical_type() {
        // Strings (UTF8, ENUM, JSON) are read as bytes: the scan works on bytes, and one
        // invalid sequence would otherwise fail the file.
        Physical::BYTE_ARRAY => matches!(c, C::NONE | C::BSON | C::DECIMAL),
        Physical::FIXED_LEN_BYTE_ARRAY => matches!(c, C::NONE | C::DECIMAL),
        Physical::INT32 => matches!(
            c,
            C::NONE
                | C::INT_8
                | C::INT_16
                | C::INT_32
                | C::UINT_8
                | C::UINT_16
                | C::UINT_32
                | C::DATE
                | C::TIME_MILLIS
                | C::DECIMAL
        ),
        Physical::INT64 => matches!(
            c,
            C::NONE
                | C::INT_64
                | C::UINT_64
                | C::TIME_MICROS
                | C::TIMESTAMP_MILLIS
                | C::TIMESTAMP_MICROS
                | C::DECIMAL
        ),
        _ => true,
    }
}

/// The column as the record API should read it: unchanged, or without its annotation.
fn readable(d: &ColumnDescPtr) -> Result<ColumnDescPtr, ParquetError> {
    if converts(d) {
        return Ok(d.clone());
    }
    let t = d.self_type();
    let plain = Type::primitive_type_builder(t.name(), t.get_physical_type())
        .with_repetition(if t.get_basic_info().has_repetition() {
            t.get_basic_info().repetition()
        } else {
            Repetition::REQUIRED
        })
        .with_length(d.type_length())
        .build()?;
    Ok(Arc::new(ColumnDescriptor::new(
        Arc::new(plain),
        d.max_def_level(),
        d.max_rep_level(),
        d.path().clone(),
    )))
}

/// A row group's metadata with its columns made [`readable`], checked for the negative offsets
/// and sizes the page reader asserts on.
fn readable_row_group(rg: &RowGroupMetaData) -> Result<RowGroupMetaData, ParquetError> {
    let mut columns = Vec::with_capacity(rg.num_columns());
    for c in rg.columns() {
        if c.data_page_offset() < 0
            || c.dictionary_page_offset().is_some_and(|o| o < 0)
            || c.compressed_size() < 0
        {
            return Err(ParquetError::General(String::new()));
        }
        if converts(c.column_descr()) {
            columns.push(c.clone());
            continue;
        }
        // Only what reading a column chunk uses is carried over.
        let mut b = ColumnChunkMetaData::builder(readable(&c.column_descr_ptr())?)
            .set_encodings_mask(*c.encodings_mask())
            .set_num_values(c.num_values())
            .set_compression(c.compression())
            .set_total_compressed_size(c.compressed_size())
            .set_total_uncompressed_size(c.uncompressed_size())
            .set_data_page_offset(c.data_page_offset())
            .set_dictionary_page_offset(c.dictionary_page_offset())
            .set_index_page_offset(c.index_page_offset());
        if let Some(p) = c.file_path() {
            b = b.set_file_path(p.to_owned());
        }
        columns.push(b.build()?);
    }
    RowGroupMetaData::builder(rg.schema_descr_ptr())
        .set_num_rows(rg.num_rows())
        .set_total_byte_size(rg.total_byte_size())
        .set_column_metadata(columns)
        .build()
}

/// What failed, in words that cannot hold the file's data (the library's messages can: a
/// string it could not decode is quoted byte by byte).
fn what(e: &ParquetError) -> &'static str {
    match e {
        ParquetError::EOF(_)
        | ParquetError::NeedMoreData(_)
        | ParquetError::NeedMoreDataRange(_) => "truncated",
        ParquetError::NYI(_) => "uses a feature that is not supported",
        _ => "corrupt",
    }
}

struct Ctx<'a> {
    leaves: &'a [Leaf],
    masks: &'a [IdentSet],
}

fn leaf_at(leaves: &[Leaf], offset: usize) -> Option<&Leaf> {
    let i = leaves
        .partition_point(|l| l.start <= offset)
        .checked_sub(1)?;
    leaves.get(i)
}

impl Structure for Ctx<'_> {
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet> {
        leaf_at(self.leaves, offset)
            .filter(|l| offset <= l.end)
            .and_then(|l| self.masks.get(l.path as usize))
    }

    fn has_keywords(&self) -> bool {
        self.masks.iter().any(|m| !m.is_empty())
    }

    fn same_value(&self, a: usize, b: usize) -> bool {
        let at = |o: usize| leaf_at(self.leaves, o).map(|l| l.start);
        at(a) == at(b)
    }
}

/// Scans a Parquet file held in memory. Its values may expand to at most `limit` bytes (`over`
/// is the skip reported past it); returns the detections and the bytes the values took.
pub fn scan(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    data: &[u8],
    reveal: bool,
    (limit, over): (u64, Skip),
) -> Result<(Vec<Located>, u64), Skip> {
    let corrupt = |at: String, e: ParquetError| Skip {
        reason: "INVALID_OR_CORRUPTED_FILE",
        detail: format!("cannot read parquet {at}: {}", what(&e)),
    };
    let bytes = Arc::new(bytes::Bytes::copy_from_slice(data));
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&*bytes)
        .map_err(|e| corrupt("metadata".into(), e))?;
    // What the pages say they decompress to: a file over the limit by its own account is refused
    // before any of it is decompressed.
    let declared = meta
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .fold(0u64, |n, c| {
            n.saturating_add(u64::try_from(c.uncompressed_size()).unwrap_or(0))
        });
    if declared > limit {
        return Err(over);
    }
    let schema = meta.file_metadata().schema();
    let props = Arc::new(ReaderProperties::builder().build());
    let mut c = Collected {
        buf: Vec::new(),
        leaves: Vec::new(),
        paths: Vec::new(),
        path_ids: HashMap::new(),
        limit,
        over: false,
    };
    let mut row = 0u64;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let at = || format!("row group {g}");
        let rg = readable_row_group(rg).map_err(|e| corrupt(at(), e))?;
        let reader = SerializedRowGroupReader::new(
            bytes.clone(),
            &rg,
            meta.page_index_for_row_group(g),
            props.clone(),
        )
        .map_err(|e| corrupt(at(), e))?;
        for r in reader.get_row_iter(None).map_err(|e| corrupt(at(), e))? {
            let r = r.map_err(|e| corrupt(format!("row {row}"), e))?;
            c.row(row, "$", &r, Some(schema));
            if c.over {
                return Err(over);
            }
            row += 1;
        }
    }
    let masks: Vec<IdentSet> = c
        .paths
        .iter()
        .map(|p| {
            let names = crate::formats::json::element_names(p);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            engine.keywords_in_names(&names)
        })
        .collect();
    let mut dets = Vec::new();
    scanner.scan(
        &c.buf,
        Some(&Ctx {
            leaves: &c.leaves,
            masks: &masks,
        }),
        &mut dets,
    );
    // Paths whose map key holds a detection: Macie omits the `jsonPath` of anything under
    // such a key, which would show it.
    let leaky: std::collections::HashSet<&str> = dets
        .iter()
        .filter_map(|d| leaf_at(&c.leaves, d.start))
        .filter(|l| l.key)
        .filter_map(|l| c.paths.get(l.path as usize).map(String::as_str))
        .collect();
    // Each prefix that ends before a `.` or `[` is looked up (one inside a quoted name can only
    // hide more, never show a key).
    let shown = |path: &str| {
        leaky.is_empty()
            || !path
                .char_indices()
                .filter(|&(_, ch)| matches!(ch, '.' | '['))
                .map(|(i, _)| i)
                .chain(std::iter::once(path.len()))
                .any(|i| path.get(..i).is_some_and(|p| leaky.contains(p)))
    };
    let found = dets
        .into_iter()
        .map(|d| {
            let leaf = leaf_at(&c.leaves, d.start);
            Located {
                location: Location::Record {
                    record_index: leaf.map(|l| l.row).unwrap_or(0),
                    json_path: leaf
                        .and_then(|l| c.paths.get(l.path as usize))
                        .filter(|p| shown(p))
                        .cloned(),
                },
                offset: None,
                value: reveal
                    .then(|| c.buf.get(d.start..d.end))
                    .flatten()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                line: None,
                detection: d,
            }
        })
        .collect();
    Ok((found, c.buf.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::{civil, timestamp};

    #[test]
    fn dates_render_across_the_whole_range_without_panicking() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(3_789), (1980, 5, 17));
        assert_eq!(
            timestamp(327_369_600_000_000_000, 1_000_000_000, 9),
            "1980-05-17 00:00:00.000000000 +00:00"
        );
        assert_eq!(timestamp(-1, 1_000, 3), "1969-12-31 23:59:59.999 +00:00");
        // Far outside chrono's range: rendered, not a panic.
        let _ = timestamp(i64::MAX, 1_000, 3);
        let _ = timestamp(i64::MIN, 1_000, 3);
    }
}
