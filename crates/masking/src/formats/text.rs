//! Plain text: detected values (or, unmasking, surrogates) are transformed in place, line by
//! line, so memory stays bounded by the longest line.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::MaskError;
use crate::formats::Progress;
use crate::masker::Masker;

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
    let mut line = String::new();
    let mut n = 0u64;
    // The lines of an open `-----BEGIN … PRIVATE KEY-----` block, masked as one text: the
    // discovery engine finds a private key only whole, and line by line it would stay in clear.
    let mut block = String::new();
    let mut block_first = 0u64;
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| MaskError::io(path, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        if block.is_empty() && line.contains("-----BEGIN ") && !line.contains("-----END ") {
            block_first = n;
            block.push_str(&line);
            continue;
        }
        if !block.is_empty() {
            block.push_str(&line);
            if line.contains("-----END ") || block.len() > MAX_BLOCK {
                write_block(masker, &mut block, block_first, n, &mut output, out_path)?;
            }
            continue;
        }
        let out = masker.text(&line, n)?;
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
