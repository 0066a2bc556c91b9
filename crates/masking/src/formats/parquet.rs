//! Parquet through the column reader and writer APIs (no Arrow): each row group is copied
//! column by column in batches, with the schema, definition and repetition levels kept;
//! masked string (BYTE_ARRAY) columns have their values transformed on the way. Memory is
//! bounded by a batch, plus one entity column of a row group when a date shift needs it.
//!
//! The output is Snappy-compressed; inputs may be uncompressed, Snappy, ZSTD, GZIP, LZ4 or
//! Brotli (the codecs built in with the `parquet` features).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, ConvertedType, LogicalType, Repetition, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::column::writer::{ColumnWriter, ColumnWriterImpl};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::writer::SerializedFileWriter;

use crate::error::MaskError;
use crate::formats::{BATCH, Options, Progress};
use crate::masker::Masker;
use crate::transform::Masked;

fn perr(path: &Path, e: parquet::errors::ParquetError) -> MaskError {
    MaskError::Input {
        path: path.to_owned(),
        record: 0,
        message: e.to_string(),
    }
}

/// Copies `reader` to `writer` unchanged, batch by batch.
fn copy<T: DataType>(
    mut reader: ColumnReaderImpl<T>,
    writer: &mut ColumnWriterImpl<'_, T>,
    path: &Path,
) -> Result<(), MaskError> {
    let (mut def, mut rep, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        def.clear();
        rep.clear();
        vals.clear();
        let (records, _, levels) = reader
            .read_records(BATCH, Some(&mut def), Some(&mut rep), &mut vals)
            .map_err(|e| perr(path, e))?;
        if records == 0 && levels == 0 {
            return Ok(());
        }
        let d = (!def.is_empty()).then_some(def.as_slice());
        let r = (!rep.is_empty()).then_some(rep.as_slice());
        writer.write_batch(&vals, d, r).map_err(|e| perr(path, e))?;
    }
}

/// Reads a flat column of a row group as text, one entry per row (None for null).
fn read_entity(
    rg: &dyn RowGroupReader,
    col: usize,
    max_def: i16,
    path: &Path,
) -> Result<Vec<Option<String>>, MaskError> {
    fn collect<T: DataType>(
        mut r: ColumnReaderImpl<T>,
        max_def: i16,
        path: &Path,
        text: impl Fn(&T::T) -> String,
    ) -> Result<Vec<Option<String>>, MaskError> {
        let mut out = Vec::new();
        let (mut def, mut rep, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            def.clear();
            vals.clear();
            let (records, _, levels) = r
                .read_records(BATCH, Some(&mut def), Some(&mut rep), &mut vals)
                .map_err(|e| perr(path, e))?;
            if records == 0 && levels == 0 {
                return Ok(out);
            }
            let mut it = vals.iter();
            if def.is_empty() {
                out.extend(it.map(|v| Some(text(v))));
            } else {
                for &d in &def {
                    out.push(if d == max_def {
                        it.next().map(&text)
                    } else {
                        None
                    });
                }
            }
        }
    }
    match rg.get_column_reader(col).map_err(|e| perr(path, e))? {
        ColumnReader::ByteArrayColumnReader(r) => collect(r, max_def, path, |v: &ByteArray| {
            String::from_utf8_lossy(v.data()).into_owned()
        }),
        ColumnReader::Int32ColumnReader(r) => collect(r, max_def, path, i32::to_string),
        ColumnReader::Int64ColumnReader(r) => collect(r, max_def, path, i64::to_string),
        _ => Err(MaskError::Usage(
            "a date shift entity column must be a string or integer column".into(),
        )),
    }
}

/// The rules of an entity column (`entity_rules`, in run order) that run before rule `rule`:
/// unmasking, all but the date shifts, which run last.
fn earlier_rules(
    order: &[usize],
    entity_rules: Option<&Vec<(usize, Option<usize>)>>,
    rule: usize,
) -> Vec<usize> {
    let at = |r: usize| order.iter().position(|&o| o == r);
    let Some(here) = at(rule) else {
        return Vec::new();
    };
    entity_rules
        .into_iter()
        .flatten()
        .map(|&(r, _)| r)
        .filter(|&r| at(r).is_some_and(|p| p < here))
        .collect()
}

