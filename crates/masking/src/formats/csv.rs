//! CSV and TSV: a header row, then records; masked columns are rewritten in batches.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;

use crate::error::MaskError;
use crate::formats::{BATCH, Options, Progress};
use crate::masker::Masker;
use crate::transform::Masked;

/// Transforms `input` to `output` (`path` names the input in errors). Rows are written from
/// the bytes they were read from, so the BOM, line terminators and quoting of every cell no
/// rule changed stay as they were (a quoted empty `""` is not a NULL to PostgreSQL's COPY,
/// a bare empty cell is).
pub fn run(
    masker: &mut Masker,
    input: impl Read,
    mut output: impl Write,
    delimiter: u8,
    path: &Path,
    opts: Options,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        // A short or long row is masked for the columns it has (and written back with the
        // fields it had): refusing the file would leave a whole export unmasked for one row.
        .flexible(true)
        .from_reader(Tee {
            inner: input,
            seen: Rc::clone(&seen),
        });
    let input_err = |record: u64, e: ::csv::Error| MaskError::Input {
        path: path.to_owned(),
        record,
        message: parse_error_message(&e),
    };
    let headers = reader.headers().map_err(|e| input_err(1, e))?.clone();
    {
        // Checked first: a header with an unclosed quote swallowed the whole file.
        let buf = seen.borrow();
        let end = usize::try_from(reader.position().byte())
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let header = buf.get(..end).unwrap_or(&[]);
        if ends_in_quotes(
            header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header),
            delimiter,
        ) {
            return Err(unclosed_quote(path, 1));
        }
    }
    let index = |name: &str| headers.iter().position(|h| opts.same_column(h, name));
    // Every column of a rule's name: a header may repeat a name, and each copy holds data.
    let columns_named = |name: &str| -> Vec<usize> {
        headers
            .iter()
            .enumerate()
            .filter(|(_, h)| opts.same_column(h, name))
            .map(|(i, _)| i)
            .collect()
    };
    let order = masker.field_order();
    // Column of each rule in `order`, and of its date-shift entity.
    let mut plan: Vec<(usize, usize, Option<usize>)> = Vec::new();
    for &ri in &order {
        let Some(rule) = masker.rules().get(ri) else {
            continue;
        };
        let Some(field) = &rule.field else { continue };
        let cols = field
            .column_name()
            .as_deref()
            .map(columns_named)
            .unwrap_or_default();
        if cols.is_empty() {
            if opts.strict_fields {
                return Err(MaskError::rule(
                    &rule.name,
                    format!("column {field} is not in the header of {}", path.display()),
                ));
            }
            continue;
        }
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
        plan.extend(cols.into_iter().map(|col| (ri, col, entity)));
    }
    let header_end = reader.position().byte();
    {
        let mut buf = seen.borrow_mut();
        let end = usize::try_from(header_end)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        output
            .write_all(buf.get(..end).unwrap_or(&[]))
            .map_err(|e| MaskError::io(path, e))?;
        buf.drain(..end);
    }
    // Absolute offset of `seen[0]`: the bytes of rows already written are dropped.
    let mut base = header_end;

    let ncols = headers.len();
    // Records are reused across batches so that reading allocates only while buffers grow.
    let mut batch: Vec<::csv::StringRecord> = Vec::with_capacity(BATCH);
    // Where each record of the batch ends in the input (its terminator included).
    let mut ends: Vec<u64> = Vec::with_capacity(BATCH);
    let mut filled;
    let mut first_record = 2u64; // line numbers: the header is record 1
    let mut done = false;
    while !done {
        filled = 0usize;
        ends.clear();
        while filled < BATCH {
            if batch.len() == filled {
                batch.push(::csv::StringRecord::new());
            }
            let Some(rec) = batch.get_mut(filled) else {
                break;
            };
            match reader.read_record(rec) {
                Ok(true) => {
                    filled += 1;
                    ends.push(reader.position().byte());
                }
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
        // Cells nulled or removed: written bare, never as a quoted empty string.
        let mut nulls = std::collections::HashSet::new();
        // Cells past the header's columns (a long row) are read by text rules too.
        let width = rows.iter().map(::csv::StringRecord::len).max().unwrap_or(0);
        if columns.len() < width {
            columns.resize(width, None);
        }
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
                    Masked::Null | Masked::Remove => {
                        *v = Cow::Borrowed("");
                        nulls.insert((col, row));
                    }
                    Masked::Keep => {}
                }
            }
        }
        if masker.has_text_rules() {
            // Free-text rules (identifiers without a column) read every cell, as scan does,
            // after the column rules; the column's name counts for keywords as in scan.
            for (col, slot) in columns.iter_mut().enumerate() {
                let name = headers.get(col);
                let names: Vec<&str> = name.into_iter().collect();
                let values = slot.get_or_insert_with(|| {
                    rows.iter()
                        .map(|r| Cow::Borrowed(r.get(col).unwrap_or("")))
                        .collect()
                });
                for (row, v) in values.iter_mut().enumerate() {
                    if v.is_empty() || nulls.contains(&(col, row)) {
                        continue;
                    }
                    let out = masker.text_in(v, first_record + row as u64, &names)?;
                    if out != v.as_ref() {
                        *v = Cow::Owned(out);
                    }
                }
            }
        }
        let buf = seen.borrow();
        let mut start = base;
        let mut line = Vec::new();
        for (row, rec) in rows.iter().enumerate() {
            let end = ends.get(row).copied().unwrap_or(start);
            let at = |o: u64| usize::try_from(o.saturating_sub(base)).unwrap_or(usize::MAX);
            let raw = buf.get(at(start)..at(end)).unwrap_or(&[]);
            start = end;
            // Checked before the row is written: its unclosed quote swallowed every later row.
            if ends_in_quotes(raw, delimiter) {
                return Err(unclosed_quote(path, first_record + row as u64));
            }
            let changed: Vec<Option<Cell>> = (0..rec.len())
                .map(|c| {
                    if nulls.contains(&(c, row)) {
                        return Some(Cell::Null);
                    }
                    let new = columns.get(c).and_then(Option::as_ref)?.get(row)?;
                    (Some(new.as_ref()) != rec.get(c)).then_some(Cell::Value(new.as_ref()))
                })
                .collect();
            line.clear();
            frame_row(raw, rec, &changed, delimiter, &mut line);
            output
                .write_all(&line)
                .map_err(|e| MaskError::io(path, e))?;
        }
        drop(buf);
        let mut buf = seen.borrow_mut();
        let used = usize::try_from(start.saturating_sub(base))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        buf.drain(..used);
        base = start;
        drop(buf);
        let n = filled as u64;
        masker.count_records(n);
        first_record += n;
        progress.tick(first_record - 2);
    }
    // The reader ends a CRLF row at its `\r`; the last row's `\n` is still unwritten.
    let tail = seen.borrow();
    if tail.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        output
            .write_all(&tail)
            .map_err(|e| MaskError::io(path, e))?;
    }
    output.flush().map_err(|e| MaskError::io(path, e))?;
    Ok(())
}

