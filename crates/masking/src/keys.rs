//! Key material: a key file of named keys, optionally wrapped by (or generated through)
//! Palisade's KMS, and the envelope manifest that records the wrapped data keys of
//! probabilistic encryption so that `unmask` can ask KMS for them again.
//!
//! Key file (JSON):
//! ```json
//! { "keys": {
//!     "pii":      { "raw": "<base64, at least 16 bytes>" },
//!     "tokens":   { "kms_wrapped": { "key_id": "alias/masking", "ciphertext_blob": "<base64>" } },
//!     "envelope": { "kms_key": "alias/masking" } } }
//! ```
//! Both KMS forms take an encryption context: `"kms_wrapped": {…, "encryption_context":
//! {"purpose": "masking"}}` (the context the key was wrapped under) and `"kms_key": {"key_id":
//! "alias/masking", "encryption_context": {…}}` (recorded in the envelope manifest, so that
//! `unmask` decrypts with it).
//! `raw` keys are used directly; `kms_wrapped` keys are unwrapped with KMS `Decrypt` (so the
//! key policy decides who may mask and unmask, and every use is audited); `kms_key` entries
//! only serve the `encrypt` transform, which asks KMS `GenerateDataKey` for a fresh data key
//! per run and records the wrapped copy in the envelope manifest.
//!
//! Every transform derives its own subkey with HKDF-SHA256 (info = purpose and context), so
//! one named key can serve HMAC, AES-SIV and FF1 without the uses being related.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{digest, hkdf, rand};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::error::{CryptoError, MaskError};

/// A KMS encryption context: authenticated with the ciphertext (Decrypt needs the same one),
/// recorded in the audit event, and available to key policies as `kms:EncryptionContext:KEY`.
pub type EncryptionContext = BTreeMap<String, String>;

/// The KMS operations masking needs; implemented over HTTP by [`crate::kms::KmsClient`] and by
/// fakes in tests.
pub trait Kms: std::fmt::Debug {
    /// `GenerateDataKey` with `KeySpec: AES_256` and the encryption context (none when
    /// empty): (plaintext, ciphertext blob).
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, Vec<u8>), MaskError>;
    /// `Decrypt` of a ciphertext blob made by this KMS under `context`.
    fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext_blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, MaskError>;
}

/// A `kms_key` entry: a key id, or a key id with the encryption context of the data keys
/// `encrypt` generates under it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum KmsKeyRef {
    /// `"kms_key": "alias/masking"`.
    Id(String),
    /// `"kms_key": {"key_id": "alias/masking", "encryption_context": {"purpose": "masking"}}`.
    WithContext {
        /// The KMS key id, ARN or alias.
        key_id: String,
        /// The encryption context.
        #[serde(default)]
        encryption_context: EncryptionContext,
    },
}

impl KmsKeyRef {
    /// The key id.
    pub fn key_id(&self) -> &str {
        match self {
            Self::Id(k) | Self::WithContext { key_id: k, .. } => k,
        }
    }

    /// The encryption context (empty for none).
    pub fn context(&self) -> EncryptionContext {
        match self {
            Self::Id(_) => EncryptionContext::new(),
            Self::WithContext {
                encryption_context, ..
            } => encryption_context.clone(),
        }
    }
}

impl From<&str> for KmsKeyRef {
    fn from(key_id: &str) -> Self {
        Self::Id(key_id.to_owned())
    }
}

impl From<String> for KmsKeyRef {
    fn from(key_id: String) -> Self {
        Self::Id(key_id)
    }
}

/// One entry of the key file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySpec {
    /// Base64 key material.
    Raw(String),
    /// Hex key material.
    Hex(String),
    /// Key material wrapped by KMS.
    KmsWrapped {
        /// The KMS key that wrapped it.
        key_id: String,
        /// The wrapped key, base64.
        ciphertext_blob: String,
        /// The encryption context it was wrapped under (passed to Decrypt).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encryption_context: Option<EncryptionContext>,
    },
    /// A KMS key under which `encrypt` generates data keys.
    KmsKey(KmsKeyRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: BTreeMap<String, KeySpec>,
}

