//! Trail delivery: a background task that writes each logging trail's new events as CloudTrail
//! log files, and (with log-file validation on) signed digest files and Merkle checkpoints,
//! under `<trail-dir>/<bucket>/<prefix>/AWSLogs/…`.
//!
//! The formats are `palisade_audit::{trail, delivery}`; this module chooses the events (the
//! trail's account, Regions, global-service setting and event selectors), writes the files and
//! keeps the per-trail state (`cloudtrail.delivery`: the last event delivered, and per Region
//! the file sequence, the Merkle tree and the digest chain). Each step's state is committed
//! first, holding the step's files as pending, and the files are written (synced, renamed, their
//! directories synced) after: a crash between the two writes the same bytes again at the next
//! run, so a delivered file never changes content under its name (which the validator would
//! report as tampering for good).
//!
//! Signing keys are RSA-2048, one per Region, generated on first use and stored sealed under
//! the root key (`cloudtrail.signing_key`); ListPublicKeys serves their public halves.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use palisade_audit::delivery::{
    Artefact, RegionState, TrailSpec, deliver_digest, deliver_log_file,
};
use palisade_audit::trail::SigningKey;
use palisade_seal::Purpose;
use palisade_store::{AuditRow, Document, DocumentChange};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::TrailRecord;
use crate::error::ApiError;
use crate::state::AppState;

const DELIVERY: &str = "cloudtrail.delivery";
const SIGNING_KEYS: &str = "cloudtrail.signing_key";
/// Events read from the store per step; each step writes at most one file per Region.
const BATCH: i64 = 5000;

/// A trail's delivery progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrailDelivery {
    /// The position of the last event considered.
    cursor: i64,
    regions: BTreeMap<String, RegionState>,
    last_delivery: Option<i64>,
    last_digest: Option<i64>,
    /// The digest before `last_digest`: what GetTrailStatus reports while `last_digest` is
    /// still pending (bug: a digest whose write failed was reported as delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_digest: Option<i64>,
    last_error: Option<String>,
    /// When a delivery last failed: the latest attempt GetTrailStatus reports.
    #[serde(default)]
    last_failure: Option<i64>,
    /// The trail stopped logging and the events recorded up to then may not all have been
    /// delivered: StopLogging's own event, for one, is written after its handler delivered.
    #[serde(default)]
    final_pending: bool,
    /// The stop (its event-log position) whose StopLogging event was delivered: that event
    /// is written after the stop and delivered once, a later StopLogging's never.
    #[serde(default)]
    stop_event_delivered: Option<i64>,
    /// Files this state says are delivered, committed with it before they are written: after
    /// a crash (or a failed write) they are written again, byte for byte, before anything new.
    /// A file is never written before the state that accounts for it is committed (bug: files
    /// were renamed into place first, and a crash before the commit made the next run write
    /// the same sequence numbers with other content, which the validator reports as tampering
    /// for good).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending: Vec<PendingFile>,
}

/// A file to deliver, kept in the delivery state until it is on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingFile {
    bucket: String,
    key: String,
    /// Base64 of the bytes.
    bytes: String,
}

impl PendingFile {
    fn of(a: &Artefact) -> Self {
        Self {
            bucket: a.bucket.clone(),
            key: a.key.clone(),
            bytes: b64(&a.bytes),
        }
    }

    fn artefact(&self) -> Result<Artefact, ApiError> {
        Ok(Artefact {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            bytes: unb64(&self.bytes)
                .ok_or_else(|| ApiError::internal("a pending trail file is not base64"))?,
        })
    }
}

/// Commits `d` (holding `arts` as pending) and then writes `arts`: whatever is on disk is what a
/// committed state accounts for. Cleared from `d` once written.
async fn commit_then_write(
    state: &AppState,
    arn: &str,
    d: &mut TrailDelivery,
    arts: &[Artefact],
) -> Result<(), ApiError> {
    if arts.is_empty() {
        return Ok(());
    }
    d.pending = arts.iter().map(PendingFile::of).collect();
    save(state, arn, d).await?;
    write_artefacts(&state.config.trail_dir, arts).await?;
    d.pending.clear();
    Ok(())
}

