//! Secrets Manager's state: every secret of every (account, region) in memory, written through
//! to the store's document collections and loaded at start: `secretsmanager.secret` holds one
//! document per secret without its values, `secretsmanager.value` one per version's sealed
//! value, so that a write stores the values it adds and not every version's again.
//!
//! Reads (GetSecretValue is the hot path) take a read lock and never touch the store. Writes are
//! serialised by one async mutex: the handler builds the new record, the store commits it, and
//! only then does memory change, so memory never runs ahead of what is durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use palisade_store::{Document, DocumentChange, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The store collection of secrets.
pub const COLLECTION: &str = "secretsmanager.secret";
/// The store collection of the versions' sealed values, keyed `<secret's key>#<version id>`
/// (a secret's name has no `#`). Bug: the values lived in the secret's document, so every
/// write, a description or a tag included, stored all of them again; with 100 versions of
/// 64 KiB each that is megabytes per call, and the store's log grew by gigabytes.
pub const VALUES: &str = "secretsmanager.value";

fn value_key(secret_key: &str, version: &str) -> String {
    format!("{secret_key}#{version}")
}

/// What tells one sealing of a value from another: the data key and nonce are new each time.
fn fingerprint(s: &Sealed) -> (&str, &str) {
    (&s.data_key, &s.nonce)
}

/// The secret's document body: the secret without its versions' values.
fn body_without_values(s: &mut Secret) -> serde_json::Result<Vec<u8>> {
    let values: Vec<Option<Sealed>> = s.versions.iter_mut().map(|v| v.value.take()).collect();
    let body = serde_json::to_vec(s);
    for (v, value) in s.versions.iter_mut().zip(values) {
        v.value = value;
    }
    body
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A secret value, encrypted: AES-256-GCM under a data key from KMS.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// `SecretBinary` rather than `SecretString`.
    pub binary: bool,
    /// The KMS key that encrypted the data key (full ARN).
    pub key_arn: String,
    /// The data key, encrypted by KMS (base64).
    pub data_key: String,
    /// The GCM nonce (base64).
    pub nonce: String,
    /// Ciphertext and tag (base64).
    pub ciphertext: String,
    /// The ARN bound into the encryption context and the AAD (the primary secret's ARN).
    pub bound_arn: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// A version of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The version id (the `ClientRequestToken` that created it).
    pub id: String,
    /// Its staging labels.
    pub stages: Vec<String>,
    /// Creation time (epoch seconds).
    pub created: i64,
    /// The day it was last read.
    #[serde(default)]
    pub last_accessed: Option<i64>,
    /// The value (absent for a version created by rotation before its value exists).
    pub value: Option<Sealed>,
}

impl palisade_secrets::Staged for Version {
    fn version_id(&self) -> &str {
        &self.id
    }
    fn stages(&self) -> &[String] {
        &self.stages
    }
    fn stages_mut(&mut self) -> &mut Vec<String> {
        &mut self.stages
    }
}

/// Rotation configuration and its bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Automatic rotation is on.
    pub enabled: bool,
    /// The rotation function (selects the rotator).
    pub lambda_arn: Option<String>,
    /// `AutomaticallyAfterDays`.
    pub after_days: Option<i64>,
    /// `ScheduleExpression`.
    pub expression: Option<String>,
    /// `Duration`.
    pub duration: Option<String>,
    /// When the last rotation finished.
    pub last_rotated: Option<i64>,
    /// When the next window opens.
    pub next: Option<i64>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub failures: u32,
    /// The last failure, for operators (never contains a secret value).
    #[serde(default)]
    pub last_error: Option<String>,
    /// When to retry a failed rotation.
    #[serde(default)]
    pub retry_at: Option<i64>,
    /// The version of a test run (`RotateImmediately` false) under way: one a crash or a
    /// shutdown cut off is removed at the next start, as the run's end would have removed it.
    #[serde(default)]
    pub testing: Option<String>,
}

/// A replica of this secret in another region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The region.
    pub region: String,
    /// The KMS key there.
    pub kms_key_id: Option<String>,
    /// `InSync`, `Failed`, ...
    pub status: String,
    /// Why.
    pub message: String,
}

