//! Plain text: one pass, then offsets mapped to lines and columns.

use std::io::Read;

use crate::engine::{Detection, Scanner};
use crate::formats::{Located, Location};

/// Line and column of the position just past the bytes fed so far, counted incrementally so
/// that a stream can be located chunk by chunk.
#[derive(Debug, Clone, Copy)]
struct LineCounter {
    /// 1-based line.
    line: u64,
    /// Characters since the line's start.
    column: u64,
    /// Continuation bytes still expected by a UTF-8 sequence the last segment ended inside.
    pending: u8,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter {
            line: 1,
            column: 0,
            pending: 0,
        }
    }
}

/// Characters in valid UTF-8: bytes that are not continuation bytes (a count that vectorizes).
fn utf8_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

impl LineCounter {
    /// Counts the characters of `seg` as a lossy UTF-8 decoder sees them: a valid sequence is
    /// one, and so is each byte that is not part of one (bug: Latin-1 bytes 0x80–0xBF were
    /// taken for continuation bytes and not counted, so columns of Latin-1 text came short).
    /// A sequence may be split between segments (stream chunks).
    fn chars(&mut self, seg: &[u8]) -> u64 {
        let mut i = 0;
        while self.pending > 0 {
            match seg.get(i) {
                Some(b) if b & 0xC0 == 0x80 => {
                    self.pending -= 1;
                    i += 1;
                }
                Some(_) => self.pending = 0,
                None => return 0,
            }
        }
        let rest = seg.get(i..).unwrap_or_default();
        // Most text is ASCII: one byte, one character, without the decoder's cost (which was 5%
        // of a PII-dense scan, where a column is counted for every detection).
        if rest.is_ascii() {
            return rest.len() as u64;
        }
        let Err(e) = std::str::from_utf8(rest) else {
            return utf8_chars(rest);
        };
        let (valid, bad) = rest.split_at(e.valid_up_to());
        let mut n = utf8_chars(valid);
        for &b in bad {
            if self.pending > 0 && b & 0xC0 == 0x80 {
                self.pending -= 1;
                continue;
            }
            n += 1;
            self.pending = match b {
                0xC2..=0xDF => 1,
                0xE0..=0xEF => 2,
                0xF0..=0xF4 => 3,
                _ => 0,
            };
        }
        n
    }

    /// Moves past `seg`.
    fn feed(&mut self, seg: &[u8]) {
        match memchr::memrchr(b'\n', seg) {
            Some(last) => {
                let head = seg.get(..last).unwrap_or(&[]);
                self.line += 1 + memchr::memchr_iter(b'\n', head).count() as u64;
                // A newline ends any sequence.
                self.pending = 0;
                self.column = self.chars(seg.get(last + 1..).unwrap_or(&[]));
            }
            None => self.column += self.chars(seg),
        }
    }

    /// The location of `value`, which starts at the current position.
    fn locate(&self, value: &[u8]) -> Location {
        Location::Line {
            start: self.line,
            end: self.line + memchr::memchr_iter(b'\n', value).count() as u64,
            start_column: self.column + 1,
        }
    }
}

/// 1-based line and column of byte `at` of `data`, for an error message: counted as
/// detections' columns are, so that an error and a detection at one byte name one column.
pub(crate) fn line_column(data: &[u8], at: usize) -> (u64, u64) {
    let mut c = LineCounter::default();
    c.feed(data.get(..at).unwrap_or(data));
    (c.line, c.column + 1)
}

/// Maps sorted byte offsets to 1-based (line, column in characters) incrementally.
#[derive(Debug)]
pub struct LineMap<'a> {
    data: &'a [u8],
    cursor: usize,
    at: LineCounter,
}

impl<'a> LineMap<'a> {
    /// Starts at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        LineMap {
            data,
            cursor: 0,
            at: LineCounter::default(),
        }
    }

    /// Line and column of a detection, and its last line.
    pub fn locate(&mut self, d: &Detection) -> Location {
        let to = d.start.min(self.data.len());
        if to < self.cursor {
            // Offsets went backwards (overlapping structured spans): start over.
            *self = LineMap::new(self.data);
        }
        self.at.feed(self.data.get(self.cursor..to).unwrap_or(&[]));
        self.cursor = to;
        self.at.locate(self.data.get(d.start..d.end).unwrap_or(&[]))
    }

    /// The line a detection starts on.
    pub fn line_of(&mut self, d: &Detection) -> Option<u64> {
        match self.locate(d) {
            Location::Line { start, .. } => Some(start),
            _ => None,
        }
    }
}