/// Writes the files a committed state still holds as pending (a crash or a failed write).
async fn write_pending(state: &AppState, d: &mut TrailDelivery) -> Result<(), ApiError> {
    if d.pending.is_empty() {
        return Ok(());
    }
    let arts = d
        .pending
        .iter()
        .map(PendingFile::artefact)
        .collect::<Result<Vec<_>, _>>()?;
    write_artefacts(&state.config.trail_dir, &arts).await?;
    d.pending.clear();
    // A log file a failed step left is delivered only now.
    if arts.iter().any(|a| !is_digest(a)) {
        d.last_delivery = Some(OffsetDateTime::now_utc().unix_timestamp());
    }
    Ok(())
}

fn is_digest(a: &Artefact) -> bool {
    a.key.contains("/CloudTrail-Digest/")
}

/// A delivery failure as GetTrailStatus's LatestDeliveryError shows it: what could not be done
/// and the system's reason in words ("not a directory", "no storage space"), without the host's
/// paths, which go to the log (bug: every failure read as an unknown error).
fn write_failed(what: &str, path: &Path, e: &std::io::Error) -> ApiError {
    tracing::error!(path = %path.display(), error = %e, "cannot {what}");
    ApiError::new(
        "InternalFailure",
        format!("cannot {what}: {}", e.kind()),
        http::StatusCode::INTERNAL_SERVER_ERROR,
    )
}

static TAKEN_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static FAILED_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A delivery refused because its file's name holds another file (see [`place`]): retried at
/// every run, so logged once a minute (bug: an error line each second, for good), with what
/// the operator can do.
fn taken_name(what: &str, path: &Path, e: &std::io::Error) -> ApiError {
    if crate::audit::once_a_minute(&TAKEN_LOGGED) {
        tracing::error!(
            path = %path.display(),
            "cannot {what}: {e}; this trail delivers nothing more until the name is free. If \
             the data directory was restored from an older copy, create the trail again \
             (DeleteTrail, CreateTrail) so that its files take new names, or deliver to \
             another --trail-dir"
        );
    }
    ApiError::new(
        "InternalFailure",
        format!("cannot {what}: another file has its name (a restored or second server?)"),
        http::StatusCode::INTERNAL_SERVER_ERROR,
    )
}

async fn save(state: &AppState, arn: &str, d: &TrailDelivery) -> Result<(), ApiError> {
    state
        .store
        .apply_documents(&[DocumentChange::Put(Document {
            collection: DELIVERY.to_owned(),
            key: arn.to_owned(),
            body: serde_json::to_vec(d).map_err(ApiError::internal)?,
        })])
        .await
        .map_err(ApiError::store_write)
}

/// How long after the second StopLogging was called in its final delivery waits (milliseconds),
/// so that every event recorded up to the stop (StopLogging's own, and those of requests
/// running beside it) is in the event log.
const FINAL_DELIVERY_GRACE_MS: i64 = 1500;

/// A Region's signing key as stored: the private half sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    sealed: String,
    public: String,
    fingerprint: String,
    valid_from: i64,
}

/// Whether `sealer`'s KEK opens the first stored trail signing key; `None` when there is none.
/// Proves a KEK at start where the data directory has no `kek-check` (see `server::lib`).
pub(crate) async fn kek_opens_a_signing_key(
    store: &dyn palisade_store::Store,
    sealer: &palisade_seal::Sealer,
) -> Result<Option<bool>, palisade_store::StoreError> {
    for doc in store.documents(SIGNING_KEYS).await? {
        if let Ok(k) = serde_json::from_slice::<StoredKey>(&doc.body)
            && let Some(sealed) = unb64(&k.sealed)
        {
            let id = format!("cloudtrail-signing-key/{}", doc.key);
            return Ok(Some(
                sealer.open(Purpose::AuditSigningKey, &id, &sealed).is_ok(),
            ));
        }
    }
    Ok(None)
}

/// A public key as ListPublicKeys returns it.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// PKCS#1 DER.
    pub der: Vec<u8>,
    /// The fingerprint digests name.
    pub fingerprint: String,
    /// When the key started signing (epoch seconds).
    pub valid_from: i64,
}

/// What GetTrailStatus reports of a trail's deliveries (epoch seconds).
#[derive(Debug, Default)]
pub struct DeliveryStatus {
    pub delivered: Option<i64>,
    pub attempted: Option<i64>,
    pub digested: Option<i64>,
    pub error: Option<String>,
}

