//! Parquet through the column reader and writer APIs (no Arrow): each row group is copied
//! column by column in batches, with the schema, definition and repetition levels kept;
//! masked string (BYTE_ARRAY) columns have their values transformed on the way. Memory is
//! bounded by a batch, plus one entity column of a row group when a date shift needs it.
//!
//! The output is Snappy-compressed; inputs may be uncompressed or Snappy (the codecs built
//! in with the minimal `parquet` features).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Repetition};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::column::writer::{ColumnWriter, ColumnWriterImpl};
use parquet::data_type::{ByteArray, DataType};
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

/// Transforms `input` into `output`.
pub fn run(
    masker: &mut Masker,
    input: &Path,
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
        let Some(col) = name
            .as_deref()
            .and_then(|n| columns.iter().position(|c| c == n))
        else {
            if opts.strict_fields {
                return Err(MaskError::rule(
                    &rule.name,
                    format!("column {field} is not in {}", input.display()),
                ));
            }
            continue;
        };
        let descr = schema.column(col);
        if descr.physical_type() != parquet::basic::Type::BYTE_ARRAY {
            return Err(MaskError::rule(
                &rule.name,
                format!(
                    "column {field} is {} in parquet; only string (byte array) columns can be masked",
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
                    .and_then(|n| columns.iter().position(|c| c == n))
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

    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let out = File::create(output).map_err(|e| MaskError::io(output, e))?;
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
            match (creader, cw.untyped()) {
                (
                    ColumnReader::ByteArrayColumnReader(r),
                    ColumnWriter::ByteArrayColumnWriter(w),
                ) if !rules.is_empty() => {
                    let optional =
                        descr.self_type().get_basic_info().repetition() == Repetition::OPTIONAL;
                    let entities: Vec<Option<Vec<Option<String>>>> = rules
                        .iter()
                        .map(|(_, e)| {
                            e.map(|ec| {
                                read_entity(
                                    rg.as_ref(),
                                    ec,
                                    schema.column(ec).max_def_level(),
                                    input,
                                )
                            })
                            .transpose()
                        })
                        .collect::<Result<_, _>>()?;
                    mask_column(
                        masker,
                        r,
                        w,
                        &rules,
                        &entities,
                        descr.max_def_level(),
                        optional,
                        rows_done,
                        input,
                    )?;
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

#[allow(clippy::too_many_arguments)]
fn mask_column(
    masker: &mut Masker,
    mut reader: ColumnReaderImpl<parquet::data_type::ByteArrayType>,
    writer: &mut ColumnWriterImpl<'_, parquet::data_type::ByteArrayType>,
    rules: &[(usize, Option<usize>)],
    entities: &[Option<Vec<Option<String>>>],
    max_def: i16,
    optional: bool,
    first_row: u64,
    path: &Path,
) -> Result<(), MaskError> {
    let (mut def, mut rep, mut vals) = (Vec::new(), Vec::new(), Vec::<ByteArray>::new());
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
        let mut texts: Vec<Option<String>> = vals
            .iter()
            .map(|v| Some(String::from_utf8_lossy(v.data()).into_owned()))
            .collect();
        for ((ri, _), ents) in rules.iter().zip(entities) {
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
                match masker.value(*ri, v, ent, first_row + vr as u64 + 1)? {
                    Masked::Value(s) => *v = s,
                    Masked::Null | Masked::Remove if optional => *t = None,
                    Masked::Null | Masked::Remove => v.clear(),
                    Masked::Keep => {}
                }
            }
        }
        // Values nulled by a transform become nulls in the definition levels.
        let mut new_vals = Vec::with_capacity(texts.len());
        let mut it = texts.into_iter();
        if def.is_empty() {
            new_vals.extend(it.map(|t| ByteArray::from(t.unwrap_or_default().into_bytes())));
        } else {
            for d in def.iter_mut() {
                if *d == max_def {
                    match it.next().flatten() {
                        Some(s) => new_vals.push(ByteArray::from(s.into_bytes())),
                        None => *d = max_def - 1,
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