/// A date shift's entity values as the rules that run before it leave them, as CSV and JSON
/// Lines see them: unmasking, an entity column that was itself reversibly masked is read in
/// clear. Reading the input's (masked) entity shifted every date by the wrong amount.
fn entity_as_seen(
    masker: &mut Masker,
    rules: &[usize],
    mut values: Vec<Option<String>>,
    physical: PhysicalType,
    first_row: u64,
) -> Result<Vec<Option<String>>, MaskError> {
    if rules.is_empty() {
        return Ok(values);
    }
    // As the entity's own column is written: a number column keeps only canonical numbers.
    let accept = |s: &str| match physical {
        PhysicalType::INT32 => s.parse::<i32>().is_ok_and(|v| v.to_string() == s),
        PhysicalType::INT64 => s.parse::<i64>().is_ok_and(|v| v.to_string() == s),
        _ => true,
    };
    for &ri in rules {
        for (row, slot) in values.iter_mut().enumerate() {
            let Some(v) = slot.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            match masker.entity_value(ri, v, first_row + row as u64 + 1, &accept)? {
                Masked::Value(s) => *slot = Some(s),
                Masked::Null | Masked::Remove => *slot = None,
                Masked::Keep => {}
            }
        }
    }
    Ok(values)
}

/// Transforms `input` into `out` (`output` names it in errors).
pub fn run(
    masker: &mut Masker,
    input: &Path,
    out: File,
    output: &Path,
    opts: Options,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let file = File::open(input).map_err(|e| MaskError::io(input, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| perr(input, e))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr_ptr();
    let columns: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();

    // Rules per column, in run order, with the entity column of date shifts.
    let order = masker.field_order();
    let mut plan: Vec<Vec<(usize, Option<usize>)>> = vec![Vec::new(); columns.len()];
    for &ri in &order {
        let Some(rule) = masker.rules().get(ri) else {
            continue;
        };
        let Some(field) = &rule.field else { continue };
        let name = field.column_name();
        // A rule on a group column (a struct, list or map) applies to every leaf under it, as a
        // rule on a JSON object applies to its leaves: matching leaves only by their whole path
        // left `address.street` and `tags.list.element` in clear.
        let cols: Vec<usize> = name
            .as_deref()
            .map(|n| {
                columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        opts.same_column(c, n)
                            || c.get(..n.len() + 1).is_some_and(|head| {
                                head.ends_with('.')
                                    && head.get(..n.len()).is_some_and(|h| opts.same_column(h, n))
                            })
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        if cols.is_empty() {
            if opts.strict_fields {
                return Err(MaskError::rule(
                    &rule.name,
                    format!("column {field} is not in {}", input.display()),
                ));
            }
            continue;
        }
        for col in cols {
            let descr = schema.column(col);
            if !matches!(
                descr.physical_type(),
                PhysicalType::BYTE_ARRAY
                    | PhysicalType::INT32
                    | PhysicalType::INT64
                    | PhysicalType::DOUBLE
            ) {
                return Err(MaskError::rule(
                    &rule.name,
                    format!(
                        "column {} is {} in parquet; string, int32 (and date), int64 and double columns can be masked",
                        descr.path().string(),
                        descr.physical_type()
                    ),
                ));
            }
            // A number column keeps a number only: FF1 over digits is walked until its output
            // is one the column's type writes back the same (`Masker::value_within`), which
            // an alphabet with letters, or a surrogate prefix, would never be.
            if rule.transform_name == "fpe"
                && descr.physical_type() != PhysicalType::BYTE_ARRAY
                && !rule.transform.is_decimal_fpe()
            {
                return Err(MaskError::rule(
                    &rule.name,
                    format!(
                        "column {} is {} in parquet; fpe on a number column needs the numeric \
                         alphabet (radix 10) and no surrogate, so that its output is a number",
                        descr.path().string(),
                        descr.physical_type()
                    ),
                ));
            }
            let entity = match &rule.entity {
                None => None,
                Some(e) => {
                    let n = e.column_name();
                    let ec = n
                        .as_deref()
                        .and_then(|n| columns.iter().position(|c| opts.same_column(c, n)))
                        .ok_or_else(|| {
                            MaskError::rule(
                                &rule.name,
                                format!("entity column {e} is not in {}", input.display()),
                            )
                        })?;
                    if schema.column(ec).max_rep_level() > 0 || descr.max_rep_level() > 0 {
                        return Err(MaskError::rule(
                            &rule.name,
                            "date shift with an entity needs flat (non-repeated) columns",
                        ));
                    }
                    Some(ec)
                }
            };
            if let Some(p) = plan.get_mut(col) {
                p.push((ri, entity));
            }
        }
    }

    // Free-text rules (identifiers without a column) read every string column, as scan does.
    let text_columns: Vec<bool> = (0..columns.len())
        .map(|c| masker.has_text_rules() && is_text_column(&schema.column(c)))
        .collect();

    // The file's key-value metadata goes along (bug: it was dropped, and with it the Arrow
    // schema, so a `large_string` column came back as `string`): the columns keep their types.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(meta.file_metadata().key_value_metadata().cloned())
        .build();
    let mut writer = SerializedFileWriter::new(out, schema.root_schema_ptr(), Arc::new(props))
        .map_err(|e| perr(output, e))?;
    let mut rows_done = 0u64;
    for rg_index in 0..meta.num_row_groups() {
        let rg = reader.get_row_group(rg_index).map_err(|e| perr(input, e))?;
        let rg_rows = u64::try_from(rg.metadata().num_rows()).unwrap_or(0);
        let mut rg_writer = writer.next_row_group().map_err(|e| perr(output, e))?;
        let mut col = 0usize;
        while let Some(mut cw) = rg_writer.next_column().map_err(|e| perr(output, e))? {
            let descr = schema.column(col);
            let rules = plan.get(col).cloned().unwrap_or_default();
            let creader = rg.get_column_reader(col).map_err(|e| perr(input, e))?;
            let text = text_columns.get(col).copied().unwrap_or(false);
            let job = if rules.is_empty() && !text {
                None
            } else {
                let entities: Vec<Option<Vec<Option<String>>>> = rules
                    .iter()
                    .map(|&(ri, e)| {
                        e.map(|ec| {
                            let raw = read_entity(
                                rg.as_ref(),
                                ec,
                                schema.column(ec).max_def_level(),
                                input,
                            )?;
                            let earlier = earlier_rules(&order, plan.get(ec), ri);
                            let descr = schema.column(ec);
                            entity_as_seen(masker, &earlier, raw, descr.physical_type(), rows_done)
                        })
                        .transpose()
                    })
                    .collect::<Result<_, _>>()?;
                let basic = descr.self_type().get_basic_info();
                Some(Job {
                    rules: &rules,
                    entities,
                    max_def: descr.max_def_level(),
                    optional: basic.repetition() == Repetition::OPTIONAL,
                    first_row: rows_done,
                    path: input,
                    column: columns.get(col).cloned().unwrap_or_default(),
                    text,
                })
            };
            let is_date = matches!(descr.logical_type_ref(), Some(LogicalType::Date))
                || descr.converted_type() == ConvertedType::DATE;
            // A TIMESTAMP column is read as an ISO date-time for the date transforms (a date
            // shift of its integer was "value is not an ISO date"); other transforms keep
            // seeing the integer, as before.
            let date_rules = rules.iter().any(|(ri, _)| {
                masker
                    .rules()
                    .get(*ri)
                    .is_some_and(|r| matches!(r.transform_name, "date_shift" | "date_truncate"))
            });
            let timestamp = timestamp_unit(&descr).filter(|_| date_rules);
            match (creader, cw.untyped()) {
                (
                    ColumnReader::ByteArrayColumnReader(r),
                    ColumnWriter::ByteArrayColumnWriter(w),
                ) if job.is_some() => mask_column::<ByteArrayType>(
                    masker,
                    r,
                    w,
                    job.as_ref(),
                    false,
                    |v| match std::str::from_utf8(v.data()) {
                        Ok(t) => (t.to_owned(), true),
                        Err(_) => (String::from_utf8_lossy(v.data()).into_owned(), false),
                    },
                    |s| Ok(ByteArray::from(s.into_bytes())),
                )?,
                (ColumnReader::Int32ColumnReader(r), ColumnWriter::Int32ColumnWriter(w))
                    if job.is_some() =>
                {
                    mask_column::<Int32Type>(
                        masker,
                        r,
                        w,
                        job.as_ref(),
                        true,
                        |v| {
                            if is_date {
                                (date_text(*v), true)
                            } else {
                                (v.to_string(), true)
                            }
                        },
                        |s| {
                            if is_date {
                                date_days(&s)
                            } else {
                                s.parse().map_err(|_| "an int32")
                            }
                        },
                    )?
                }
                (ColumnReader::Int64ColumnReader(r), ColumnWriter::Int64ColumnWriter(w))
                    if job.is_some() =>
                {
                    mask_column::<Int64Type>(
                        masker,
                        r,
                        w,
                        job.as_ref(),
                        true,
                        |v| match timestamp {
                            Some(per_second) => (timestamp_text(*v, per_second), true),
                            None => (v.to_string(), true),
                        },
                        |s| match timestamp {
                            Some(per_second) => timestamp_value(&s, per_second),
                            None => s.parse().map_err(|_| "an int64"),
                        },
                    )?
                }
                (ColumnReader::DoubleColumnReader(r), ColumnWriter::DoubleColumnWriter(w))
                    if job.is_some() =>
                {
                    mask_column::<DoubleType>(
                        masker,
                        r,
                        w,
                        job.as_ref(),
                        true,
                        |v| (v.to_string(), true),
                        |s| s.parse().map_err(|_| "a double"),
                    )?
                }
                (ColumnReader::BoolColumnReader(r), ColumnWriter::BoolColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (ColumnReader::Int32ColumnReader(r), ColumnWriter::Int32ColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (ColumnReader::Int64ColumnReader(r), ColumnWriter::Int64ColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (ColumnReader::Int96ColumnReader(r), ColumnWriter::Int96ColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (ColumnReader::FloatColumnReader(r), ColumnWriter::FloatColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (ColumnReader::DoubleColumnReader(r), ColumnWriter::DoubleColumnWriter(w)) => {
                    copy(r, w, input)?
                }
                (
                    ColumnReader::ByteArrayColumnReader(r),
                    ColumnWriter::ByteArrayColumnWriter(w),
                ) => copy(r, w, input)?,
                (
                    ColumnReader::FixedLenByteArrayColumnReader(r),
                    ColumnWriter::FixedLenByteArrayColumnWriter(w),
                ) => copy(r, w, input)?,
                _ => {
                    return Err(MaskError::Usage(format!(
                        "column {} changed type between reader and writer",
                        col
                    )));
                }
            }
            cw.close().map_err(|e| perr(output, e))?;
            col += 1;
        }
        rg_writer.close().map_err(|e| perr(output, e))?;
        rows_done += rg_rows;
        masker.count_records(rg_rows);
        progress
            .set(rows_done.saturating_mul(progress_scale(meta.file_metadata().num_rows(), input)));
        progress.tick(rows_done);
    }
    writer.close().map_err(|e| perr(output, e))?;
    Ok(())
}

/// Bytes per row, to drive the byte-based progress bar from a row count.
fn progress_scale(rows: i64, input: &Path) -> u64 {
    let bytes = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    match u64::try_from(rows) {
        Ok(r) if r > 0 => bytes / r,
        _ => 0,
    }
}

/// What [`mask_column`] needs besides the reader and writer.
struct Job<'a> {
    rules: &'a [(usize, Option<usize>)],
    entities: Vec<Option<Vec<Option<String>>>>,
    max_def: i16,
    optional: bool,
    first_row: u64,
    path: &'a Path,
    column: String,
    /// Whether the free-text rules read this (string) column.
    text: bool,
}

/// Whether a column holds text: a BYTE_ARRAY annotated as a string, enum or JSON, or not
/// annotated at all (older writers left strings unannotated).
fn is_text_column(descr: &parquet::schema::types::ColumnDescriptor) -> bool {
    descr.physical_type() == PhysicalType::BYTE_ARRAY
        && match descr.logical_type_ref() {
            Some(LogicalType::String | LogicalType::Enum | LogicalType::Json) => true,
            Some(_) => false,
            None => matches!(
                descr.converted_type(),
                ConvertedType::NONE
                    | ConvertedType::UTF8
                    | ConvertedType::ENUM
                    | ConvertedType::JSON
            ),
        }
}

/// A DATE (days since the Unix epoch) as `YYYY-MM-DD`.
fn date_text(days: i32) -> String {
    let epoch = time::Date::from_julian_day(2_440_588).unwrap_or(time::Date::MIN);
    match epoch.checked_add(time::Duration::days(i64::from(days))) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => days.to_string(),
    }
}

/// A date written back to a DATE column: `YYYY-MM-DD`, or the first day of what
/// `date_truncate` leaves (`YYYY-MM`, `YYYY`).
fn date_days(s: &str) -> Result<i32, &'static str> {
    let d = parse_date_prefix(s)
        .ok_or("a YYYY-MM-DD date (or YYYY-MM, YYYY)")?
        .0;
    if d.1.len() != s.len() {
        return Err("a YYYY-MM-DD date (or YYYY-MM, YYYY)");
    }
    Ok(d.0.to_julian_day() - 2_440_588)
}

/// `YYYY-MM-DD`, `YYYY-MM` or `YYYY` at the start of `s`: the date (the first day of a month
/// or year) and the text it took, and what follows.
fn parse_date_prefix(s: &str) -> Option<((time::Date, &str), &str)> {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let year_text = s.get(..4).filter(|t| digits(t))?;
    let year: i32 = year_text.parse().ok()?;
    let (month, day, used) = match (s.get(4..5), s.get(5..7), s.get(7..8), s.get(8..10)) {
        (Some("-"), Some(m), Some("-"), Some(d)) if digits(m) && digits(d) => {
            (m.parse().ok()?, d.parse().ok()?, 10)
        }
        (Some("-"), Some(m), _, _) if digits(m) => (m.parse().ok()?, 1, 7),
        _ => (1, 1, 4),
    };
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(((date, s.get(..used)?), s.get(used..)?))
}

/// Units per second of a TIMESTAMP column (INT64), or `None` for another column.
fn timestamp_unit(descr: &parquet::schema::types::ColumnDescriptor) -> Option<i64> {
    use parquet::basic::TimeUnit;
    if descr.physical_type() != PhysicalType::INT64 {
        return None;
    }
    match descr.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => Some(match t.unit {
            TimeUnit::MILLIS => 1_000,
            TimeUnit::MICROS => 1_000_000,
            TimeUnit::NANOS => 1_000_000_000,
        }),
        Some(_) => None,
        None => match descr.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS => Some(1_000),
            ConvertedType::TIMESTAMP_MICROS => Some(1_000_000),
            _ => None,
        },
    }
}

/// A timestamp as `YYYY-MM-DDTHH:MM:SS.fff…` (as many fraction digits as its unit has).
fn timestamp_text(v: i64, per_second: i64) -> String {
    let nanos = i128::from(v) * i128::from(1_000_000_000 / per_second);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return v.to_string();
    };
    let digits = match per_second {
        1_000 => 3,
        1_000_000 => 6,
        _ => 9,
    };
    let fraction = t.nanosecond() / 10u32.pow(9 - digits);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fraction:0width$}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        width = digits as usize
    )
}

