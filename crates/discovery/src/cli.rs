//! `palisade scan`: walk paths in parallel, scan every file, print findings.
//!
//! Exit status: 0 when nothing is found, 1 when something is, 2 on error (as grep), which
//! includes content skipped or scanned only in part: a gate must not read such a run as clean.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::custom::{load_allow_list, load_custom};
use crate::engine::{Engine, EngineBuilder, Selection};
use crate::error::{Error, Result};
use crate::formats::archive::{Budget, FileResult, Limits, Options, scan_any};
use crate::formats::{Format, Located, Skip};
use crate::report::{self, Summary, Tally, printable};

/// Output shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Detections and a summary by identifier and by file.
    Table,
    /// Macie findings (one per file), skipped files and the summary, as one JSON document.
    Json,
    /// One detection per line.
    Jsonl,
    /// SARIF 2.1.0.
    Sarif,
}

/// Arguments of `palisade scan`.
#[derive(Clone, Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and directories to scan (directories are walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Managed identifiers: ALL, RECOMMENDED, NONE, a comma list of IDs, `-ID` to exclude
    /// (e.g. `RECOMMENDED,EMAIL_ADDRESS,-NAME`).
    #[arg(long, default_value = "ALL", allow_hyphen_values = true)]
    pub identifiers: String,
    /// Custom data identifiers: JSON file with CreateCustomDataIdentifier-shaped objects.
    #[arg(long)]
    pub custom: Vec<PathBuf>,
    /// Allow list: a line-delimited word list, or a .json CreateAllowList-shaped file.
    #[arg(long = "allow-list")]
    pub allow_list: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Scan this percentage of files, picked by a hash of the path (as Macie's samplingPercentage).
    #[arg(long)]
    pub sample: Option<f64>,
    /// Largest file or decompressed archive member scanned, in bytes (suffixes K, M, G).
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Print matched values (never shown otherwise).
    #[arg(long)]
    pub reveal: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Never draw the progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// Archive nesting limit.
    #[arg(long, default_value_t = 10)]
    pub max_archive_depth: usize,
    /// Largest decompressed/compressed ratio of an archive member.
    #[arg(long, default_value_t = 1000)]
    pub max_compression_ratio: u64,
    /// Follow symlinks found inside directories, to files and directories alike (as `rg -L`);
    /// a file or directory reached more than once is scanned once. Without it they are left
    /// out. Paths named on the command line are always followed.
    #[arg(long, short = 'L')]
    pub follow: bool,
}

/// Parses `123`, `64K`, `256M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?}")),
            };
            (t.get(..i).unwrap_or(""), m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Runs the command, printing to stdout/stderr; returns the exit status.
pub fn run(args: ScanArgs) -> i32 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = !args.no_progress && std::io::stderr().is_terminal();
    let code = run_with(&args, &mut out, &mut std::io::stderr(), progress);
    match out.flush() {
        Ok(()) => code,
        // A closed pipe (`| head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            // Status 2 means run_with has already reported a failed write.
            if code != 2 {
                eprintln!("palisade scan: cannot write output: {e}");
            }
            2
        }
    }
}

/// Builds the engine from the arguments.
pub fn build_engine(args: &ScanArgs) -> Result<Engine> {
    let selection = Selection::parse(&args.identifiers)?;
    // Nothing to look for would report every file clean (bug: it did, exit 0); Macie's NONE
    // is for jobs that use custom data identifiers only.
    let nothing = match &selection {
        Selection::None => true,
        Selection::Include(ids) => ids.is_empty(),
        _ => false,
    };
    if nothing && args.custom.is_empty() {
        return Err(Error::Argument {
            option: "--identifiers",
            value: args.identifiers.clone(),
            reason: "selects no managed identifier (NONE) and needs --custom",
        });
    }
    let mut b = EngineBuilder::new().selection(selection);
    // Names identify custom identifiers in findings, across all the --custom files.
    let mut names = std::collections::HashSet::new();
    for f in &args.custom {
        for c in load_custom(f)? {
            if !names.insert(c.name.clone()) {
                return Err(Error::CustomIdentifier {
                    name: c.name,
                    reason: format!(
                        "another custom data identifier has this name (in {})",
                        f.display()
                    ),
                });
            }
            b = b.custom(c);
        }
    }
    for f in &args.allow_list {
        for a in load_allow_list(f)? {
            b = b.allow_list(a);
        }
    }
    b.build()
}

