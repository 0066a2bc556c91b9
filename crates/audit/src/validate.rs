//! The offline validator behind `palisade audit validate`: checks a delivery directory's log
//! files, digest chain and Merkle checkpoints, and says for each file whether it is valid,
//! modified, missing or badly signed.
//!
//! What each check catches:
//! - a digest's signature (SHA256withRSA over CloudTrail's string to sign) catches any edit of
//!   the digest; its `previousDigestSignature` link catches a deleted or replaced earlier digest;
//! - a digest's `hashValue` catches any edit of a log file it lists, including truncation (only
//!   a digest whose signature verifies is believed: a failing one vouches for nothing);
//! - the log-file sequence in file names catches a deleted file in the middle;
//! - the Merkle checkpoints catch what the chain cannot see: the newest log files (not yet in a
//!   digest) deleted or edited, and the newest digest deleted. A checkpoint kept elsewhere
//!   (`trusted`) catches even the removal of the newest checkpoints themselves. A trail writes
//!   a checkpoint after each digest, so a signed digest no checkpoint names shows checkpoints
//!   deleted.
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
    /// Nothing signed vouches for it: a log file in no digest, or listed only by digests whose
    /// signature fails, that no verified checkpoint covers (a forged or replayed file, or one
    /// whose evidence was deleted), or a checkpoint
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
    /// Why the report proves nothing when it has no entries (no trail files, or none in the
    /// time window), so that machines reading the JSON see it too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
                self.reason
                    .clone()
                    .unwrap_or_else(|| "no log files, digests or checkpoints found".to_owned())
            } else {
                summary.join(", ")
            }
        ));
        out
    }

    /// JSON for machines.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::json!({
            "valid": self.ok(),
            "summary": self.summary(),
            "results": self.results,
        });
        if let (Some(reason), Some(map)) = (&self.reason, json.as_object_mut()) {
            map.insert("reason".to_owned(), reason.clone().into());
        }
        json.to_string()
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
    // Below `AWSLogs` no file has CloudTrail's layout relative to the directory, so it would
    // look empty: say which directory to give instead.
    if logs.is_empty() && digest_locs.is_empty() && checkpoint_locs.is_empty() {
        report.hint = below_awslogs(dir, &files);
        if report.hint.is_some() {
            return Ok(report);
        }
    }
    let mut contents: HashMap<String, LogContents> = HashMap::new();
    for l in &logs {
        contents.insert(l.rel.clone(), read_log(&dir.join(&l.rel)));
    }
    // The outcome of each log file as its digest judged it.
    let mut judged: HashMap<String, (Status, String)> = HashMap::new();
    // Log files listed only by digests that are not trusted: path → the digest.
    let mut untrusted_listed: HashMap<String, String> = HashMap::new();
    // Trusted digests, with the area their trail delivers to: a Palisade trail writes a
    // checkpoint naming each one.
    let mut signed_digests: Vec<(Area, String, String)> = Vec::new();
    // The areas that hold a Palisade trail's files (its log files carry its tag and sequence).
    let mut palisade_areas: HashSet<Area> = HashSet::new();
    // Where the trusted digests put each log file: (account, Region, trail tag, sequence) →
    // path.
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
        // Only a digest in place whose signature verifies under a trusted key speaks for the
        // log files it lists: anyone who can write the directory can write a digest.
        let trusted = status.is_none();
        if shown {
            match status {
                Some((s, d)) => report.push(Kind::Digest, &loc.rel, s, d),
                None => report.push(Kind::Digest, &loc.rel, Status::Valid, ""),
            }
        }
        // The bucket root: the digest's path minus its bucket and key.
        let root = loc.rel.strip_suffix(&expected).unwrap_or("").to_owned();
        if let Some(base) = awslogs_base(&loc.rel) {
            let area = (base.to_owned(), loc.account.clone(), loc.region.clone());
            if digest.log_files.iter().any(|lf| {
                lf.s3_object
                    .rsplit('/')
                    .next()
                    .and_then(log_unique)
                    .is_some()
            }) {
                palisade_areas.insert(area.clone());
            }
            if trusted && shown {
                signed_digests.push((area, loc.rel.clone(), digest.digest_s3_object.clone()));
            }
        }
        for lf in &digest.log_files {
            let lrel = format!("{root}{}/{}", lf.s3_bucket, lf.s3_object);
            if !trusted {
                // Its list may be forged: neither a hash it gives nor a file it names as
                // missing is evidence. The file is judged as one in no digest (by the
                // checkpoints), and a file it names that is absent is left to the sequence
                // and tree checks.
                untrusted_listed
                    .entry(lrel)
                    .or_insert_with(|| loc.rel.clone());
                continue;
            }
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

    for l in &logs {
        if log_unique(&l.name).is_some()
            && let Some(base) = awslogs_base(&l.rel)
        {
            palisade_areas.insert((base.to_owned(), l.account.clone(), l.region.clone()));
        }
    }
    for c in &checkpoint_locs {
        if let Some(base) = awslogs_base(&c.rel) {
            palisade_areas.insert((base.to_owned(), c.account.clone(), c.region.clone()));
        }
    }

    let trees = check_trees(
        dir,
        &logs,
        &checkpoint_locs,
        &Seen {
            contents: &contents,
            digests: &by_path,
            judged: &judged,
        },
        opts,
        &mut report,
    )?;
    let TreeOutcome {
        covered,
        blocked,
        named_digests,
        duplicates,
    } = trees;

    // A Palisade trail writes a checkpoint after each digest, naming it, so a trusted digest
    // that no checkpoint names means checkpoints were deleted (all of them, or the newest,
    // which would otherwise expose the newest log files and digests deleted). One finding
    // per checkpoint directory.
    let mut unnamed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((base, account, region), rel, object) in &signed_digests {
        if palisade_areas.contains(&(base.clone(), account.clone(), region.clone()))
            && !named_digests.contains(object)
        {
            unnamed
                .entry(format!(
                    "{base}AWSLogs/{account}/Palisade-Checkpoint/{region}/"
                ))
                .or_default()
                .push(rel.rsplit('/').next().unwrap_or(rel).to_owned());
        }
    }
    for (cp_dir, mut names) in unnamed {
        names.sort();
        let detail = match (names.first(), names.last()) {
            (Some(first), Some(last)) if names.len() > 1 => format!(
                "no checkpoint names the {} digests from {first} to {last}: the trail writes \
                 one after each digest, so checkpoints were deleted",
                names.len()
            ),
            _ => format!(
                "no checkpoint names digest {}: the trail writes one after each digest, so \
                 checkpoints were deleted",
                names.join(", ")
            ),
        };
        report.push(Kind::Checkpoint, &cp_dir, Status::Missing, detail);
    }

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
        let untrusted = untrusted_listed.get(&l.rel);
        let (status, detail) = match judged.remove(&l.rel) {
            Some(v) => v,
            None => match contents.get(&l.rel) {
                Some(Err(e)) => (Status::Modified, e.clone()),
                _ if covered.contains(&l.rel) => (
                    Status::Valid,
                    match untrusted {
                        Some(d) => format!(
                            "digest {d} is not trusted, but its events and bytes are in a \
                             verified checkpoint's tree"
                        ),
                        None => "not yet in a digest; its events are in a verified \
                                 checkpoint's tree"
                            .to_owned(),
                    },
                ),
                _ => {
                    let digest = match untrusted {
                        Some(d) => format!("listed only by digest {d}, which is not trusted"),
                        None => "in no digest".to_owned(),
                    };
                    (
                        Status::Unverified,
                        match blocked.get(&l.rel) {
                            Some(why) => format!(
                                "{digest}, and no verified checkpoint covers it: the tree \
                                 stops where {why}"
                            ),
                            None => format!("{digest}, and no verified checkpoint covers it"),
                        },
                    )
                }
            },
        };
        report.push(Kind::LogFile, &l.rel, status, detail);
        // A trail delivers each sequence number once: a second file is a copy or a forgery.
        // The one the tree was rebuilt with (a trusted digest's, else the one in place) is
        // only blamed when nothing vouches for it.
        if let Some(&(seq, kept)) = duplicates.get(&l.rel)
            && (!kept || status != Status::Valid)
        {
            report.push(
                Kind::LogFile,
                &l.rel,
                Status::Modified,
                format!("another log file has the same trail and sequence number {seq}"),
            );
        }
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
    report.results = merge(std::mem::take(&mut report.results));
    if report.results.is_empty() {
        let window = if opts.start.is_some() || opts.end.is_some() {
            " in the time window"
        } else {
            ""
        };
        report.reason = Some(format!(
            "no log files, digests or checkpoints found{window}"
        ));
    }
    Ok(report)
}