/// A timestamp written back: `YYYY-MM-DD` (or `YYYY-MM`, `YYYY`, from `date_truncate`, at
/// midnight), optionally followed by `THH:MM:SS` and a fraction.
fn timestamp_value(s: &str, per_second: i64) -> Result<i64, &'static str> {
    const WHAT: &str = "a YYYY-MM-DDTHH:MM:SS timestamp";
    let ((date, _), rest) = parse_date_prefix(s).ok_or(WHAT)?;
    let mut nanos_of_day = 0i64;
    if let Some(clock) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) {
        let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':');
        let mut field = |max: i64| -> Result<i64, &'static str> {
            let p = parts.next().ok_or(WHAT)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WHAT);
            }
            p.parse::<i64>().ok().filter(|n| *n <= max).ok_or(WHAT)
        };
        let (h, m, sec) = (field(23)?, field(59)?, field(60)?);
        if parts.next().is_some()
            || fraction.len() > 9
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(WHAT);
        }
        let frac: i64 = format!("{fraction:0<9}").parse().map_err(|_| WHAT)?;
        nanos_of_day = ((h * 60 + m) * 60 + sec) * 1_000_000_000 + frac;
    } else if !rest.is_empty() {
        return Err(WHAT);
    }
    let days = i64::from(date.to_julian_day() - 2_440_588);
    let nanos = i128::from(days) * 86_400_000_000_000 + i128::from(nanos_of_day);
    i64::try_from(nanos / i128::from(1_000_000_000 / per_second)).map_err(|_| WHAT)
}

