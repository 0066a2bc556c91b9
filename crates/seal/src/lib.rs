//! The root key and the sealing of secrets at rest.
//!
//! Palisade never writes a secret (an access key's secret, later KMS key material and secret
//! values) to its store in plaintext. Each secret is sealed with AES-256-GCM under a key derived
//! from the root key-encryption key (KEK) with HKDF-SHA256, using a purpose label so that a blob
//! sealed for one purpose cannot be unsealed as another. The record's own identity (for example an
//! access key id) is bound as additional authenticated data, so that sealed blobs cannot be swapped
//! between rows of the store.
//!
//! The KEK comes from, in order: `--kek-file`, the `PALISADE_KEK` environment variable (base64 of
//! 32 bytes), or `<data-dir>/kek`, generated with mode 0600 on first start.
//!
//! Blob format, version 1: `0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.

use std::fs;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Length of the root key-encryption key in bytes.
pub const KEK_LEN: usize = 32;
const BLOB_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// Why sealing, unsealing or loading the root key failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The KEK file or variable does not hold exactly 32 bytes (raw, or base64 of 32 bytes).
    #[error(
        "the key-encryption key in {source_name} must be 32 bytes (raw or base64), found {len}"
    )]
    BadKekLength {
        /// Where the key came from.
        source_name: String,
        /// How many bytes were found.
        len: usize,
    },
    /// Reading or writing the KEK file failed.
    #[error("cannot access key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A sealed blob is too short, of an unknown version, was tampered with, or was sealed under
    /// another key, purpose or record id. Deliberately one variant: which of these it was must not
    /// be told apart by an attacker.
    #[error("sealed data cannot be opened: wrong key, wrong record, or tampered")]
    Open,
    /// The system random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// The data directory holds a store sealed under a KEK, but no KEK was given and its `kek`
    /// file is gone. Generating a new one would make every sealed record unreadable and seal new
    /// ones under a key the old ones do not share.
    #[error(
        "{data_dir} holds a store sealed under a key-encryption key, but {data_dir}/kek is missing: restore it, or give the KEK with --kek-file or PALISADE_KEK"
    )]
    KekMissing {
        /// The data directory.
        data_dir: String,
    },
    /// The KEK given does not open the data directory's check record: it is not the key the
    /// store was sealed under.
    #[error(
        "the key-encryption key from {source_name} is not the one {data_dir} was sealed under (its {KEK_CHECK_FILE} does not open): give the KEK this data directory was created with"
    )]
    WrongKek {
        /// Where the key came from.
        source_name: String,
        /// The data directory.
        data_dir: String,
    },
}

/// The record in the data directory that a KEK must open: proof, at every start, that the KEK
/// is the one the store was sealed under.
pub const KEK_CHECK_FILE: &str = "kek-check";

/// The database file whose presence means the data directory already holds a store.
const STORE_FILE: &str = "palisade.db";

const KEK_CHECK_RECORD: &str = "palisade:kek-check";

/// Whether `<data-dir>/kek-check` vouched for the KEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KekCheck {
    /// The record opened under the KEK.
    Verified,
    /// There is no record yet: the caller proves the KEK against a sealed record of the data
    /// directory's own, if it has any, and then writes it with [`write_kek_check`].
    Absent,
}

