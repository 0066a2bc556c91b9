//! Plain text: one pass, then offsets mapped to lines and columns.

use crate::engine::{Detection, Scanner};
use crate::formats::{Located, Location};

/// Maps sorted byte offsets to 1-based (line, column in characters) incrementally.
#[derive(Debug)]
pub struct LineMap<'a> {
    data: &'a [u8],
    cursor: usize,
    line: u64,
    line_start: usize,
}

impl<'a> LineMap<'a> {
    /// Starts at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        LineMap {
            data,
            cursor: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn advance(&mut self, to: usize) {
        let to = to.min(self.data.len());
        if to < self.cursor {
            // Offsets went backwards (overlapping structured spans): start over.
            *self = LineMap::new(self.data);
        }
        let seg = self.data.get(self.cursor..to).unwrap_or(&[]);
        for nl in memchr::memchr_iter(b'\n', seg) {
            self.line += 1;
            self.line_start = self.cursor + nl + 1;
        }
        self.cursor = to;
    }

    /// Line and column of a detection, and its last line.
    pub fn locate(&mut self, d: &Detection) -> Location {
        self.advance(d.start);
        let (line, line_start) = (self.line, self.line_start);
        let column = self
            .data
            .get(line_start..d.start)
            .unwrap_or(&[])
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u64
            + 1;
        let inner = self.data.get(d.start..d.end).unwrap_or(&[]);
        let end = line + memchr::memchr_iter(b'\n', inner).count() as u64;
        Location::Line {
            start: line,
            end,
            start_column: column,
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
        })
        .collect()
}