/// The delivery state of every trail, and the signing keys.
#[derive(Debug, Default)]
pub struct Delivery {
    trails: tokio::sync::Mutex<BTreeMap<String, TrailDelivery>>,
    keys: RwLock<BTreeMap<String, Arc<SigningKey>>>,
    public: RwLock<BTreeMap<String, PublicKey>>,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl Delivery {
    /// Reads delivery progress and public keys from the store. Private keys are unsealed when
    /// first needed.
    pub async fn load(
        &self,
        store: &dyn palisade_store::Store,
    ) -> Result<(), palisade_store::StoreError> {
        let mut trails = BTreeMap::new();
        for doc in store.documents(DELIVERY).await? {
            if let Ok(d) = serde_json::from_slice::<TrailDelivery>(&doc.body) {
                trails.insert(doc.key, d);
            }
        }
        // A trail that delivered past the log's end (the store restored with an older copy of
        // the log) would never deliver the events that take those positions again (bug: new
        // events went to no trail, silently): the log moves past them.
        let delivered = trails.values().map(|t| t.cursor).max().unwrap_or(0);
        let last = store.last_event_position().await?;
        if delivered > last && store.audit_skip_to(delivered.saturating_add(1)).await? {
            tracing::warn!(
                last_event = last,
                delivered_up_to = delivered,
                "audit log: trails delivered events past the log's end (was the data directory \
                 restored from a copy taken while the server ran?); new events start after them"
            );
        }
        *self.trails.lock().await = trails;
        let mut public = BTreeMap::new();
        for doc in store.documents(SIGNING_KEYS).await? {
            if let Ok(k) = serde_json::from_slice::<StoredKey>(&doc.body)
                && let Some(der) = unb64(&k.public)
            {
                public.insert(
                    doc.key,
                    PublicKey {
                        der,
                        fingerprint: k.fingerprint,
                        valid_from: k.valid_from,
                    },
                );
            }
        }
        if let Ok(mut p) = self.public.write() {
            *p = public;
        }
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
        Ok(())
    }

    /// The public key of a Region, if it has signed anything.
    pub fn public_key(&self, region: &str) -> Option<PublicKey> {
        self.public.read().ok()?.get(region).cloned()
    }

    /// The Region's public key, making the Region's signing key first if it has none yet: as
    /// in CloudTrail, a Region always has a key to list, before any digest is signed.
    pub async fn ensure_public_key(
        &self,
        state: &AppState,
        region: &str,
    ) -> Result<Option<PublicKey>, ApiError> {
        self.signing_key(state, region).await?;
        Ok(self.public_key(region))
    }

    /// When a trail last delivered a log file, last attempted a delivery (failed or not) and
    /// last delivered a digest, and its last error.
    pub async fn status(&self, arn: &str) -> DeliveryStatus {
        let t = self.trails.lock().await;
        t.get(arn)
            .map_or_else(DeliveryStatus::default, |d| DeliveryStatus {
                delivered: d.last_delivery,
                attempted: d.last_delivery.max(d.last_failure),
                digested: if d
                    .pending
                    .iter()
                    .any(|p| p.key.contains("/CloudTrail-Digest/"))
                {
                    d.previous_digest
                } else {
                    d.last_digest
                },
                error: d.last_error.clone(),
            })
    }

    /// Forgets a deleted trail's progress.
    pub async fn forget(&self, state: &AppState, arn: &str) -> Result<(), ApiError> {
        self.trails.lock().await.remove(arn);
        state
            .store
            .apply_documents(&[DocumentChange::Delete {
                collection: DELIVERY.to_owned(),
                key: arn.to_owned(),
            }])
            .await
            .map_err(ApiError::internal)
    }

    /// Forgets everything (the store was reset).
    pub async fn clear(&self) {
        self.trails.lock().await.clear();
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
        if let Ok(mut p) = self.public.write() {
            p.clear();
        }
    }

    /// The Region's signing key, generated and stored sealed on first use.
    async fn signing_key(
        &self,
        state: &AppState,
        region: &str,
    ) -> Result<Arc<SigningKey>, ApiError> {
        if let Some(k) = self.keys.read().ok().and_then(|k| k.get(region).cloned()) {
            return Ok(k);
        }
        let id = format!("cloudtrail-signing-key/{region}");
        let stored = state
            .store
            .documents(SIGNING_KEYS)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .find(|d| d.key == region)
            .and_then(|d| serde_json::from_slice::<StoredKey>(&d.body).ok());
        let key = if let Some(s) = stored {
            let sealed =
                unb64(&s.sealed).ok_or_else(|| ApiError::internal("signing key encoding"))?;
            let der = state
                .sealer
                .open(Purpose::AuditSigningKey, &id, &sealed)
                .map_err(ApiError::internal)?;
            SigningKey::from_pkcs8(&der).map_err(ApiError::internal)?
        } else {
            let key = SigningKey::generate().map_err(ApiError::internal)?;
            let sealed = state
                .sealer
                .seal(Purpose::AuditSigningKey, &id, key.pkcs8())
                .map_err(ApiError::internal)?;
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let stored = StoredKey {
                sealed: b64(&sealed),
                public: b64(&key.public_pkcs1()),
                fingerprint: key.fingerprint(),
                valid_from: now,
            };
            state
                .store
                .apply_documents(&[DocumentChange::Put(Document {
                    collection: SIGNING_KEYS.to_owned(),
                    key: region.to_owned(),
                    body: serde_json::to_vec(&stored).map_err(ApiError::internal)?,
                })])
                .await
                .map_err(ApiError::internal)?;
            if let Ok(mut p) = self.public.write() {
                p.insert(
                    region.to_owned(),
                    PublicKey {
                        der: key.public_pkcs1(),
                        fingerprint: key.fingerprint(),
                        valid_from: now,
                    },
                );
            }
            key
        };
        let key = Arc::new(key);
        if let Ok(mut k) = self.keys.write() {
            k.insert(region.to_owned(), key.clone());
        }
        Ok(key)
    }
}

/// Whether the trail's basic or advanced event selectors keep a management event (every event
/// Palisade records is one). An event is kept when any selector keeps it.
fn selected(t: &TrailRecord, row: &AuditRow) -> bool {
    if let Some(selectors) = t.event_selectors.as_ref().and_then(Value::as_array) {
        return selectors.iter().any(|s| {
            let management = s
                .get("IncludeManagementEvents")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let rw = s
                .get("ReadWriteType")
                .and_then(Value::as_str)
                .unwrap_or("All");
            let excluded = s
                .get("ExcludeManagementEventSources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|v| v.as_str() == Some(row.event_source.as_str()));
            management
                && !excluded
                && match rw {
                    "ReadOnly" => row.read_only,
                    "WriteOnly" => !row.read_only,
                    _ => true,
                }
        });
    }
    if let Some(selectors) = t
        .advanced_event_selectors
        .as_ref()
        .and_then(Value::as_array)
    {
        return selectors.iter().any(|s| {
            s.get("FieldSelectors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .all(|f| field_matches(f, row))
        });
    }
    true
}

/// An operator's test of an event's value against one of the selector's.
type Test = fn(&str, &str) -> bool;

/// Whether an event meets one advanced field selector: every operator given holds (a positive
/// one when some value matches, a negative one when none does). A field a management event does
/// not have (`resources.type`, …) is never met, so data-event selectors keep no management
/// event.
fn field_matches(f: &Value, row: &AuditRow) -> bool {
    let read_only = if row.read_only { "true" } else { "false" };
    let value = match f.get("Field").and_then(Value::as_str) {
        Some("eventCategory") => "Management",
        Some("readOnly") => read_only,
        Some("eventSource") => row.event_source.as_str(),
        Some("eventName") => row.event_name.as_str(),
        _ => return false,
    };
    let values = |op: &str| {
        f.get(op)
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>())
    };
    let tests: [(&str, Test, bool); 6] = [
        ("Equals", |v, p| v == p, true),
        ("StartsWith", |v, p| v.starts_with(p), true),
        ("EndsWith", |v, p| v.ends_with(p), true),
        ("NotEquals", |v, p| v == p, false),
        ("NotStartsWith", |v, p| v.starts_with(p), false),
        ("NotEndsWith", |v, p| v.ends_with(p), false),
    ];
    tests.iter().all(|(op, test, positive)| match values(op) {
        None => true,
        Some(list) => list.iter().any(|p| test(value, p)) == *positive,
    })
}

/// The Region an event was recorded in, and whether the trail takes it.
fn region_for(t: &TrailRecord, row: &AuditRow) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "awsRegion")]
        region: String,
    }
    let region = serde_json::from_str::<Head>(&row.record).ok()?.region;
    // The Region names a directory. Requests are refused unless their Region is spelled as
    // AWS's are, but an event log written before that check may hold a `..` or a name too long
    // for the file system, which stopped the account's delivery for good (bug): skip it.
    if !palisade_sigv4::is_region_name(&region) {
        tracing::warn!(region = %region.escape_debug(), "an event's region is no region name; not delivered to trails");
        return None;
    }
    if !t.multi_region && region != t.home_region {
        return None;
    }
    if !t.include_global && row.event_source == "iam.amazonaws.com" {
        return None;
    }
    selected(t, row).then_some(region)
}