/// Checks that `sealer`'s KEK is the one `data_dir` was sealed under, by opening
/// `<data-dir>/kek-check`. `source_name` names the KEK's origin in the error.
pub fn verify_kek(
    sealer: &Sealer,
    data_dir: &Path,
    source_name: &str,
) -> Result<KekCheck, SealError> {
    let path = data_dir.join(KEK_CHECK_FILE);
    match fs::read(&path) {
        Ok(blob) => sealer
            .open(Purpose::KeyMaterial, KEK_CHECK_RECORD, &blob)
            .map(|_| KekCheck::Verified)
            .map_err(|_| wrong_kek(source_name, data_dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KekCheck::Absent),
        Err(source) => Err(SealError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The error for a KEK that is not the one `data_dir` was sealed under.
pub fn wrong_kek(source_name: &str, data_dir: &Path) -> SealError {
    SealError::WrongKek {
        source_name: source_name.to_owned(),
        data_dir: data_dir.display().to_string(),
    }
}

/// Writes `<data-dir>/kek-check` under `sealer`'s KEK: on a data directory's first start, or
/// on the first start of one without the record, once the KEK has opened what it holds (bug:
/// written at once, a wrong KEK's record then refused the right KEK for good).
pub fn write_kek_check(sealer: &Sealer, data_dir: &Path) -> Result<(), SealError> {
    let path = data_dir.join(KEK_CHECK_FILE);
    let blob = sealer.seal(Purpose::KeyMaterial, KEK_CHECK_RECORD, b"palisade")?;
    write_private(&path, &blob).map_err(|source| SealError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// What a sealed blob is for. Each purpose has its own derived key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The secret half of an access key.
    AccessKeySecret,
    /// KMS key material.
    KeyMaterial,
    /// A Secrets Manager secret value.
    SecretValue,
    /// The contents of an STS session token (the session's secret key and its context).
    SessionToken,
    /// The seed of a virtual MFA device.
    MfaSeed,
    /// A CloudTrail digest-signing key.
    AuditSigningKey,
    /// A key that signs the JSON web tokens of `GetWebIdentityToken`.
    WebIdentitySigningKey,
    /// A KMS grant token: the grant's id, sealed afresh for each CreateGrant answer, so that a
    /// token names its grant without being stored.
    GrantToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::AccessKeySecret => b"palisade/v1/access-key-secret",
            Self::KeyMaterial => b"palisade/v1/kms-key-material",
            Self::SecretValue => b"palisade/v1/secret-value",
            Self::SessionToken => b"palisade/v1/session-token",
            Self::MfaSeed => b"palisade/v1/mfa-seed",
            Self::AuditSigningKey => b"palisade/v1/audit-signing-key",
            Self::WebIdentitySigningKey => b"palisade/v1/web-identity-signing-key",
            Self::GrantToken => b"palisade/v1/kms-grant-token",
        }
    }
}

/// Where the root key came from, so that start-up can warn when it was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// Given with `--kek-file`.
    File(String),
    /// Given in `PALISADE_KEK`.
    Environment,
    /// Read from `<data-dir>/kek`, created earlier.
    DataDir,
    /// Generated now into `<data-dir>/kek`.
    Generated,
}

/// The unsealed root key: derives one AEAD key per [`Purpose`].
pub struct Sealer {
    keys: [LessSafeKey; 8],
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key bytes.
        f.write_str("Sealer { .. }")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        KEK_LEN
    }
}

fn derive(kek: &[u8; KEK_LEN], purpose: Purpose) -> Result<LessSafeKey, SealError> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"palisade-seal");
    let prk = salt.extract(kek);
    let info = [purpose.label()];
    let okm = prk.expand(&info, Len32).map_err(|_| SealError::Random)?;
    let mut key = [0u8; KEK_LEN];
    okm.fill(&mut key).map_err(|_| SealError::Random)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| SealError::Random)?;
    Ok(LessSafeKey::new(unbound))
}

impl Sealer {
    /// Builds a sealer from raw KEK bytes.
    pub fn new(kek: &[u8; KEK_LEN]) -> Result<Self, SealError> {
        Ok(Self {
            keys: [
                derive(kek, Purpose::AccessKeySecret)?,
                derive(kek, Purpose::KeyMaterial)?,
                derive(kek, Purpose::SecretValue)?,
                derive(kek, Purpose::SessionToken)?,
                derive(kek, Purpose::MfaSeed)?,
                derive(kek, Purpose::AuditSigningKey)?,
                derive(kek, Purpose::WebIdentitySigningKey)?,
                derive(kek, Purpose::GrantToken)?,
            ],
            rng: SystemRandom::new(),
        })
    }

