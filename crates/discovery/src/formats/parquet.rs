//! Parquet through the record API (no Arrow, to keep the build small): every leaf value becomes a
//! line of a scratch buffer that is scanned once; detections map back to (row, JSON path).

use std::collections::HashMap;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};

use crate::engine::{Engine, IdentSet, Scanner, Structure};
use crate::formats::{Located, Location, Skip};

struct Leaf {
    start: usize,
    end: usize,
    row: u64,
    path: u32,
}

struct Collected {
    buf: Vec<u8>,
    leaves: Vec<Leaf>,
    paths: Vec<String>,
    path_ids: HashMap<String, u32>,
}

impl Collected {
    fn push(&mut self, row: u64, path: &str, value: &[u8]) {
        let id = match self.path_ids.get(path) {
            Some(&id) => id,
            None => {
                let id = self.paths.len() as u32;
                self.paths.push(path.to_owned());
                self.path_ids.insert(path.to_owned(), id);
                id
            }
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(value);
        let end = self.buf.len();
        self.buf.push(b'\n');
        self.leaves.push(Leaf {
            start,
            end,
            row,
            path: id,
        });
    }

    fn field(&mut self, row: u64, path: &str, f: &Field) {
        match f {
            Field::Null => {}
            Field::Str(s) => self.push(row, path, s.as_bytes()),
            Field::Bytes(b) => self.push(row, path, b.data()),
            Field::Group(g) => self.row(row, path, g),
            Field::ListInternal(l) => {
                for (i, e) in l.elements().iter().enumerate() {
                    self.field(row, &format!("{path}[{i}]"), e);
                }
            }
            Field::MapInternal(m) => {
                for (k, v) in m.entries() {
                    let key = match k {
                        Field::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    self.field(row, &format!("{path}.{key}"), v);
                }
            }
            other => self.push(row, path, other.to_string().as_bytes()),
        }
    }

    fn row(&mut self, row: u64, prefix: &str, r: &Row) {
        for (name, f) in r.get_column_iter() {
            self.field(row, &format!("{prefix}.{name}"), f);
        }
    }
}

struct Ctx<'a> {
    leaves: &'a [Leaf],
    masks: &'a [IdentSet],
}

fn leaf_at(leaves: &[Leaf], offset: usize) -> Option<&Leaf> {
    let i = leaves
        .partition_point(|l| l.start <= offset)
        .checked_sub(1)?;
    leaves.get(i)
}

impl Structure for Ctx<'_> {
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet> {
        leaf_at(self.leaves, offset)
            .filter(|l| offset <= l.end)
            .and_then(|l| self.masks.get(l.path as usize))
    }

    fn has_keywords(&self) -> bool {
        self.masks.iter().any(|m| !m.is_empty())
    }
}

/// Scans a Parquet file held in memory.
pub fn scan(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    data: &[u8],
    reveal: bool,
) -> Result<Vec<Located>, Skip> {
    let corrupt = |e: parquet::errors::ParquetError| Skip {
        reason: "INVALID_OR_CORRUPTED_FILE",
        detail: format!("cannot read parquet: {e}"),
    };
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(data)).map_err(corrupt)?;
    let mut c = Collected {
        buf: Vec::new(),
        leaves: Vec::new(),
        paths: Vec::new(),
        path_ids: HashMap::new(),
    };
    for (i, row) in reader.get_row_iter(None).map_err(corrupt)?.enumerate() {
        let row = row.map_err(corrupt)?;
        c.row(i as u64, "$", &row);
    }
    let masks: Vec<IdentSet> = c
        .paths
        .iter()
        .map(|p| {
            let names: Vec<&str> = p
                .split(['.', '[', ']'])
                .filter(|x| !x.is_empty() && *x != "$" && !x.bytes().all(|b| b.is_ascii_digit()))
                .collect();
            engine.keywords_in_names(&names)
        })
        .collect();
    let mut dets = Vec::new();
    scanner.scan(
        &c.buf,
        Some(&Ctx {
            leaves: &c.leaves,
            masks: &masks,
        }),
        &mut dets,
    );
    Ok(dets
        .into_iter()
        .map(|d| {
            let leaf = leaf_at(&c.leaves, d.start);
            Located {
                location: Location::Record {
                    record_index: leaf.map(|l| l.row).unwrap_or(0),
                    json_path: leaf.and_then(|l| c.paths.get(l.path as usize).cloned()),
                },
                offset: None,
                value: reveal
                    .then(|| c.buf.get(d.start..d.end))
                    .flatten()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                detection: d,
            }
        })
        .collect())
}