/// A secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Name.
    pub name: String,
    /// ARN (name plus a random six-character suffix).
    pub arn: String,
    /// Description.
    pub description: Option<String>,
    /// The KMS key as given (`None` = `alias/aws/secretsmanager`).
    pub kms_key_id: Option<String>,
    /// Tags, in the order given.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
    /// Creation time in nanoseconds, to list secrets in the order they were made.
    #[serde(default)]
    pub created_ns: i128,
    /// Whether tags were ever set (AWS then shows `Tags`, even empty).
    #[serde(default)]
    pub tagged: bool,
    /// Last change of any kind (AWS: "modified in any way"): value, labels, settings, tags,
    /// policy, rotation, deletion and restoration.
    pub last_changed: i64,
    /// The day it was last read.
    #[serde(default)]
    pub last_accessed: Option<i64>,
    /// When a scheduled deletion happens (set while the secret is pending deletion).
    pub deleted: Option<i64>,
    /// Rotation, once RotateSecret was called.
    pub rotation: Option<Rotation>,
    /// The resource policy.
    pub policy: Option<String>,
    /// Versions in creation order.
    pub versions: Vec<Version>,
    /// Replicas (primary secrets only).
    pub replicas: Vec<Replica>,
    /// For a replica, the primary's region.
    pub primary_region: Option<String>,
}

