//! gzip, zip and tar, nested, with limits against decompression bombs. Every member becomes its own
//! result (`outer.zip!inner.csv`); a member that is not analysed is reported with the reason.

use std::io::{Cursor, Read};

use zip::unstable::read::ZipIterable;

use crate::engine::{Engine, Scanner};
use crate::formats::{self, Format, Located, Skip};

/// Limits on what archives may expand to (Macie's quotas by default, ratio our own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Archive nesting levels (Macie: 10).
    pub max_depth: usize,
    /// Largest decompressed member, in bytes.
    pub max_member_bytes: u64,
    /// Total bytes extracted from one top-level file (Macie: 10 GB).
    pub max_total_bytes: u64,
    /// Members extracted from one top-level file (Macie: 1,000,000).
    pub max_entries: u64,
    /// Largest decompressed/compressed ratio, checked once a member passes `ratio_floor` bytes.
    pub max_ratio: u64,
    /// Size below which the ratio is not checked (tiny, very compressible files are normal).
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10,
            max_member_bytes: 3 << 30,
            max_total_bytes: 10 << 30,
            max_entries: 1_000_000,
            max_ratio: 1000,
            ratio_floor: 1 << 20,
        }
    }
}

/// The result for one file or archive member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// Path, with `!` between an archive and its members.
    pub path: String,
    /// Bytes analysed (decompressed for members).
    pub size: u64,
    /// How it was read.
    pub format: Format,
    /// Detections, or why it was skipped.
    pub outcome: Result<Vec<Located>, Skip>,
    /// Why the analysis stopped before the end, when it did: the detections are those of the
    /// part read (Macie's status PARTIAL).
    pub partial: Option<Skip>,
}

/// What one top-level file has used of the limits so far.
#[derive(Debug, Default)]
pub struct Budget {
    total: u64,
    entries: u64,
}

impl Budget {
    /// Counts `n` bytes extracted.
    pub(crate) fn add(&mut self, n: u64) {
        self.total = self.total.saturating_add(n);
    }
}

/// Options shared by a scan.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Archive limits.
    pub limits: Limits,
    /// Keep matched values.
    pub reveal: bool,
}

fn skip(reason: &'static str, detail: String) -> Skip {
    Skip { reason, detail }
}

/// How far a member of `compressed` bytes may expand, and what to report when it goes further:
/// the tightest of the member size, total and ratio limits.
pub(crate) fn member_limit(compressed: u64, l: &Limits, budget: &Budget) -> (u64, Skip) {
    let remaining = l.max_total_bytes.saturating_sub(budget.total);
    let by_ratio = compressed.saturating_mul(l.max_ratio).max(l.ratio_floor);
    let limit = l.max_member_bytes.min(remaining).min(by_ratio);
    let why = if limit == by_ratio {
        skip(
            "ARCHIVE_COMPRESSION_RATIO_OVER_LIMIT",
            format!(
                "expands past {} times its compressed size of {compressed} bytes",
                l.max_ratio
            ),
        )
    } else if limit == remaining {
        total_skip(l)
    } else {
        skip(
            "FILE_EXCEEDS_SIZE_LIMIT",
            format!("decompresses past {} bytes", l.max_member_bytes),
        )
    };
    (limit, why)
}

/// A decompressing reader cut off at a member's limit: reading past it is an error (a bomb is
/// found while streaming, before it is held anywhere), which [`Capped::over`] then names.
pub struct Capped<R> {
    inner: R,
    limit: u64,
    left: u64,
    over: Option<Skip>,
    why: Skip,
}