/// Content that could not be scanned at all: reported as skipped, with Macie's reason, and an
/// error for the exit status.
#[derive(Debug)]
struct Unscanned {
    path: String,
    /// What failed: "cannot read", "cannot scan".
    action: &'static str,
    reason: &'static str,
    detail: String,
}

impl Unscanned {
    fn io(path: &Path, e: &std::io::Error) -> Self {
        Self {
            path: path.display().to_string(),
            reason: if e.kind() == std::io::ErrorKind::PermissionDenied {
                "PERMISSION_DENIED"
            } else {
                "OBJECT_UNAVAILABLE"
            },
            action: "cannot read",
            detail: e.to_string(),
        }
    }
}

/// Collects the files to scan. As ripgrep: a path named on the command line is followed when it
/// is a symlink (the user named it), and one that does not resolve, or resolves to neither a file
/// nor a directory (a FIFO, a device), is an error rather than silently nothing; symlinks found
/// inside directories are left out unless `--follow`, since one can lead out of the tree being
/// scanned or to a file scanned already under its own name.
struct Walker<'a> {
    follow: bool,
    /// Canonical paths of the files and directories reached, so that none is scanned twice
    /// and a link loop ends.
    seen: std::collections::HashSet<PathBuf>,
    out: &'a mut Vec<PathBuf>,
    errors: &'a mut Vec<Unscanned>,
}

impl Walker<'_> {
    /// Whether `path` (which resolves) is reached for the first time.
    fn first_visit(&mut self, path: &Path) -> bool {
        match std::fs::canonicalize(path) {
            Ok(c) => self.seen.insert(c),
            // Gone since it was listed: reading it reports the error.
            Err(_) => true,
        }
    }

    fn root(&mut self, root: &Path) {
        match std::fs::metadata(root) {
            Err(e) => self.errors.push(Unscanned::io(root, &e)),
            Ok(m) if m.is_dir() => {
                if self.first_visit(root) {
                    self.dir(root);
                }
            }
            Ok(m) if m.is_file() => {
                if self.first_visit(root) {
                    self.out.push(root.to_owned());
                }
            }
            Ok(_) => self.errors.push(Unscanned {
                path: root.display().to_string(),
                action: "cannot scan",
                reason: "UNSUPPORTED_FILE_TYPE_EXCEPTION",
                detail: "not a regular file or directory".into(),
            }),
        }
    }

    fn dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(Unscanned::io(dir, &e));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for c in children {
            self.entry(&c);
        }
    }

    fn entry(&mut self, path: &Path) {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.errors.push(Unscanned::io(path, &e));
                return;
            }
        };
        // Recorded with or without `--follow`: overlapping command-line paths (`share
        // share/sub/deep.txt`) reach the same file twice (bug: it was scanned and reported twice).
        if meta.is_dir() {
            if self.first_visit(path) {
                self.dir(path);
            }
        } else if meta.is_file() {
            if self.first_visit(path) {
                self.out.push(path.to_owned());
            }
        } else if meta.file_type().is_symlink() && self.follow {
            // A dangling link, or one to a FIFO or device, is nothing to scan, as in ripgrep.
            match std::fs::metadata(path) {
                Ok(m) if m.is_dir() && self.first_visit(path) => self.dir(path),
                Ok(m) if m.is_file() && self.first_visit(path) => self.out.push(path.to_owned()),
                _ => {}
            }
        }
    }
}

/// FNV-1a: a stable per-path hash for sampling, the same from run to run.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Bytes read before the format is chosen (what `formats::detect` looks at).
const HEAD: usize = 8192;

