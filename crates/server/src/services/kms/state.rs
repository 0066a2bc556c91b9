//! KMS's state: keys (with their unsealed materials and compiled key policies), aliases and
//! grants, in memory for every account and Region, written through to the store as documents.
//!
//! Key material reaches the store only sealed (`palisade-seal`, purpose `KeyMaterial`, bound to
//! the key's ARN and the material's version). Crypto operations read memory only: no store
//! access and no unsealing on the hot path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use palisade_kms::{KeySpec, KeyUsage, Material};
use palisade_policy::{CompiledPolicy, PolicyKind};
use palisade_seal::{Purpose, Sealer};
use palisade_store::{Document, DocumentChange, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub(crate) const KEYS: &str = "kms.key";
pub(crate) const ALIASES: &str = "kms.alias";
pub(crate) const GRANTS: &str = "kms.grant";
/// What grant tokens are sealed bound to.
const GRANT_TOKEN_BINDING: &str = "kms.grant-token";

/// One rotation of a key's material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RotationRecord {
    pub material_version: u32,
    pub at: i64,
    /// `AUTOMATIC` or `ON_DEMAND`.
    pub kind: String,
}

/// A key as stored (its materials sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub account: String,
    pub region: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    pub description: String,
    pub spec: String,
    pub usage: String,
    pub origin: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`.
    pub state: String,
    pub deletion_date: Option<i64>,
    pub pending_window_days: Option<i64>,
    pub aws_managed: bool,
    pub multi_region: bool,
    /// For multi-Region keys: the primary's Region.
    pub primary_region: Option<String>,
    /// For a primary: the Regions of its replicas.
    #[serde(default)]
    pub replica_regions: Vec<String>,
    pub policy: String,
    pub tags: Vec<(String, String)>,
    pub rotation_enabled: bool,
    pub rotation_period_days: i64,
    pub next_rotation: Option<i64>,
    #[serde(default)]
    pub rotations: Vec<RotationRecord>,
    /// Sealed materials, by version. For an EXTERNAL key, a version whose material is not
    /// imported now (never yet, deleted or expired) is empty, and `imported` says which it is.
    #[serde(with = "sealed")]
    pub sealed: Vec<Vec<u8>>,
    /// Records before [`KeyRecord::imported`]: the ValidTo of their one imported material.
    /// Moved into `imported` by [`KeyRecord::migrate`]; never written again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<i64>,
    /// The sealed wrapping key and token of an import in progress.
    #[serde(default, with = "sealed_opt")]
    pub import_wrapping: Option<Vec<u8>>,
    #[serde(default)]
    pub import_token: Option<String>,
    #[serde(default)]
    pub import_expires: Option<i64>,
    /// Records before [`KeyRecord::imported`]: the sealed SHA-256 of their one imported
    /// material. Moved into `imported` by [`KeyRecord::migrate`]; never written again.
    #[serde(default, with = "sealed_opt", skip_serializing_if = "Option::is_none")]
    pub imported_digest: Option<Vec<u8>>,
    /// The imported materials of an EXTERNAL key, by version (the index of `sealed` and of
    /// ciphertexts' material version): the first is current until a rotation on demand makes
    /// newer material current; at most one, the last, waits for that rotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported: Vec<ImportedMaterial>,
}

/// One material of an EXTERNAL key, imported or waiting to be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImportedMaterial {
    /// Its `KeyMaterialId`, the same in every key of a multi-Region key.
    pub id: String,
    /// `KeyMaterialDescription`, as the last import of it gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its SHA-256, sealed (bound to [`digest_binding`]), kept after DeleteImportedKeyMaterial
    /// and expiry, so that only the same material can be imported again: other material would
    /// leave every ciphertext made under it undecryptable. `None` until this key's first import
    /// of it (a replica's material not imported there yet), or for records from before digests.
    #[serde(default, with = "sealed_opt")]
    pub digest: Option<Vec<u8>>,
    /// When it expires (`KEY_MATERIAL_EXPIRES`); `None` when it does not.
    #[serde(default)]
    pub valid_to: Option<i64>,
    /// Whether KMS holds it now (`IMPORTED`) rather than waiting for it (`PENDING_IMPORT`).
    pub present: bool,
    /// Imported for a rotation on demand that has not happened (`PENDING_ROTATION`): not
    /// permanently associated with the key, used for nothing, and deleted without a trace.
    #[serde(default)]
    pub pending_rotation: bool,
}

/// What a key's material digest of version `version` is sealed bound to (version 0 keeps the
/// binding of records from before several materials).
pub(crate) fn digest_binding(arn: &str, version: usize) -> String {
    if version == 0 {
        format!("{arn}#imported-digest")
    } else {
        format!("{arn}#imported-digest#{version}")
    }
}

/// The `KeyMaterialId` of a material version made by KMS (and of an imported key's first
/// material): 64 hex digits, the same for every key of a multi-Region key, revealing nothing of
/// the material.
pub(crate) fn version_material_id(account: &str, key_id: &str, version: usize) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{account}/{key_id}:{version}").as_bytes(),
    );
    hex::encode(d.as_ref())
}

/// The `KeyMaterialId` of material imported as new (`NEW_KEY_MATERIAL`): derived, as AWS
/// derives it, from the key and the material (SHA-256 over a domain-separated encoding, 64 hex
/// digits), so that the same material imported again gets the same id, and the keys of a
/// multi-Region key, which share their key id, agree on it. Revealing nothing of the material
/// beyond whether two imports are of the same one.
pub(crate) fn imported_material_id(key_id: &str, material: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"palisade:kms:key-material-id\0");
    ctx.update(key_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(material);
    hex::encode(ctx.finish().as_ref())
}

mod sealed {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let encoded: Vec<String> = v.iter().map(|b| STANDARD.encode(b)).collect();
        s.collect_seq(encoded)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v: Vec<String> = Vec::deserialize(d)?;
        v.iter()
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

mod sealed_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        v.map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl KeyRecord {
    /// Brings a record of an older version to this one: an EXTERNAL key's one material
    /// (`valid_to`, `imported_digest`, present while `sealed` holds it) becomes its first
    /// entry of `imported`, and `sealed` gets an empty entry for each version not held.
    pub fn migrate(&mut self) {
        if self.origin == "EXTERNAL"
            && self.imported.is_empty()
            && (!self.sealed.is_empty() || self.imported_digest.is_some())
        {
            self.imported.push(ImportedMaterial {
                id: version_material_id(&self.account, &self.id, 0),
                description: None,
                digest: self.imported_digest.take(),
                valid_to: self.valid_to,
                present: !self.sealed.is_empty(),
                pending_rotation: false,
            });
        }
        self.imported_digest = None;
        self.valid_to = None;
        if self.sealed.len() < self.imported.len() {
            self.sealed.resize(self.imported.len(), Vec::new());
        }
    }

    /// The version new ciphertexts are made under: the newest one not waiting for a rotation.
    pub fn current_version(&self) -> usize {
        let pending = self.imported.last().is_some_and(|m| m.pending_rotation);
        self.sealed
            .len()
            .saturating_sub(if pending { 2 } else { 1 })
    }

    pub fn spec(&self) -> KeySpec {
        self.spec.parse().unwrap_or(KeySpec::SymmetricDefault)
    }
    pub fn usage(&self) -> KeyUsage {
        self.usage.parse().unwrap_or(KeyUsage::EncryptDecrypt)
    }
}

/// A key in memory: its record, unsealed materials (by version; `None` for an imported one not
/// held now) and compiled policy.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub record: KeyRecord,
    pub materials: Vec<Option<Arc<Material>>>,
    pub policy: Option<Arc<CompiledPolicy>>,
}

impl Key {
    /// The material of version `version`, when held.
    pub fn material(&self, version: usize) -> Option<&Arc<Material>> {
        self.materials.get(version).and_then(Option::as_ref)
    }

    /// The current material, when held.
    pub fn current(&self) -> Option<&Arc<Material>> {
        self.material(self.record.current_version())
    }
}

/// An alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AliasRecord {
    pub account: String,
    pub region: String,
    pub name: String,
    pub arn: String,
    pub target_key_id: String,
    pub created: i64,
    pub updated: i64,
}

/// A grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    pub id: String,
    /// The token of a grant made before tokens named their grant (see [`Kms::grant_token`]),
    /// matched as it is; a newer grant's first token, never compared.
    pub token: String,
    pub key_arn: String,
    pub name: Option<String>,
    /// The grantee as CreateGrant named it (an ARN), or, once that principal is deleted, its
    /// unique id, as ListGrants shows it from then on.
    pub grantee: String,
    /// The unique id of the IAM user or role (or role session) `grantee` named when the grant
    /// was made: the grant is that principal's, and a user or role created later under the same
    /// name does not get it (bug: grants were matched by ARN alone). `None` for principals that
    /// have none (accounts, federated users, service principals, other servers' accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_id: Option<String>,
    pub retiring: Option<String>,
    /// `grantee` and `retiring` are AWS service principals (named by GranteeServicePrincipal
    /// and RetiringServicePrincipal), listed under those names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grantee_service: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retiring_service: bool,
    /// `grantee_id`'s counterpart for the retiring principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_id: Option<String>,
    pub issuer: String,
    pub operations: Vec<String>,
    pub constraints: Option<serde_json::Value>,
    pub created: i64,
}

#[derive(Debug, Default)]
pub(crate) struct KmsData {
    /// By key ARN.
    pub keys: HashMap<String, Key>,
    /// By alias ARN.
    pub aliases: BTreeMap<String, AliasRecord>,
    /// By grant id. Changed only through [`KmsData::put_grant`] and [`KmsData::drop_grant`],
    /// which keep `grants_by_key` in step.
    pub grants: BTreeMap<String, GrantRecord>,
    /// The grant ids of each key, by key ARN: authorization by grant, CreateGrant's quota and
    /// ListGrants read a key's grants (up to 50,000), and walking every grant of every key
    /// made each of them, and each page of ListGrants, cost time in the account's grants.
    grants_by_key: HashMap<String, BTreeSet<String>>,
    /// The alias names of each key that has any, by key ARN: `kms:ResourceAliases` is set on
    /// every request on a key, and scanning `aliases` there would cost every Encrypt a walk of
    /// the account's aliases. Rebuilt whenever aliases change, which is rare.
    pub key_aliases: HashMap<String, Vec<String>>,
}

impl KmsData {
    /// Adds or replaces a grant.
    pub(crate) fn put_grant(&mut self, g: GrantRecord) {
        self.drop_grant(&g.id);
        self.grants_by_key
            .entry(g.key_arn.clone())
            .or_default()
            .insert(g.id.clone());
        self.grants.insert(g.id.clone(), g);
    }

    /// Removes a grant.
    pub(crate) fn drop_grant(&mut self, id: &str) {
        if let Some(old) = self.grants.remove(id)
            && let Some(ids) = self.grants_by_key.get_mut(&old.key_arn)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.grants_by_key.remove(&old.key_arn);
            }
        }
    }

    /// The grants of the key `key_arn`, by grant id.
    pub(crate) fn grants_of<'a>(&'a self, key_arn: &str) -> impl Iterator<Item = &'a GrantRecord> {
        self.grants_by_key
            .get(key_arn)
            .into_iter()
            .flatten()
            .filter_map(|id| self.grants.get(id))
    }

    /// How many grants the key `key_arn` has.
    pub(crate) fn grant_count(&self, key_arn: &str) -> usize {
        self.grants_by_key.get(key_arn).map_or(0, BTreeSet::len)
    }

    fn index_aliases(&mut self) {
        self.key_aliases.clear();
        for a in self.aliases.values() {
            self.key_aliases
                .entry(key_arn(&a.region, &a.account, &a.target_key_id))
                .or_default()
                .push(a.name.clone());
        }
    }
}

/// KMS's state.
#[derive(Debug)]
pub struct Kms {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    pub(crate) data: RwLock<KmsData>,
    writer: tokio::sync::Mutex<()>,
}

pub(crate) fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

pub(crate) fn alias_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{name}")
}

fn material_binding(arn: &str, version: usize) -> String {
    format!("{arn}#{version}")
}

/// Whether `sealer`'s KEK opens the first sealed key material in `store`; `None` when it holds
/// none. Proves a KEK at start where the data directory has no `kek-check` and no access key
/// (a `--dev` data directory) but keys of its own.
pub(crate) async fn kek_opens_a_key(
    store: &dyn Store,
    sealer: &Sealer,
) -> Result<Option<bool>, StoreError> {
    for doc in store.documents(KEYS).await? {
        let Ok(record) = serde_json::from_slice::<KeyRecord>(&doc.body) else {
            continue;
        };
        if let Some((v, sealed)) = record
            .sealed
            .iter()
            .enumerate()
            .find(|(_, s)| !s.is_empty())
        {
            let opened = sealer.open(
                Purpose::KeyMaterial,
                &material_binding(&record.arn, v),
                sealed,
            );
            return Ok(Some(opened.is_ok()));
        }
    }
    Ok(None)
}

fn encode<T: Serialize>(collection: &str, key: &str, v: &T) -> Result<DocumentChange, ApiError> {
    let body = serde_json::to_vec(v).map_err(ApiError::internal)?;
    Ok(DocumentChange::Put(Document {
        collection: collection.to_owned(),
        key: key.to_owned(),
        body,
    }))
}

impl Kms {
    /// Empty state over the store; [`Kms::load`] reads what the store holds.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>) -> Self {
        Self {
            store,
            sealer,
            data: RwLock::new(KmsData::default()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads keys, aliases and grants from the store, unsealing the materials.
    pub async fn load(&self) -> Result<(), StoreError> {
        let mut fresh = KmsData::default();
        for doc in self.store.documents(KEYS).await? {
            match serde_json::from_slice::<KeyRecord>(&doc.body) {
                Ok(record) => match self.unseal(record) {
                    Ok(key) => {
                        fresh.keys.insert(key.record.arn.clone(), key);
                    }
                    Err(e) => {
                        tracing::error!(key = %doc.key, error = %e, "a kms key cannot be unsealed; skipped")
                    }
                },
                Err(e) => {
                    tracing::error!(key = %doc.key, error = %e, "a kms key record does not parse; skipped")
                }
            }
        }
        for doc in self.store.documents(ALIASES).await? {
            if let Ok(a) = serde_json::from_slice::<AliasRecord>(&doc.body) {
                fresh.aliases.insert(a.arn.clone(), a);
            }
        }
        for doc in self.store.documents(GRANTS).await? {
            if let Ok(g) = serde_json::from_slice::<GrantRecord>(&doc.body) {
                fresh.put_grant(g);
            }
        }
        fresh.index_aliases();
        if let Ok(mut d) = self.data.write() {
            *d = fresh;
        }
        Ok(())
    }

    /// Forgets everything (the store was reset).
    pub fn clear(&self) {
        if let Ok(mut d) = self.data.write() {
            *d = KmsData::default();
        }
    }

    fn unseal(&self, mut record: KeyRecord) -> Result<Key, ApiError> {
        record.migrate();
        let spec = record.spec();
        let mut materials = Vec::with_capacity(record.sealed.len());
        for (v, sealed) in record.sealed.iter().enumerate() {
            if sealed.is_empty() {
                materials.push(None);
                continue;
            }
            let bytes = self
                .sealer
                .open(
                    Purpose::KeyMaterial,
                    &material_binding(&record.arn, v),
                    sealed,
                )
                .map_err(ApiError::internal)?;
            let m = Material::from_bytes(spec, bytes).map_err(ApiError::internal)?;
            materials.push(Some(Arc::new(m)));
        }
        // Records from before imported materials kept a digest hold material but no digest:
        // once that material was deleted, any other would have been taken back in its place,
        // leaving its ciphertexts undecryptable. Its digest is taken now, while it is held; the
        // key's next change stores it.
        for (v, m) in record.imported.iter_mut().enumerate() {
            if m.digest.is_none()
                && let Some(Some(material)) = materials.get(v)
            {
                let digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
                let sealed = self
                    .sealer
                    .seal(
                        Purpose::KeyMaterial,
                        &digest_binding(&record.arn, v),
                        digest.as_ref(),
                    )
                    .map_err(ApiError::internal)?;
                m.digest = Some(sealed);
            }
        }
        let policy = compile_policy(&record.policy);
        Ok(Key {
            record,
            materials,
            policy,
        })
    }

    /// Seals a material for version `version` of the key.
    pub(crate) fn seal(
        &self,
        arn: &str,
        version: usize,
        m: &Material,
    ) -> Result<Vec<u8>, ApiError> {
        self.sealer
            .seal(
                Purpose::KeyMaterial,
                &material_binding(arn, version),
                m.as_bytes(),
            )
            .map_err(ApiError::internal)
    }

    /// A fresh grant token for the grant `grant_id`: the id sealed with a random nonce, so that
    /// each CreateGrant answer, an idempotent retry's included, has a token of its own, as in
    /// AWS (bug: a retry got the first answer's token again), and any of them names the grant
    /// without being stored.
    pub(crate) fn grant_token(&self, grant_id: &str) -> Result<String, ApiError> {
        let sealed = self
            .sealer
            .seal(
                Purpose::GrantToken,
                GRANT_TOKEN_BINDING,
                grant_id.as_bytes(),
            )
            .map_err(ApiError::internal)?;
        Ok(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sealed,
        ))
    }

    /// The grant a grant token names, while it exists: one [`Kms::grant_token`] made, or the
    /// stored token of a grant made before those.
    pub(crate) fn grant_by_token(&self, token: &str) -> Result<Option<GrantRecord>, ApiError> {
        let id = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token)
            .ok()
            .and_then(|sealed| {
                self.sealer
                    .open(Purpose::GrantToken, GRANT_TOKEN_BINDING, &sealed)
                    .ok()
            })
            .and_then(|id| String::from_utf8(id).ok());
        self.read(|d| match id {
            Some(id) => d.grants.get(&id).cloned(),
            None => d.grants.values().find(|g| g.token == token).cloned(),
        })
    }

    /// Reads the state.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&KmsData) -> T) -> Result<T, ApiError> {
        let d = self
            .data
            .read()
            .map_err(|_| ApiError::internal("kms state lock poisoned"))?;
        Ok(f(&d))
    }

    /// Serializes writers.
    pub(crate) async fn lock_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Writes the changes to the store, then applies them in memory (so that memory never shows
    /// what the store does not hold). Call with the writer lock held.
    pub(crate) async fn commit(&self, changes: Changes) -> Result<(), ApiError> {
        let mut docs = Vec::new();
        for k in &changes.keys {
            docs.push(encode(KEYS, &k.record.arn, &k.record)?);
        }
        for a in &changes.aliases {
            docs.push(encode(ALIASES, &a.arn, a)?);
        }
        for g in &changes.grants {
            docs.push(encode(GRANTS, &g.id, g)?);
        }
        for (collection, key) in &changes.deletes {
            docs.push(DocumentChange::Delete {
                collection: (*collection).to_owned(),
                key: key.clone(),
            });
        }
        self.store
            .apply_documents(&docs)
            .await
            .map_err(ApiError::store_write)?;
        let mut d = self
            .data
            .write()
            .map_err(|_| ApiError::internal("kms state lock poisoned"))?;
        let aliases_changed =
            !changes.aliases.is_empty() || changes.deletes.iter().any(|(c, _)| *c == ALIASES);
        for (collection, key) in changes.deletes {
            match collection {
                KEYS => {
                    d.keys.remove(&key);
                }
                ALIASES => {
                    d.aliases.remove(&key);
                }
                _ => {
                    d.drop_grant(&key);
                }
            }
        }
        for mut k in changes.keys {
            k.policy = compile_policy(&k.record.policy);
            d.keys.insert(k.record.arn.clone(), k);
        }
        for a in changes.aliases {
            d.aliases.insert(a.arn.clone(), a);
        }
        for g in changes.grants {
            d.put_grant(g);
        }
        if aliases_changed {
            d.index_aliases();
        }
        Ok(())
    }
}

/// A set of changes committed together.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub keys: Vec<Key>,
    pub aliases: Vec<AliasRecord>,
    pub grants: Vec<GrantRecord>,
    pub deletes: Vec<(&'static str, String)>,
}

/// KMS's quota for a key policy document: 32 KB, above the 20,480 characters of other resource
/// policies.
pub(crate) const KEY_POLICY_MAX: usize = 32_768;

/// Why a key policy is refused.
#[derive(Debug)]
pub(crate) enum KeyPolicyError {
    /// Over [`KEY_POLICY_MAX`] bytes: KMS answers `LimitExceededException`.
    TooLarge(usize),
    /// Anything else: `MalformedPolicyDocumentException`.
    Malformed(palisade_policy::PolicyError),
}

/// Parses a key policy as KMS does, which is not quite as IAM does: the quota is 32 KB of the
/// document as sent (IAM counts characters other than whitespace), and a statement without
/// `Action` or without `Resource` is accepted and has no effect (the PutKeyPolicy reference:
/// "the PutKeyPolicy API request succeeds, even though the policy statement is ineffective").
/// Such a statement is given `NotAction: "*"` (or `NotResource: "*"`), which nothing matches,
/// so that every other rule still applies to it (bug: it was dropped before the checks, and a
/// statement with no Action took any Effect, Principal or condition operator).
pub(crate) fn parse_key_policy(doc: &str) -> Result<palisade_policy::Policy, KeyPolicyError> {
    if doc.len() > KEY_POLICY_MAX {
        return Err(KeyPolicyError::TooLarge(doc.len()));
    }
    let parse = |text: &str| {
        palisade_policy::Policy::parse_with_limit(text, PolicyKind::Resource, usize::MAX)
            .map_err(KeyPolicyError::Malformed)
    };
    // The text as sent first: its JSON errors (a duplicate key, with offsets into it) and the
    // checks before the action's are reported as for any policy; only a missing action or
    // resource sends it through the rewrite.
    match parse(doc) {
        Err(KeyPolicyError::Malformed(
            palisade_policy::PolicyError::MissingAction { .. }
            | palisade_policy::PolicyError::MissingResource { .. },
        )) => match with_ineffective_statements_matching_nothing(doc) {
            Some(effective) => parse(&effective),
            None => parse(doc),
        },
        other => other,
    }
}

/// The document with `NotAction`/`NotResource` `"*"` in each statement that lacks an action or
/// a resource element, when it has such statements and is otherwise a policy object; `None`
/// leaves the document as it is (the parser then reports whatever is wrong with it).
fn with_ineffective_statements_matching_nothing(doc: &str) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let fill = |st: &mut serde_json::Value| -> bool {
        let Some(obj) = st.as_object_mut() else {
            return false;
        };
        let mut changed = false;
        for (a, b) in [("Action", "NotAction"), ("Resource", "NotResource")] {
            if !obj.contains_key(a) && !obj.contains_key(b) {
                obj.insert(b.to_owned(), serde_json::Value::String("*".to_owned()));
                changed = true;
            }
        }
        changed
    };
    let changed = match v.get_mut("Statement")? {
        // Every statement is filled: counted, not `any`, which would stop at the first.
        serde_json::Value::Array(list) => list.iter_mut().map(fill).filter(|c| *c).count() > 0,
        st @ serde_json::Value::Object(_) => fill(st),
        _ => false,
    };
    changed.then(|| v.to_string())
}

/// A key policy as the policy engine evaluates it; `None` when it does not parse.
pub(crate) fn compile_policy(doc: &str) -> Option<Arc<CompiledPolicy>> {
    match parse_key_policy(doc) {
        Ok(p) => Some(Arc::new(CompiledPolicy::new(&p).with_name("key policy"))),
        Err(e) => {
            tracing::warn!(error = ?e, "a stored key policy does not compile; ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ImportedMaterial, KeyRecord, imported_material_id, version_material_id};

    fn grant(id: &str, key: &str) -> super::GrantRecord {
        serde_json::from_value(serde_json::json!({
            "id": id, "token": "", "key_arn": key, "name": null, "grantee": "g",
            "retiring": null, "issuer": "i", "operations": ["Decrypt"], "constraints": null,
            "created": 0
        }))
        .unwrap()
    }

    /// A key's grants are read through an index by key, which must follow every change (a
    /// grant re-keyed by a replacement, a dropped one, a key left with none).
    #[test]
    fn the_grants_of_a_key_follow_every_change() {
        let mut d = super::KmsData::default();
        d.put_grant(grant("b", "k1"));
        d.put_grant(grant("a", "k1"));
        d.put_grant(grant("c", "k2"));
        let ids = |d: &super::KmsData, k: &str| -> Vec<String> {
            d.grants_of(k).map(|g| g.id.clone()).collect()
        };
        assert_eq!(ids(&d, "k1"), ["a", "b"]);
        d.put_grant(grant("a", "k2"));
        assert_eq!(ids(&d, "k1"), ["b"]);
        assert_eq!(ids(&d, "k2"), ["a", "c"]);
        d.drop_grant("b");
        d.drop_grant("missing");
        assert_eq!(d.grant_count("k1"), 0);
        assert_eq!(d.grant_count("k2"), 2);
        assert_eq!(d.grants.len(), 2);
    }

    /// A key record as stores before several imported materials hold it.
    fn old_record(origin: &str, sealed: &[&str], digest: Option<&str>) -> KeyRecord {
        let mut v = serde_json::json!({
            "account": "123456789012",
            "region": "us-east-1",
            "id": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "created": 1_700_000_000,
            "description": "",
            "spec": "SYMMETRIC_DEFAULT",
            "usage": "ENCRYPT_DECRYPT",
            "origin": origin,
            "state": "Enabled",
            "deletion_date": null,
            "pending_window_days": null,
            "aws_managed": false,
            "multi_region": false,
            "primary_region": null,
            "replica_regions": [],
            "policy": "{}",
            "tags": [],
            "rotation_enabled": false,
            "rotation_period_days": 365,
            "next_rotation": null,
            "rotations": [],
            "sealed": sealed,
            "valid_to": 1_800_000_000,
            "import_wrapping": null,
            "import_token": null,
            "import_expires": null,
        });
        if let Some(d) = digest {
            v["imported_digest"] = serde_json::json!(d);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_old_imported_key_becomes_its_first_imported_material() {
        let mut r = old_record("EXTERNAL", &["AAEC"], Some("AwQF"));
        r.migrate();
        assert_eq!(r.imported.len(), 1);
        let m = &r.imported[0];
        // The id it always had, so that callers holding it still name it.
        assert_eq!(m.id, version_material_id(&r.account, &r.id, 0));
        assert_eq!(m.digest.as_deref(), Some(&[3u8, 4, 5][..]));
        assert_eq!(m.valid_to, Some(1_800_000_000));
        assert!(m.present && !m.pending_rotation && m.description.is_none());
        assert_eq!(r.sealed, vec![vec![0u8, 1, 2]]);
        assert_eq!(r.current_version(), 0);
        // Written back in the new form only, and migrating again changes nothing.
        let text = serde_json::to_value(&r).unwrap();
        assert!(text.get("valid_to").is_none() && text.get("imported_digest").is_none());
        let mut again: KeyRecord = serde_json::from_value(text).unwrap();
        again.migrate();
        assert_eq!(again.imported.len(), 1);
        assert_eq!(again.imported[0].id, m.id);
        assert_eq!(again.imported[0].valid_to, Some(1_800_000_000));
        assert_eq!(again.sealed, r.sealed);
    }

    #[tokio::test]
    async fn an_old_imported_key_without_a_digest_gets_one_while_its_material_is_held() {
        // Bug: a record from before digests kept none after loading, so once its material was
        // deleted any other material was taken back in its place.
        let dir = tempfile::tempdir().unwrap();
        let state = crate::state::test_app(dir.path()).await;
        let kms = &state.kms;
        let material = [7u8; 32];
        let mut record = old_record("EXTERNAL", &[], None);
        record.sealed = vec![
            state
                .sealer
                .seal(
                    super::Purpose::KeyMaterial,
                    &super::material_binding(&record.arn, 0),
                    &material,
                )
                .unwrap(),
        ];
        let key = kms.unseal(record).unwrap();
        let sealed = key.record.imported[0].digest.as_ref().unwrap();
        let digest = state
            .sealer
            .open(
                super::Purpose::KeyMaterial,
                &super::digest_binding(&key.record.arn, 0),
                sealed,
            )
            .unwrap();
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &material);
        assert_eq!(digest, want.as_ref());
    }

    #[test]
    fn an_old_key_whose_material_was_deleted_waits_for_it() {
        let mut r = old_record("EXTERNAL", &[], Some("AwQF"));
        r.migrate();
        assert_eq!(r.imported.len(), 1);
        assert!(!r.imported[0].present);
        assert!(r.imported[0].digest.is_some());
        // An empty slot for the version not held.
        assert_eq!(r.sealed, vec![Vec::<u8>::new()]);
        assert_eq!(r.current_version(), 0);
    }

    #[test]
    fn an_old_key_never_imported_or_generated_by_kms_has_no_imported_materials() {
        let mut never = old_record("EXTERNAL", &[], None);
        never.migrate();
        assert!(never.imported.is_empty() && never.sealed.is_empty());
        let mut generated = old_record("AWS_KMS", &["AAEC", "AwQF"], None);
        generated.migrate();
        assert!(generated.imported.is_empty());
        assert_eq!(generated.sealed.len(), 2);
        assert_eq!(generated.current_version(), 1);
    }

    #[test]
    fn material_waiting_for_a_rotation_is_not_current() {
        let mut r = old_record("EXTERNAL", &["AAEC"], Some("AwQF"));
        r.migrate();
        r.imported.push(ImportedMaterial {
            id: "b".repeat(64),
            description: Some("next".to_owned()),
            digest: None,
            valid_to: None,
            present: true,
            pending_rotation: true,
        });
        r.sealed.push(vec![9]);
        assert_eq!(r.current_version(), 0);
        r.imported[1].pending_rotation = false;
        assert_eq!(r.current_version(), 1);
    }

    #[test]
    fn new_material_ids_derive_from_the_key_id_and_the_material() {
        // Bug: they were random; AWS derives them from the key and the material.
        let id = imported_material_id("mrk-1", b"material");
        assert_eq!(id.len(), 64);
        assert_eq!(id, imported_material_id("mrk-1", b"material"));
        assert_ne!(id, imported_material_id("mrk-2", b"material"));
        assert_ne!(id, imported_material_id("mrk-1", b"other"));
        // The separator keeps key id and material apart (key ids hold no NUL).
        assert_ne!(
            imported_material_id("mrk-1", b"2x"),
            imported_material_id("mrk-12", b"x")
        );
    }
}