/// A data key of the envelope: its plaintext (for this run) and how to recover it later.
#[derive(Debug, Clone)]
pub struct DataKey {
    /// The 4-byte reference embedded in every ciphertext it made.
    pub key_ref: [u8; 4],
    /// The AES-256-GCM key.
    pub key: Arc<LessSafeKey>,
}

/// A wrapped data key, as recorded in the envelope manifest.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WrappedDataKey {
    /// Hex of the 4-byte reference.
    #[serde(rename = "ref")]
    pub key_ref: String,
    /// The key-file entry it belongs to.
    pub key: String,
    /// `kms` or `local`.
    pub source: String,
    /// The KMS key id, for `kms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The encryption context the data key was generated under, for `kms` (Decrypt needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    /// The wrapped key, base64.
    pub ciphertext_blob: String,
}

/// The envelope manifest written next to an output that used `encrypt`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version, 1.
    pub version: u32,
    /// The wrapped data keys.
    pub data_keys: Vec<WrappedDataKey>,
}

impl Envelope {
    /// Reads a manifest.
    pub fn load(path: &Path) -> Result<Self, MaskError> {
        let text = std::fs::read_to_string(path).map_err(|e| MaskError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| MaskError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Writes a manifest. One that exists keeps its data keys beside the new ones: a
    /// manifest shared by several outputs must go on opening all of them.
    pub fn save(&self, path: &Path) -> Result<(), MaskError> {
        // Runs that share a manifest each read, merge and replace it: without the lock, two
        // runs read the same old manifest and the second rename drops the first run's key,
        // leaving its output impossible to unmask.
        let _lock = lock_manifest(path)?;
        let mut all = match std::fs::metadata(path) {
            Ok(_) => Envelope::load(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Envelope::default(),
            Err(e) => return Err(MaskError::io(path, e)),
        };
        all.version = self.version.max(1);
        let before = all.data_keys.len();
        for k in &self.data_keys {
            if !all.data_keys.iter().any(|have| have.key_ref == k.key_ref) {
                all.data_keys.push(k.clone());
            }
        }
        if before == all.data_keys.len() && before > 0 {
            return Ok(());
        }
        all.replace(path)
    }

    /// Replaces the manifest at `path` with this one, atomically; the caller holds its lock.
    fn replace(&self, path: &Path) -> Result<(), MaskError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| MaskError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // A temporary name of its own per run: a fixed `manifest.tmp` was truncated, renamed
        // or removed by a concurrent run in the middle of this one's write.
        let mut tmp = manifest_temp(path)?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            // The manifest keeps the permissions it was given, not the temporary file's 0600.
            let _ = tmp.as_file().set_permissions(meta.permissions());
        }
        use std::io::Write as _;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.write_all(b"\n"))
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| MaskError::io(path, e))?;
        tmp.persist(path)
            .map_err(|e| MaskError::io(path, e.error))?;
        Ok(())
    }
}

impl Envelope {
    /// Takes this envelope's data keys back out of the manifest at `path` (a run that failed
    /// encrypted nothing anyone holds with them), and removes the manifest when it `created`
    /// it and nothing else is left (bug: a failed run left its data key behind, a manifest of
    /// keys that nothing was encrypted with, and each failed run into a shared one added one).
    pub fn forget(&self, path: &Path, created: bool) -> Result<(), MaskError> {
        let _lock = lock_manifest(path)?;
        let Ok(mut saved) = Envelope::load(path) else {
            return Ok(());
        };
        let before = saved.data_keys.len();
        // Whole entries, not only their 32-bit `key_ref`: another output's key may share it.
        saved.data_keys.retain(|k| !self.data_keys.contains(k));
        if saved.data_keys.is_empty() && created {
            std::fs::remove_file(path).map_err(|e| MaskError::io(path, e))
        } else if saved.data_keys.len() < before {
            saved.replace(path)
        } else {
            Ok(())
        }
    }
}

/// The lock file beside a manifest (`shared.json.lock`), held exclusively while a run merges
/// its data keys into the manifest. The manifest itself cannot be the lock: it is replaced by
/// a rename, and a run waiting on the old file would then merge into a stale copy. The lock
/// file is left in place, since removing it would let a waiting run lock an unlinked file.
pub fn manifest_lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn lock_manifest(path: &Path) -> Result<std::fs::File, MaskError> {
    let lock_path = manifest_lock_path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| MaskError::io(&lock_path, e))?;
    file.lock().map_err(|e| MaskError::io(&lock_path, e))?;
    Ok(file)
}

