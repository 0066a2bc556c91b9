//! What a trail delivers, as pure functions over a per-Region state: the caller (the server's
//! delivery task) writes the returned files and persists the new state only once they are all
//! written, so a failed write leaves the previous state to retry from.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::format_event_time;
use crate::merkle::CompactRange;
use crate::trail::{
    Checkpoint, Digest, DigestLogFile, DigestMetadata, SIGNATURE_ALGORITHM, SigningKey, TrailError,
    checkpoint_object_key, digest_object_key, digest_string_to_sign, gzip, log_file_body,
    log_object_key, second_stamp, sha256_hex, trail_tag_of, unique_id,
};

/// The trail a delivery is for.
#[derive(Debug, Clone)]
pub struct TrailSpec {
    /// The trail's account.
    pub account: String,
    /// The trail's home Region.
    pub home_region: String,
    /// The trail's name.
    pub name: String,
    /// The trail's ARN.
    pub arn: String,
    /// The bucket (a directory under the delivery root).
    pub bucket: String,
    /// The key prefix, if any.
    pub prefix: Option<String>,
    /// Drawn when the trail was created (`None` for a trail made before generations): part of
    /// the tag in file names, so that a trail created again under the same name has its own.
    pub generation: Option<String>,
}

impl TrailSpec {
    /// The trail's tag in file names.
    pub fn tag(&self) -> String {
        trail_tag_of(&self.arn, self.generation.as_deref())
    }
}

/// The last digest delivered, which the next one chains to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDigest {
    /// Its bucket.
    pub bucket: String,
    /// Its object key.
    pub object: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub hash: String,
    /// Its hex signature.
    pub signature: String,
    /// Its `digestEndTime`, where the next digest's range starts.
    #[serde(default)]
    pub end_time: Option<String>,
}

/// A trail's delivery state in one Region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionState {
    /// The sequence of the last log file delivered.
    pub seq: u32,
    /// The Merkle tree over every event delivered.
    pub tree: CompactRange,
    /// Log files delivered since the last digest.
    pub pending: Vec<DigestLogFile>,
    /// The start of the next digest's period.
    pub digest_start: Option<String>,
    /// The last digest delivered.
    pub last_digest: Option<LastDigest>,
    /// The chain of the log files delivered (`trail::chain_file`); `None` for a trail whose
    /// earlier files were delivered before the chain existed, whose checkpoints then omit it.
    #[serde(default)]
    pub files_hash: Option<crate::merkle::Hash>,
}

/// One file to write: `<root>/<bucket>/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn checkpoint(
    spec: &TrailSpec,
    region: &str,
    state: &RegionState,
    now: OffsetDateTime,
    key: &SigningKey,
    after_digest: Option<&str>,
) -> Result<Artefact, TrailError> {
    let tag = spec.tag();
    let cp = Checkpoint {
        origin: Checkpoint::origin_for(&spec.account, region, &spec.name),
        size: state.tree.size(),
        root: state.tree.root(),
        tag: tag.clone(),
        last_file: state.seq,
        digest: state.last_digest.as_ref().map(|d| d.object.clone()),
        time: format_event_time(now),
        files_hash: state.files_hash,
    };
    // Named after the newest file and the tree size; the one a digest adds names the digest's
    // time too, or it would overwrite the checkpoint of the same file and size (that of the
    // file, or of an earlier digest with no log file since).
    let mut unique = format!("{}_{:010}", unique_id(&tag, state.seq), state.tree.size());
    if let Some(stamp) = after_digest {
        unique.push_str("_digest");
        unique.push_str(stamp);
    }
    Ok(Artefact {
        bucket: spec.bucket.clone(),
        key: checkpoint_object_key(
            spec.prefix.as_deref(),
            &spec.account,
            region,
            &spec.name,
            &unique,
        ),
        bytes: cp.to_note(key)?.into_bytes(),
    })
}