/// Scans one file. A text file's detections are handed to `part` in batches as the scan finds
/// them, all but the last (which is in the returned result), so that a file with millions of
/// detections is printed as it is read instead of held in memory.
fn scan_file(
    engine: &Engine,
    scanner: &mut crate::engine::Scanner<'_>,
    path: &Path,
    opts: &Options,
    max: u64,
    part: &mut dyn FnMut(FileResult),
) -> (Vec<FileResult>, Option<Unscanned>) {
    let name = path.display().to_string();
    let skipped = |reason, detail: String, size| FileResult {
        path: name.clone(),
        size,
        format: Format::Binary,
        outcome: Err(Skip { reason, detail }),
        partial: None,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), Some(Unscanned::io(path, &e))),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        return (
            vec![skipped(
                "FILE_EXCEEDS_SIZE_LIMIT",
                format!("{len} bytes is over --max-file-size {max}"),
                len,
            )],
            None,
        );
    }
    // One byte past the limit shows a file that grew after its size was read; `--max-file-size`
    // may be u64::MAX.
    let mut reader = file.take(max.saturating_add(1));
    // The first bytes say the format; text (most of what is scanned, and the largest files) is
    // streamed through a reused buffer instead of read whole.
    let mut data = Vec::with_capacity((len as usize).min(HEAD));
    if let Err(e) = (&mut reader).take(HEAD as u64).read_to_end(&mut data) {
        return (Vec::new(), Some(Unscanned::io(path, &e)));
    }
    let format = crate::formats::detect(&name, &data);
    // UTF-16 text is read whole and decoded (`formats::scan_buffer`), not streamed as bytes.
    if format == Format::Text && crate::formats::utf16_order(&data).is_none() {
        let stream = std::io::Cursor::new(&data).chain(reader);
        let (held, read) = stream_text(scanner, &name, stream, opts.reveal, part);
        let mut result = text_result(&name, len, held);
        // The detections before a read error were printed already: they stay in every format,
        // and the file is reported as partly analysed.
        if let Err(e) = read {
            let why = Unscanned::io(path, &e);
            result.partial = Some(Skip {
                reason: why.reason,
                detail: format!("cannot read: {}", why.detail),
            });
        }
        return (vec![result], None);
    }
    if format == Format::Gzip && opts.limits.max_depth > 0 {
        // A gzipped log (the usual rotated log) is streamed too, decompressed as it is
        // scanned, rather than expanded whole in memory; other contents are read as before.
        match scan_gzip_text(scanner, &name, (data, reader, len), opts, part) {
            Ok(done) => return done,
            Err(d) => data = d,
        }
        data.clear();
        let again = std::fs::File::open(path).map(|f| f.take(max.saturating_add(1)));
        match again.and_then(|mut f| f.read_to_end(&mut data)) {
            Ok(_) => {}
            Err(e) => return (Vec::new(), Some(Unscanned::io(path, &e))),
        }
    } else {
        data.reserve((len as usize).saturating_sub(data.len()));
        if let Err(e) = reader.read_to_end(&mut data) {
            return (Vec::new(), Some(Unscanned::io(path, &e)));
        }
    }
    let mut out = Vec::new();
    scan_any(
        engine,
        scanner,
        &name,
        &data,
        0,
        opts,
        &mut Budget::default(),
        &mut out,
    );
    (out, None)
}

/// A text file's (or gzip member's) result: the detections not already handed out.
fn text_result(name: &str, size: u64, found: Vec<Located>) -> FileResult {
    FileResult {
        path: name.to_owned(),
        size,
        format: Format::Text,
        outcome: Ok(found),
        partial: None,
    }
}

/// Streams text through the scanner, handing all batches of detections but the last to
/// `part` (in results of size 0); returns the last, and the read error that ended the stream
/// early, if one did (the batches before it are found all the same).
fn stream_text<R: Read>(
    scanner: &mut crate::engine::Scanner<'_>,
    name: &str,
    stream: R,
    reveal: bool,
    part: &mut dyn FnMut(FileResult),
) -> (Vec<Located>, std::io::Result<()>) {
    // One batch is held back: it is the returned result's if no other follows.
    let mut held = Vec::new();
    let read = crate::formats::text::scan_stream_batches(scanner, stream, reveal, |b| {
        let previous = std::mem::replace(&mut held, std::mem::take(b));
        if !previous.is_empty() {
            part(text_result(name, 0, previous));
        }
    });
    (held, read)
}