/// A uniquely named temporary file in the manifest's directory, removed when dropped.
fn manifest_temp(path: &Path) -> Result<tempfile::NamedTempFile, MaskError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".palisade-envelope-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A new manifest gets what File::create gives (0666 less the umask), as it did before
        // it was written through a temporary file: it holds wrapped keys only.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| MaskError::io(path, e))
}

/// The named keys of a run, with their unwrapped material cached.
#[derive(Debug, Default)]
pub struct Keys {
    specs: BTreeMap<String, KeySpec>,
    kms: Option<Box<dyn Kms>>,
    material: HashMap<String, Arc<Vec<u8>>>,
    data_keys: HashMap<String, DataKey>,
    envelope: Envelope,
    opened: HashMap<[u8; 4], Arc<LessSafeKey>>,
}

const WRAP_AAD: &[u8] = b"palisade-masking data key v1";

impl Keys {
    /// No keys.
    pub fn new() -> Self {
        Self {
            envelope: Envelope {
                version: 1,
                data_keys: Vec::new(),
            },
            ..Self::default()
        }
    }

    /// Loads a key file.
    pub fn load(path: &Path) -> Result<Self, MaskError> {
        let text = std::fs::read_to_string(path).map_err(|e| MaskError::io(path, e))?;
        // Not the parser's message: it quotes the value it could not read, which in a key file
        // is key material (and error output ends up in CI logs).
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| MaskError::Parse {
            path: path.to_owned(),
            message: format!(
                "not a key file at line {}, column {}: expected {{\"keys\": {{NAME: {{\"raw\": \
                 BASE64}} | {{\"hex\": HEX}} | {{\"kms_key\": …}} | {{\"kms_wrapped\": …}}}}}}",
                e.line(),
                e.column()
            ),
        })?;
        let mut keys = Self::new();
        keys.specs = file.keys;
        Ok(keys)
    }

    /// Adds a key (tests and embedding callers).
    pub fn insert(&mut self, name: &str, spec: KeySpec) {
        self.specs.insert(name.to_owned(), spec);
        self.material.remove(name);
    }

    /// Adds raw key material.
    pub fn insert_raw(&mut self, name: &str, material: &[u8]) {
        self.insert(name, KeySpec::Raw(B64.encode(material)));
    }

    /// Sets the KMS used by `kms_wrapped` and `kms_key` entries.
    pub fn set_kms(&mut self, kms: Box<dyn Kms>) {
        self.kms = Some(kms);
    }

    /// The envelope manifest of the data keys generated so far.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn missing(&self) -> &'static str {
        if self.specs.is_empty() {
            "is not defined: no key file was given (--keys)"
        } else {
            "is not in the key file"
        }
    }

    fn kms(&self, key: &str) -> Result<&dyn Kms, MaskError> {
        self.kms.as_deref().ok_or_else(|| MaskError::Key {
            key: key.to_owned(),
            message: "needs kms; pass --kms-endpoint (or PALISADE_ENDPOINT)".into(),
        })
    }

    /// The key material of `name`, unwrapping it through KMS the first time.
    pub fn material(&mut self, name: &str) -> Result<Arc<Vec<u8>>, MaskError> {
        if let Some(m) = self.material.get(name) {
            return Ok(Arc::clone(m));
        }
        let err = |message: String| MaskError::Key {
            key: name.to_owned(),
            message,
        };
        let spec = self
            .specs
            .get(name)
            .ok_or_else(|| err(self.missing().into()))?;
        let bytes = match spec {
            KeySpec::Raw(b) => B64
                .decode(b.trim())
                .map_err(|e| err(format!("bad base64: {e}")))?,
            KeySpec::Hex(h) => hex::decode(h.trim()).map_err(|e| err(format!("bad hex: {e}")))?,
            KeySpec::KmsWrapped {
                key_id,
                ciphertext_blob,
                encryption_context,
            } => {
                let blob = B64
                    .decode(ciphertext_blob.trim())
                    .map_err(|e| err(format!("bad base64 ciphertext_blob: {e}")))?;
                let context = encryption_context.clone().unwrap_or_default();
                self.kms(name)?.decrypt(Some(key_id), &blob, &context)?
            }
            KeySpec::KmsKey(_) => {
                return Err(err(
                    "is a kms_key, which only the encrypt transform can use (it generates data keys)"
                        .into(),
                ));
            }
        };
        if bytes.len() < 16 {
            return Err(err(format!(
                "has {} bytes; at least 16 are required",
                bytes.len()
            )));
        }
        let m = Arc::new(bytes);
        self.material.insert(name.to_owned(), Arc::clone(&m));
        Ok(m)
    }

    /// `len` bytes derived from key `name` for `purpose` and `context` (HKDF-SHA256).
    pub fn derive(
        &mut self,
        name: &str,
        purpose: &str,
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, MaskError> {
        let material = self.material(name)?;
        derive(&material, purpose, context, len).map_err(|e| MaskError::Key {
            key: name.to_owned(),
            message: e.to_string(),
        })
    }

    /// The data key `encrypt` uses under key `name` in this run (generated on first use).
    pub fn data_key(&mut self, name: &str) -> Result<DataKey, MaskError> {
        if let Some(k) = self.data_keys.get(name) {
            return Ok(k.clone());
        }
        let err = |message: &str| MaskError::Key {
            key: name.to_owned(),
            message: message.into(),
        };
        let spec = self
            .specs
            .get(name)
            .cloned()
            .ok_or_else(|| err(self.missing()))?;
        let (plain, wrapped) = match &spec {
            KeySpec::KmsKey(key) => {
                let context = key.context();
                let (plain, blob) = self.kms(name)?.generate_data_key(key.key_id(), &context)?;
                let w = WrappedDataKey {
                    key_ref: String::new(),
                    key: name.to_owned(),
                    source: "kms".into(),
                    key_id: Some(key.key_id().to_owned()),
                    encryption_context: (!context.is_empty()).then_some(context),
                    ciphertext_blob: B64.encode(&blob),
                };
                (plain, w)
            }
            _ => {
                // A local master key wraps a fresh data key with AES-256-GCM, the same
                // envelope shape as KMS so that unmask treats both alike.
                let mut plain = vec![0u8; 32];
                rand::fill(&mut plain).map_err(|_| err("random generator failed"))?;
                let kek = self.derive(name, "wrap", b"", 32)?;
                let blob = gcm_seal(&kek, WRAP_AAD, &plain).map_err(|_| err("wrap failed"))?;
                let w = WrappedDataKey {
                    key_ref: String::new(),
                    key: name.to_owned(),
                    source: "local".into(),
                    key_id: None,
                    encryption_context: None,
                    ciphertext_blob: B64.encode(&blob),
                };
                (plain, w)
            }
        };
        let blob = B64
            .decode(&wrapped.ciphertext_blob)
            .map_err(|_| err("bad blob"))?;
        let key_ref = key_ref(&blob);
        let key = Arc::new(gcm_key(&plain).map_err(|_| err("data key is not 32 bytes"))?);
        let dk = DataKey {
            key_ref,
            key: Arc::clone(&key),
        };
        self.envelope.data_keys.push(WrappedDataKey {
            key_ref: hex::encode(key_ref),
            ..wrapped
        });
        self.opened.insert(key_ref, key);
        self.data_keys.insert(name.to_owned(), dk.clone());
        Ok(dk)
    }

    /// Adds the data keys of a manifest, to be unwrapped when a ciphertext refers to them.
    pub fn add_envelope(&mut self, env: &Envelope) -> Result<(), MaskError> {
        for w in &env.data_keys {
            let err = |message: &str| MaskError::Key {
                key: w.key.clone(),
                message: message.into(),
            };
            let blob = B64
                .decode(&w.ciphertext_blob)
                .map_err(|_| err("bad ciphertext_blob"))?;
            let r = key_ref(&blob);
            if hex::encode(r) != w.key_ref {
                return Err(err(
                    "envelope entry's ref does not match its ciphertext_blob",
                ));
            }
            if self.opened.contains_key(&r) {
                continue;
            }
            let plain = match w.source.as_str() {
                "kms" => {
                    let context = w.encryption_context.clone().unwrap_or_default();
                    self.kms(&w.key)?
                        .decrypt(w.key_id.as_deref(), &blob, &context)?
                }
                "local" => {
                    let kek = self.derive(&w.key, "wrap", b"", 32)?;
                    gcm_open(&kek, WRAP_AAD, &blob)
                        .map_err(|_| err("cannot unwrap the data key with this key"))?
                }
                _ => return Err(err("envelope source must be kms or local")),
            };
            let key = gcm_key(&plain).map_err(|_| err("data key is not 32 bytes"))?;
            self.opened.insert(r, Arc::new(key));
            self.envelope.data_keys.push(w.clone());
        }
        Ok(())
    }

    /// The opened data keys by reference, for decryption.
    pub fn opened(&self) -> HashMap<[u8; 4], Arc<LessSafeKey>> {
        self.opened.clone()
    }
}