/// The value fingerprints by version id of the secret as stored (memory matches the store).
fn stored_values(
    data: &HashMap<(String, String), Region>,
    account: &str,
    region: &str,
    name: &str,
) -> HashMap<String, (String, String)> {
    data.get(&(account.to_owned(), region.to_owned()))
        .and_then(|r| r.by_name.get(name))
        .map(|s| {
            s.versions
                .iter()
                .filter_map(|v| {
                    let (dk, nonce) = fingerprint(v.value.as_ref()?);
                    Some((v.id.clone(), (dk.to_owned(), nonce.to_owned())))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn value_put(secret_key: &str, version: &str, sealed: &Sealed) -> Result<DocumentChange, ApiError> {
    Ok(DocumentChange::Put(Document {
        collection: VALUES.to_owned(),
        key: value_key(secret_key, version),
        body: serde_json::to_vec(sealed).map_err(ApiError::internal)?,
    }))
}

impl Secret {
    /// The version carrying `stage`.
    pub fn staged(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// The version with id `id`.
    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The tags as pairs.
    pub fn tag_pairs(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }

    /// `aws:secretsmanager:owningService`, for managed secrets.
    pub fn owning_service(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == "aws:secretsmanager:owningService")
            .map(|t| t.value.as_str())
    }

    fn doc_key(&self) -> String {
        doc_key(&self.account, &self.region, &self.name)
    }
}

fn doc_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The secrets of one account in one region.
#[derive(Debug, Default)]
pub struct Region {
    /// By name.
    pub by_name: BTreeMap<String, Secret>,
    by_arn: HashMap<String, String>,
}

impl Region {
    /// Finds a secret by name, full ARN or partial ARN (the ARN without its random suffix).
    /// A partial ARN must be the secret's own ARN up to the suffix, partition, service, Region
    /// and account included. Bug: only the text after `:secret:` was looked up, so the ARN of
    /// another Region, partition or service (`arn:aws:kms:…:secret:NAME`) found this Region's
    /// secret in the handler while authorization, looking in the ARN's Region, found none and
    /// decided on the ARN as given, past the secret's resource policy and IAM's scoping.
    pub fn resolve(&self, id: &str) -> Option<&Secret> {
        if let Some(name) = self.by_arn.get(id) {
            return self.by_name.get(name);
        }
        if !id.starts_with("arn:") {
            return self.by_name.get(id);
        }
        let (_, name) = id.split_once(":secret:")?;
        self.by_name.get(name).filter(|s| {
            s.arn
                .strip_prefix(id)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|suffix| suffix.len() == 6)
        })
    }

    fn put(&mut self, s: Secret) {
        self.by_arn.insert(s.arn.clone(), s.name.clone());
        self.by_name.insert(s.name.clone(), s);
    }

    fn remove(&mut self, name: &str) {
        if let Some(s) = self.by_name.remove(name) {
            self.by_arn.remove(&s.arn);
        }
    }
}

/// One change to the secrets.
// Changes live only for the length of a write; boxing the secret would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert or replace.
    Put(Secret),
    /// Remove (account, region, name).
    Delete(String, String, String),
}

/// All secrets, with the data-key cache.
#[derive(Debug)]
pub struct Secrets {
    store: Arc<dyn Store>,
    data: RwLock<HashMap<(String, String), Region>>,
    /// Serialises writes.
    pub writer: tokio::sync::Mutex<()>,
    /// Decrypted data keys by (bound ARN, version id): memory only, never stored.
    keys: RwLock<KeyCache>,
    /// Secrets whose rotation is running, by ARN (no second rotation may start), each with
    /// whether CancelRotateSecret has asked it to stop. Entries are held by a
    /// [`super::rotation::Running`] guard, so a rotation that ends in any way (its task aborted
    /// included) leaves no entry behind to block the secret's rotations for good.
    pub rotating: Arc<std::sync::Mutex<HashMap<String, bool>>>,
    /// The state itself, for rotations to run in tasks of their own: set by
    /// [`super::rotation::start`] (a RotateSecret request only starts its rotation, as AWS's
    /// does, and a client that drops the connection cannot cut it short).
    pub app: std::sync::OnceLock<std::sync::Weak<crate::state::AppState>>,
}

/// Data keys by (bound ARN, version id).
type KeyCache = HashMap<(String, String), Arc<Vec<u8>>>;

/// How many data keys the cache holds before it starts over.
const KEY_CACHE_LIMIT: usize = 100_000;

impl Secrets {
    /// Empty state over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            data: RwLock::default(),
            writer: tokio::sync::Mutex::new(()),
            keys: RwLock::default(),
            rotating: Arc::default(),
            app: std::sync::OnceLock::new(),
        }
    }

    /// Reads every secret from the store.
    pub async fn load(&self) -> Result<(), StoreError> {
        let docs = self.store.documents(COLLECTION).await?;
        let mut values: HashMap<String, Sealed> = HashMap::new();
        for d in self.store.documents(VALUES).await? {
            match serde_json::from_slice::<Sealed>(&d.body) {
                Ok(v) => {
                    values.insert(d.key, v);
                }
                Err(e) => {
                    tracing::warn!(key = %d.key, error = %e, "unreadable secret value skipped")
                }
            }
        }
        let mut fresh: HashMap<(String, String), Region> = HashMap::new();
        // Documents of older versions hold their values inline: written again in the new form.
        let mut inline = Vec::new();
        for d in docs {
            match serde_json::from_slice::<Secret>(&d.body) {
                Ok(mut s) => {
                    let key = s.doc_key();
                    let mut old_form = false;
                    for v in &mut s.versions {
                        match v.value {
                            Some(_) => old_form = true,
                            None => v.value = values.remove(&value_key(&key, &v.id)),
                        }
                    }
                    if old_form {
                        inline.push(s.clone());
                    }
                    fresh
                        .entry((s.account.clone(), s.region.clone()))
                        .or_default()
                        .put(s)
                }
                Err(e) => {
                    tracing::warn!(key = %d.key, error = %e, "unreadable secret record skipped")
                }
            }
        }
        if !inline.is_empty() {
            let mut changes = Vec::new();
            for mut s in inline {
                let key = s.doc_key();
                let record = |source| StoreError::Record {
                    key: key.clone(),
                    source,
                };
                for v in &s.versions {
                    if let Some(sealed) = &v.value {
                        changes.push(DocumentChange::Put(Document {
                            collection: VALUES.to_owned(),
                            key: value_key(&key, &v.id),
                            body: serde_json::to_vec(sealed).map_err(record)?,
                        }));
                    }
                }
                let body = body_without_values(&mut s).map_err(record)?;
                changes.push(DocumentChange::Put(Document {
                    collection: COLLECTION.to_owned(),
                    key,
                    body,
                }));
            }
            self.store.apply_documents(&changes).await?;
        }
        if let Ok(mut data) = self.data.write() {
            *data = fresh;
        }
        Ok(())
    }

    /// Forgets everything in memory (after the store was reset).
    pub fn clear(&self) {
        if let Ok(mut d) = self.data.write() {
            d.clear();
        }
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
    }

    /// Reads the secrets of (account, region).
    pub fn read<T>(&self, account: &str, region: &str, f: impl FnOnce(&Region) -> T) -> T {
        static EMPTY: std::sync::OnceLock<Region> = std::sync::OnceLock::new();
        match self.data.read() {
            Ok(d) => f(d
                .get(&(account.to_owned(), region.to_owned()))
                .unwrap_or_else(|| EMPTY.get_or_init(Region::default))),
            Err(_) => f(EMPTY.get_or_init(Region::default)),
        }
    }

    /// A copy of a secret.
    pub fn find(&self, account: &str, region: &str, id: &str) -> Option<Secret> {
        self.read(account, region, |r| r.resolve(id).cloned())
    }

    /// Every secret of every account and region, for the background task.
    pub fn all(&self) -> Vec<Secret> {
        self.data
            .read()
            .map(|d| {
                d.values()
                    .flat_map(|r| r.by_name.values().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Commits changes to the store, then to memory. Callers hold [`Secrets::writer`].
    pub async fn apply(&self, mut changes: Vec<Change>) -> Result<(), ApiError> {
        let docs = self.documents_of(&mut changes)?;
        self.store
            .apply_documents(&docs)
            .await
            .map_err(ApiError::store_write)?;
        let mut data = self
            .data
            .write()
            .map_err(|_| ApiError::internal("secrets state lock poisoned"))?;
        for c in changes {
            match c {
                Change::Put(s) => data
                    .entry((s.account.clone(), s.region.clone()))
                    .or_default()
                    .put(s),
                Change::Delete(a, r, n) => {
                    if let Some(region) = data.get_mut(&(a, r)) {
                        region.remove(&n);
                    }
                }
            }
        }
        Ok(())
    }

    /// The document changes that make the store hold `changes`: each secret's document, and
    /// the values that are new or gone compared with what is stored (memory holds what is
    /// durable; a change earlier in the same batch counts as stored).
    pub(super) fn documents_of(
        &self,
        changes: &mut [Change],
    ) -> Result<Vec<DocumentChange>, ApiError> {
        let data = self
            .data
            .read()
            .map_err(|_| ApiError::internal("secrets state lock poisoned"))?;
        // Per secret's key: each version's value fingerprint as stored once this batch is in.
        let mut batch: HashMap<String, HashMap<String, (String, String)>> = HashMap::new();
        let mut docs = Vec::new();
        for c in changes.iter_mut() {
            match c {
                Change::Put(s) => {
                    let key = s.doc_key();
                    let stored = batch
                        .remove(&key)
                        .unwrap_or_else(|| stored_values(&data, &s.account, &s.region, &s.name));
                    let mut now = HashMap::new();
                    for v in &s.versions {
                        let Some(sealed) = &v.value else { continue };
                        let (dk, nonce) = fingerprint(sealed);
                        let same = stored
                            .get(&v.id)
                            .is_some_and(|(d, n)| d == dk && n == nonce);
                        if !same {
                            docs.push(value_put(&key, &v.id, sealed)?);
                        }
                        now.insert(v.id.clone(), (dk.to_owned(), nonce.to_owned()));
                    }
                    for gone in stored.keys().filter(|id| !now.contains_key(*id)) {
                        docs.push(DocumentChange::Delete {
                            collection: VALUES.to_owned(),
                            key: value_key(&key, gone),
                        });
                    }
                    docs.push(DocumentChange::Put(Document {
                        collection: COLLECTION.to_owned(),
                        key: key.clone(),
                        body: body_without_values(s).map_err(ApiError::internal)?,
                    }));
                    batch.insert(key, now);
                }
                Change::Delete(a, r, n) => {
                    let key = doc_key(a, r, n);
                    let stored = batch
                        .remove(&key)
                        .unwrap_or_else(|| stored_values(&data, a, r, n));
                    for id in stored.keys() {
                        docs.push(DocumentChange::Delete {
                            collection: VALUES.to_owned(),
                            key: value_key(&key, id),
                        });
                    }
                    docs.push(DocumentChange::Delete {
                        collection: COLLECTION.to_owned(),
                        key: key.clone(),
                    });
                    batch.insert(key, HashMap::new());
                }
            }
        }
        Ok(docs)
    }

    /// Records a read's day on the secret and version, in memory only (AWS keeps the date,
    /// not the time; it is written with the secret's next change).
    /// Returns the secret when this changed it: the first read of a version on a new day, which
    /// the caller writes through so that the dates survive a restart.
    pub fn touch(
        &self,
        account: &str,
        region: &str,
        name: &str,
        version: &str,
        day: i64,
    ) -> Option<Secret> {
        let stale = self.read(account, region, |r| {
            r.by_name.get(name).is_some_and(|s| {
                s.last_accessed != Some(day)
                    || s.versions
                        .iter()
                        .any(|v| v.id == version && v.last_accessed != Some(day))
            })
        });
        if !stale {
            return None;
        }
        if let Ok(mut d) = self.data.write()
            && let Some(s) = d
                .get_mut(&(account.to_owned(), region.to_owned()))
                .and_then(|r| r.by_name.get_mut(name))
        {
            s.last_accessed = Some(day);
            if let Some(v) = s.versions.iter_mut().find(|v| v.id == version) {
                v.last_accessed = Some(day);
            }
            return Some(s.clone());
        }
        None
    }

    /// A cached data key.
    pub fn cached_key(&self, bound_arn: &str, version: &str) -> Option<Arc<Vec<u8>>> {
        self.keys
            .read()
            .ok()?
            .get(&(bound_arn.to_owned(), version.to_owned()))
            .cloned()
    }

    /// Caches a data key.
    pub fn cache_key(&self, bound_arn: &str, version: &str, key: Arc<Vec<u8>>) {
        if let Ok(mut k) = self.keys.write() {
            if k.len() >= KEY_CACHE_LIMIT {
                k.clear();
            }
            k.insert((bound_arn.to_owned(), version.to_owned()), key);
        }
    }

    /// Drops the cached data keys of a secret.
    pub fn forget_keys(&self, bound_arn: &str) {
        if let Ok(mut k) = self.keys.write() {
            k.retain(|(arn, _), _| arn != bound_arn);
        }
    }
}
