//! File formats: CSV/TSV, JSON Lines, plain text and (with the `parquet` feature) Parquet.
//! Every format streams: records are read, transformed and written in bounded batches.

pub mod csv;
pub mod jsonl;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod text;

use std::cell::Cell;
use std::io::{IsTerminal as _, Read, Write as _};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Records transformed together (and the window that `shuffle` permutes within).
pub const BATCH: usize = 8192;

/// An input or output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON value per line.
    Jsonl,
    /// One JSON document: an array whose elements are the records, or a single record.
    Json,
    /// Apache Parquet.
    Parquet,
    /// Plain text: detected values are masked in place.
    Text,
}

impl Format {
    /// Guesses the format from the file extension (text when unknown).
    pub fn from_path(path: &Path) -> Self {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Self::Csv,
            "tsv" | "tab" => Self::Tsv,
            "jsonl" | "ndjson" => Self::Jsonl,
            // A `.json` file is often one document (an array of records) over many lines.
            "json" => Self::Json,
            "parquet" | "parq" => Self::Parquet,
            _ => Self::Text,
        }
    }
}

/// Options shared by the formats.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fail when a rule names a column the input does not have, and match column names
    /// exactly (rules files); policies leave such columns alone and match names whatever their
    /// case, as Redshift folds identifiers (bug: a policy on `email` left a column `Email` in
    /// clear).
    pub strict_fields: bool,
    /// The output holds clear values (unmasking, or the policies view of an exempt
    /// principal): it is created owner-only.
    pub clear_output: bool,
}

impl Options {
    /// Whether the input's column `header` is the column `name` a rule gives.
    pub fn same_column(&self, header: &str, name: &str) -> bool {
        header == name || (!self.strict_fields && header.to_lowercase() == name.to_lowercase())
    }
}

/// A reader that counts the bytes read, for the progress bar.
#[derive(Debug)]
pub struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R> Counting<R> {
    /// Wraps `inner`; `count` is shared with the progress bar.
    pub fn new(inner: R, count: Rc<Cell<u64>>) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A progress bar on standard error, drawn only when it is a terminal.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    read: Rc<Cell<u64>>,
    enabled: bool,
    last: Instant,
    drawn: bool,
}

impl Progress {
    /// A bar for an input of `total` bytes.
    pub fn new(total: u64, enabled: bool) -> Self {
        Self {
            total,
            read: Rc::new(Cell::new(0)),
            enabled: enabled && std::io::stderr().is_terminal(),
            last: Instant::now(),
            drawn: false,
        }
    }

    /// The counter to hand to [`Counting`].
    pub fn counter(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.read)
    }

    /// Sets the bytes done directly (formats that do not read through [`Counting`]).
    pub fn set(&self, done: u64) {
        self.read.set(done);
    }

    /// Redraws at most five times a second.
    pub fn tick(&mut self, records: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.draw(records);
    }

    fn draw(&mut self, records: u64) {
        let done = self.read.get().min(self.total);
        let frac = if self.total == 0 {
            1.0
        } else {
            done as f64 / self.total as f64
        };
        let width = 30usize;
        let filled = ((frac * width as f64) as usize).min(width);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled);
        let mut err = std::io::stderr().lock();
        // A failed progress write must not fail the run.
        let _ = write!(
            err,
            "\r[{bar}] {:>3}% {records} records",
            (frac * 100.0) as u32
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self, records: u64) {
        if self.enabled {
            self.read.set(self.total);
            self.draw(records);
            let _ = writeln!(std::io::stderr());
        }
    }
}