fn key_ref(blob: &[u8]) -> [u8; 4] {
    let d = digest::digest(&digest::SHA256, blob);
    let mut r = [0u8; 4];
    for (o, i) in r.iter_mut().zip(d.as_ref()) {
        *o = *i;
    }
    r
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 with info = "palisade-masking/v1/" + purpose + 0x00 + context.
pub fn derive(
    material: &[u8],
    purpose: &str,
    context: &[u8],
    len: usize,
) -> Result<Vec<u8>, CryptoError> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"palisade-masking");
    let prk = salt.extract(material);
    let info = [
        b"palisade-masking/v1/".as_slice(),
        purpose.as_bytes(),
        &[0u8],
        context,
    ];
    let okm = prk
        .expand(&info, Len(len))
        .map_err(|_| CryptoError::Backend("hkdf"))?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out)
        .map_err(|_| CryptoError::Backend("hkdf"))?;
    Ok(out)
}

/// An AES-256-GCM key.
pub fn gcm_key(key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::KeyLength {
            expected: "32",
            got: key.len(),
        })
}

/// `nonce || ciphertext || tag` under a random nonce.
pub fn gcm_seal(key: &[u8], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    seal_with(&gcm_key(key)?, aad, plain)
}

/// Opens `nonce || ciphertext || tag`.
pub fn gcm_open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    open_with(&gcm_key(key)?, aad, sealed)
}