    fn key(&self, purpose: Purpose) -> &LessSafeKey {
        let [a, b, c, d, e, f, g, h] = &self.keys;
        match purpose {
            Purpose::AccessKeySecret => a,
            Purpose::KeyMaterial => b,
            Purpose::SecretValue => c,
            Purpose::SessionToken => d,
            Purpose::MfaSeed => e,
            Purpose::AuditSigningKey => f,
            Purpose::WebIdentitySigningKey => g,
            Purpose::GrantToken => h,
        }
    }

    /// Seals `plaintext` for `purpose`, bound to `record_id`.
    pub fn seal(
        &self,
        purpose: Purpose,
        record_id: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(BLOB_VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key(purpose)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record_id.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Random)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a blob made by [`Sealer::seal`] with the same purpose and record id.
    pub fn open(
        &self,
        purpose: Purpose,
        record_id: &str,
        blob: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let (version, rest) = blob.split_first().ok_or(SealError::Open)?;
        if *version != BLOB_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Open);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut body = sealed.to_vec();
        let plain = self
            .key(purpose)
            .open_in_place(nonce, Aad::from(record_id.as_bytes()), &mut body)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

fn parse_kek(bytes: &[u8], source_name: &str) -> Result<[u8; KEK_LEN], SealError> {
    let text = String::from_utf8_lossy(bytes);
    // Base64 first: 32 characters of base64 (`openssl rand -base64 24`) are 24 bytes of key,
    // not 32 raw bytes; random raw bytes are almost never all base64 characters.
    let decoded = match STANDARD.decode(text.trim()) {
        Ok(decoded) => decoded,
        Err(_) => {
            return <[u8; KEK_LEN]>::try_from(bytes).map_err(|_| SealError::BadKekLength {
                source_name: source_name.to_owned(),
                len: bytes.len(),
            });
        }
    };
    <[u8; KEK_LEN]>::try_from(decoded.as_slice()).map_err(|_| SealError::BadKekLength {
        source_name: source_name.to_owned(),
        len: decoded.len(),
    })
}

/// Loads the KEK from a file, the environment value, or `<data_dir>/kek` (generating it there,
/// mode 0600, when absent).
pub fn load_kek(
    kek_file: Option<&Path>,
    env_value: Option<&str>,
    data_dir: &Path,
) -> Result<([u8; KEK_LEN], KekSource), SealError> {
    if let Some(path) = kek_file {
        let bytes = fs::read(path).map_err(|source| SealError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = path.display().to_string();
        return Ok((parse_kek(&bytes, &name)?, KekSource::File(name)));
    }
    if let Some(value) = env_value {
        return Ok((
            parse_kek(value.as_bytes(), "PALISADE_KEK")?,
            KekSource::Environment,
        ));
    }
    let path = data_dir.join("kek");
    match fs::read(&path) {
        Ok(bytes) => Ok((
            parse_kek(&bytes, &path.display().to_string())?,
            KekSource::DataDir,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if data_dir.join(KEK_CHECK_FILE).exists() || data_dir.join(STORE_FILE).exists() {
                return Err(SealError::KekMissing {
                    data_dir: data_dir.display().to_string(),
                });
            }
            let mut kek = [0u8; KEK_LEN];
            SystemRandom::new()
                .fill(&mut kek)
                .map_err(|_| SealError::Random)?;
            write_private(&path, STANDARD.encode(kek).as_bytes()).map_err(|source| {
                SealError::Io {
                    path: path.display().to_string(),
                    source,
                }
            })?;
            Ok((kek, KekSource::Generated))
        }
        Err(source) => Err(SealError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes a file readable only by its owner (mode 0600 on Unix), replacing it atomically so that
/// a crash never leaves a half-written key or credentials file behind.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let done = written.and_then(|()| fs::rename(&tmp, path));
    if done.is_err() {
        // Nothing half-written is left behind (a full disk left an empty `.tmp` file).
        let _ = fs::remove_file(&tmp);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&[7u8; KEK_LEN]).unwrap()
    }

    #[test]
    fn a_failed_private_write_leaves_no_temporary_file() {
        // Bug: a start on a full disk left an empty `credentials.tmp` behind.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("credentials");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_private(&target, b"secret").is_err());
        assert!(!dir.path().join("credentials.tmp").exists());
    }

    #[test]
    fn round_trip() {
        let s = sealer();
        let blob = s
            .seal(Purpose::AccessKeySecret, "AKIA1", b"secret")
            .unwrap();
        assert!(!blob.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            s.open(Purpose::AccessKeySecret, "AKIA1", &blob).unwrap(),
            b"secret"
        );
    }

    #[test]
    fn bound_to_record_and_purpose_and_key() {
        let s = sealer();
        let blob = s.seal(Purpose::AccessKeySecret, "AKIA1", b"x").unwrap();
        assert!(s.open(Purpose::AccessKeySecret, "AKIA2", &blob).is_err());
        assert!(s.open(Purpose::SecretValue, "AKIA1", &blob).is_err());
        let other = Sealer::new(&[8u8; KEK_LEN]).unwrap();
        assert!(
            other
                .open(Purpose::AccessKeySecret, "AKIA1", &blob)
                .is_err()
        );
    }

    #[test]
    fn every_tampered_byte_is_rejected() {
        let s = sealer();
        let blob = s.seal(Purpose::KeyMaterial, "k", b"material").unwrap();
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(s.open(Purpose::KeyMaterial, "k", &t).is_err(), "byte {i}");
        }
        assert!(s.open(Purpose::KeyMaterial, "k", &blob[..5]).is_err());
    }

    #[test]
    fn a_kek_of_base64_text_is_read_as_base64_whatever_its_length() {
        // Regression: 32 characters of base64 (24 bytes of key) were taken as a raw key.
        let short = STANDARD.encode([7u8; 24]);
        assert_eq!(short.len(), 32);
        assert!(matches!(
            parse_kek(short.as_bytes(), "t"),
            Err(SealError::BadKekLength { len: 24, .. })
        ));
        assert_eq!(
            parse_kek(STANDARD.encode([7u8; 32]).as_bytes(), "t").unwrap(),
            [7u8; 32]
        );
        assert_eq!(parse_kek(&[0xffu8; 32], "t").unwrap(), [0xffu8; 32]);
    }

    #[test]
    fn a_data_directory_with_a_store_and_no_kek_is_refused_and_a_wrong_kek_too() {
        let dir = tempfile::tempdir().unwrap();
        let (k, _) = load_kek(None, None, dir.path()).unwrap();
        let sealer = Sealer::new(&k).unwrap();
        assert_eq!(
            verify_kek(&sealer, dir.path(), "t").unwrap(),
            KekCheck::Absent
        );
        write_kek_check(&sealer, dir.path()).unwrap();
        assert_eq!(
            verify_kek(&sealer, dir.path(), "t").unwrap(),
            KekCheck::Verified
        );
        assert!(matches!(
            verify_kek(&Sealer::new(&[1u8; 32]).unwrap(), dir.path(), "t"),
            Err(SealError::WrongKek { .. })
        ));
        std::fs::remove_file(dir.path().join("kek")).unwrap();
        assert!(matches!(
            load_kek(None, None, dir.path()),
            Err(SealError::KekMissing { .. })
        ));
    }

    #[test]
    fn kek_is_generated_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, src1) = load_kek(None, None, dir.path()).unwrap();
        assert_eq!(src1, KekSource::Generated);
        let (k2, src2) = load_kek(None, None, dir.path()).unwrap();
        assert_eq!(src2, KekSource::DataDir);
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("kek"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn env_kek_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_kek(None, Some("c2hvcnQ="), dir.path()).unwrap_err();
        assert!(err.to_string().contains("PALISADE_KEK"), "{err}");
        let good = STANDARD.encode([1u8; 32]);
        assert_eq!(
            load_kek(None, Some(&good), dir.path()).unwrap().0,
            [1u8; 32]
        );
    }
}