/// Scans a gzip file whose content is text as a stream under the archive limits; gives the
/// compressed head back (`Err`) when the content is something else, to be read whole.
fn scan_gzip_text<R: Read>(
    scanner: &mut crate::engine::Scanner<'_>,
    name: &str,
    (head, reader, compressed): (Vec<u8>, R, u64),
    opts: &Options,
    part: &mut dyn FnMut(FileResult),
) -> std::result::Result<(Vec<FileResult>, Option<Unscanned>), Vec<u8>> {
    let mut dec = flate2::read::MultiGzDecoder::new(std::io::Cursor::new(&head).chain(reader));
    let mut inner_head = Vec::with_capacity(HEAD);
    // A stream broken this early is left to the whole-file path, which scans what it
    // decompressed and reports the file as read in part.
    if (&mut dec)
        .take(HEAD as u64)
        .read_to_end(&mut inner_head)
        .is_err()
    {
        return Err(head);
    }
    let inner_name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".gzip"))
        .unwrap_or(name);
    let inner = crate::formats::detect(inner_name, &inner_head);
    if !matches!(inner, Format::Text | Format::Binary) {
        return Err(head);
    }
    let mut capped = crate::formats::archive::Capped::new(
        std::io::Cursor::new(inner_head).chain(dec),
        compressed,
        &opts.limits,
    );
    if inner == Format::Binary {
        // Nothing to scan, but a bomb is still a bomb: it is decompressed (and dropped) only
        // as far as the limits allow, to report it as such.
        let drained = std::io::copy(&mut capped, &mut std::io::sink());
        let why = match (capped.over(), drained) {
            (Some(why), _) => why.clone(),
            (None, Err(e)) => Skip {
                reason: "INVALID_OR_CORRUPTED_FILE",
                detail: format!("cannot decompress: {e}"),
            },
            (None, Ok(_)) => Skip {
                reason: "UNSUPPORTED_FILE_TYPE_EXCEPTION",
                detail: "binary content".into(),
            },
        };
        let skipped = FileResult {
            path: name.to_owned(),
            size: capped.read_bytes(),
            format: Format::Binary,
            outcome: Err(why),
            partial: None,
        };
        return Ok((vec![skipped], None));
    }
    let (held, read) = stream_text(scanner, name, &mut capped, opts.reveal, part);
    let mut result = text_result(name, capped.read_bytes(), held);
    // Past a limit or a corrupt (truncated) stream, what was decompressed before was scanned
    // and its detections printed: they are the result, which says it is partial (bug: json
    // reported none of them, the streamed formats all).
    result.partial = match (capped.over(), read) {
        (Some(why), _) => Some(why.clone()),
        (None, Err(e)) => Some(Skip {
            reason: "INVALID_OR_CORRUPTED_FILE",
            detail: format!("cannot decompress: {e}"),
        }),
        (None, Ok(())) => None,
    };
    Ok((vec![result], None))
}

fn table_line(engine: &Engine, r: &FileResult) -> Vec<String> {
    let Ok(dets) = &r.outcome else {
        return Vec::new();
    };
    let path = printable(&r.path);
    dets.iter()
        .map(|l| {
            let loc = match &l.location {
                crate::formats::Location::Line {
                    start,
                    start_column,
                    ..
                } => format!("line {start}:{start_column}"),
                crate::formats::Location::Cell {
                    row,
                    column,
                    column_name,
                } => match column_name {
                    Some(name) => format!("row {row} col {column} ({name})"),
                    None => format!("row {row} col {column}"),
                },
                crate::formats::Location::Record {
                    record_index,
                    json_path,
                } => format!(
                    "record {record_index} {}",
                    json_path.as_deref().unwrap_or("(key)")
                ),
            };
            let ty = engine.type_id(&l.detection);
            match &l.value {
                Some(v) => format!("{path}\t{ty}\t{}\t{}", printable(&loc), printable(v)),
                None => format!("{path}\t{ty}\t{}", printable(&loc)),
            }
        })
        .collect()
}