/// How bad a finding is, to keep one per file: what is gone, then a signature that fails (a
/// digest's own, which its successor's link only repeats), then what provably changed, then
/// what cannot be checked.
fn severity(s: Status) -> u8 {
    match s {
        Status::Valid => 0,
        Status::Unverified => 1,
        Status::Modified => 2,
        Status::BadlySigned => 3,
        Status::Missing => 4,
    }
}

/// One entry per file, in path order: several checks can find the same file (a digest's
/// signature and its successor's link; a copy that is moved and a duplicate), and a file
/// listed twice reads as two files. It keeps the worst status, with the other findings'
/// reasons after its own.
fn merge(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| severity(b.status).cmp(&severity(a.status)))
    });
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        match out.last_mut() {
            Some(prev) if prev.path == e.path && prev.kind == e.kind => {
                if e.status != Status::Valid
                    && !e.detail.is_empty()
                    && !prev.detail.contains(&e.detail)
                {
                    if !prev.detail.is_empty() {
                        prev.detail.push_str("; also ");
                    }
                    prev.detail.push_str(&e.detail);
                }
            }
            _ => out.push(e),
        }
    }
    out
}

/// The part of a path before its last `AWSLogs` component: `<bucket>/<prefix>/` below the
/// root directory.
fn awslogs_base(rel: &str) -> Option<&str> {
    if rel.starts_with("AWSLogs/") {
        return Some("");
    }
    rel.rfind("/AWSLogs/").and_then(|at| rel.get(..=at))
}