/// Whether an event is a successful StopLogging of the trail.
fn stops(t: &TrailRecord, row: &AuditRow) -> bool {
    if row.event_name != "StopLogging"
        || row.event_source != "cloudtrail.amazonaws.com"
        || row.error_code.is_some()
    {
        return false;
    }
    let record: Value = serde_json::from_str(&row.record).unwrap_or(Value::Null);
    record
        .pointer("/requestParameters/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n == t.name || n == t.arn)
}

/// Writes each artefact aside, syncs it, renames it into place, then syncs the directories that
/// gained a name. Durability order (bug: nothing was synced, so a power loss after the delivery
/// state was committed could leave a delivered file empty, missing or half written, and the
/// validator then reported a log file or digest the trail had signed as modified or missing):
/// 1. the bytes are synced before the rename, so the name never points at data still in cache;
/// 2. the directories are synced after the renames, so the names survive;
/// 3. only then does the caller commit the delivery state that says the files exist.
async fn write_artefacts(root: &Path, arts: &[Artefact]) -> Result<(), ApiError> {
    let mut dirs = std::collections::BTreeSet::new();
    for a in arts {
        let what = if is_digest(a) {
            "write the digest file"
        } else {
            "write the log file"
        };
        let path = root.join(&a.bucket).join(&a.key);
        let dir = path
            .parent()
            .ok_or_else(|| ApiError::internal(format!("no directory for {}", path.display())))?;
        // Owner-only, as the data directory: the logs name every caller and resource.
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .await
            .map_err(|e| write_failed("create the delivery folder", dir, &e))?;
        // Written aside and renamed: a reader (or a crash) never sees half a file.
        let tmp = path.with_extension("partial");
        let written = async {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, &a.bytes).await?;
            tokio::io::AsyncWriteExt::flush(&mut f).await?;
            f.sync_all().await
        };
        written.await.map_err(|e| write_failed(what, &tmp, &e))?;
        place(&tmp, &path, &a.bytes).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                taken_name(what, &path, &e)
            } else {
                write_failed(what, &path, &e)
            }
        })?;
        // Directories created above are synced by their own parents' entries only once their
        // parents are synced too: every level up to the root, once per run.
        let mut d = dir;
        while d.starts_with(root) && dirs.insert(d.to_path_buf()) {
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
    }
    for dir in dirs {
        let synced = async { tokio::fs::File::open(&dir).await?.sync_all().await };
        synced
            .await
            .map_err(|e| write_failed("sync the delivery folder", &dir, &e))?;
    }
    Ok(())
}

