//! CSV and TSV: the whole buffer is scanned once (cells are too small to scan one by one at speed),
//! then offsets are mapped to cells. A keyword in a column's header satisfies the keyword rule
//! for that column (Macie's rule for columnar data).

use crate::engine::{Engine, IdentSet, Scanner, Structure};
use crate::formats::{Located, Location, Skip};

/// Row starts of an RFC 4180 buffer (quotes may span lines), where each cell ends, and the
/// header cells.
#[derive(Debug)]
struct Table {
    rows: Vec<usize>,
    /// Index into `ends` of each row's first cell.
    first_cell: Vec<usize>,
    /// Offset of the separator after each cell (or the buffer's end), row after row: computed
    /// once, so that locating a detection is a binary search (bug: the row was split again per
    /// detection and per keyword candidate, quadratic in a long cell or a wide row).
    ends: Vec<usize>,
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

/// Where a quoted cell that is never closed opens: such a cell runs to the end of the file,
/// turning every row after it into one value.
fn unclosed_quote(data: &[u8], delim: u8) -> Option<usize> {
    let mut i = content_start(data);
    loop {
        match next_separator(data, i, delim) {
            Some((at, _)) => i = at + 1,
            None => {
                return (data.get(i) == Some(&b'"') && quoted_end(data, i).is_none()).then_some(i);
            }
        }
    }
}

/// Row starts, each row's first cell index and the cell ends of the whole buffer (see
/// [`Table`]).
fn layout(data: &[u8], delim: u8) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (mut rows, mut first_cell, mut ends) = (vec![0], vec![0], Vec::new());
    let mut i = content_start(data);
    loop {
        match next_separator(data, i, delim) {
            Some((at, sep)) => {
                ends.push(at);
                i = at + 1;
                if sep == Sep::Newline && i < data.len() {
                    rows.push(i);
                    first_cell.push(ends.len());
                }
            }
            None => {
                if i < data.len() {
                    ends.push(data.len());
                }
                break;
            }
        }
    }
    (rows, first_cell, ends)
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
        let (rows, first_cell, ends) = layout(data, delim);
        let header: Vec<String> = row_cells(data, 0, delim)
            .iter()
            .map(|&(s, e)| unquote(data.get(s..e).unwrap_or(&[])))
            .collect();
        let masks = header
            .iter()
            .map(|h| engine.keywords_in_names(&[h.as_str()]))
            .collect();
        Table {
            rows,
            first_cell,
            ends,
            header,
            masks,
        }
    }

    /// (0-based row, 0-based column) of an offset.
    fn cell_of(&self, offset: usize) -> (usize, usize) {
        let row = self
            .rows
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let first = self.first_cell.get(row).copied().unwrap_or(0);
        let last = self
            .first_cell
            .get(row + 1)
            .copied()
            .unwrap_or(self.ends.len());
        let cells = self.ends.get(first..last).unwrap_or_default();
        let col = cells
            .partition_point(|&e| e < offset)
            .min(cells.len().saturating_sub(1));
        (row, col)
    }
}

struct Ctx<'a> {
    table: &'a Table,
}