/// The path of the digest with object key `key`, delivered beside the file at `near` (which
/// gives the root and bucket the key leaves out); the key itself when `near` does not fit.
fn digest_path(near: Option<&str>, key: &str) -> String {
    let key_base = awslogs_base(key).unwrap_or("");
    near.and_then(awslogs_base)
        .and_then(|base| base.strip_suffix(key_base))
        .map_or_else(|| key.to_owned(), |root| format!("{root}{key}"))
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

/// The hint for a `--dir` at or below an `AWSLogs` directory of CloudTrail's layout: the
/// directory to give instead, exact when a digest's own bucket and key say where it was
/// delivered.
fn below_awslogs(dir: &Path, files: &[PathBuf]) -> Option<String> {
    let full = dir.canonicalize().ok()?;
    let awslogs = full
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "AWSLogs"))?;
    // A directory merely named AWSLogs above a trail directory is not the layout's: below the
    // layout's comes an account id.
    if let Some(next) = full
        .strip_prefix(awslogs)
        .ok()
        .and_then(|r| r.components().next())
    {
        let next = next.as_os_str().to_string_lossy();
        if next.len() != 12 || !next.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    // A few digests are enough: each one names its own place.
    let trail_dir = files
        .iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("_CloudTrail-Digest_") && n.ends_with(".json.gz"))
        })
        .take(3)
        .find_map(|f| {
            let digest: Digest =
                serde_json::from_slice(&gunzip(&std::fs::read(f).ok()?).ok()?).ok()?;
            let at = full.join(f.strip_prefix(dir).ok()?);
            let at = at.to_string_lossy();
            let expected = format!("/{}/{}", digest.digest_s3_bucket, digest.digest_s3_object);
            at.strip_suffix(&expected).map(str::to_owned)
        })
        .or_else(|| {
            // A checkpoint names its newest digest's key, which gives the prefix; the bucket is
            // the one directory above it.
            files
                .iter()
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains("_Palisade-Checkpoint_") && n.ends_with(".txt"))
                })
                .take(3)
                .find_map(|f| {
                    let (cp, _, _) = Checkpoint::parse_note(&std::fs::read_to_string(f).ok()?)?;
                    let prefix = awslogs_base(cp.digest.as_deref()?)?;
                    let mut at = awslogs.parent()?.to_path_buf();
                    for part in prefix.trim_end_matches('/').rsplit('/') {
                        if part.is_empty() {
                            continue;
                        }
                        if at.file_name().is_none_or(|n| n != part) || !at.pop() {
                            return None;
                        }
                    }
                    at.pop().then(|| at.display().to_string())
                })
        });
    let parent = awslogs.parent().unwrap_or(awslogs).display();
    Some(match trail_dir {
        Some(trail_dir) => format!(
            "{} is at or below {}, inside a bucket directory: give the directory that holds \
             the bucket directories (the server's --trail-dir), {trail_dir}",
            dir.display(),
            awslogs.display()
        ),
        None => format!(
            "{} is at or below {}, inside a bucket directory: give the directory that holds \
             the bucket directories (the server's --trail-dir), above {parent}",
            dir.display(),
            awslogs.display()
        ),
    })
}

/// A trail's files in one Region: (account, Region, trail tag).
type Group = (String, String, String);

