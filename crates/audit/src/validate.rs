//! The offline validator behind `palisade audit validate`: checks a delivery directory's log
//! files, digest chain and Merkle checkpoints, and says for each file whether it is valid,
//! modified, missing or badly signed.
//!
//! What each check catches:
//! - a digest's signature (SHA256withRSA over CloudTrail's string to sign) catches any edit of
//!   the digest; its `previousDigestSignature` link catches a deleted or replaced earlier digest;
//! - a digest's `hashValue` catches any edit of a log file it lists, including truncation;
//! - the log-file sequence in file names catches a deleted file in the middle;
//! - the Merkle checkpoints catch what the chain cannot see: the newest log files (not yet in a
//!   digest) deleted or edited, and the newest digest deleted. A checkpoint kept elsewhere
//!   (`trusted`) catches even the removal of the newest checkpoints themselves.
//!
//! The public keys must come from a trusted source (ListPublicKeys), never from the directory
//! under test: whoever can write there could otherwise sign their own history.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::merkle::{CompactRange, Hash};
use crate::trail::{
    Checkpoint, Digest, DigestMetadata, chain_step, digest_string_to_sign, gunzip,
    log_file_records, parse_unique_id, sha256_hex, verify,
};

/// The outcome for one file or check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Intact.
    Valid,
    /// Its contents differ from what was signed or hashed (includes truncation and unreadable
    /// files).
    Modified,
    /// Referenced or implied by signed data but absent.
    Missing,
    /// Its signature does not verify, or no trusted key has its fingerprint.
    BadlySigned,
    /// Nothing signed vouches for it: a log file in no digest that no verified checkpoint
    /// covers (a forged or replayed file, or one whose evidence was deleted), or a checkpoint
    /// past a missing or unreadable log file, which the tree cannot be rebuilt to.
    Unverified,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::BadlySigned => "badly-signed",
            Self::Unverified => "unverified",
        }
    }
}

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A CloudTrail log file.
    LogFile,
    /// A CloudTrail digest file.
    Digest,
    /// A Merkle checkpoint.
    Checkpoint,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What was checked.
    pub kind: Kind,
    /// The file, relative to the directory validated.
    pub path: String,
    /// The outcome.
    pub status: Status,
    /// Why, for anything but a plain valid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What to validate.
#[derive(Debug, Default)]
pub struct Options {
    /// Trusted public keys: fingerprint → PKCS#1 DER.
    pub public_keys: HashMap<String, Vec<u8>>,
    /// Only files from this time on (log files by the time in their name, digests by their end
    /// time, checkpoints by the time they were made). The Merkle check always covers every
    /// file, as the tree does; the window only chooses which entries are reported.
    pub start: Option<OffsetDateTime>,
    /// Only files up to this time.
    pub end: Option<OffsetDateTime>,
    /// Checkpoints kept outside the directory (notes' text).
    pub trusted_checkpoints: Vec<String>,
}

/// The validator's findings.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// One entry per file or failed check, in path order.
    pub results: Vec<Entry>,
    /// Set when the directory is not one a validation can be run on (it is inside a bucket
    /// directory, so every digest looks moved): what to give instead. The results then mean
    /// nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Report {
    /// Whether there is something to validate and every entry is valid: a directory with no
    /// trail files (the wrong directory, a window with nothing in it, or every file deleted)
    /// proves nothing and is not valid.
    pub fn ok(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|e| e.status == Status::Valid)
    }

    /// Counts per status.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for e in &self.results {
            *out.entry(e.status.label()).or_insert(0) += 1;
        }
        out
    }

    /// A table for people.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for e in &self.results {
            let kind = match e.kind {
                Kind::LogFile => "log",
                Kind::Digest => "digest",
                Kind::Checkpoint => "checkpoint",
            };
            out.push_str(&format!("{:<13}{kind:<11}{}", e.status.label(), e.path));
            if !e.detail.is_empty() {
                out.push_str("  (");
                out.push_str(&e.detail);
                out.push(')');
            }
            out.push('\n');
        }
        let summary: Vec<String> = self
            .summary()
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        out.push_str(&format!(
            "{}: {}\n",
            if self.ok() { "VALID" } else { "INVALID" },
            if summary.is_empty() {
                "no log files, digests or checkpoints found".to_owned()
            } else {
                summary.join(", ")
            }
        ));
        out
    }

    /// JSON for machines.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "valid": self.ok(),
            "summary": self.summary(),
            "results": self.results,
        })
        .to_string()
    }

    fn push(&mut self, kind: Kind, path: &str, status: Status, detail: impl Into<String>) {
        self.results.push(Entry {
            kind,
            path: path.to_owned(),
            status,
            detail: detail.into(),
        });
    }
}