/// Puts the file written at `tmp` in place at `path`, which must not hold other bytes than
/// `bytes`: the same bytes are a delivery written again after a crash, and anything else is
/// another server's delivered file under the same name (a restored copy of this data directory
/// sharing its trail directory, or a rollback), which must not be replaced (bug: it was, and
/// the replacement then validated as the original). The link fails atomically when the name
/// is taken; a file system without hard links gets the check, then the rename.
async fn place(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let taken = match tokio::fs::hard_link(tmp, path).await {
        Ok(()) => return tokio::fs::remove_file(tmp).await,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => true,
        Err(_) => tokio::fs::try_exists(path).await?,
    };
    if taken && tokio::fs::read(path).await? != bytes {
        let _ = tokio::fs::remove_file(tmp).await;
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a delivered file of other content has this name: another server (a restored \
             copy of this data directory?) delivers to this trail directory, whose files are \
             left as they are",
        ));
    }
    tokio::fs::rename(tmp, path).await
}

/// Removes the `.partial` files a crash left in the trail directory (a file being written when
/// the process died): they are never renamed into place, and would otherwise stay for good
/// beside the delivered files. A delivered file is never named `.partial`.
fn remove_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            remove_partials(&path);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "partial") {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a partly written trail file")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a partly written trail file")
                }
            }
        }
    }
}

