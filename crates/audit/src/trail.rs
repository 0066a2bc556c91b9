//! CloudTrail's delivery formats: log files, digest files and their signatures, and Palisade's
//! signed Merkle checkpoints.
//!
//! Log files and digests follow CloudTrail's layout and fields exactly, so that a validator
//! written for CloudTrail (awscli's `validate-logs`) accepts what Palisade writes:
//!
//! ```text
//! <prefix>/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
//! <prefix>/AWSLogs/<acct>/CloudTrail-Digest/<region>/YYYY/MM/DD/<acct>_CloudTrail-Digest_<region>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>.json.gz
//! <prefix>/AWSLogs/<acct>/Palisade-Checkpoint/<region>/<acct>_Palisade-Checkpoint_<region>_<trail>_<unique>.txt
//! ```
//!
//! CloudTrail's 16-character unique id is, in Palisade, an 8-hex-digit tag of the trail's ARN
//! and generation followed by the 8-hex-digit delivery sequence of the file in its Region. The validator needs
//! both: the tag separates trails that share a bucket and prefix, and the sequence orders the
//! files (the leaves of the Merkle tree) and reveals a missing one.
//!
//! The signature of a digest lives in S3 object metadata in AWS (`x-amz-meta-signature`). A
//! directory has no metadata, so it goes into a sidecar file `<digest>.metadata` holding the
//! same two entries (`signature`, `signature-algorithm`).

use std::io::{Read, Write};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::merkle::Hash;

/// The digest signature algorithm CloudTrail names.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// Why a delivery artefact could not be produced or read.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// A signing key could not be generated, parsed or used.
    #[error("signing key: {0}")]
    Key(&'static str),
    /// Compressing or decompressing failed.
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
    /// A document could not be encoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// The hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes))
}

/// The first 8 hex digits of SHA-256(trail ARN): the tag in file names of a trail made before
/// trails had generations.
pub fn trail_tag(trail_arn: &str) -> String {
    sha256_hex(trail_arn.as_bytes()).chars().take(8).collect()
}

/// A trail's tag in file names: of its ARN and its generation (a value drawn when the trail was
/// created), so that a trail deleted and created again under the same name, bucket and prefix
/// starts a sequence of its own instead of overwriting the first one's files and checkpoints.
pub fn trail_tag_of(trail_arn: &str, generation: Option<&str>) -> String {
    match generation {
        None => trail_tag(trail_arn),
        Some(g) => sha256_hex(format!("{trail_arn}\n{g}").as_bytes())
            .chars()
            .take(8)
            .collect(),
    }
}

/// CloudTrail's unique id part of a log or checkpoint file name.
pub fn unique_id(tag: &str, seq: u32) -> String {
    format!("{tag}{seq:08x}")
}

/// Splits a unique id into the trail tag and the sequence.
pub fn parse_unique_id(unique: &str) -> Option<(String, u32)> {
    if unique.len() != 16 || !unique.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (tag, seq) = unique.split_at(8);
    Some((tag.to_owned(), u32::from_str_radix(seq, 16).ok()?))
}

fn prefixed(prefix: Option<&str>, rest: String) -> String {
    match prefix.map(|p| p.trim_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/{rest}"),
        _ => rest,
    }
}

fn day_path(t: OffsetDateTime) -> String {
    format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `YYYYMMDDTHHmmZ`, as in log file names.
fn minute_stamp(t: OffsetDateTime) -> String {
    let f = format_description!("[year][month][day]T[hour][minute]Z");
    t.format(&f).unwrap_or_default()
}

/// `YYYYMMDDTHHMMSSZ`, as in digest file names.
pub fn second_stamp(t: OffsetDateTime) -> String {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&f).unwrap_or_default()
}

/// The object key of a log file.
pub fn log_object_key(
    prefix: Option<&str>,
    account: &str,
    region: &str,
    time: OffsetDateTime,
    unique: &str,
) -> String {
    prefixed(
        prefix,
        format!(
            "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{unique}.json.gz",
            day_path(time),
            minute_stamp(time)
        ),
    )
}

/// The object key of a digest file.
pub fn digest_object_key(
    prefix: Option<&str>,
    account: &str,
    region: &str,
    trail: &str,
    home_region: &str,
    end: OffsetDateTime,
) -> String {
    prefixed(
        prefix,
        format!(
            "AWSLogs/{account}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{}.json.gz",
            day_path(end),
            second_stamp(end)
        ),
    )
}

/// The object key of a checkpoint.
pub fn checkpoint_object_key(
    prefix: Option<&str>,
    account: &str,
    region: &str,
    trail: &str,
    unique: &str,
) -> String {
    prefixed(
        prefix,
        format!(
            "AWSLogs/{account}/Palisade-Checkpoint/{region}/{account}_Palisade-Checkpoint_{region}_{trail}_{unique}.txt"
        ),
    )
}