/// `nonce || ciphertext || tag` under a random nonce with a prepared key.
pub fn seal_with(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce).map_err(|_| CryptoError::Backend("random nonce"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    let mut body = out.split_off(NONCE_LEN);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| CryptoError::Backend("aes-gcm seal"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens `nonce || ciphertext || tag` with a prepared key.
pub fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (nonce, body) = sealed
        .split_at_checked(NONCE_LEN)
        .ok_or(CryptoError::Authentication)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Authentication)?;
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| CryptoError::Authentication)?;
    let n = plain.len();
    body.truncate(n);
    Ok(body)
}

/// The default envelope manifest path for an output file.
pub fn envelope_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".keys.json");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_envelope_round_trip() {
        let mut keys = Keys::new();
        keys.insert_raw("k", &[9u8; 32]);
        let dk = keys.data_key("k").unwrap();
        let sealed = seal_with(&dk.key, b"ctx", b"secret").unwrap();
        let env = keys.envelope().clone();
        assert_eq!(env.data_keys.len(), 1);
        let mut other = Keys::new();
        other.insert_raw("k", &[9u8; 32]);
        other.add_envelope(&env).unwrap();
        let k = other.opened().get(&dk.key_ref).cloned().unwrap();
        assert_eq!(open_with(&k, b"ctx", &sealed).unwrap(), b"secret");
        let mut wrong = Keys::new();
        wrong.insert_raw("k", &[8u8; 32]);
        assert!(wrong.add_envelope(&env).is_err());
    }

    #[test]
    fn derivation_separates_purposes() {
        let a = derive(&[1u8; 32], "hash", b"c", 32).unwrap();
        let b = derive(&[1u8; 32], "siv", b"c", 32).unwrap();
        let c = derive(&[1u8; 32], "hash", b"d", 32).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn short_and_missing_keys_are_named() {
        let mut keys = Keys::new();
        keys.insert_raw("short", &[1u8; 8]);
        let e = keys.material("short").unwrap_err().to_string();
        assert!(e.contains("\"short\"") && e.contains("at least 16"), "{e}");
        let e = keys.material("nope").unwrap_err().to_string();
        assert!(e.contains("\"nope\""), "{e}");
    }
}