fn spec(t: &TrailRecord) -> TrailSpec {
    TrailSpec {
        account: t.account.clone(),
        home_region: t.home_region.clone(),
        name: t.name.clone(),
        arn: t.arn.clone(),
        bucket: t.bucket.clone(),
        prefix: t.key_prefix.clone(),
        generation: t.generation.clone(),
    }
}

/// Delivers every logging trail's new events; digests those whose period is over, or every
/// trail named in `digest_now` whatever its period (StopLogging).
pub async fn run(state: &AppState, digest_now: Option<&str>) -> Result<(), ApiError> {
    run_with(state, digest_now, None).await
}

/// Delivers at once what the stopped trail `arn` still owes from its last stop (the events up
/// to the stop and StopLogging's own event), without waiting for the grace: StartLogging calls
/// it before it moves the trail's start past them. Bug: a StartLogging before the final
/// delivery's tick moved the cursor to the new start, so StopLogging's event was never
/// delivered (the files showed StartLogging twice in a row).
pub async fn flush_stopped(state: &AppState, arn: &str) -> Result<(), ApiError> {
    run_with(state, None, Some(arn)).await
}

async fn run_with(
    state: &AppState,
    digest_now: Option<&str>,
    final_now: Option<&str>,
) -> Result<(), ApiError> {
    let trails: Vec<TrailRecord> = state
        .trails
        .data
        .read()
        .map_err(|_| ApiError::internal("trail lock poisoned"))?
        .values()
        .cloned()
        .collect();
    let delivery = &state.trails.delivery;
    let mut all = delivery.trails.lock().await;
    for t in trails {
        let mut d = all.get(&t.arn).cloned().unwrap_or_default();
        let named = Some(t.arn.as_str()) == digest_now;
        let final_due = d.final_pending
            && !t.logging
            && (final_now == Some(t.arn.as_str())
                || t.stop_logging.is_some_and(|s| {
                    let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                    now_ms - i128::from(s) * 1000 >= i128::from(FINAL_DELIVERY_GRACE_MS)
                }));
        if !(t.logging || named || final_due) {
            continue;
        }
        if !t.logging {
            // Delivered now (at StopLogging) and once more when the grace has passed.
            d.final_pending = named;
        }
        let result = match write_pending(state, &mut d).await {
            Ok(()) => deliver_trail(state, &t, &mut d, named, final_due).await,
            Err(e) => Err(e),
        };
        d.last_error = result.as_ref().err().map(|e| e.message.clone());
        if let Err(e) = &result {
            d.last_failure = Some(OffsetDateTime::now_utc().unix_timestamp());
            tracing::warn!(trail = %t.arn, error = %e.message, "trail delivery failed");
        }
        if let Err(e) = save(state, &t.arn, &d).await {
            // The state in memory must never run ahead of, or behind, the committed one (a
            // step may have committed before this failure): read it back.
            if let Ok(docs) = state.store.documents(DELIVERY).await
                && let Some(committed) = docs
                    .into_iter()
                    .find(|doc| doc.key == t.arn)
                    .and_then(|doc| serde_json::from_slice::<TrailDelivery>(&doc.body).ok())
            {
                all.insert(t.arn.clone(), committed);
            }
            return Err(e);
        }
        all.insert(t.arn.clone(), d);
    }
    Ok(())
}