/// The uncompressed body of a log file: the records exactly as stored, so that each record's
/// bytes (a Merkle leaf) can be recovered from the file.
pub fn log_file_body<'a>(records: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("{\"Records\":[");
    for (i, r) in records.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push_str("]}");
    out
}

/// The records of a log file body, byte for byte as written.
pub fn log_file_records(body: &[u8]) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct File<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    let file: File<'_> = serde_json::from_slice(body)?;
    Ok(file
        .records
        .iter()
        .map(|r| r.get().as_bytes().to_vec())
        .collect())
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, TrailError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// Decompresses one gzip member, refusing trailing data after it (CloudTrail's validator does
/// too: bytes appended to a log file are tampering).
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, TrailError> {
    let mut dec = flate2::bufread::GzDecoder::new(bytes);
    let mut out = Vec::new();
    dec.read_to_end(&mut out)?;
    let rest = dec.into_inner();
    if !rest.is_empty() {
        return Err(TrailError::Gzip(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} bytes of trailing data after the gzip stream",
                rest.len()
            ),
        )));
    }
    Ok(out)
}

/// One log file as a digest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLogFile {
    /// The bucket the log file was delivered to.
    pub s3_bucket: String,
    /// Its object key.
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash_value: String,
    /// Always `SHA-256`.
    pub hash_algorithm: String,
    /// The newest event time in the file.
    pub newest_event_time: String,
    /// The oldest event time in the file.
    pub oldest_event_time: String,
}

/// A digest file, with CloudTrail's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// The trail's account.
    pub aws_account_id: String,
    /// Start of the period covered.
    pub digest_start_time: String,
    /// End of the period covered (signed).
    pub digest_end_time: String,
    /// Where this digest is delivered (signed).
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    /// Its object key (signed).
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    /// The fingerprint of the public key that verifies the signature.
    pub digest_public_key_fingerprint: String,
    /// Always [`SIGNATURE_ALGORITHM`].
    pub digest_signature_algorithm: String,
    /// The newest event time of the logs listed, if any.
    pub newest_event_time: Option<String>,
    /// The oldest event time of the logs listed, if any.
    pub oldest_event_time: Option<String>,
    /// The previous digest's bucket (`null` in a chain's first digest).
    #[serde(rename = "previousDigestS3Bucket")]
    pub previous_digest_s3_bucket: Option<String>,
    /// The previous digest's object key.
    #[serde(rename = "previousDigestS3Object")]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous uncompressed digest.
    pub previous_digest_hash_value: Option<String>,
    /// `SHA-256` when there is a previous digest.
    pub previous_digest_hash_algorithm: Option<String>,
    /// The previous digest's signature (hex): the link that makes the chain.
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the period.
    pub log_files: Vec<DigestLogFile>,
}

/// The string CloudTrail signs for a digest (and awscli's validator rebuilds).
pub fn digest_string_to_sign(
    end_time: &str,
    bucket: &str,
    object: &str,
    uncompressed_digest: &[u8],
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{object}\n{}\n{}",
        sha256_hex(uncompressed_digest),
        previous_signature.unwrap_or("null")
    )
}

/// The sidecar that holds a digest's signature (S3 object metadata in AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestMetadata {
    /// Hex RSA signature.
    pub signature: String,
    /// Always [`SIGNATURE_ALGORITHM`].
    #[serde(rename = "signature-algorithm")]
    pub signature_algorithm: String,
}

/// An RSA-2048 key that signs digests and checkpoints. The private half never leaves this
/// type unsealed: callers persist [`SigningKey::pkcs8`] only through the sealer.
pub struct SigningKey {
    pair: RsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// A fresh key.
    pub fn generate() -> Result<Self, TrailError> {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| TrailError::Key("rsa key generation failed"))?;
        let der: Pkcs8V1Der<'static> = pair
            .as_der()
            .map_err(|_| TrailError::Key("rsa key encoding failed"))?;
        let pkcs8 = der.as_ref().to_vec();
        Ok(Self { pair, pkcs8 })
    }

    /// A key from its PKCS#8 bytes.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, TrailError> {
        let pair =
            RsaKeyPair::from_pkcs8(der).map_err(|_| TrailError::Key("rsa key is not pkcs#8"))?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The private key as PKCS#8 DER, to be sealed before it is stored.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER, the form ListPublicKeys returns.
    pub fn public_pkcs1(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The key's fingerprint (32 hex digits, the length AWS's have).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_pkcs1())
    }

    /// An RSA PKCS#1 v1.5 SHA-256 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TrailError> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| TrailError::Key("rsa signing failed"))?;
        Ok(sig)
    }
}