impl<R> std::fmt::Debug for Capped<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capped")
            .field("limit", &self.limit)
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Capped<R> {
    /// `inner`, decompressing `compressed` bytes, under `limits`.
    pub fn new(inner: R, compressed: u64, limits: &Limits) -> Self {
        let (left, why) = member_limit(compressed, limits, &Budget::default());
        Capped {
            inner,
            limit: left,
            left,
            over: None,
            why,
        }
    }

    /// Bytes read so far.
    pub fn read_bytes(&self) -> u64 {
        self.limit - self.left
    }

    /// Why reading stopped early, if it did.
    pub fn over(&self) -> Option<&Skip> {
        self.over.as_ref()
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut one = [0u8; 1];
            if self.inner.read(&mut one)? == 0 {
                return Ok(0);
            }
            self.over = Some(self.why.clone());
            return Err(std::io::Error::other(self.why.detail.clone()));
        }
        let n = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let got = self.inner.read(buf.get_mut(..n).unwrap_or_default())?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// What a member decompressed to.
enum Extracted {
    Whole(Vec<u8>),
    /// A stream that broke (truncated, corrupt) after these bytes: they are as good as any
    /// other, so they are scanned, and the member reported as read in part.
    Broken(Vec<u8>, Skip),
}

fn extract<R: Read>(
    r: R,
    compressed: u64,
    opts: &Options,
    budget: &mut Budget,
) -> Result<Extracted, Skip> {
    let (limit, why) = member_limit(compressed, &opts.limits, budget);
    let mut out = Vec::new();
    // One byte past the limit shows there was more.
    let read = r.take(limit.saturating_add(1)).read_to_end(&mut out);
    // What a refused or corrupt member decompressed was extracted too: counted, so that an
    // archive of many members each just past a limit still meets the total.
    budget.add(out.len() as u64);
    match read {
        Ok(_) if out.len() as u64 > limit => Err(why),
        Ok(_) => Ok(Extracted::Whole(out)),
        // A method this reader lacks (bzip2, LZMA in zip) or an encrypted member is not damage.
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => Err(skip(
            "UNSUPPORTED_FILE_TYPE_EXCEPTION",
            format!("cannot decompress: {e}"),
        )),
        Err(e) => {
            let why = skip(
                "INVALID_OR_CORRUPTED_FILE",
                format!("cannot decompress: {e}"),
            );
            if out.is_empty() {
                Err(why)
            } else {
                Ok(Extracted::Broken(out, why))
            }
        }
    }
}

/// Scans `data`, the content of `path` inside an archive or gzip, into `out`; `broken` says
/// the content ends early, so that what was scanned of it is reported as read in part.
#[allow(clippy::too_many_arguments)]
fn scan_content(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    (path, size, format): (&str, u64, Format),
    data: Extracted,
    depth: usize,
    opts: &Options,
    budget: &mut Budget,
    out: &mut Vec<FileResult>,
) {
    let (data, broken) = match data {
        Extracted::Whole(d) => (d, None),
        Extracted::Broken(d, why) => (d, Some(why)),
    };
    let first = out.len();
    scan_any(engine, scanner, path, &data, depth, opts, budget, out);
    let Some(why) = broken else {
        return;
    };
    let own = out.iter_mut().skip(first).find(|r| r.path == path);
    match own {
        // The break, not what the format made of the cut content, is why it is partial.
        Some(r) if r.outcome.is_ok() => r.partial = Some(why),
        Some(r) => r.outcome = Err(why),
        // An archive: its members read whole are complete, those after the break
        // unreachable, which the archive's own result says.
        None => out.push(FileResult {
            path: path.to_owned(),
            size,
            format,
            outcome: Err(why),
            partial: None,
        }),
    }
}

/// An archive member about to be extracted: its path as reported, its stored and expanded
/// sizes, and its nesting depth.
struct Member {
    path: String,
    compressed: u64,
    size: u64,
    depth: usize,
}

/// Extracts a member under the limits and scans what it holds, or reports why not.
fn scan_member<R: Read>(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    member: Member,
    reader: R,
    opts: &Options,
    budget: &mut Budget,
    out: &mut Vec<FileResult>,
) {
    match extract(reader, member.compressed, opts, budget) {
        Ok(inner) => scan_content(
            engine,
            scanner,
            (&member.path, member.size, Format::Binary),
            inner,
            member.depth,
            opts,
            budget,
            out,
        ),
        Err(s) => out.push(FileResult {
            path: member.path,
            size: member.size,
            format: Format::Binary,
            outcome: Err(s),
            partial: None,
        }),
    }
}

/// Whether `budget` has used up the total bytes an archive may extract: nothing more is
/// decompressed from it, at any nesting level.
fn exhausted(budget: &Budget, l: &Limits) -> bool {
    budget.total >= l.max_total_bytes
}

/// Counts the next member of an archive, or says why to stop reading the archive instead: the
/// total bytes or members it may extract are used up (`Err(Some)`), or the total was reached
/// and the member that reached it, the last result, says so already (`Err(None)`).
fn next_member(budget: &mut Budget, l: &Limits, out: &[FileResult]) -> Result<(), Option<Skip>> {
    if exhausted(budget, l) {
        let said = out.last().and_then(|r| r.outcome.as_ref().err());
        return Err(said
            .is_none_or(|s| s.reason != "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT")
            .then(|| total_skip(l)));
    }
    budget.entries += 1;
    if budget.entries > l.max_entries {
        return Err(Some(skip(
            "ARCHIVE_TOTAL_DOCUMENTS_PROCESSED_OVER_LIMIT",
            format!("more than {} members", l.max_entries),
        )));
    }
    Ok(())
}

fn corrupt_tar(i: usize) -> Skip {
    // The tar crate's messages quote header bytes: the file's, not ours to print.
    skip(
        "INVALID_OR_CORRUPTED_FILE",
        format!("cannot read tar: header of member {i} is corrupt"),
    )
}

/// The skip of an archive whose members are left unread past the total limit.
fn total_skip(l: &Limits) -> Skip {
    skip(
        "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT",
        format!("more than {} bytes extracted in total", l.max_total_bytes),
    )
}

/// Scans a buffer of any supported format, descending into archives; appends one result per file
/// or member to `out`.
#[allow(clippy::too_many_arguments)]
pub fn scan_any(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    path: &str,
    data: &[u8],
    depth: usize,
    opts: &Options,
    budget: &mut Budget,
    out: &mut Vec<FileResult>,
) {
    let format = formats::detect(path, data.get(..8192).unwrap_or(data));
    let result = |format, size: usize, outcome| FileResult {
        path: path.to_owned(),
        size: size as u64,
        format,
        outcome,
        partial: None,
    };
    match format {
        Format::Gzip | Format::Zip | Format::Tar if depth >= opts.limits.max_depth => {
            out.push(result(
                format,
                data.len(),
                Err(skip(
                    "ARCHIVE_NESTING_LEVEL_OVER_LIMIT",
                    format!("archives nested deeper than {}", opts.limits.max_depth),
                )),
            ))
        }
        Format::Gzip => {
            let dec = flate2::read::MultiGzDecoder::new(data);
            match extract(dec, data.len() as u64, opts, budget) {
                Ok(inner) => {
                    // The member is named by the file without `.gz`, for format detection; results
                    // keep the archive's path since a gzip holds one member.
                    let tgz = path.strip_suffix(".tgz").map(|p| format!("{p}.tar"));
                    let inner_name = tgz.as_deref().unwrap_or_else(|| {
                        path.strip_suffix(".gz")
                            .or_else(|| path.strip_suffix(".gzip"))
                            .unwrap_or(path)
                    });
                    let mut sub = Vec::new();
                    scan_content(
                        engine,
                        scanner,
                        (inner_name, data.len() as u64, format),
                        inner,
                        depth + 1,
                        opts,
                        budget,
                        &mut sub,
                    );
                    for mut r in sub {
                        if let Some(rest) = r.path.strip_prefix(inner_name) {
                            r.path = format!("{path}{rest}");
                        }
                        out.push(r);
                    }
                }
                Err(s) => out.push(result(format, data.len(), Err(s))),
            }
        }
        Format::Zip => {
            // `ZipArchive` keys members by name, so of two members sharing one only the last
            // could be reached and the other went unscanned; the iterable reader walks every
            // central-directory entry.
            let unopenable = |e: zip::result::ZipError| {
                result(
                    format,
                    data.len(),
                    Err(skip(
                        "INVALID_OR_CORRUPTED_FILE",
                        format!("cannot open zip: {e}"),
                    )),
                )
            };
            let mut zip =
                match ZipIterable::try_new(Cursor::new(data), zip::read::Config::default()) {
                    Ok(z) => z,
                    Err(e) => {
                        out.push(unopenable(e));
                        return;
                    }
                };
            let declared = zip.len();
            let entries = match zip.files() {
                Ok(f) => f,
                Err(e) => {
                    out.push(unopenable(e));
                    return;
                }
            };
            let mut body = Cursor::new(data);
            for i in 0..declared {
                if let Err(why) = next_member(budget, &opts.limits, out) {
                    out.extend(why.map(|s| result(format, data.len(), Err(s))));
                    return;
                }
                let entry = match entries.next() {
                    Some(Ok(e)) => e,
                    // The directory cannot be followed past a bad entry: the members after it
                    // are unreachable, which the archive's own result says.
                    Some(Err(e)) => {
                        out.push(result(
                            format,
                            data.len(),
                            Err(skip(
                                "INVALID_OR_CORRUPTED_FILE",
                                format!("cannot read zip directory entry {i} of {declared}: {e}"),
                            )),
                        ));
                        return;
                    }
                    None => break,
                };
                // A member that cannot be opened is still named by its name (bug: `zip!#3`),
                // and one this reader cannot open (encrypted, or compressed with bzip2, LZMA…)
                // is unsupported, not corrupted.
                let named = match entry.name() {
                    Ok(n) => format!("{path}!{n}"),
                    Err(_) => format!("{path}!#{i}"),
                };
                if entry.is_dir() {
                    continue;
                }
                let (compressed, size) = (entry.compressed_size(), entry.size());
                let mut reader = match entry.with_reader(&mut body, zip::ZipReadOptions::new()) {
                    Ok(r) => r,
                    Err(e) => {
                        let reason = match e {
                            zip::result::ZipError::UnsupportedArchive(_)
                            | zip::result::ZipError::CompressionMethodNotSupported(_) => {
                                "UNSUPPORTED_FILE_TYPE_EXCEPTION"
                            }
                            _ => "INVALID_OR_CORRUPTED_FILE",
                        };
                        out.push(FileResult {
                            path: named,
                            size: 0,
                            format: Format::Binary,
                            outcome: Err(skip(reason, format!("cannot read member {i}: {e}"))),
                            partial: None,
                        });
                        continue;
                    }
                };
                let member = Member {
                    path: named,
                    compressed,
                    size,
                    depth: depth + 1,
                };
                scan_member(engine, scanner, member, &mut reader, opts, budget, out);
            }
        }
        Format::Tar => {
            let mut tar = tar::Archive::new(Cursor::new(data));
            let entries = match tar.entries() {
                Ok(e) => e,
                Err(_) => {
                    out.push(result(format, data.len(), Err(corrupt_tar(0))));
                    return;
                }
            };
            for (i, entry) in entries.enumerate() {
                if let Err(why) = next_member(budget, &opts.limits, out) {
                    out.extend(why.map(|s| result(format, data.len(), Err(s))));
                    return;
                }
                // A bad header leaves no way to find the next one.
                let Ok(mut entry) = entry else {
                    out.push(result(format, data.len(), Err(corrupt_tar(i))));
                    return;
                };
                // Directories, links and devices hold no content of their own.
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let size = entry.size();
                // Stored, not compressed: the ratio limit does not apply, the others do.
                let member = Member {
                    path: format!("{path}!{}", String::from_utf8_lossy(&entry.path_bytes())),
                    compressed: size,
                    size,
                    depth: depth + 1,
                };
                scan_member(engine, scanner, member, &mut entry, opts, budget, out);
            }
        }
        _ => {
            let mut partial = None;
            let outcome =
                formats::scan_buffer(engine, scanner, format, data, opts, budget, &mut partial);
            let mut r = result(format, data.len(), outcome);
            r.partial = partial.filter(|_| r.outcome.is_ok());
            out.push(r);
        }
    }
}

/// Scans an in-memory object (an S3 object's bytes, a file's contents) with default limits.
pub fn scan_object(engine: &Engine, name: &str, data: &[u8], reveal: bool) -> Vec<FileResult> {
    let opts = Options {
        limits: Limits::default(),
        reveal,
    };
    scan_object_with(engine, name, data, &opts)
}

/// [`scan_object`] under the given limits.
pub fn scan_object_with(
    engine: &Engine,
    name: &str,
    data: &[u8],
    opts: &Options,
) -> Vec<FileResult> {
    let mut scanner = engine.scanner();
    let mut out = Vec::new();
    scan_any(
        engine,
        &mut scanner,
        name,
        data,
        0,
        opts,
        &mut Budget::default(),
        &mut out,
    );
    out
}