/// Transforms one column chunk; values go through text (`to_text`, `from_text`) so that every
/// transform works on every supported physical type. With `exact` (number columns), reversible
/// transforms may only write text that `from_text` and `to_text` give back unchanged.
fn mask_column<T: DataType>(
    masker: &mut Masker,
    mut reader: ColumnReaderImpl<T>,
    writer: &mut ColumnWriterImpl<'_, T>,
    job: Option<&Job<'_>>,
    exact: bool,
    to_text: impl Fn(&T::T) -> (String, bool),
    from_text: impl Fn(String) -> Result<T::T, &'static str>,
) -> Result<(), MaskError> {
    let Some(job) = job else { return Ok(()) };
    let kept_exactly = |s: &str| from_text(s.to_owned()).is_ok_and(|v| to_text(&v).0 == s);
    let (path, max_def) = (job.path, job.max_def);
    let (mut def, mut rep, mut vals) = (Vec::new(), Vec::new(), Vec::<T::T>::new());
    let mut row_base = 0usize;
    loop {
        def.clear();
        rep.clear();
        vals.clear();
        let (records, _, levels) = reader
            .read_records(BATCH, Some(&mut def), Some(&mut rep), &mut vals)
            .map_err(|e| perr(path, e))?;
        if records == 0 && levels == 0 {
            return Ok(());
        }
        // Row of each non-null value: a new row starts at repetition level 0.
        let mut value_rows = Vec::with_capacity(vals.len());
        let mut row = row_base;
        let n_levels = if def.is_empty() {
            vals.len()
        } else {
            def.len()
        };
        for i in 0..n_levels {
            if i > 0 && rep.get(i).is_none_or(|&r| r == 0) {
                row += 1;
            }
            if def.get(i).is_none_or(|&d| d == max_def) {
                value_rows.push(row);
            }
        }
        // Bug: bytes that are not UTF-8 were read through a lossy conversion, so unmask gave
        // back U+FFFD for them and a hash gave `\x80` and `\x81` one digest, with exit 0.
        let read: Vec<(String, bool)> = vals.iter().map(&to_text).collect();
        // Only rules whose output depends on the value: `redact` or `null` on a column of raw
        // bytes (images, ciphertexts) needs no text of it.
        let reader = job.rules.iter().find(|(ri, _)| {
            masker
                .rules()
                .get(*ri)
                .is_some_and(|r| r.identifiers.is_some() || r.transform.reads_value())
        });
        if let Some(((ri, _), (_, &vr))) =
            reader.zip(read.iter().zip(&value_rows).find(|((_, whole), _)| !whole))
        {
            return Err(MaskError::Value {
                rule: masker
                    .rules()
                    .get(*ri)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                field: job.column.clone(),
                message: format!(
                    "record {}: the value is bytes that are not UTF-8 text, which the \
                     transforms cannot keep (a BINARY column of raw bytes)",
                    job.first_row + vr as u64 + 1
                ),
            });
        }
        let whole: Vec<bool> = read.iter().map(|(_, w)| *w).collect();
        let mut texts: Vec<Option<String>> = read.into_iter().map(|(t, _)| Some(t)).collect();
        for ((ri, _), ents) in job.rules.iter().zip(&job.entities) {
            let is_shuffle = masker
                .rules()
                .get(*ri)
                .is_some_and(|r| r.transform.is_shuffle());
            if is_shuffle {
                let mut present: Vec<String> = texts.iter().flatten().cloned().collect();
                masker.shuffle(*ri, &mut present);
                let mut it = present.into_iter();
                for t in texts.iter_mut().filter(|t| t.is_some()) {
                    *t = it.next();
                }
                continue;
            }
            for (t, &vr) in texts.iter_mut().zip(&value_rows) {
                let Some(v) = t else { continue };
                if v.is_empty() {
                    masker.note_empty(*ri);
                    continue;
                }
                let ent = ents
                    .as_ref()
                    .and_then(|e| e.get(vr))
                    .and_then(Option::as_deref);
                let record = job.first_row + vr as u64 + 1;
                let masked = if exact {
                    masker.value_within(*ri, v, ent, record, &kept_exactly)?
                } else {
                    masker.value(*ri, v, ent, record)?
                };
                match masked {
                    Masked::Value(s) => *v = s,
                    Masked::Null | Masked::Remove if job.optional => *t = None,
                    Masked::Null | Masked::Remove => v.clear(),
                    Masked::Keep => {}
                }
            }
        }
        // A text-only job keeps the bytes of every value its rules left unchanged (a value
        // that is not UTF-8 went through a lossy conversion to be read).
        let before = (job.text && job.rules.is_empty()).then(|| texts.clone());
        if job.text {
            let names = [job.column.as_str()];
            for ((t, &vr), &is_text) in texts.iter_mut().zip(&value_rows).zip(&whole) {
                let Some(v) = t else { continue };
                if v.is_empty() {
                    continue;
                }
                let record = job.first_row + vr as u64 + 1;
                let out = masker.text_in(v, record, &names)?;
                if out != *v {
                    // Written back, the lossy text would change the bytes around the finding
                    // too (bug: `caf\xe9 bob@…` came out as `caf\u{fffd} <EMAIL_ADDRESS>`).
                    if !is_text {
                        return Err(MaskError::Value {
                            rule: masker
                                .rules()
                                .iter()
                                .find(|r| r.field.is_none())
                                .map(|r| r.name.clone())
                                .unwrap_or_default(),
                            field: job.column.clone(),
                            message: format!(
                                "record {record}: the value is bytes that are not UTF-8 text, \
                                 which the transforms cannot keep (a BINARY column of raw bytes)"
                            ),
                        });
                    }
                    *v = out;
                }
            }
        }
        let texts: Vec<Result<Option<String>, T::T>> = match before {
            None => texts.into_iter().map(Ok).collect(),
            Some(before) => texts
                .into_iter()
                .zip(before)
                .zip(vals.iter())
                .map(|((t, b), v)| if t == b { Err(v.clone()) } else { Ok(t) })
                .collect(),
        };
        // Values nulled by a transform become nulls in the definition levels.
        let mut new_vals = Vec::with_capacity(texts.len());
        let mut it = texts.into_iter().zip(value_rows.iter());
        let convert = |s: String, vr: usize| {
            from_text(s).map_err(|what| MaskError::Value {
                rule: job
                    .rules
                    .first()
                    .and_then(|(ri, _)| masker.rules().get(*ri))
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                field: job.column.clone(),
                message: format!(
                    "record {}: the transform's output is not {what}, as the parquet column requires",
                    job.first_row + vr as u64 + 1
                ),
            })
        };
        if def.is_empty() {
            for (t, &vr) in it {
                match t {
                    Err(unchanged) => new_vals.push(unchanged),
                    Ok(t) => new_vals.push(convert(t.unwrap_or_default(), vr)?),
                }
            }
        } else {
            for d in def.iter_mut() {
                if *d == max_def {
                    match it.next() {
                        Some((Err(unchanged), _)) => new_vals.push(unchanged),
                        Some((Ok(Some(s)), &vr)) => new_vals.push(convert(s, vr)?),
                        _ => *d = max_def - 1,
                    }
                }
            }
        }
        let d = (!def.is_empty()).then_some(def.as_slice());
        let r = (!rep.is_empty()).then_some(rep.as_slice());
        writer
            .write_batch(&new_vals, d, r)
            .map_err(|e| perr(path, e))?;
        row_base = row + 1;
    }
}