/// The fingerprint of a PKCS#1 public key.
pub fn fingerprint(public_pkcs1: &[u8]) -> String {
    sha256_hex(public_pkcs1).chars().take(32).collect()
}

/// The PKCS#1 DER of an RSA public key given as PKCS#1 or X.509 SubjectPublicKeyInfo DER, or
/// `None` when it is not an RSA public key that digests could be signed with (2048 to 8192
/// bits).
pub fn parse_public_key(der: &[u8]) -> Option<Vec<u8>> {
    let key = aws_lc_rs::rsa::PublicKey::from_der(der).ok()?;
    let pkcs1 = key.as_ref().to_vec();
    // The size check `verify` applies, so that a key too small to verify anything is refused
    // up front rather than reading as a bad signature on every file.
    let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&key);
    (2048..=8192)
        .contains(&(components.n.len() * 8))
        .then_some(pkcs1)
}

/// Whether `signature` is a valid SHA256withRSA signature of `message` under the PKCS#1 key.
pub fn verify(public_pkcs1: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_pkcs1)
        .verify(message, signature)
        .is_ok()
}

/// A signed statement of a Merkle tree's size and root over a trail's events in one Region,
/// in the shape of a C2SP signed note: the body lines, a blank line, then `— <key> <sig>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `palisade/cloudtrail/<account>/<region>/<trail>`.
    pub origin: String,
    /// The number of events (leaves).
    pub size: u64,
    /// The tree head.
    pub root: Hash,
    /// The trail tag of the log files the tree covers.
    pub tag: String,
    /// The sequence of the newest log file covered.
    pub last_file: u32,
    /// The object key of the newest digest delivered for the trail in the Region, if any:
    /// deleting that digest is then visible, though nothing links to it yet.
    pub digest: Option<String>,
    /// When the checkpoint was made.
    pub time: String,
    /// The chain of the bytes of every log file covered, in sequence ([`chain_file`]): the
    /// tree covers records, this covers the files, so a log file not yet in a digest cannot be
    /// changed in ways that keep its records (whitespace, an added member). Absent in
    /// checkpoints written before it existed.
    pub files_hash: Option<Hash>,
}

/// Extends the file chain: `SHA-256(previous || SHA-256(uncompressed log file))`, from 32 zero
/// bytes.
pub fn chain_file(previous: &Hash, uncompressed: &[u8]) -> Hash {
    let mut file = [0u8; 32];
    file.copy_from_slice(digest(&SHA256, uncompressed).as_ref());
    chain_step(previous, &file)
}

/// [`chain_file`] given the file's SHA-256.
pub fn chain_step(previous: &Hash, file_sha256: &Hash) -> Hash {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(previous);
    both[32..].copy_from_slice(file_sha256);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &both).as_ref());
    out
}

impl Checkpoint {
    /// The origin line for a trail in a Region.
    pub fn origin_for(account: &str, region: &str, trail: &str) -> String {
        format!("palisade/cloudtrail/{account}/{region}/{trail}")
    }