/// The error for a record whose quoted field is never closed.
fn unclosed_quote(path: &Path, record: u64) -> MaskError {
    MaskError::Input {
        path: path.to_owned(),
        record,
        message: "a quoted field is not closed before the end of the file (everything after \
                  its opening quote would be one cell)"
            .into(),
    }
}

/// A parse error's message without the reader's own record and line numbers, which count
/// differently from the record number the error is reported with (the header is record 1).
fn parse_error_message(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::Utf8 { err, .. } => format!(
            "field {} is not valid UTF-8 (invalid byte at offset {} of the field)",
            err.field() + 1,
            err.valid_up_to()
        ),
        ::csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    }
}

/// Whether `raw`, a row's text as the reader consumed it, ends inside a quoted field. The
/// reader takes a quote that is never closed to run to the end of the file without an error,
/// so the rest of the file would be one cell no column rule reads: the file is refused. The
/// states follow the reader's: a quote opens a field only at its start, `""` inside quotes is
/// a quote, and after the closing quote the field continues unquoted.
fn ends_in_quotes(raw: &[u8], delimiter: u8) -> bool {
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum State {
        Start,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let ends_field = |b: u8| b == delimiter || b == b'\n' || b == b'\r';
    let mut state = State::Start;
    for &b in raw {
        state = match state {
            State::Start if b == b'"' => State::Quoted,
            State::Start | State::Unquoted | State::QuoteInQuoted if ends_field(b) => State::Start,
            State::Start | State::Unquoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::QuoteInQuoted => State::Unquoted,
        };
    }
    state == State::Quoted
}

/// A changed cell.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Value(&'a str),
    /// Nulled or removed: an empty cell that is not quoted.
    Null,
}