async fn deliver_trail(
    state: &AppState,
    t: &TrailRecord,
    d: &mut TrailDelivery,
    digest_now: bool,
    final_run: bool,
) -> Result<(), ApiError> {
    let spec = spec(t);
    // Trails stored before positions were kept bound what they deliver by whole seconds.
    let min_time = match t.start_position {
        Some(_) => 0,
        None => t.start_logging.unwrap_or(0).saturating_mul(1000),
    };
    let max_time = match (t.logging, t.stop_logging, t.stop_position) {
        (false, Some(stop), None) => stop.saturating_mul(1000).saturating_add(999),
        _ => i64::MAX,
    };
    // Nothing written before logging started is delivered.
    if let Some(p) = t.start_position
        && d.cursor < p
    {
        d.cursor = p;
    }
    // A stopped trail delivers what was written up to the stop, and StopLogging's own event.
    let stop = t.stop_position.filter(|_| !t.logging);
    let mut delivered = false;
    loop {
        let rows = state
            .store
            .events_after(&t.account, d.cursor, min_time, BATCH)
            .await
            .map_err(ApiError::internal)?;
        let Some((last, _)) = rows.last() else { break };
        let last = *last;
        let mut by_region: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
        for (position, row) in &rows {
            if row.event_time_ms > max_time {
                continue;
            }
            if let Some(stop) = stop
                && *position > stop
            {
                if d.stop_event_delivered == Some(stop) || !stops(t, row) {
                    continue;
                }
                d.stop_event_delivered = Some(stop);
            }
            if let Some(region) = region_for(t, row) {
                let time = palisade_audit::format_event_time(
                    OffsetDateTime::from_unix_timestamp(row.event_time_ms / 1000)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                );
                by_region
                    .entry(region)
                    .or_default()
                    .push((row.record.as_str(), time));
            }
        }
        let now = OffsetDateTime::now_utc();
        let mut regions = d.regions.clone();
        let mut arts = Vec::new();
        for (region, records) in &by_region {
            let key = state.trails.delivery.signing_key(state, region).await?;
            let rs = regions.entry(region.clone()).or_default();
            let recs: Vec<(&str, &str)> = records.iter().map(|(r, t)| (*r, t.as_str())).collect();
            arts.extend(
                deliver_log_file(&spec, region, rs, &recs, now, &key)
                    .map_err(ApiError::internal)?,
            );
        }
        d.regions = regions;
        d.cursor = last;
        commit_then_write(state, &t.arn, d, &arts).await?;
        // Only once the file is on disk (bug: set before the write, so a failed delivery was
        // reported as the latest successful one).
        if !by_region.is_empty() {
            d.last_delivery = Some(now.unix_timestamp());
            delivered = true;
        }
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) < BATCH {
            break;
        }
    }
    let now = OffsetDateTime::now_utc();
    let since = d
        .last_digest
        .or(t.start_logging)
        .unwrap_or_else(|| now.unix_timestamp());
    let due = now.unix_timestamp() - since
        >= state
            .config
            .trail_digest_interval
            .as_secs()
            .try_into()
            .unwrap_or(i64::MAX);
    // The final run after StopLogging digests the file it delivered, so that the trail's last
    // file is in a digest.
    if t.validation && (digest_now || due || (final_run && delivered)) {
        let mut base = d.regions.clone();
        if base.is_empty() {
            base.insert(t.home_region.clone(), RegionState::default());
        }
        // Digest names have one-second resolution: a second digest within the same second
        // (a StopLogging right after a periodic digest) is dated one second later rather than
        // overwrite the first and break the chain.
        let mut at = match d.last_digest {
            Some(last) if last >= now.unix_timestamp() => {
                OffsetDateTime::from_unix_timestamp(last + 1).unwrap_or(now)
            }
            _ => now,
        };
        // Digests are named by trail name and second, not by the trail's generation: a trail
        // created again under its old name, digesting in the second its predecessor's last
        // digest was dated, is dated a second later too (bug: the name was taken, and the
        // delivery, which never replaces a file, failed for good).
        let mut tries = 0;
        let (regions, arts) = loop {
            let mut regions = base.clone();
            let mut arts = Vec::new();
            for (region, rs) in &mut regions {
                let key = state.trails.delivery.signing_key(state, region).await?;
                arts.extend(
                    deliver_digest(&spec, region, rs, at, &key).map_err(ApiError::internal)?,
                );
            }
            let root = &state.config.trail_dir;
            let taken = arts
                .iter()
                .any(|a| root.join(&a.bucket).join(&a.key).exists());
            if !taken || tries >= 10 {
                break (regions, arts);
            }
            tries += 1;
            at += time::Duration::seconds(1);
        };
        d.regions = regions;
        d.previous_digest = d.last_digest;
        d.last_digest = Some(at.unix_timestamp());
        commit_then_write(state, &t.arn, d, &arts).await?;
    }
    Ok(())
}