    /// The signed text.
    pub fn body(&self) -> String {
        use base64::Engine as _;
        format!(
            "{}\n{}\n{}\nfiles {} {}\ndigest {}\ntime {}\n{}",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root),
            self.tag,
            self.last_file,
            self.digest.as_deref().unwrap_or("-"),
            self.time,
            self.files_hash.map_or(String::new(), |h| format!(
                "filehash {}\n",
                base64::engine::general_purpose::STANDARD.encode(h)
            ))
        )
    }

    /// The note: body, blank line, signature line.
    pub fn to_note(&self, key: &SigningKey) -> Result<String, TrailError> {
        use base64::Engine as _;
        let body = self.body();
        let sig = key.sign(body.as_bytes())?;
        Ok(format!(
            "{body}\n\u{2014} {} {}\n",
            key.fingerprint(),
            base64::engine::general_purpose::STANDARD.encode(sig)
        ))
    }

    /// Parses a note; returns the checkpoint, the signing key's fingerprint and the signature.
    /// Whether the signature verifies is the caller's check (it needs the public key).
    pub fn parse_note(text: &str) -> Option<(Self, String, Vec<u8>)> {
        use base64::Engine as _;
        let (body, sig_part) = text.split_once("\n\n")?;
        let body = format!("{body}\n");
        let mut lines = body.lines();
        let origin = lines.next()?.to_owned();
        let size = lines.next()?.parse().ok()?;
        let root_bytes = base64::engine::general_purpose::STANDARD
            .decode(lines.next()?)
            .ok()?;
        let root: Hash = root_bytes.try_into().ok()?;
        let mut files = lines.next()?.strip_prefix("files ")?.split(' ');
        let tag = files.next()?.to_owned();
        let last_file = files.next()?.parse().ok()?;
        let digest = match lines.next()?.strip_prefix("digest ")? {
            "-" => None,
            key => Some(key.to_owned()),
        };
        let time = lines.next()?.strip_prefix("time ")?.to_owned();
        let files_hash = match lines.next() {
            Some(l) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(l.strip_prefix("filehash ")?)
                    .ok()?
                    .try_into()
                    .ok()?,
            ),
            None => None,
        };
        let sig_line = sig_part.lines().next()?.strip_prefix("\u{2014} ")?;
        let (fp, sig) = sig_line.split_once(' ')?;
        let sig = base64::engine::general_purpose::STANDARD.decode(sig).ok()?;
        let cp = Self {
            origin,
            size,
            root,
            tag,
            last_file,
            digest,
            time,
            files_hash,
        };
        // The body must re-render to exactly the signed bytes.
        (cp.body() == body).then(|| (cp, fp.to_owned(), sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn object_keys_follow_cloudtrail_layout() {
        assert_eq!(
            log_object_key(
                Some("logs/"),
                "123456789012",
                "us-east-1",
                t(),
                "abcd123400000001"
            ),
            "logs/AWSLogs/123456789012/CloudTrail/us-east-1/2023/11/14/123456789012_CloudTrail_us-east-1_20231114T2213Z_abcd123400000001.json.gz"
        );
        assert_eq!(
            digest_object_key(None, "123456789012", "eu-west-1", "main", "us-east-1", t()),
            "AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2023/11/14/123456789012_CloudTrail-Digest_eu-west-1_main_us-east-1_20231114T221320Z.json.gz"
        );
        assert_eq!(
            parse_unique_id("abcd123400000011"),
            Some(("abcd1234".into(), 17))
        );
        assert_eq!(parse_unique_id("short"), None);
    }

    #[test]
    fn records_come_back_byte_for_byte() {
        let recs = [r#"{"b":1,"a":"x"}"#, r#"{"eventName":"Encrypt"}"#];
        let body = log_file_body(recs);
        let back = log_file_records(body.as_bytes()).unwrap();
        assert_eq!(
            back,
            vec![recs[0].as_bytes().to_vec(), recs[1].as_bytes().to_vec()]
        );
    }

    #[test]
    fn gunzip_refuses_trailing_data() {
        let mut gz = gzip(b"hello").unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"hello");
        gz.push(0);
        assert!(gunzip(&gz).is_err());
    }

    #[test]
    fn signatures_verify_only_unchanged_messages() {
        let key = SigningKey::generate().unwrap();
        let sig = key.sign(b"message").unwrap();
        assert!(verify(&key.public_pkcs1(), b"message", &sig));
        assert!(!verify(&key.public_pkcs1(), b"messagE", &sig));
        let again = SigningKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(again.fingerprint(), key.fingerprint());
        assert_eq!(key.fingerprint().len(), 32);
    }

    #[test]
    fn checkpoint_notes_round_trip_and_reject_edits() {
        let key = SigningKey::generate().unwrap();
        let cp = Checkpoint {
            origin: Checkpoint::origin_for("123456789012", "us-east-1", "main"),
            size: 42,
            root: [7u8; 32],
            tag: "abcd1234".into(),
            last_file: 3,
            digest: Some("AWSLogs/x.json.gz".into()),
            time: "2026-11-24T10:00:00Z".into(),
            files_hash: Some(chain_file(&[0u8; 32], b"{}")),
        };
        let note = cp.to_note(&key).unwrap();
        let (back, fp, sig) = Checkpoint::parse_note(&note).unwrap();
        assert_eq!(back, cp);
        // A checkpoint from before the file chain still reads and verifies.
        let old = Checkpoint {
            files_hash: None,
            ..cp.clone()
        };
        let (old_back, _, old_sig) = Checkpoint::parse_note(&old.to_note(&key).unwrap()).unwrap();
        assert_eq!(old_back, old);
        assert!(verify(
            &key.public_pkcs1(),
            old_back.body().as_bytes(),
            &old_sig
        ));
        assert_eq!(fp, key.fingerprint());
        assert!(verify(&key.public_pkcs1(), back.body().as_bytes(), &sig));
        let edited = note.replacen("\n42\n", "\n41\n", 1);
        let (e, _, sig) = Checkpoint::parse_note(&edited).unwrap();
        assert!(!verify(&key.public_pkcs1(), e.body().as_bytes(), &sig));
    }

    #[test]
    fn the_string_to_sign_is_awscli_s() {
        let s = digest_string_to_sign("2026-01-01T00:00:00Z", "b", "k.json.gz", b"{}", None);
        assert_eq!(
            s,
            format!(
                "2026-01-01T00:00:00Z\nb/k.json.gz\n{}\nnull",
                sha256_hex(b"{}")
            )
        );
    }
}