/// Keeps a copy of what the CSV reader reads, so that rows can be written from their bytes.
struct Tee<R> {
    inner: R,
    seen: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen
            .borrow_mut()
            .extend_from_slice(buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }
}

/// Writes one row: `raw` is its text as read (with any blank lines before it and its
/// terminator), `changed` the new value of each cell a rule changed. Unchanged cells keep
/// their bytes, changed ones keep their quoting when they had it. When `raw` does not split
/// into the cells the reader found, the row is written from the values alone.
fn frame_row(
    raw: &[u8],
    rec: &::csv::StringRecord,
    changed: &[Option<Cell<'_>>],
    delimiter: u8,
    out: &mut Vec<u8>,
) {
    let body_start = raw
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(raw.len());
    let (prefix, rest) = raw.split_at(body_start);
    let term_len = if rest.ends_with(b"\r\n") {
        2
    } else if rest.ends_with(b"\n") || rest.ends_with(b"\r") {
        1
    } else {
        0
    };
    let (body, terminator) = rest.split_at(rest.len().saturating_sub(term_len));
    if changed.iter().all(Option::is_none) && split_cells(body, delimiter).is_some() {
        out.extend_from_slice(raw);
        return;
    }
    out.extend_from_slice(prefix);
    let cells = split_cells(body, delimiter)
        .filter(|cells| cells.len() == rec.len())
        .filter(|cells| {
            cells
                .iter()
                .zip(rec.iter())
                .all(|(cell, value)| unquote(cell) == value.as_bytes())
        });
    for (c, value) in rec.iter().enumerate() {
        if c > 0 {
            out.push(delimiter);
        }
        let cell = cells.as_ref().and_then(|cells| cells.get(c).copied());
        let was_quoted = cell.is_some_and(|cell| cell.first() == Some(&b'"'));
        match (changed.get(c).copied().flatten(), cell) {
            (None, Some(cell)) => out.extend_from_slice(cell),
            (None, None) => write_cell(value, was_quoted, delimiter, rec.len(), out),
            (Some(Cell::Value(new)), _) => write_cell(new, was_quoted, delimiter, rec.len(), out),
            (Some(Cell::Null), _) => write_cell("", false, delimiter, rec.len(), out),
        }
    }
    out.extend_from_slice(terminator);
}

/// Splits a row's text into its cells as written (quotes included); `None` when it is not
/// plain RFC 4180 (then the row is written from its values).
fn split_cells(body: &[u8], delimiter: u8) -> Option<Vec<&[u8]>> {
    let mut cells = Vec::new();
    let mut i = 0usize;
    loop {
        let start = i;
        if body.get(i) == Some(&b'"') {
            i = palisade_discovery::formats::csv::quoted_end(body, i)?;
        }
        // A quote past a cell's start is literal, as the reader takes it.
        while body.get(i).is_some_and(|b| *b != delimiter) {
            i += 1;
        }
        cells.push(body.get(start..i)?);
        if i >= body.len() {
            return Some(cells);
        }
        i += 1;
    }
}

/// A cell's value: quotes removed and `""` undoubled when it is quoted.
fn unquote(cell: &[u8]) -> Cow<'_, [u8]> {
    match cell.strip_prefix(b"\"").and_then(|c| c.strip_suffix(b"\"")) {
        Some(inner) if !inner.contains(&b'"') => Cow::Borrowed(inner),
        Some(inner) => {
            let mut out = Vec::with_capacity(inner.len());
            let mut prev_quote = false;
            for &b in inner {
                if b == b'"' && prev_quote {
                    prev_quote = false;
                    continue;
                }
                prev_quote = b == b'"';
                out.push(b);
            }
            Cow::Owned(out)
        }
        None => Cow::Borrowed(cell),
    }
}

/// Writes a new cell value, quoted when it was quoted or when it must be. A quote past the
/// start is literal, as readers take it (bug: `5" pipe` came back from unmask as
/// `"5"" pipe"`, which a TSV reader without CSV quoting reads as another value).
fn write_cell(value: &str, was_quoted: bool, delimiter: u8, ncols: usize, out: &mut Vec<u8>) {
    let must = value.starts_with('"')
        || value
            .bytes()
            .any(|b| b == delimiter || matches!(b, b'\r' | b'\n'))
        // A row of one empty cell would be a blank line, which readers skip.
        || (ncols == 1 && value.is_empty());
    if !(was_quoted || must) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'"');
    for b in value.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}