/// What a worker sends about one file, in order: batches of a text file's detections as the scan
/// finds them (`Part`), then the file's results and the error that stopped it, if any.
enum Msg {
    Part(FileResult),
    Done(Vec<FileResult>, Option<Unscanned>),
}

/// A streamed file's detections so far.
#[derive(Default)]
struct Open {
    tally: Tally,
    /// Kept for the formats written at the end (see `Printer::take_part`).
    kept: Vec<Located>,
}

/// Prints results as they arrive, in walk order, and keeps what the end of the output needs.
struct Printer<'a> {
    engine: &'a Engine,
    format: OutputFormat,
    out: &'a mut dyn Write,
    summary: Summary,
    /// The file whose parts are being printed.
    open: Option<Open>,
    sarif: report::SarifWriter,
    findings: Vec<serde_json::Value>,
    skipped: Vec<serde_json::Value>,
    errors: Vec<Unscanned>,
    /// Files and members skipped unscanned for a reason other than their type.
    incomplete: Vec<String>,
    gate: Gate,
    io_error: Option<std::io::Error>,
}

/// Holds back the streamed detections of custom identifiers whose lowest `occurrencesThreshold`
/// the file (or member) has not reached yet: below it Macie makes no finding, so none may be
/// printed (bug: they were, with SARIF level warning, and made the exit status 1). At most
/// threshold − 1 detections per identifier are held.
#[derive(Default)]
struct Gate {
    path: String,
    counts: std::collections::HashMap<u32, u64>,
    pending: std::collections::HashMap<u32, Vec<Located>>,
}

impl Gate {
    /// What of `r` may be printed now; `None` when that is all of it.
    fn pass(&mut self, engine: &Engine, r: &FileResult) -> Option<FileResult> {
        let Ok(dets) = &r.outcome else {
            return None;
        };
        let held = |l: &Located| engine.severity(l.detection.ident, 1).is_none();
        if self.path != r.path {
            self.path.clone_from(&r.path);
            self.counts.clear();
            self.pending.clear();
        }
        if !dets.iter().any(held) {
            return None;
        }
        let mut out = Vec::with_capacity(dets.len());
        for l in dets {
            let ident = l.detection.ident;
            if !held(l) {
                out.push(l.clone());
                continue;
            }
            let n = self.counts.entry(ident).or_default();
            *n += 1;
            if engine.severity(ident, *n).is_some() {
                out.extend(self.pending.remove(&ident).unwrap_or_default());
                out.push(l.clone());
            } else {
                self.pending.entry(ident).or_default().push(l.clone());
            }
        }
        Some(FileResult {
            path: r.path.clone(),
            size: r.size,
            format: r.format,
            outcome: Ok(out),
            partial: r.partial.clone(),
        })
    }
}