/// Delivers one log file of `records` (CloudTrail JSON records, in order, with their event
/// times) and the checkpoint after it. Updates `state`.
pub fn deliver_log_file(
    spec: &TrailSpec,
    region: &str,
    state: &mut RegionState,
    records: &[(&str, &str)],
    now: OffsetDateTime,
    key: &SigningKey,
) -> Result<Vec<Artefact>, TrailError> {
    let tag = spec.tag();
    state.seq += 1;
    let object = log_object_key(
        spec.prefix.as_deref(),
        &spec.account,
        region,
        now,
        &unique_id(&tag, state.seq),
    );
    let body = log_file_body(records.iter().map(|(r, _)| *r));
    // A trail's first file starts the chain; a trail older than the chain never gets one.
    if state.seq == 1 {
        state.files_hash = Some([0u8; 32]);
    }
    state.files_hash = state
        .files_hash
        .map(|h| crate::trail::chain_file(&h, body.as_bytes()));
    for (r, _) in records {
        state.tree.push(r.as_bytes());
    }
    let oldest = records.iter().map(|(_, t)| *t).min().unwrap_or_default();
    let newest = records.iter().map(|(_, t)| *t).max().unwrap_or_default();
    state.pending.push(DigestLogFile {
        s3_bucket: spec.bucket.clone(),
        s3_object: object.clone(),
        hash_value: sha256_hex(body.as_bytes()),
        hash_algorithm: "SHA-256".to_owned(),
        newest_event_time: newest.to_owned(),
        oldest_event_time: oldest.to_owned(),
    });
    if state.digest_start.is_none() {
        state.digest_start = Some(oldest.to_owned());
    }
    let log = Artefact {
        bucket: spec.bucket.clone(),
        key: object,
        bytes: gzip(body.as_bytes())?,
    };
    Ok(vec![log, checkpoint(spec, region, state, now, key, None)?])
}