/// Where a delivered file sits in CloudTrail's layout.
#[derive(Debug, Clone)]
struct Located {
    rel: String,
    account: String,
    region: String,
    name: String,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&entry.path(), out)?;
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Splits `…/AWSLogs/<acct>/<area>/<region>/…/<name>` into its parts.
fn locate(rel: &str, area: &str) -> Option<Located> {
    let parts: Vec<&str> = rel.split('/').collect();
    let at = parts.iter().rposition(|p| *p == "AWSLogs")?;
    let account = parts.get(at + 1)?;
    if parts.get(at + 2) != Some(&area) {
        return None;
    }
    Some(Located {
        rel: rel.to_owned(),
        account: (*account).to_owned(),
        region: (*parts.get(at + 3)?).to_owned(),
        name: (*parts.last()?).to_owned(),
    })
}

/// The time in a log file's name (`…_YYYYMMDDTHHmmZ_<unique>.json.gz`).
fn log_name_time(name: &str) -> Option<OffsetDateTime> {
    let stem = name.strip_suffix(".json.gz")?;
    let mut parts = stem.rsplitn(3, '_');
    let _unique = parts.next()?;
    let stamp = parts.next()?;
    let f = time::macros::format_description!("[year][month][day]T[hour][minute]Z");
    time::PrimitiveDateTime::parse(stamp, &f)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Why a log file is not where its name puts it (`AWSLogs/<account>/CloudTrail/<region>/
/// YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_…`), if it is not. A name without a time is
/// left to the other checks (it is in no digest and no tree).
fn misplaced(l: &Located) -> Option<String> {
    let t = log_name_time(&l.name)?;
    let dir = format!(
        "AWSLogs/{acct}/CloudTrail/{region}/{:04}/{:02}/{:02}/",
        t.year(),
        u8::from(t.month()),
        t.day(),
        acct = l.account,
        region = l.region,
    );
    let in_place = l
        .rel
        .strip_suffix(&l.name)
        .is_some_and(|d| d.ends_with(&dir))
        && l.name
            .starts_with(&format!("{}_CloudTrail_{}_", l.account, l.region));
    (!in_place).then(|| format!("has been moved: its name puts it in …/{dir}"))
}

fn log_unique(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".json.gz")?;
    parse_unique_id(stem.rsplit('_').next()?)
}

/// A log file's uncompressed hash and records, or why it cannot be read.
type LogContents = Result<(String, Vec<Vec<u8>>), String>;

fn read_log(path: &Path) -> LogContents {
    let raw = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let body = gunzip(&raw).map_err(|e| format!("cannot be decompressed: {e}"))?;
    let hash = sha256_hex(&body);
    let records = log_file_records(&body).map_err(|e| format!("is not a log file: {e}"))?;
    Ok((hash, records))
}

fn in_window(t: Option<OffsetDateTime>, opts: &Options) -> bool {
    let Some(t) = t else { return true };
    opts.start.is_none_or(|s| t >= s) && opts.end.is_none_or(|e| t <= e)
}

struct DigestOnDisk {
    loc: Located,
    signature: Option<String>,
    digest: Option<Digest>,
}

