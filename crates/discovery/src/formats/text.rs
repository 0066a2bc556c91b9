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
    /// Characters (UTF-8 lead bytes) since the line's start.
    column: u64,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter { line: 1, column: 0 }
    }
}

/// Characters in `b`: bytes that are not UTF-8 continuation bytes.
fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

impl LineCounter {
    /// Moves past `seg`.
    fn feed(&mut self, seg: &[u8]) {
        match memchr::memrchr(b'\n', seg) {
            Some(last) => {
                let head = seg.get(..last).unwrap_or(&[]);
                self.line += 1 + memchr::memchr_iter(b'\n', head).count() as u64;
                self.column = chars(seg.get(last + 1..).unwrap_or(&[]));
            }
            None => self.column += chars(seg),
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
    scanner.scan_stream(r, |chunk| {
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
    })?;
    if !batch.is_empty() {
        emit(&mut batch);
    }
    Ok(())
}
