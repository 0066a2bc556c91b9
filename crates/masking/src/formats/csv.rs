//! CSV and TSV: a header row, then records; masked columns are rewritten in batches.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::MaskError;
use crate::formats::{BATCH, Options, Progress};
use crate::masker::Masker;
use crate::transform::Masked;

/// Transforms `input` to `output` (`path` names the input in errors).
pub fn run(
    masker: &mut Masker,
    input: impl Read,
    output: impl Write,
    delimiter: u8,
    path: &Path,
    opts: Options,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(output);
    let input_err = |record: u64, e: ::csv::Error| MaskError::Input {
        path: path.to_owned(),
        record,
        message: e.to_string(),
    };
    let headers = reader.headers().map_err(|e| input_err(1, e))?.clone();
    let index = |name: &str| headers.iter().position(|h| h == name);
    let order = masker.field_order();
    // Column of each rule in `order`, and of its date-shift entity.
    let mut plan: Vec<(usize, usize, Option<usize>)> = Vec::new();
    for &ri in &order {
        let Some(rule) = masker.rules().get(ri) else {
            continue;
        };
        let Some(field) = &rule.field else { continue };
        let col = match field.column_name().as_deref().and_then(index) {
            Some(c) => c,
            None if opts.strict_fields => {
                return Err(MaskError::rule(
                    &rule.name,
                    format!("column {field} is not in the header of {}", path.display()),
                ));
            }
            None => continue,
        };
        let entity = match &rule.entity {
            None => None,
            Some(e) => Some(e.column_name().as_deref().and_then(index).ok_or_else(|| {
                MaskError::rule(
                    &rule.name,
                    format!(
                        "entity column {e} is not in the header of {}",
                        path.display()
                    ),
                )
            })?),
        };
        plan.push((ri, col, entity));
    }
    writer
        .write_record(&headers)
        .map_err(|e| MaskError::io(path, std::io::Error::other(e)))?;

    let ncols = headers.len();
    // Records are reused across batches so that reading allocates only while buffers grow.
    let mut batch: Vec<::csv::StringRecord> = Vec::with_capacity(BATCH);
    let mut filled;
    let mut first_record = 2u64; // line numbers: the header is record 1
    let mut done = false;
    while !done {
        filled = 0usize;
        while filled < BATCH {
            if batch.len() == filled {
                batch.push(::csv::StringRecord::new());
            }
            let Some(rec) = batch.get_mut(filled) else {
                break;
            };
            match reader.read_record(rec) {
                Ok(true) => filled += 1,
                Ok(false) => {
                    done = true;
                    break;
                }
                Err(e) => return Err(input_err(first_record + filled as u64, e)),
            }
        }
        let rows = batch.get(..filled).unwrap_or(&[]);
        if rows.is_empty() {
            break;
        }
        // Current values of the touched columns; untouched values stay borrowed.
        let mut columns: Vec<Option<Vec<Cow<'_, str>>>> = vec![None; ncols];
        for &(ri, col, entity) in &plan {
            let entities: Option<Vec<String>> =
                entity.map(|ec| match columns.get(ec).and_then(Option::as_ref) {
                    Some(v) => v.iter().map(|c| c.to_string()).collect(),
                    None => rows
                        .iter()
                        .map(|r| r.get(ec).unwrap_or("").to_owned())
                        .collect(),
                });
            let slot = columns
                .get_mut(col)
                .ok_or_else(|| MaskError::rule("csv", "column out of range"))?;
            let values = slot.get_or_insert_with(|| {
                rows.iter()
                    .map(|r| Cow::Borrowed(r.get(col).unwrap_or("")))
                    .collect()
            });
            let is_shuffle = masker
                .rules()
                .get(ri)
                .is_some_and(|r| r.transform.is_shuffle());
            if is_shuffle {
                masker.shuffle(ri, values);
                continue;
            }
            for (row, v) in values.iter_mut().enumerate() {
                if v.is_empty() {
                    masker.note_empty(ri);
                    continue;
                }
                let ent = entities
                    .as_ref()
                    .and_then(|e| e.get(row))
                    .map(String::as_str);
                match masker.value(ri, v, ent, first_record + row as u64)? {
                    Masked::Value(s) => *v = Cow::Owned(s),
                    Masked::Null | Masked::Remove => *v = Cow::Borrowed(""),
                    Masked::Keep => {}
                }
            }
        }
        for (row, rec) in rows.iter().enumerate() {
            let fields = rec.iter().enumerate().map(|(c, orig)| {
                match columns
                    .get(c)
                    .and_then(Option::as_ref)
                    .and_then(|v| v.get(row))
                {
                    Some(new) => new.as_ref(),
                    None => orig,
                }
            });
            writer
                .write_record(fields)
                .map_err(|e| MaskError::io(path, std::io::Error::other(e)))?;
        }
        let n = filled as u64;
        masker.count_records(n);
        first_record += n;
        progress.tick(first_record - 2);
    }
    writer.flush().map_err(|e| MaskError::io(path, e))?;
    Ok(())
}