/// Where trails deliver in one Region: (the path before `AWSLogs/`, account, Region).
type Area = (String, String, String);

/// What the digest checks found, for the Merkle check.
#[derive(Clone, Copy)]
struct Seen<'a> {
    /// Each log file's hash and records, or why it cannot be read.
    contents: &'a HashMap<String, LogContents>,
    /// The digests on disk, by path.
    digests: &'a HashMap<&'a str, &'a DigestOnDisk>,
    /// The log files trusted digests list, as they judged them.
    judged: &'a HashMap<String, (Status, String)>,
}

/// What the Merkle check found beside its report entries.
struct TreeOutcome {
    /// The log files (paths) whose events a verified checkpoint covers.
    covered: HashSet<String>,
    /// The log files after a missing or unreadable one, with why the tree stops before them.
    blocked: HashMap<String, String>,
    /// The object keys of the digests that checkpoints with a verified signature name.
    named_digests: HashSet<String>,
    /// Log files that share their trail and sequence number with another: path → (sequence,
    /// whether the tree was rebuilt with this one).
    duplicates: HashMap<String, (u32, bool)>,
}

/// The Merkle check, per trail and Region: the log files in sequence order rebuild the tree
/// that every checkpoint signed.
fn check_trees(
    dir: &Path,
    logs: &[Located],
    checkpoint_locs: &[Located],
    seen: &Seen<'_>,
    opts: &Options,
    report: &mut Report,
) -> std::io::Result<TreeOutcome> {
    let Seen {
        contents,
        digests,
        judged,
    } = *seen;
    let mut covered = HashSet::new();
    let mut blocked = HashMap::new();
    let mut named_digests = HashSet::new();
    // Files that share their group and sequence number with another.
    let mut shared: HashMap<&str, (Group, u32)> = HashMap::new();
    // (account, region, tag) → files by sequence.
    let mut groups: BTreeMap<Group, BTreeMap<u32, &Located>> = BTreeMap::new();
    // Which of two files with one sequence number is genuine is for a trusted digest to say,
    // else the one where its name puts it is more likely so.
    let rank = |l: &Located| {
        (
            judged.get(&l.rel).is_some_and(|(s, _)| *s == Status::Valid),
            misplaced(l).is_none(),
        )
    };
    for l in logs {
        if let Some((tag, seq)) = log_unique(&l.name) {
            let key = (l.account.clone(), l.region.clone(), tag);
            let group = groups.entry(key.clone()).or_default();
            match group.get(&seq).copied() {
                None => {
                    group.insert(seq, l);
                }
                Some(other) => {
                    if rank(l) > rank(other) {
                        group.insert(seq, l);
                    }
                    shared.insert(&other.rel, (key.clone(), seq));
                    shared.insert(&l.rel, (key, seq));
                }
            }
        }
    }
    let duplicates: HashMap<String, (u32, bool)> = shared
        .into_iter()
        .map(|(rel, (key, seq))| {
            let kept = groups
                .get(&key)
                .and_then(|g| g.get(&seq))
                .is_some_and(|k| k.rel == rel);
            (rel.to_owned(), (seq, kept))
        })
        .collect();
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
        if let Some(d) = &cp.digest {
            named_digests.insert(d.clone());
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
            // The name of an absent file is not known (it holds a time), but where it was is:
            // beside the file before it.
            let base = files
                .range(..next)
                .next_back()
                .or_else(|| files.iter().next())
                .and_then(|(_, l)| awslogs_base(&l.rel))
                .unwrap_or("");
            if gap > 0 && gap <= 16 {
                for seq in expected..next {
                    report.push(
                        Kind::LogFile,
                        &format!(
                            "{base}AWSLogs/{account}/CloudTrail/{region}/…_{tag}{seq:08x}.json.gz"
                        ),
                        Status::Missing,
                        format!("log file {seq} of the sequence is absent"),
                    );
                }
            } else if gap > 16 {
                let last = next - 1;
                report.push(
                    Kind::LogFile,
                    &format!(
                        "{base}AWSLogs/{account}/CloudTrail/{region}/…_{tag}{expected:08x}….json.gz"
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
                // A trusted checkpoint has no place of its own: the trail's files give the
                // root and bucket.
                let near = rel
                    .as_deref()
                    .or_else(|| files.values().next().map(|l| l.rel.as_str()));
                report.push(
                    Kind::Digest,
                    &digest_path(near, d),
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
    Ok(TreeOutcome {
        covered,
        blocked,
        named_digests,
        duplicates,
    })
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