impl Printer<'_> {
    /// Handles one message about the file being printed; true when that file is done.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Part(r) => {
                self.lines(&r);
                let mut open = self.open.take().unwrap_or_default();
                if let Ok(d) = r.outcome {
                    self.take_part(&mut open, d);
                }
                self.open = Some(open);
                false
            }
            Msg::Done(results, e) => {
                if let Some(e) = e {
                    self.errors.push(e);
                }
                // A streamed file's parts belong to its one result.
                let mut open = self.open.take();
                for mut r in results {
                    self.lines(&r);
                    // Binary files are not what a scan is for; anything else skipped may hold
                    // what the scan is looking for.
                    if let Err(s) = &r.outcome
                        && s.reason != "UNSUPPORTED_FILE_TYPE_EXCEPTION"
                    {
                        self.incomplete.push(format!(
                            "skipped {}: {} ({})",
                            printable(&r.path),
                            s.reason,
                            printable(&s.detail)
                        ));
                    }
                    if let Some(s) = &r.partial {
                        *self.summary.partial.entry(s.reason).or_default() += 1;
                        self.incomplete.push(format!(
                            "analysed only in part {}: {} ({})",
                            printable(&r.path),
                            s.reason,
                            printable(&s.detail)
                        ));
                    }
                    let streamed = match (open.take(), &mut r.outcome) {
                        (Some(mut o), Ok(last)) => {
                            self.take_part(&mut o, std::mem::take(last));
                            r.outcome = Ok(o.kept);
                            let tally = Ok(&o.tally);
                            self.summary
                                .add_counted(self.engine, &r.path, r.size, tally);
                            Some(o.tally)
                        }
                        _ => {
                            self.summary.add(self.engine, &r);
                            None
                        }
                    };
                    if self.format == OutputFormat::Json {
                        self.findings.extend(match &streamed {
                            Some(t) => report::finding_counted(self.engine, &r, t),
                            None => report::finding(self.engine, &r),
                        });
                    }
                    if matches!(self.format, OutputFormat::Json | OutputFormat::Sarif) {
                        self.skipped.extend(report::skipped(&r));
                    }
                }
                true
            }
        }
    }

    /// Counts a streamed file's detections and keeps what the output written at the end needs:
    /// a finding's first occurrences of each type (JSON), nothing else.
    fn take_part(&self, open: &mut Open, dets: Vec<Located>) {
        match self.format {
            OutputFormat::Json => report::keep_occurrences(&mut open.tally, dets, &mut open.kept),
            _ => open.tally.add(&dets),
        }
    }

    /// Writes what `r` adds to the output as it arrives (jsonl and table lines, SARIF results).
    fn lines(&mut self, r: &FileResult) {
        let gated = self.gate.pass(self.engine, r);
        let r = gated.as_ref().unwrap_or(r);
        let written = match self.format {
            OutputFormat::Jsonl => report::write_jsonl(self.engine, r, self.out),
            OutputFormat::Table => table_line(self.engine, r)
                .iter()
                .try_for_each(|l| writeln!(self.out, "{l}")),
            OutputFormat::Sarif => self.sarif.add(self.engine, r, self.out),
            OutputFormat::Json => Ok(()),
        };
        if let Err(e) = written {
            self.io_error.get_or_insert(e);
        }
    }
}

/// Runs the command with explicit output streams (for tests).
pub fn run_with(args: &ScanArgs, out: &mut dyn Write, err: &mut dyn Write, progress: bool) -> i32 {
    match run_inner(args, out, err, progress) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "palisade scan: {e}");
            2
        }
    }
}

