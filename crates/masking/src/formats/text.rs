//! Plain text: detected values (or, unmasking, surrogates) are transformed in place, line by
//! line. A line longer than [`STEP`] + [`CONTEXT`] bytes is masked in steps with context on
//! both sides, so memory stays bounded whatever the line length (a 120 MB line of minified
//! JSON took 2.6 GB when masked whole).

use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::MaskError;
use crate::formats::Progress;
use crate::masker::Masker;

/// Bytes of a long line transformed per step.
pub const STEP: usize = 1 << 20;
/// Bytes of context read before and after a step: values (and the keywords some require)
/// that cross a step's edges are found whole when they are shorter than this.
pub const CONTEXT: usize = 64 << 10;

/// Transforms `input` to `output`.
pub fn run(
    masker: &mut Masker,
    mut input: impl BufRead,
    mut output: impl Write,
    path: &Path,
    out_path: &Path,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    if !masker.has_text_rules() {
        return Err(MaskError::Usage(format!(
            "{} is plain text but the rules have no identifiers rule (a rule with identifiers and no column)",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    let mut n = 0u64;
    // The lines of an open `-----BEGIN … PRIVATE KEY-----` block, masked as one text: the
    // discovery engine finds a private key only whole, and line by line it would stay in clear.
    let mut block = String::new();
    let mut block_first = 0u64;
    loop {
        bytes.clear();
        let complete = read_bounded(&mut input, &mut bytes, STEP + CONTEXT)
            .map_err(|e| MaskError::io(path, e))?;
        if bytes.is_empty() {
            break;
        }
        n += 1;
        if !complete {
            if !block.is_empty() {
                write_block(
                    masker,
                    &mut block,
                    block_first,
                    n - 1,
                    &mut output,
                    out_path,
                )?;
            }
            long_line(
                masker,
                &mut input,
                &mut bytes,
                n,
                &mut output,
                path,
                out_path,
            )?;
            masker.count_records(1);
            continue;
        }
        let line = std::str::from_utf8(&bytes).map_err(|_| not_utf8(path, n))?;
        if block.is_empty() && line.contains("-----BEGIN ") && !line.contains("-----END ") {
            block_first = n;
            block.push_str(line);
            continue;
        }
        if !block.is_empty() {
            block.push_str(line);
            if line.contains("-----END ") || block.len() > MAX_BLOCK {
                write_block(masker, &mut block, block_first, n, &mut output, out_path)?;
            }
            continue;
        }
        let out = masker.text(line, n)?;
        output
            .write_all(out.as_bytes())
            .map_err(|e| MaskError::io(out_path, e))?;
        masker.count_records(1);
        if n.is_multiple_of(4096) {
            progress.tick(n);
        }
    }
    if !block.is_empty() {
        write_block(masker, &mut block, block_first, n, &mut output, out_path)?;
    }
    output.flush().map_err(|e| MaskError::io(out_path, e))?;
    Ok(())
}

fn not_utf8(path: &Path, record: u64) -> MaskError {
    MaskError::Input {
        path: path.to_owned(),
        record,
        message: "the line is not valid UTF-8".into(),
    }
}

/// Appends to `buf` up to and including the next newline, reading at most until `buf` holds
/// `max` bytes. `true` when the line is complete (its newline read, or the end of the input).
fn read_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    loop {
        let room = max.saturating_sub(buf.len());
        if room == 0 {
            return Ok(false);
        }
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let take = available.len().min(room);
        let chunk = available.get(..take).unwrap_or(&[]);
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                buf.extend_from_slice(chunk.get(..=i).unwrap_or(&[]));
                input.consume(i + 1);
                return Ok(true);
            }
            None => {
                buf.extend_from_slice(chunk);
                input.consume(take);
            }
        }
    }
}

/// The largest character boundary of `text` at or below `at`.
fn char_floor(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Masks a line longer than `STEP + CONTEXT` bytes, of which `bytes` holds the start, in steps
/// of [`STEP`] with [`CONTEXT`] bytes of context on both sides.
fn long_line(
    masker: &mut Masker,
    input: &mut impl BufRead,
    bytes: &mut Vec<u8>,
    record: u64,
    output: &mut impl Write,
    path: &Path,
    out_path: &Path,
) -> Result<(), MaskError> {
    // `bytes[..from]` is context already written; the line goes on while `!complete`.
    let mut from = 0usize;
    let mut complete = false;
    loop {
        // Only whole characters are masked; a character cut by the read waits for the next.
        let valid = match std::str::from_utf8(bytes) {
            Ok(t) => t.len(),
            Err(e) if e.error_len().is_none() && !complete => e.valid_up_to(),
            Err(_) => return Err(not_utf8(path, record)),
        };
        let text = std::str::from_utf8(bytes.get(..valid).unwrap_or(&[]))
            .map_err(|_| not_utf8(path, record))?;
        let limit = if complete {
            text.len()
        } else {
            char_floor(text, from + STEP).max(from)
        };
        let (out, consumed) = masker.text_window(text, record, from, limit)?;
        output
            .write_all(out.as_bytes())
            .map_err(|e| MaskError::io(out_path, e))?;
        if complete && consumed >= text.len() {
            return Ok(());
        }
        // Keep CONTEXT bytes before the next step, drop the rest.
        let keep_from = char_floor(text, consumed.saturating_sub(CONTEXT));
        bytes.drain(..keep_from);
        from = consumed - keep_from;
        if !complete {
            complete = read_bounded(input, bytes, from + STEP + CONTEXT)
                .map_err(|e| MaskError::io(path, e))?;
        }
    }
}

/// The longest `-----BEGIN` block masked as one text (an RSA-16384 key in PEM is ~13 KiB): a
/// BEGIN line without an END does not make memory grow with the file.
const MAX_BLOCK: usize = 64 << 10;

/// Masks the lines `first..=last` held in `block` as one text, and empties it.
fn write_block(
    masker: &mut Masker,
    block: &mut String,
    first: u64,
    last: u64,
    output: &mut impl Write,
    out_path: &Path,
) -> Result<(), MaskError> {
    let out = masker.text(block, first)?;
    output
        .write_all(out.as_bytes())
        .map_err(|e| MaskError::io(out_path, e))?;
    masker.count_records(last + 1 - first);
    block.clear();
    Ok(())
}
