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

fn row_starts(data: &[u8]) -> Vec<usize> {
    let mut rows = vec![0];
    let mut quoted = false;
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted && i + 1 < data.len() => rows.push(i + 1),
            _ => {}
        }
    }
    rows
}

/// Cells of one row: (start, end) byte offsets, quotes included.
fn row_cells(data: &[u8], start: usize, delim: u8) -> Vec<(usize, usize)> {
    let mut cells = Vec::new();
    let mut quoted = false;
    let mut cell_start = start;
    let mut i = start;
    while let Some(&b) = data.get(i) {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == delim {
            cells.push((cell_start, i));
            cell_start = i + 1;
        } else if !quoted && b == b'\n' {
            break;
        }
        i += 1;
    }
    let mut end = i;
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
        let rows = row_starts(data);
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

/// Scans a delimited buffer.
pub fn scan(engine: &Engine, scanner: &mut Scanner<'_>, data: &[u8], delim: u8) -> Vec<Located> {
    let table = Table::new(engine, data, delim);
    let ctx = Ctx {
        table: &table,
        data,
    };
    let mut dets = Vec::new();
    scanner.scan(data, Some(&ctx), &mut dets);
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
                detection: d,
                value: None,
            }
        })
        .collect()
}