/// Scans text.
pub fn scan(scanner: &mut Scanner<'_>, data: &[u8]) -> Vec<Located> {
    let mut dets = Vec::new();
    scanner.scan(data, None, &mut dets);
    let mut map = LineMap::new(data);
    dets.into_iter()
        .map(|d| Located {
            location: map.locate(&d),
            offset: Some(d.start as u64),
            detection: d,
            value: None,
            line: None,
        })
        .collect()
}

/// Scans text from a reader in chunks (bounded memory for any file size), with the same
/// detections and locations as `scan` over the whole text. Matched values are kept when
/// `reveal` is set.
pub fn scan_stream<R: Read>(
    scanner: &mut Scanner<'_>,
    r: R,
    reveal: bool,
) -> std::io::Result<Vec<Located>> {
    let mut out = Vec::new();
    scan_stream_batches(scanner, r, reveal, |batch| out.append(batch))?;
    Ok(out)
}

/// Detections handed on at once by `scan_stream_batches`.
pub const BATCH: usize = 4096;

/// `scan_stream`, handing the detections to `emit` in order, in batches of at most [`BATCH`],
/// as they are found: memory stays bounded however many a file holds (a PII-dense file has one
/// every few dozen bytes, and collecting them cost a tenth of the scan in page faults). `emit`
/// gets a batch to take from; what it leaves is discarded.
pub fn scan_stream_batches<R: Read>(
    scanner: &mut Scanner<'_>,
    r: R,
    reveal: bool,
    mut emit: impl FnMut(&mut Vec<Located>),
) -> std::io::Result<()> {
    let mut batch = Vec::new();
    let mut at = LineCounter::default();
    let read = scanner.scan_stream(r, |chunk| {
        // Chunk-relative position the counter has reached.
        let mut pos = 0usize;
        for d in chunk.found {
            at.feed(chunk.bytes.get(pos..d.start).unwrap_or(&[]));
            pos = d.start;
            let value = chunk.bytes.get(d.start..d.end).unwrap_or(&[]);
            batch.push(Located {
                location: at.locate(value),
                offset: Some((chunk.base + d.start) as u64),
                detection: Detection {
                    start: chunk.base + d.start,
                    end: chunk.base + d.end,
                    ..*d
                },
                value: reveal.then(|| String::from_utf8_lossy(value).into_owned()),
                line: None,
            });
            if batch.len() >= BATCH {
                emit(&mut batch);
                batch.clear();
            }
        }
        at.feed(chunk.bytes.get(pos..chunk.done).unwrap_or(&[]));
    });
    // After a read error too: what was found before it is reported, as a partial result.
    if !batch.is_empty() {
        emit(&mut batch);
    }
    read
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::LineCounter;

    fn column(parts: &[&[u8]]) -> u64 {
        let mut c = LineCounter::default();
        for p in parts {
            c.feed(p);
        }
        c.column + 1
    }

    #[test]
    fn start_column_counts_latin1_and_invalid_bytes_as_one_character_each() {
        // Latin-1: `Pr\xe9nom \xa3\xb0\xb0 email: ` is 18 characters.
        assert_eq!(column(&[b"Pr\xe9nom \xa3\xb0\xb0 email: "]), 19);
        assert_eq!(column(&[b"\x80\x80x"]), 4);
        // Valid UTF-8, whole or split between segments anywhere: one per character.
        let s = "h\u{e9}llo \u{20ac}\u{1f600} ".as_bytes();
        assert_eq!(column(&[s]), 10);
        for cut in 0..=s.len() {
            let (a, b) = s.split_at(cut);
            assert_eq!(column(&[a, b]), 10, "{cut}");
        }
        // A truncated sequence is one character, as a lossy decoder shows it.
        assert_eq!(column(&[b"\xe2\x82A"]), 3);
        assert_eq!(column(&[b"x\n\xe2", b"\x82\x82"]), 2);
    }
}