fn run_inner(
    args: &ScanArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: bool,
) -> Result<i32> {
    if let Some(p) = args.sample
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(Error::Argument {
            option: "--sample",
            value: p.to_string(),
            reason: "must be a percentage in (0, 100]",
        });
    }
    let engine = build_engine(args)?;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut walker = Walker {
        follow: args.follow,
        seen: std::collections::HashSet::new(),
        out: &mut files,
        errors: &mut errors,
    };
    for p in &args.paths {
        walker.root(p);
    }
    if let Some(p) = args.sample {
        let threshold = (p * 100.0) as u64;
        files.retain(|f| fnv(&f.display().to_string()) % 10_000 < threshold);
    }
    let opts = Options {
        limits: Limits {
            max_depth: args.max_archive_depth,
            max_member_bytes: args.max_file_size,
            max_ratio: args.max_compression_ratio,
            ..Limits::default()
        },
        reveal: args.reveal,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256)
        .min(files.len().max(1));

    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Msg)>();
    let mut printer = Printer {
        engine: &engine,
        format: args.format,
        out,
        summary: Summary::default(),
        open: None,
        sarif: report::SarifWriter::default(),
        findings: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
        incomplete: Vec::new(),
        gate: Gate::default(),
        io_error: None,
    };
    let total = files.len();
    let started = Instant::now();

    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (engine, files, next, opts) = (&engine, &files, &next, &opts);
            s.spawn(move || {
                let mut scanner = engine.scanner();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let mut part = |r| {
                        let _ = tx.send((i, Msg::Part(r)));
                    };
                    let (res, e) = scan_file(
                        engine,
                        &mut scanner,
                        path,
                        opts,
                        args.max_file_size,
                        &mut part,
                    );
                    if tx.send((i, Msg::Done(res, e))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results are printed in walk order: messages about later files wait here.
        let mut pending: BTreeMap<usize, Vec<Msg>> = BTreeMap::new();
        let mut next_out = 0usize;
        let mut last_draw = Instant::now();
        let mut done = 0usize;
        for (i, msg) in rx {
            if i != next_out {
                pending.entry(i).or_default().push(msg);
                continue;
            }
            if !printer.handle(msg) {
                continue;
            }
            done += 1;
            next_out += 1;
            // Later files that finished meanwhile.
            while let Some(msgs) = pending.remove(&next_out) {
                let mut finished = false;
                for m in msgs {
                    finished = printer.handle(m);
                }
                if !finished {
                    break;
                }
                done += 1;
                next_out += 1;
            }
            if progress && last_draw.elapsed() > Duration::from_millis(100) {
                last_draw = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let bytes = printer.summary.bytes as f64 / 1e6;
                let _ = write!(
                    err,
                    "\r\x1b[Kscanning {done}/{total} files, {bytes:.1} MB, {:.0} MB/s",
                    bytes / secs
                );
            }
        }
    });
    let Printer {
        mut summary,
        sarif,
        findings,
        mut skipped,
        errors: scan_errors,
        incomplete,
        io_error,
        ..
    } = printer;
    errors.extend(scan_errors);
    // What could not be read is skipped content too: listed and counted with the rest.
    for e in &errors {
        *summary.skipped.entry(e.reason).or_default() += 1;
        if matches!(args.format, OutputFormat::Json | OutputFormat::Sarif) {
            skipped.push(serde_json::json!({
                "path": e.path,
                "status": {"code": "SKIPPED", "reason": e.reason},
                "detail": e.detail,
            }));
        }
    }
    if progress {
        let _ = write!(err, "\r\x1b[K");
    }
    if let Some(e) = io_error {
        // A closed pipe (`| head`) is not worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "palisade scan: cannot write output: {e}");
        }
        return Ok(2);
    }
    let write = |out: &mut dyn Write, s: String| -> Result<()> {
        writeln!(out, "{s}").map_err(|source| Error::Io {
            path: PathBuf::from("<stdout>"),
            source,
        })
    };
    match args.format {
        OutputFormat::Table => write(out, summary.table())?,
        OutputFormat::Json => {
            let by_type: BTreeMap<&String, u64> =
                summary.by_type.iter().map(|(k, v)| (k, v.0)).collect();
            let doc = serde_json::json!({
                "findings": findings,
                "skipped": skipped,
                "summary": {
                    "filesScanned": summary.scanned,
                    "bytesScanned": summary.bytes,
                    "filesWithFindings": summary.by_file.len(),
                    "detectionsByType": by_type,
                },
            });
            write(out, serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        }
        OutputFormat::Sarif => sarif
            .finish(out, errors.is_empty() && incomplete.is_empty(), &skipped)
            .map_err(|source| Error::Io {
                path: PathBuf::from("<stdout>"),
                source,
            })?,
        OutputFormat::Jsonl => {
            // stdout carries detections only; the summary goes to a terminal's stderr.
            if progress {
                let _ = write!(err, "{}", summary.table());
            }
        }
    }
    for e in &errors {
        let (path, detail) = (printable(&e.path), printable(&e.detail));
        let _ = writeln!(err, "palisade scan: {} {path}: {detail}", e.action);
    }
    for m in &incomplete {
        let _ = writeln!(err, "palisade scan: {m}");
    }
    // Content left unscanned fails the run like an unreadable file: a CI gate must not pass
    // what it did not look at.
    Ok(if !errors.is_empty() || !incomplete.is_empty() {
        2
    } else if !summary.by_file.is_empty() {
        // A file with findings: detections below every threshold of their custom identifier
        // make none.
        1
    } else {
        0
    })
}