/// Validates every trail delivery under `dir`.
pub fn validate(dir: &Path, opts: &Options) -> std::io::Result<Report> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let rel = |p: &Path| {
        p.strip_prefix(dir)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut logs: Vec<Located> = Vec::new();
    let mut digest_locs: Vec<Located> = Vec::new();
    let mut checkpoint_locs: Vec<Located> = Vec::new();
    for f in &files {
        let r = rel(f);
        if let Some(l) = locate(&r, "CloudTrail").filter(|l| l.name.ends_with(".json.gz")) {
            logs.push(l);
        } else if let Some(l) =
            locate(&r, "CloudTrail-Digest").filter(|l| l.name.ends_with(".json.gz"))
        {
            digest_locs.push(l);
        } else if let Some(l) =
            locate(&r, "Palisade-Checkpoint").filter(|l| l.name.ends_with(".txt"))
        {
            checkpoint_locs.push(l);
        }
    }
    logs.sort_by(|a, b| a.rel.cmp(&b.rel));
    digest_locs.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut report = Report::default();
    let mut contents: HashMap<String, LogContents> = HashMap::new();
    for l in &logs {
        contents.insert(l.rel.clone(), read_log(&dir.join(&l.rel)));
    }
    // The outcome of each log file as its digest judged it.
    let mut judged: HashMap<String, (Status, String)> = HashMap::new();
    // Where the digests put each log file: (account, Region, trail tag, sequence) → path.
    let mut listed_at: HashMap<(String, String, String, u32), String> = HashMap::new();

    // Digests: format, location, signature, then the log files each lists.
    let mut digests: Vec<DigestOnDisk> = Vec::new();
    let mut above: Vec<Option<(String, String)>> = Vec::new();
    for loc in digest_locs {
        let path = dir.join(&loc.rel);
        let raw = std::fs::read(&path)?;
        let meta: Option<DigestMetadata> =
            std::fs::read(path.with_file_name(format!("{}.metadata", loc.name)))
                .ok()
                .and_then(|m| serde_json::from_slice(&m).ok());
        let signature = meta.as_ref().map(|m| m.signature.clone());
        let body = match gunzip(&raw) {
            Ok(b) => b,
            Err(e) => {
                report.push(
                    Kind::Digest,
                    &loc.rel,
                    Status::Modified,
                    format!("cannot be decompressed: {e}"),
                );
                digests.push(DigestOnDisk {
                    loc,
                    signature,
                    digest: None,
                });
                continue;
            }
        };
        let digest: Digest = match serde_json::from_slice(&body) {
            Ok(d) => d,
            Err(e) => {
                report.push(
                    Kind::Digest,
                    &loc.rel,
                    Status::Modified,
                    format!("is not a digest: {e}"),
                );
                digests.push(DigestOnDisk {
                    loc,
                    signature,
                    digest: None,
                });
                continue;
            }
        };
        let end = OffsetDateTime::parse(&digest.digest_end_time, &Rfc3339).ok();
        let shown = in_window(end, opts);
        let expected = format!("{}/{}", digest.digest_s3_bucket, digest.digest_s3_object);
        // What of its `<bucket>/<key>` the directory leaves out, when it is inside the bucket.
        above.push(
            expected
                .strip_suffix(&loc.rel)
                .filter(|a| !a.is_empty() && a.ends_with('/'))
                .map(|a| (a.to_owned(), loc.rel.clone())),
        );
        let status = if !loc.rel.ends_with(&expected) {
            Some((
                Status::Modified,
                format!("has been moved from its original location {expected}"),
            ))
        } else if let Some(meta) = &meta {
            match opts.public_keys.get(&digest.digest_public_key_fingerprint) {
                None => Some((
                    Status::BadlySigned,
                    format!(
                        "no trusted public key has fingerprint {} (the digest is signed with the \
                         key of {}: add that Region's list-public-keys with --public-keys)",
                        digest.digest_public_key_fingerprint,
                        digest
                            .digest_s3_object
                            .split('/')
                            .skip_while(|p| *p != "CloudTrail-Digest")
                            .nth(1)
                            .unwrap_or("its Region")
                    ),
                )),
                Some(key) => {
                    let to_sign = digest_string_to_sign(
                        &digest.digest_end_time,
                        &digest.digest_s3_bucket,
                        &digest.digest_s3_object,
                        &body,
                        digest.previous_digest_signature.as_deref(),
                    );
                    let sig = hex::decode(&meta.signature).unwrap_or_default();
                    (!verify(key, to_sign.as_bytes(), &sig)).then(|| {
                        (
                            Status::BadlySigned,
                            "the signature does not verify".to_owned(),
                        )
                    })
                }
            }
        } else {
            Some((Status::BadlySigned, "no signature metadata".to_owned()))
        };
        if shown {
            match status {
                Some((s, d)) => report.push(Kind::Digest, &loc.rel, s, d),
                None => report.push(Kind::Digest, &loc.rel, Status::Valid, ""),
            }
        }
        // The bucket root: the digest's path minus its bucket and key.
        let root = loc.rel.strip_suffix(&expected).unwrap_or("").to_owned();
        for lf in &digest.log_files {
            let lrel = format!("{root}{}/{}", lf.s3_bucket, lf.s3_object);
            let verdict = match contents.get(&lrel) {
                None => (Status::Missing, format!("listed in digest {}", loc.rel)),
                Some(Err(e)) => (Status::Modified, e.clone()),
                Some(Ok((hash, _))) if *hash != lf.hash_value => (
                    Status::Modified,
                    format!(
                        "hash {hash} differs from {} in digest {}",
                        lf.hash_value, loc.rel
                    ),
                ),
                Some(Ok(_)) => (Status::Valid, String::new()),
            };
            if let Some(at) = locate(&lrel, "CloudTrail")
                && let Some((tag, seq)) = log_unique(&at.name)
            {
                listed_at.insert((at.account, at.region, tag, seq), lrel.clone());
            }
            judged.insert(lrel, verdict);
        }
        digests.push(DigestOnDisk {
            loc,
            signature,
            digest: Some(digest),
        });
    }

    // Only when every digest says so: one digest moved up a level is tampering, to report.
    if let Some(Some((first, digest))) = above.first()
        && above
            .iter()
            .all(|a| a.as_ref().is_some_and(|(a, _)| a == first))
    {
        report.hint = Some(too_deep(dir, first, digest));
    }

    // The chain: each digest's predecessor must exist and carry the signature it names.
    let by_path: HashMap<&str, &DigestOnDisk> =
        digests.iter().map(|d| (d.loc.rel.as_str(), d)).collect();
    for d in &digests {
        let Some(digest) = &d.digest else { continue };
        let (Some(pb), Some(po)) = (
            &digest.previous_digest_s3_bucket,
            &digest.previous_digest_s3_object,
        ) else {
            continue;
        };
        let expected = format!("{}/{}", digest.digest_s3_bucket, digest.digest_s3_object);
        let root = d.loc.rel.strip_suffix(&expected).unwrap_or("");
        let prev = format!("{root}{pb}/{po}");
        match by_path.get(prev.as_str()) {
            None => report.push(
                Kind::Digest,
                &prev,
                Status::Missing,
                format!("the previous digest of {}", d.loc.rel),
            ),
            Some(p) if p.signature != digest.previous_digest_signature => report.push(
                Kind::Digest,
                &prev,
                Status::Modified,
                format!("its signature is not the one {} chains to", d.loc.rel),
            ),
            Some(_) => {}
        }
    }

    // When each checkpoint was made, for the time window.
    let mut checkpoint_times: HashMap<String, OffsetDateTime> = HashMap::new();
    if opts.start.is_some() || opts.end.is_some() {
        for c in &checkpoint_locs {
            let made = std::fs::read_to_string(dir.join(&c.rel))
                .ok()
                .and_then(|text| Checkpoint::parse_note(&text))
                .and_then(|(cp, _, _)| OffsetDateTime::parse(&cp.time, &Rfc3339).ok());
            if let Some(t) = made {
                checkpoint_times.insert(c.rel.clone(), t);
            }
        }
    }

    let (covered, blocked) = check_trees(
        dir,
        &logs,
        &contents,
        &checkpoint_locs,
        &by_path,
        opts,
        &mut report,
    )?;

    // Log files: as their digest judged them, or (not yet in a digest) as the checkpoints do.
    // A moved file is reported whatever the window: the time in its name may be the part moved.
    let mut moved_files: HashSet<String> = HashSet::new();
    for l in &logs {
        let moved = if judged.contains_key(&l.rel) {
            None
        } else {
            log_unique(&l.name)
                .and_then(|(tag, seq)| {
                    listed_at.get(&(l.account.clone(), l.region.clone(), tag, seq))
                })
                .map(|p| format!("has been moved from its original location {p}"))
                .or_else(|| misplaced(l))
        };
        if let Some(why) = moved {
            moved_files.insert(l.rel.clone());
            report.push(Kind::LogFile, &l.rel, Status::Modified, why);
            continue;
        }
        if !in_window(log_name_time(&l.name), opts) {
            continue;
        }
        let (status, detail) = match judged.remove(&l.rel) {
            Some(v) => v,
            None => match contents.get(&l.rel) {
                Some(Err(e)) => (Status::Modified, e.clone()),
                _ if covered.contains(&l.rel) => (
                    Status::Valid,
                    "not yet in a digest; its events are in a verified checkpoint's tree"
                        .to_owned(),
                ),
                _ => (
                    Status::Unverified,
                    match blocked.get(&l.rel) {
                        Some(why) => format!(
                            "in no digest, and no verified checkpoint covers it: the tree \
                             stops where {why}"
                        ),
                        None => "in no digest, and no verified checkpoint covers it".to_owned(),
                    },
                ),
            },
        };
        report.push(Kind::LogFile, &l.rel, status, detail);
    }
    let mut missing: Vec<(String, (Status, String))> = judged.into_iter().collect();
    missing.sort();
    for (rel, (status, detail)) in missing {
        report.push(Kind::LogFile, &rel, status, detail);
    }
    // The window chooses the entries reported: the checks above have seen every file, so a
    // file outside it still counts for the chain and the trees.
    report.results.retain(|e| match e.kind {
        Kind::LogFile if moved_files.contains(&e.path) => true,
        Kind::LogFile => {
            let name = e.path.rsplit('/').next().unwrap_or_default();
            in_window(log_name_time(name), opts)
        }
        Kind::Checkpoint => in_window(checkpoint_times.get(&e.path).copied(), opts),
        Kind::Digest => true,
    });
    // A log file that a digest lists as missing is also a gap in its sequence: one finding
    // (the digest's, with the full path) is enough.
    let listed: Vec<String> = report
        .results
        .iter()
        .filter(|e| e.kind == Kind::LogFile && e.status == Status::Missing && !e.path.contains('…'))
        .map(|e| e.path.clone())
        .collect();
    report.results.retain(|e| {
        let Some((_, tail)) = e.path.split_once('…') else {
            return true;
        };
        !(e.kind == Kind::LogFile && listed.iter().any(|p| p.ends_with(tail)))
    });
    report.results.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// The hint for a `--dir` inside a bucket directory: `above` is the part of a digest's
/// `<bucket>/<key>` that the directory leaves out.
fn too_deep(dir: &Path, above: &str, digest: &str) -> String {
    let mut parent = dir.to_path_buf();
    for part in above.trim_end_matches('/').rsplit('/') {
        if parent.file_name().and_then(|n| n.to_str()) != Some(part) || !parent.pop() {
            break;
        }
    }
    format!(
        "{} is inside a bucket directory (digest {digest} was delivered under {above}): give \
         the directory that holds the bucket directories (the server's --trail-dir), {}",
        dir.display(),
        parent.display()
    )
}

/// A trail's files in one Region: (account, Region, trail tag).
type Group = (String, String, String);

/// The Merkle check, per trail and Region: the log files in sequence order rebuild the tree
/// that every checkpoint signed.
fn check_trees(
    dir: &Path,
    logs: &[Located],
    contents: &HashMap<String, LogContents>,
    checkpoint_locs: &[Located],
    digests: &HashMap<&str, &DigestOnDisk>,
    opts: &Options,
    report: &mut Report,
) -> std::io::Result<(HashSet<String>, HashMap<String, String>)> {
    // The log files (paths) whose events a verified checkpoint covers.
    let mut covered = HashSet::new();
    // The log files after a missing or unreadable one, with why the tree stops before them.
    let mut blocked = HashMap::new();
    // (account, region, tag) → files by sequence.
    let mut groups: BTreeMap<Group, BTreeMap<u32, &Located>> = BTreeMap::new();
    for l in logs {
        if let Some((tag, seq)) = log_unique(&l.name) {
            let group = groups
                .entry((l.account.clone(), l.region.clone(), tag))
                .or_default();
            if let Some(other) = group.insert(seq, l) {
                // A trail delivers each sequence number once: a second file is a copy or a
                // forgery, and which one is genuine is for the digests to say.
                for rel in [&other.rel, &l.rel] {
                    report.push(
                        Kind::LogFile,
                        rel,
                        Status::Modified,
                        format!("another log file has the same trail and sequence number {seq}"),
                    );
                }
            }
        }
    }
    // Checkpoints, verified, per group; `None` path for a trusted one.
    let mut cps: BTreeMap<Group, Vec<(Option<String>, Checkpoint)>> = BTreeMap::new();
    let mut notes: Vec<(Option<String>, String)> = Vec::new();
    for c in checkpoint_locs {
        // A checkpoint that cannot be read as text is one more modified file, not a reason to
        // abandon the report.
        let text = std::fs::read(dir.join(&c.rel))
            .map_err(|e| format!("cannot be read: {e}"))
            .and_then(|b| String::from_utf8(b).map_err(|e| format!("is not UTF-8 text: {e}")));
        match text {
            Ok(text) => notes.push((Some(c.rel.clone()), text)),
            Err(why) => report.push(Kind::Checkpoint, &c.rel, Status::Modified, why),
        }
    }
    for t in &opts.trusted_checkpoints {
        notes.push((None, t.clone()));
    }
    for (rel, text) in notes {
        let shown = rel
            .clone()
            .unwrap_or_else(|| "(trusted checkpoint)".to_owned());
        let Some((cp, fp, sig)) = Checkpoint::parse_note(&text) else {
            report.push(
                Kind::Checkpoint,
                &shown,
                Status::Modified,
                "is not a checkpoint",
            );
            continue;
        };
        let Some(key) = opts.public_keys.get(&fp) else {
            report.push(
                Kind::Checkpoint,
                &shown,
                Status::BadlySigned,
                format!("no trusted public key has fingerprint {fp}"),
            );
            continue;
        };
        if !verify(key, cp.body().as_bytes(), &sig) {
            report.push(
                Kind::Checkpoint,
                &shown,
                Status::BadlySigned,
                "the signature does not verify",
            );
            continue;
        }
        let mut parts = cp.origin.rsplitn(3, '/');
        let _trail = parts.next();
        let region = parts.next().unwrap_or_default().to_owned();
        let account = parts
            .next()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        cps.entry((account, region, cp.tag.clone()))
            .or_default()
            .push((rel, cp));
    }
    let keys: BTreeSet<_> = groups.keys().chain(cps.keys()).cloned().collect();
    let empty = BTreeMap::new();
    for key in keys {
        let files = groups.get(&key).unwrap_or(&empty);
        let mut checkpoints = cps.remove(&key).unwrap_or_default();
        checkpoints.sort_by_key(|(_, c)| c.size);
        let newest_file = checkpoints
            .iter()
            .map(|(_, c)| c.last_file)
            .max()
            .unwrap_or(0);
        let last_seq = files
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(newest_file);
        let (account, region, tag) = &key;
        // Gaps are walked from file to file, not number by number: a forged name or checkpoint
        // with a sequence number near u32::MAX must not make billions of findings. A long run
        // of absent files is one finding.
        let mut expected = 1u32;
        let present = files.keys().copied().chain(
            (newest_file > files.keys().next_back().copied().unwrap_or(0))
                .then_some(newest_file.saturating_add(1)),
        );
        for next in present {
            let gap = next.saturating_sub(expected);
            if gap > 0 && gap <= 16 {
                for seq in expected..next {
                    report.push(
                        Kind::LogFile,
                        &format!("AWSLogs/{account}/CloudTrail/{region}/…_{tag}{seq:08x}.json.gz"),
                        Status::Missing,
                        format!("log file {seq} of the sequence is absent"),
                    );
                }
            } else if gap > 16 {
                let last = next - 1;
                report.push(
                    Kind::LogFile,
                    &format!(
                        "AWSLogs/{account}/CloudTrail/{region}/…_{tag}{expected:08x}….json.gz"
                    ),
                    Status::Missing,
                    format!("log files {expected} to {last} of the sequence are absent"),
                );
            }
            expected = next.saturating_add(1);
        }
        // The file chain after each file, in sequence (`None` once a file is absent or
        // unreadable): what checkpoints sign about the files themselves.
        let mut chains: Vec<Option<Hash>> = vec![Some([0u8; 32])];
        // Past the first absent file every chain is None: `chains.get` answers that for them.
        for seq in 1..=last_seq {
            if chains.last().copied().flatten().is_none() {
                break;
            }
            let step = chains.last().copied().flatten().and_then(|h| {
                let l = files.get(&seq)?;
                let Some(Ok((hex, _))) = contents.get(&l.rel) else {
                    return None;
                };
                let bytes: Hash = hex::decode(hex).ok()?.try_into().ok()?;
                Some(chain_step(&h, &bytes))
            });
            chains.push(step);
        }
        // Rebuild the tree; compare at each checkpoint's size.
        let mut range = CompactRange::default();
        let mut broken: Option<String> = None;
        let mut pending = checkpoints.iter().peekable();
        // Whether the checkpoint holds; reports it either way.
        let judge = |range: &CompactRange,
                     broken: &Option<String>,
                     rel: &Option<String>,
                     cp: &Checkpoint,
                     report: &mut Report|
         -> bool {
            let shown = rel
                .clone()
                .unwrap_or_else(|| "(trusted checkpoint)".to_owned());
            if let Some(why) = broken {
                report.push(
                    Kind::Checkpoint,
                    &shown,
                    Status::Modified,
                    format!("the tree cannot be rebuilt: {why}"),
                );
                return false;
            }
            if range.root() != cp.root {
                report.push(
                    Kind::Checkpoint,
                    &shown,
                    Status::Modified,
                    format!(
                        "the first {} events no longer hash to the signed root",
                        cp.size
                    ),
                );
                return false;
            }
            if let Some(want) = cp.files_hash
                && chains.get(cp.last_file as usize).copied().flatten() != Some(want)
            {
                report.push(
                    Kind::Checkpoint,
                    &shown,
                    Status::Modified,
                    format!(
                        "log files 1 to {} are not the files it signed (their bytes changed)",
                        cp.last_file
                    ),
                );
                return false;
            }
            if let Some(d) = &cp.digest
                && !digests.keys().any(|k| k.ends_with(d.as_str()))
            {
                report.push(
                    Kind::Digest,
                    &format!("…/{d}"),
                    Status::Missing,
                    format!("the newest digest named by checkpoint {shown}"),
                );
            }
            if rel.is_some() {
                report.push(Kind::Checkpoint, &shown, Status::Valid, "");
            }
            true
        };
        // The newest log file a checkpoint that holds covers.
        let mut verified_upto = 0u32;
        while let Some((rel, cp)) = pending.next_if(|(_, c)| c.size == 0) {
            if judge(&range, &broken, rel, cp, report) {
                verified_upto = verified_upto.max(cp.last_file);
            }
        }
        for seq in 1..=last_seq {
            // The tree is rebuilt in sequence: past a missing file, the events of the files
            // after it cannot be placed, so it stops there as at an unreadable file.
            // A tail of missing files is not a gap: the checkpoints past it are reported as
            // covering events that were removed.
            let Some(l) = files.get(&seq) else {
                if files.range(seq..).next().is_some() {
                    broken = Some(format!("log file {seq} is missing"));
                }
                break;
            };
            match contents.get(&l.rel) {
                Some(Ok((_, records))) => {
                    for r in records {
                        range.push(r);
                        while let Some((rel, cp)) = pending.next_if(|(_, c)| c.size == range.size())
                        {
                            if judge(&range, &broken, rel, cp, report) {
                                verified_upto = verified_upto.max(cp.last_file);
                            }
                        }
                    }
                }
                _ => {
                    broken.get_or_insert_with(|| format!("log file {seq} is unreadable"));
                }
            }
            if broken.is_some() {
                break;
            }
        }
        for (rel, cp) in pending {
            let shown = rel
                .clone()
                .unwrap_or_else(|| "(trusted checkpoint)".to_owned());
            // Past a missing or unreadable file the checkpoint cannot be checked, which says
            // nothing against it: that file is the finding.
            let (status, detail) = match &broken {
                Some(why) => (
                    Status::Unverified,
                    format!("cannot be checked: the tree stops where {why}"),
                ),
                None => (
                    Status::Missing,
                    format!(
                        "it covers {} events but the log files hold {}: events were removed",
                        cp.size,
                        range.size()
                    ),
                ),
            };
            report.push(Kind::Checkpoint, &shown, status, detail);
        }
        covered.extend(files.range(..=verified_upto).map(|(_, l)| l.rel.clone()));
        if let Some(why) = &broken {
            for (_, l) in files.range(verified_upto.saturating_add(1)..) {
                blocked.insert(l.rel.clone(), why.clone());
            }
        }
    }
    Ok((covered, blocked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_give_time_and_sequence() {
        let n = "123456789012_CloudTrail_us-east-1_20231114T2213Z_abcd123400000011.json.gz";
        assert_eq!(
            log_name_time(n).map(OffsetDateTime::unix_timestamp),
            Some(1_699_999_980)
        );
        assert_eq!(log_unique(n), Some(("abcd1234".into(), 17)));
    }
}