impl Structure for Ctx<'_> {
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet> {
        let (row, col) = self.table.cell_of(offset);
        // The header row's own cells are names, not values.
        if row == 0 {
            return None;
        }
        self.table.masks.get(col)
    }

    fn has_keywords(&self) -> bool {
        self.table.masks.iter().any(|m| !m.is_empty())
    }

    fn same_value(&self, a: usize, b: usize) -> bool {
        self.table.cell_of(a) == self.table.cell_of(b)
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

/// Scans a delimited buffer; one with a quoted cell that is never closed is corrupt.
pub fn scan(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    data: &[u8],
    delim: u8,
) -> Result<Vec<Located>, Skip> {
    // Read as RFC 4180 says, the rest of the file would be one cell and every location after
    // the quote wrong (bug: reported so, silently), while `palisade mask` refuses the file.
    if let Some(at) = unclosed_quote(data, delim) {
        let (line, column) = crate::formats::text::line_column(data, at);
        return Err(Skip {
            reason: "INVALID_OR_CORRUPTED_FILE",
            detail: format!(
                "unclosed quote: the quoted cell opening at line {line}, column {column} runs to the end of the file"
            ),
        });
    }
    let table = Table::new(engine, data, delim);
    let mut dets = Vec::new();
    scanner.scan(data, Some(&Ctx { table: &table }), &mut dets);
    // A value is a cell's: a match running from one cell into the next (a custom pattern that
    // allows the delimiter, `\d+,\d+`) is no value of either, as Macie matches each cell on
    // its own (bug: it was reported, at the first cell).
    dets.retain(|d| table.cell_of(d.start) == table.cell_of(d.end.saturating_sub(1).max(d.start)));
    // Macie reports no column name that is itself sensitive data (a header that is an email
    // address): it would show the value without `--reveal` (bug: it was written out).
    let mut leaky: Vec<usize> = dets
        .iter()
        .map(|d| table.cell_of(d.start))
        .filter(|&(row, _)| row == 0)
        .map(|(_, col)| col)
        .collect();
    leaky.sort_unstable();
    leaky.dedup();
    let mut lines = crate::formats::text::LineMap::new(data);
    Ok(dets
        .into_iter()
        .map(|d| {
            let (row, col) = table.cell_of(d.start);
            let column_name = table
                .header
                .get(col)
                .filter(|_| leaky.binary_search(&col).is_err())
                .cloned();
            Located {
                location: Location::Cell {
                    row: row as u64 + 1,
                    column: col as u64 + 1,
                    column_name,
                },
                offset: Some(d.start as u64),
                line: lines.line_of(&d),
                detection: d,
                value: None,
            }
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// (row, column) by splitting the row again, as the lookup did before it was precomputed.
    fn slow_cell_of(table: &Table, data: &[u8], delim: u8, offset: usize) -> (usize, usize) {
        let row = table
            .rows
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let col = row_cells(data, table.rows[row], delim)
            .iter()
            .position(|&(_, e)| offset <= e)
            .unwrap_or(0);
        (row, col)
    }

    #[test]
    fn precomputed_cells_locate_as_splitting_the_row_does() {
        let e = Engine::with_defaults().unwrap();
        for data in [
            &b"a,b,c\n1,\"x,\ny\",3\r\n4,5\n,,\n\"unclosed,7\n8"[..],
            b"\xEF\xBB\xBFa;b\n1;2",
            b"",
            b"\n\n",
        ] {
            for delim in [b',', b';'] {
                let t = Table::new(&e, data, delim);
                // Line ends aside: the old lookup put a `\n` after a `\r` in column 0.
                for offset in (0..data.len()).filter(|&o| !b"\r\n".contains(&data[o])) {
                    assert_eq!(
                        t.cell_of(offset),
                        slow_cell_of(&t, data, delim, offset),
                        "{offset} in {data:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn csv_location_lookup_is_not_quadratic_in_a_long_cell_or_a_wide_row() {
        // Bug: 100,000 emails in one quoted cell took 67 s, a 20,000-column row 4.5 s, each
        // detection and keyword candidate splitting its row again.
        let e = Engine::with_defaults().unwrap();
        let mut scanner = e.scanner();
        let cell: Vec<String> = (0..30_000).map(|i| format!("u{i}@example.com")).collect();
        let data = format!("id,note\n1,\"{}\"\n", cell.join(" "));
        let wide: Vec<String> = (0..20_000).map(|i| format!("w{i}@example.com")).collect();
        let wide = format!("{}\n{}\n", wide.join(","), wide.join(","));
        let started = std::time::Instant::now();
        let mut n = |d: &str| scan(&e, &mut scanner, d.as_bytes(), b',').unwrap().len();
        assert_eq!(n(&data), 30_000);
        assert_eq!(n(&wide), 40_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