/// Delivers the digest of the log files since the last one (possibly none, as CloudTrail
/// does), its signature sidecar and a checkpoint naming it. Updates `state`.
pub fn deliver_digest(
    spec: &TrailSpec,
    region: &str,
    state: &mut RegionState,
    now: OffsetDateTime,
    key: &SigningKey,
) -> Result<Vec<Artefact>, TrailError> {
    let end = format_event_time(now);
    let object = digest_object_key(
        spec.prefix.as_deref(),
        &spec.account,
        region,
        &spec.name,
        &spec.home_region,
        now,
    );
    let prev = state.last_digest.clone();
    let files = std::mem::take(&mut state.pending);
    let digest = Digest {
        aws_account_id: spec.account.clone(),
        // Digests cover consecutive ranges: each starts where the previous one ended (the
        // first, at its oldest event).
        digest_start_time: prev
            .as_ref()
            .and_then(|p| p.end_time.clone())
            .or_else(|| state.digest_start.clone())
            .unwrap_or_else(|| end.clone()),
        digest_end_time: end.clone(),
        digest_s3_bucket: spec.bucket.clone(),
        digest_s3_object: object.clone(),
        digest_public_key_fingerprint: key.fingerprint(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
        newest_event_time: files.iter().map(|f| f.newest_event_time.clone()).max(),
        oldest_event_time: files.iter().map(|f| f.oldest_event_time.clone()).min(),
        previous_digest_s3_bucket: prev.as_ref().map(|p| p.bucket.clone()),
        previous_digest_s3_object: prev.as_ref().map(|p| p.object.clone()),
        previous_digest_hash_value: prev.as_ref().map(|p| p.hash.clone()),
        previous_digest_hash_algorithm: prev.as_ref().map(|_| "SHA-256".to_owned()),
        previous_digest_signature: prev.as_ref().map(|p| p.signature.clone()),
        log_files: files,
    };
    let body = serde_json::to_vec(&digest)?;
    let to_sign = digest_string_to_sign(
        &end,
        &spec.bucket,
        &object,
        &body,
        digest.previous_digest_signature.as_deref(),
    );
    let signature = hex::encode(key.sign(to_sign.as_bytes())?);
    let metadata = serde_json::to_vec(&DigestMetadata {
        signature: signature.clone(),
        signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
    })?;
    state.digest_start = None;
    state.last_digest = Some(LastDigest {
        bucket: spec.bucket.clone(),
        object: object.clone(),
        hash: sha256_hex(&body),
        signature,
        end_time: Some(end.clone()),
    });
    Ok(vec![
        Artefact {
            bucket: spec.bucket.clone(),
            key: object.clone(),
            bytes: gzip(&body)?,
        },
        Artefact {
            bucket: spec.bucket.clone(),
            key: format!("{object}.metadata"),
            bytes: metadata,
        },
        checkpoint(spec, region, state, now, key, Some(&second_stamp(now)))?,
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::validate::{Options, Status, validate};

    fn spec() -> TrailSpec {
        TrailSpec {
            account: "123456789012".into(),
            home_region: "us-east-1".into(),
            name: "main".into(),
            arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/main".into(),
            bucket: "audit-bucket".into(),
            prefix: Some("org".into()),
            generation: Some("first".into()),
        }
    }

    fn write(root: &Path, arts: &[Artefact]) {
        for a in arts {
            let p = root.join(&a.bucket).join(&a.key);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &a.bytes).unwrap();
        }
    }

    /// Three digests of two log files each, then two log files not yet in a digest.
    fn delivered(root: &Path) -> (Options, Vec<String>) {
        let key = SigningKey::generate().unwrap();
        let spec = spec();
        let mut st = RegionState::default();
        let mut t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let mut logs = Vec::new();
        for round in 0..4 {
            for f in 0..2 {
                let rec = format!(r#"{{"eventID":"{round}-{f}","eventName":"Encrypt"}}"#);
                let rec2 = format!(r#"{{"eventID":"{round}-{f}b","eventName":"Decrypt"}}"#);
                let arts = deliver_log_file(
                    &spec,
                    "us-east-1",
                    &mut st,
                    &[
                        (&rec, "2026-09-21T14:00:00Z"),
                        (&rec2, "2026-09-21T14:00:01Z"),
                    ],
                    t,
                    &key,
                )
                .unwrap();
                logs.push(format!("{}/{}", arts[0].bucket, arts[0].key));
                write(root, &arts);
                t += time::Duration::minutes(5);
            }
            if round < 3 {
                write(
                    root,
                    &deliver_digest(&spec, "us-east-1", &mut st, t, &key).unwrap(),
                );
                t += time::Duration::minutes(1);
            }
        }
        let mut public_keys = HashMap::new();
        public_keys.insert(key.fingerprint(), key.public_pkcs1());
        (
            Options {
                public_keys,
                ..Options::default()
            },
            logs,
        )
    }

    fn statuses(root: &Path, opts: &Options) -> Vec<(Status, String, String)> {
        validate(root, opts)
            .unwrap()
            .results
            .into_iter()
            .filter(|e| e.status != Status::Valid)
            .map(|e| (e.status, e.path, e.detail))
            .collect()
    }

    #[test]
    fn an_untouched_delivery_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let report = validate(dir.path(), &opts).unwrap();
        assert!(report.ok(), "{}", report.to_table());
        assert_eq!(report.summary().get("valid"), Some(&(8 + 3 + 11)));
    }

    #[test]
    fn a_changed_byte_in_a_log_file_is_modified() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        let p = dir.path().join(&logs[1]);
        let body = crate::trail::gunzip(&std::fs::read(&p).unwrap()).unwrap();
        let edited = String::from_utf8(body)
            .unwrap()
            .replace("Decrypt", "Decrypu");
        std::fs::write(&p, gzip(edited.as_bytes()).unwrap()).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter()
                .any(|(s, p, _)| *s == Status::Modified && p == &logs[1]),
            "{bad:?}"
        );
    }

    #[test]
    fn a_truncated_log_file_is_modified() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        let p = dir.path().join(&logs[0]);
        let raw = std::fs::read(&p).unwrap();
        std::fs::write(&p, &raw[..raw.len() / 2]).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter()
                .any(|(s, p, _)| *s == Status::Modified && p == &logs[0]),
            "{bad:?}"
        );
    }

    #[test]
    fn a_deleted_digest_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let mut digests: Vec<_> = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().ends_with(".json.gz")
                    && p.to_string_lossy().contains("CloudTrail-Digest")
                {
                    digests.push(p);
                }
            }
        }
        digests.sort();
        // The middle one: its successor's link exposes it. The newest: the checkpoint does.
        for victim in [digests[1].clone(), digests[2].clone()] {
            let saved = std::fs::read(&victim).unwrap();
            std::fs::remove_file(&victim).unwrap();
            let bad = statuses(dir.path(), &opts);
            assert!(
                bad.iter().any(|(s, _, _)| *s == Status::Missing),
                "{victim:?}: {bad:?}"
            );
            std::fs::write(&victim, saved).unwrap();
        }
    }

    #[test]
    fn the_newest_log_file_deleted_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        std::fs::remove_file(dir.path().join(logs.last().unwrap())).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(bad.iter().any(|(s, _, _)| *s == Status::Missing), "{bad:?}");
    }

    #[test]
    fn a_forged_sequence_number_near_the_top_is_one_finding_not_billions() {
        // Regression: the validator walked every number up to the highest sequence number a
        // file name claimed, one finding per absent file: a copy named ...fffffff0 made it
        // run for hours and fill memory.
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        let newest = logs.last().unwrap();
        let stem = newest.strip_suffix(".json.gz").unwrap();
        let forged = format!("{}fffffff0.json.gz", &stem[..stem.len() - 8]);
        std::fs::copy(dir.path().join(newest), dir.path().join(&forged)).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(bad.len() < 20, "{bad:?}");
        assert!(
            bad.iter().any(|(s, _, d)| *s == Status::Missing
                && d.ends_with("to 4294967279 of the sequence are absent")),
            "{bad:?}"
        );
    }

    #[test]
    fn a_trusted_checkpoint_exposes_a_truncated_tail_with_its_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let (mut opts, logs) = delivered(dir.path());
        // Keep the newest checkpoint elsewhere, then remove the newest log file and every
        // checkpoint that mentions it.
        let cp_dir = dir
            .path()
            .join("audit-bucket/org/AWSLogs/123456789012/Palisade-Checkpoint/us-east-1");
        let mut cps: Vec<_> = std::fs::read_dir(&cp_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        cps.sort();
        let newest = cps.pop().unwrap();
        opts.trusted_checkpoints
            .push(std::fs::read_to_string(&newest).unwrap());
        std::fs::remove_file(newest).unwrap();
        std::fs::remove_file(dir.path().join(logs.last().unwrap())).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter()
                .any(|(s, p, _)| *s == Status::Missing && p == "(trusted checkpoint)"),
            "{bad:?}"
        );
    }

    #[test]
    fn an_unknown_key_is_badly_signed() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _) = delivered(dir.path());
        let other = SigningKey::generate().unwrap();
        let mut public_keys = HashMap::new();
        public_keys.insert(other.fingerprint(), other.public_pkcs1());
        let bad = statuses(
            dir.path(),
            &Options {
                public_keys,
                ..Options::default()
            },
        );
        assert!(
            bad.iter().any(|(s, _, _)| *s == Status::BadlySigned),
            "{bad:?}"
        );
    }

    /// Regression: a directory with no trail files (empty, not a trail, or every file deleted)
    /// was reported "VALID: no files" (exit 0).
    #[test]
    fn nothing_to_validate_is_not_valid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a trail").unwrap();
        let (opts, _) = {
            let other = tempfile::tempdir().unwrap();
            delivered(other.path())
        };
        let report = validate(dir.path(), &opts).unwrap();
        assert!(!report.ok());
        assert!(
            report
                .to_table()
                .contains("INVALID: no log files, digests or checkpoints found"),
            "{}",
            report.to_table()
        );
    }

    /// Regression: --start-time/--end-time filtered digests only; log files (missing ones
    /// included) and checkpoints outside the window were reported too.
    #[test]
    fn the_time_window_chooses_log_files_and_checkpoints_too() {
        let dir = tempfile::tempdir().unwrap();
        let (mut opts, logs) = delivered(dir.path());
        let all = validate(dir.path(), &opts).unwrap();
        // The last round: its two log files, delivered 33 and 38 minutes after the first.
        let start = OffsetDateTime::from_unix_timestamp(1_790_000_000 + 30 * 60).unwrap();
        opts.start = Some(start);
        let report = validate(dir.path(), &opts).unwrap();
        assert!(report.ok(), "{}", report.to_table());
        let shown =
            |kind: crate::validate::Kind| report.results.iter().filter(|e| e.kind == kind).count();
        let log_paths: Vec<&str> = report
            .results
            .iter()
            .filter(|e| e.kind == crate::validate::Kind::LogFile)
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(log_paths, [logs[6].as_str(), logs[7].as_str()]);
        let checkpoints = shown(crate::validate::Kind::Checkpoint);
        let all_checkpoints = all
            .results
            .iter()
            .filter(|e| e.kind == crate::validate::Kind::Checkpoint)
            .count();
        assert!(
            checkpoints > 0 && checkpoints < all_checkpoints,
            "{checkpoints} of {all_checkpoints}"
        );
        // A window with nothing in it is the nothing-to-validate case.
        let later = Options {
            start: Some(start + time::Duration::days(1)),
            public_keys: opts.public_keys.clone(),
            ..Options::default()
        };
        let report = validate(dir.path(), &later).unwrap();
        assert!(
            report.results.is_empty() && !report.ok(),
            "{}",
            report.to_table()
        );
        // A log file deleted outside the window is not listed by name in it, but the gap in
        // the sequence, which no time bounds, still is.
        std::fs::remove_file(dir.path().join(&logs[0])).unwrap();
        let report = validate(dir.path(), &opts).unwrap();
        assert!(
            !report.results.iter().any(|e| e.path == logs[0]),
            "{}",
            report.to_table()
        );
        assert!(!report.ok(), "{}", report.to_table());
    }

    /// Regression: two digests with no log file between them named their checkpoints alike,
    /// so the second overwrote the first.
    #[test]
    fn back_to_back_digests_keep_both_checkpoints() {
        let key = SigningKey::generate().unwrap();
        let spec = spec();
        let mut st = RegionState::default();
        let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let first = deliver_digest(&spec, "us-east-1", &mut st, t, &key).unwrap();
        let second = deliver_digest(
            &spec,
            "us-east-1",
            &mut st,
            t + time::Duration::seconds(1),
            &key,
        )
        .unwrap();
        let cp = |arts: &[Artefact]| {
            arts.iter()
                .find(|a| a.key.ends_with(".txt"))
                .unwrap()
                .key
                .clone()
        };
        assert_ne!(cp(&first), cp(&second));
    }

    /// Regression: a trail deleted and created again under the same name and bucket reused
    /// the first one's file tag, so its files and checkpoints took the old ones' names.
    #[test]
    fn a_trail_created_again_has_a_tag_of_its_own() {
        let again = TrailSpec {
            generation: Some("second".into()),
            ..spec()
        };
        let key = SigningKey::generate().unwrap();
        let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let names = |spec: &TrailSpec| {
            let mut st = RegionState::default();
            deliver_log_file(
                spec,
                "us-east-1",
                &mut st,
                &[("{}", "2026-09-21T14:00:00Z")],
                t,
                &key,
            )
            .unwrap()
            .into_iter()
            .map(|a| a.key)
            .collect::<Vec<_>>()
        };
        let (old, new) = (names(&spec()), names(&again));
        assert!(old.iter().all(|k| !new.contains(k)), "{old:?} {new:?}");
        assert_ne!(spec().tag(), again.tag());
    }

    /// Regression: a non-UTF-8 byte appended to a checkpoint aborted the validator (exit 2,
    /// no report).
    #[test]
    fn a_checkpoint_that_is_not_text_is_modified() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let cp_dir = dir
            .path()
            .join("audit-bucket/org/AWSLogs/123456789012/Palisade-Checkpoint/us-east-1");
        let victim = std::fs::read_dir(&cp_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&victim).unwrap();
        bytes.push(0xff);
        std::fs::write(&victim, bytes).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter().any(|(s, p, d)| *s == Status::Modified
                && victim.ends_with(p)
                && d.contains("UTF-8")),
            "{bad:?}"
        );
    }

    /// Regression: with a log file deleted in the middle, the tree was rebuilt without it, so
    /// every intact checkpoint after it was reported modified.
    #[test]
    fn a_gap_in_the_middle_stops_the_tree_without_blaming_later_files() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        std::fs::remove_file(dir.path().join(&logs[3])).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter()
                .any(|(s, p, _)| *s == Status::Missing && p == &logs[3]),
            "{bad:?}"
        );
        assert!(
            !bad.iter().any(|(s, _, _)| *s == Status::Modified),
            "{bad:?}"
        );
        assert!(
            bad.iter().any(|(s, p, d)| *s == Status::Unverified
                && p == &logs[7]
                && d.contains("log file 4 is missing")),
            "{bad:?}"
        );
    }

    /// Regression: a log file moved to another day's directory was reported valid, and with
    /// a time window the finding disappeared.
    #[test]
    fn a_moved_log_file_is_modified_whatever_the_window() {
        for victim in [1, 7] {
            let dir = tempfile::tempdir().unwrap();
            let (mut opts, logs) = delivered(dir.path());
            let from = dir.path().join(&logs[victim]);
            let to = dir
                .path()
                .join(logs[victim].replace("/2026/09/21/", "/2026/09/20/"));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::rename(&from, &to).unwrap();
            let moved = to
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .to_string();
            for start in [
                None,
                Some(OffsetDateTime::from_unix_timestamp(1_790_000_000 + 30 * 60).unwrap()),
            ] {
                opts.start = start;
                let bad = statuses(dir.path(), &opts);
                assert!(
                    bad.iter().any(|(s, p, d)| *s == Status::Modified
                        && *p == moved
                        && d.contains("moved")),
                    "{victim} {start:?}: {bad:?}"
                );
            }
        }
    }

    /// Every file under `root` whose path contains `area` and ends with `suffix`, sorted.
    fn area_files(root: &Path, area: &str, suffix: &str) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                let text = p.to_string_lossy().to_string();
                if p.is_dir() {
                    stack.push(p);
                } else if text.contains(&format!("/{area}/")) && text.ends_with(suffix) {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// Rewrites the log file at `rel` with `from` replaced by `to`, and (with `digest`) the
    /// hash the digest that lists it gives, leaving the digest's signature as it was.
    fn forge(root: &Path, rel: &str, from: &str, to: &str, digest: bool) {
        let p = root.join(rel);
        let body = String::from_utf8(crate::trail::gunzip(&std::fs::read(&p).unwrap()).unwrap())
            .unwrap()
            .replace(from, to);
        std::fs::write(&p, gzip(body.as_bytes()).unwrap()).unwrap();
        if !digest {
            return;
        }
        let key = rel.split_once('/').unwrap().1;
        for d in area_files(root, "CloudTrail-Digest", ".json.gz") {
            let raw = crate::trail::gunzip(&std::fs::read(&d).unwrap()).unwrap();
            let mut json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            let mut hit = false;
            for lf in json["logFiles"].as_array_mut().unwrap() {
                if lf["s3Object"] == key {
                    lf["hashValue"] = sha256_hex(body.as_bytes()).into();
                    hit = true;
                }
            }
            if hit {
                let bytes = serde_json::to_vec(&json).unwrap();
                std::fs::write(&d, gzip(&bytes).unwrap()).unwrap();
            }
        }
    }

    fn remove_all(root: &Path, area: &str) {
        for f in area_files(root, area, "") {
            std::fs::remove_file(f).unwrap();
        }
    }

    fn status_of(root: &Path, opts: &Options, path: &str) -> Vec<Status> {
        validate(root, opts)
            .unwrap()
            .results
            .into_iter()
            .filter(|e| e.path == path)
            .map(|e| e.status)
            .collect()
    }

    /// Bug: a log file was judged against its digest even when the digest's signature failed,
    /// so a forged log file with its new hash written into the digest read as valid.
    #[test]
    fn a_digest_whose_signature_fails_vouches_for_no_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        remove_all(dir.path(), "Palisade-Checkpoint");
        forge(dir.path(), &logs[2], "Encrypt", "Encrypu", true);
        let bad = statuses(dir.path(), &opts);
        assert!(
            bad.iter().any(|(s, p, d)| *s == Status::BadlySigned
                && d.contains("does not verify")
                && p.contains("CloudTrail-Digest")),
            "{bad:?}"
        );
        assert_eq!(status_of(dir.path(), &opts, &logs[2]), [Status::Unverified]);
        // Untouched, and in the same untrusted digest: nothing vouches for it either.
        assert_eq!(status_of(dir.path(), &opts, &logs[3]), [Status::Unverified]);
        // In a digest that verifies: still valid.
        assert_eq!(status_of(dir.path(), &opts, &logs[0]), [Status::Valid]);
    }

    /// Bug: with no trusted key (an empty list, or another server's), every digest was badly
    /// signed but every log file it listed was still valid.
    #[test]
    fn without_the_right_key_no_log_file_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let (_, logs) = delivered(dir.path());
        let other = SigningKey::generate().unwrap();
        for public_keys in [
            HashMap::new(),
            HashMap::from([(other.fingerprint(), other.public_pkcs1())]),
        ] {
            let opts = Options {
                public_keys,
                ..Options::default()
            };
            let report = validate(dir.path(), &opts).unwrap();
            for l in &logs {
                let entry = report.results.iter().find(|e| &e.path == l).unwrap();
                assert_eq!(entry.status, Status::Unverified, "{}", report.to_table());
            }
        }
    }

    /// Bug: a digest with one hash changed (its signature then fails) reported the untouched
    /// log file as modified, though the checkpoints vouch for it.
    #[test]
    fn a_log_file_a_bad_digest_lists_is_valid_when_checkpoints_vouch_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        // The hash of a file that is not there: the digest changes, the log file does not.
        let p = dir.path().join(&logs[2]);
        let saved = std::fs::read(&p).unwrap();
        forge(dir.path(), &logs[2], "Encrypt", "Encrypu", true);
        std::fs::write(&p, saved).unwrap();
        let bad = statuses(dir.path(), &opts);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].0, Status::BadlySigned, "{bad:?}");
        assert_eq!(status_of(dir.path(), &opts, &logs[2]), [Status::Valid]);
    }

    /// Bug: deleting every checkpoint (and with them the newest log files and digests) went
    /// unnoticed: the trail writes one after each digest, so their absence is a finding.
    #[test]
    fn deleted_checkpoints_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, logs) = delivered(dir.path());
        remove_all(dir.path(), "Palisade-Checkpoint");
        let cp_dir = "audit-bucket/org/AWSLogs/123456789012/Palisade-Checkpoint/us-east-1/";
        let report = validate(dir.path(), &opts).unwrap();
        assert!(!report.ok(), "{}", report.to_table());
        assert_eq!(status_of(dir.path(), &opts, cp_dir), [Status::Missing]);
        // The newest log files and digest deleted too: what is left is still consistent, but
        // for the checkpoints.
        for l in &logs[4..] {
            std::fs::remove_file(dir.path().join(l)).unwrap();
        }
        let digests = area_files(dir.path(), "CloudTrail-Digest", "");
        for d in digests.iter().filter(|d| {
            d.to_string_lossy().contains(
                digests
                    .last()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches(".metadata"),
            )
        }) {
            std::fs::remove_file(d).unwrap();
        }
        let bad = statuses(dir.path(), &opts);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!((bad[0].0, bad[0].1.as_str()), (Status::Missing, cp_dir));
    }

    /// Bug: one finding was reported several times: a deleted digest once by its successor's
    /// link and once per checkpoint naming it (under a path without its bucket), a digest
    /// with a changed signature as both badly signed and modified.
    #[test]
    fn each_file_is_reported_once_under_its_real_path() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let digests = area_files(dir.path(), "CloudTrail-Digest", ".json.gz");
        let rel = |p: &Path| {
            p.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .to_string()
        };
        for victim in [&digests[1], &digests[2]] {
            let saved = std::fs::read(victim).unwrap();
            std::fs::remove_file(victim).unwrap();
            let bad = statuses(dir.path(), &opts);
            assert_eq!(bad.len(), 1, "{bad:?}");
            assert_eq!(
                (bad[0].0, bad[0].1.as_str()),
                (Status::Missing, rel(victim).as_str())
            );
            std::fs::write(victim, saved).unwrap();
        }
        let meta = digests[1].with_file_name(format!(
            "{}.metadata",
            digests[1].file_name().unwrap().to_string_lossy()
        ));
        let saved = std::fs::read(&meta).unwrap();
        let flipped = String::from_utf8(saved.clone()).unwrap().replacen(
            "\"signature\":\"",
            "\"signature\":\"00",
            1,
        );
        for edit in [Some(flipped.into_bytes()), None] {
            match edit {
                Some(bytes) => std::fs::write(&meta, bytes).unwrap(),
                None => std::fs::remove_file(&meta).unwrap(),
            }
            let bad = statuses(dir.path(), &opts);
            assert_eq!(bad.len(), 1, "{bad:?}");
            assert_eq!(
                (bad[0].0, bad[0].1.as_str()),
                (Status::BadlySigned, rel(&digests[1]).as_str())
            );
        }
    }

    /// Bug: a log file copied into another day's directory was listed twice, and the genuine
    /// original was reported modified as well.
    #[test]
    fn a_copy_under_another_day_is_one_finding_and_the_original_stays_valid() {
        for victim in [1, 7] {
            let dir = tempfile::tempdir().unwrap();
            let (opts, logs) = delivered(dir.path());
            let copy = logs[victim].replace("/2026/09/21/", "/2026/09/22/");
            std::fs::create_dir_all(dir.path().join(&copy).parent().unwrap()).unwrap();
            std::fs::copy(dir.path().join(&logs[victim]), dir.path().join(&copy)).unwrap();
            let bad = statuses(dir.path(), &opts);
            assert_eq!(bad.len(), 1, "{victim}: {bad:?}");
            assert_eq!(
                (bad[0].0, bad[0].1.as_str()),
                (Status::Modified, copy.as_str())
            );
            assert_eq!(status_of(dir.path(), &opts, &logs[victim]), [Status::Valid]);
        }
    }

    /// Bug: a directory at or below AWSLogs looked empty ("no log files found", exit 1)
    /// instead of naming the directory to give.
    #[test]
    fn a_directory_below_awslogs_is_named_with_the_trail_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let top = dir.path().canonicalize().unwrap();
        let base = top.join("audit-bucket/org/AWSLogs");
        for below in [
            "",
            "123456789012",
            "123456789012/CloudTrail-Digest",
            "123456789012/Palisade-Checkpoint/us-east-1",
        ] {
            let report = validate(&base.join(below), &opts).unwrap();
            let hint = report.hint.unwrap_or_default();
            assert!(
                hint.ends_with(&format!("(the server's --trail-dir), {}", top.display())),
                "{below}: {hint}"
            );
        }
        // Log files alone do not say how deep the prefix is: the hint says where to look.
        let report = validate(&base.join("123456789012/CloudTrail"), &opts).unwrap();
        let hint = report.hint.unwrap_or_default();
        assert!(
            hint.contains("above ") && hint.contains("AWSLogs"),
            "{hint}"
        );
        // A directory merely named AWSLogs that holds trails is validated as usual.
        let named = tempfile::tempdir().unwrap();
        let trails = named.path().join("AWSLogs/trails");
        let (opts, _) = delivered(&trails);
        assert!(validate(&trails, &opts).unwrap().ok());
    }

    /// Bug: with nothing to validate the JSON said `"valid": false` and nothing of why.
    #[test]
    fn nothing_to_validate_says_why_in_the_json() {
        let dir = tempfile::tempdir().unwrap();
        let report = validate(dir.path(), &Options::default()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["valid"], false);
        assert_eq!(json["reason"], "no log files, digests or checkpoints found");
        let (opts, _) = delivered(dir.path());
        let json: serde_json::Value =
            serde_json::from_str(&validate(dir.path(), &opts).unwrap().to_json()).unwrap();
        assert!(json.get("reason").is_none(), "{json}");
    }

    /// Regression: a directory one level too deep (a bucket directory) flooded the report
    /// with moved digests and missing files, with no word of the cause.
    #[test]
    fn a_bucket_directory_given_as_the_root_is_named_with_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _) = delivered(dir.path());
        let report = validate(&dir.path().join("audit-bucket"), &opts).unwrap();
        let hint = report.hint.unwrap_or_default();
        assert!(
            hint.contains("inside a bucket directory")
                && hint.ends_with(&dir.path().display().to_string()),
            "{hint}"
        );
        assert!(validate(dir.path(), &opts).unwrap().hint.is_none());
    }
}