/// Starts the task that runs [`run`] every delivery interval.
pub fn start(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    let every = state.config.trail_delivery_interval;
    let trail_dir = state.config.trail_dir.clone();
    tokio::spawn(async move {
        // Before the first delivery, which writes `.partial` files of its own.
        let _ = tokio::task::spawn_blocking(move || remove_partials(&trail_dir)).await;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            // Retried at every tick: said once a minute (GetTrailStatus has the latest error).
            if let Err(e) = run(&state, None).await
                && crate::audit::once_a_minute(&FAILED_LOGGED)
            {
                tracing::warn!(error = %e.message, "trail delivery task failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a digest whose write failed (it stays pending) was reported by
    /// GetTrailStatus as the latest delivered.
    #[tokio::test]
    async fn a_pending_digest_is_not_reported_as_delivered() {
        let delivery = Delivery::default();
        let d = TrailDelivery {
            last_digest: Some(200),
            previous_digest: Some(100),
            pending: vec![PendingFile {
                bucket: "b".into(),
                key: "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/12/04/d.json.gz".into(),
                bytes: String::new(),
            }],
            ..Default::default()
        };
        delivery.trails.lock().await.insert("t".into(), d);
        assert_eq!(delivery.status("t").await.digested, Some(100));
        if let Some(d) = delivery.trails.lock().await.get_mut("t") {
            d.pending.clear();
        }
        assert_eq!(delivery.status("t").await.digested, Some(200));
    }

    /// Regression: a `.partial` left by a kill -9 in the middle of writing a digest stayed in the
    /// trail directory for good.
    #[test]
    fn partial_files_left_by_a_crash_are_removed_and_delivered_files_kept() {
        let root = tempfile::tempdir().unwrap();
        let day = root
            .path()
            .join("bucket/AWSLogs/1/CloudTrail-Digest/us-east-1/2026/12/03");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("d.json.partial"), b"half").unwrap();
        std::fs::write(day.join("d.json.gz"), b"whole").unwrap();
        remove_partials(root.path());
        assert!(!day.join("d.json.partial").exists());
        assert!(day.join("d.json.gz").exists());
    }

    /// Regression (defect 4): the delivery state holding pending files round-trips, so that a
    /// restart writes the same bytes again rather than new content under the same names.
    #[test]
    fn pending_files_are_kept_in_the_committed_state_byte_for_byte() {
        let art = Artefact {
            bucket: "b".into(),
            key: "k.json.gz".into(),
            bytes: vec![0, 1, 2, 255],
        };
        let d = TrailDelivery {
            cursor: 7,
            pending: vec![PendingFile::of(&art)],
            ..TrailDelivery::default()
        };
        let back: TrailDelivery = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(back.cursor, 7);
        let again = back.pending[0].artefact().unwrap();
        assert_eq!(
            (again.bucket, again.key, again.bytes),
            (art.bucket, art.key, art.bytes)
        );
        // Nothing pending is not written out at all (older states read the same).
        let empty = serde_json::to_value(TrailDelivery::default()).unwrap();
        assert!(empty.get("pending").is_none());
    }

    /// Files are synced and renamed into place (the sync order itself is argued at
    /// `write_artefacts`; a power loss cannot be simulated here).
    #[tokio::test]
    async fn artefacts_are_written_whole_with_no_partial_left() {
        let root = tempfile::tempdir().unwrap();
        let arts = [Artefact {
            bucket: "b".into(),
            key: "AWSLogs/1/CloudTrail/us-east-1/2026/12/03/f.json.gz".into(),
            bytes: b"data".to_vec(),
        }];
        write_artefacts(root.path(), &arts).await.unwrap();
        let path = root
            .path()
            .join("b/AWSLogs/1/CloudTrail/us-east-1/2026/12/03/f.json.gz");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        assert!(!path.with_extension("partial").exists());
    }
}
