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
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| MaskError::io(path, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        let out = masker.text(&line, n)?;
        output
            .write_all(out.as_bytes())
            .map_err(|e| MaskError::io(out_path, e))?;
        masker.count_records(1);
        if n.is_multiple_of(4096) {
            progress.tick(n);
        }
    }
    output.flush().map_err(|e| MaskError::io(out_path, e))?;
    Ok(())
}
