//! CSV and TSV: the whole buffer is scanned once (cells are too small to scan one by one at speed),
//! then offsets are mapped to cells. A keyword in a column's header satisfies the keyword rule
//! for that column (Macie's rule for columnar data).

use crate::engine::{Engine, IdentSet, Scanner, Structure};
use crate::formats::{Located, Location};

/// Row starts of an RFC 4180 buffer (quotes may span lines), and the header cells.
#[derive(Debug)]
struct Table {
    delim: u8,
    rows: Vec<usize>,
    header: Vec<String>,
    masks: Vec<IdentSet>,
}

/// A separator found by [`next_separator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Delim,
    Newline,
}

/// The offset after a UTF-8 BOM at the start of the buffer: it is not part of the first cell.
fn content_start(data: &[u8]) -> usize {
    if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

/// Where the quoted cell that opens at `data[start]` (a `"`) ends: just past its closing quote,
/// `""` inside being an escaped quote; None when it is never closed.
pub fn quoted_end(data: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match data.get(i)? {
            b'"' if data.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The next delimiter or newline outside quotes from `i`, a cell start, and its offset. As
/// Python's csv and the csv crate read it, a quote opens a quoted cell only as the cell's first
/// byte; elsewhere (`size 5" screen`) it is literal, so it cannot swallow the rest of the file.
fn next_separator(data: &[u8], mut i: usize, delim: u8) -> Option<(usize, Sep)> {
    if data.get(i) == Some(&b'"') {
        i = quoted_end(data, i)?;
    }
    loop {
        match *data.get(i)? {
            b'\n' => return Some((i, Sep::Newline)),
            b if b == delim => return Some((i, Sep::Delim)),
            _ => i += 1,
        }
    }
}

fn row_starts(data: &[u8], delim: u8) -> Vec<usize> {
    let mut rows = vec![0];
    let mut i = content_start(data);
    while let Some((at, sep)) = next_separator(data, i, delim) {
        i = at + 1;
        if sep == Sep::Newline && i < data.len() {
            rows.push(i);
        }
    }
    rows
}

/// Cells of one row: (start, end) byte offsets, quotes included.
fn row_cells(data: &[u8], start: usize, delim: u8) -> Vec<(usize, usize)> {
    let mut cells = Vec::new();
    let mut cell_start = if start == 0 {
        content_start(data)
    } else {
        start
    };
    let end = loop {
        match next_separator(data, cell_start, delim) {
            Some((at, Sep::Delim)) => {
                cells.push((cell_start, at));
                cell_start = at + 1;
            }
            Some((at, Sep::Newline)) => break at,
            None => break data.len(),
        }
    };
    let mut end = end;
    if end > cell_start && data.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    cells.push((cell_start, end));
    cells
}

fn unquote(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let t = s.trim();
    match t.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => t.to_owned(),
    }
}

impl Table {
    fn new(engine: &Engine, data: &[u8], delim: u8) -> Table {
        let rows = row_starts(data, delim);
        let header: Vec<String> = row_cells(data, 0, delim)
            .iter()
            .map(|&(s, e)| unquote(data.get(s..e).unwrap_or(&[])))
            .collect();
        let masks = header
            .iter()
            .map(|h| engine.keywords_in_names(&[h.as_str()]))
            .collect();
        Table {
            delim,
            rows,
            header,
            masks,
        }
    }

    /// (0-based row, 0-based column) of an offset.
    fn cell_of(&self, data: &[u8], offset: usize) -> (usize, usize) {
        let row = self
            .rows
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.rows.get(row).copied().unwrap_or(0);
        let col = row_cells(data, start, self.delim)
            .iter()
            .position(|&(_, e)| offset <= e)
            .unwrap_or(0);
        (row, col)
    }
}

struct Ctx<'a> {
    table: &'a Table,
    data: &'a [u8],
}

impl Structure for Ctx<'_> {
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet> {
        let (row, col) = self.table.cell_of(self.data, offset);
        // The header row's own cells are names, not values.
        if row == 0 {
            return None;
        }
        self.table.masks.get(col)
    }

    fn has_keywords(&self) -> bool {
        self.table.masks.iter().any(|m| !m.is_empty())
    }
}

/// The delimiter of a `.csv` file, from its header line: `,`, or `;` (what spreadsheets write
/// where the comma is the decimal separator) or a tab when the header holds more of those than
/// of commas. Quoted header cells are skipped over.
pub fn sniff_delimiter(data: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut i = content_start(data);
    // A header is short; this bounds the sniffing of a file with no newline at all.
    let end = data.len().min(i + (64 << 10));
    while i < end {
        match data.get(i) {
            Some(b'"') => match quoted_end(data, i) {
                Some(after) => i = after,
                None => break,
            },
            Some(b'\n') | None => break,
            Some(&b) => {
                if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                    c.1 += 1;
                }
                i += 1;
            }
        }
    }
    // The first of the most frequent: a comma wins ties.
    let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
    counts
        .iter()
        .find(|c| c.1 == best && best > 0)
        .map_or(b',', |c| c.0)
}

/// Scans a delimited buffer.
pub fn scan(engine: &Engine, scanner: &mut Scanner<'_>, data: &[u8], delim: u8) -> Vec<Located> {
    let table = Table::new(engine, data, delim);
    let ctx = Ctx {
        table: &table,
        data,
    };
    let mut dets = Vec::new();
    scanner.scan(data, Some(&ctx), &mut dets);
    let mut lines = crate::formats::text::LineMap::new(data);
    dets.into_iter()
        .map(|d| {
            let (row, col) = table.cell_of(data, d.start);
            Located {
                location: Location::Cell {
                    row: row as u64 + 1,
                    column: col as u64 + 1,
                    column_name: table.header.get(col).cloned().unwrap_or_default(),
                },
                offset: Some(d.start as u64),
                line: lines.line_of(&d),
                detection: d,
                value: None,
            }
        })
        .collect()
}
