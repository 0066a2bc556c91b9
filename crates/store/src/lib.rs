//! Persistent state behind the [`Store`] trait.
//!
//! The server and the domain crates talk to a [`Store`]; [`SqliteStore`] is the embedded
//! implementation (one file in the data directory, WAL mode). A PostgreSQL implementation can
//! satisfy the same trait later: the trait speaks in domain records, never in SQL, and the SQL here
//! is kept portable (`$N` parameters, epoch-integer times).
//!
//! Schema changes are versioned migrations under `migrations/sqlite/`, applied in order at open
//! time inside one transaction each, and recorded in `schema_migrations`.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Row, SqliteConnection};

mod event_index;
mod event_log;
pub mod iam;

/// Reads the audit event log of a data directory without changing it: `read_events(<data-dir>/events, …)`.
pub use event_log::read_events;
pub use iam::{
    AccountSettingsRecord, GroupRecord, IamChange, IamKind, IamRecord, InstanceProfileRecord,
    LoginProfileRecord, ManagedPolicyRecord, MfaDeviceRecord, PasswordPolicyRecord,
    PolicyVersionRecord, ProviderRecord, RoleRecord, ServerCertificateRecord,
    ServiceCredentialRecord, TagRecord, UserCredentialRecord, UserRecord,
};

/// A boxed future, so that [`Store`] can be used as `dyn Store`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (I/O, constraint, corruption).
    #[error("store error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed to apply; the store is left at the previous version.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version number.
        version: i64,
        /// The migration's file name.
        name: &'static str,
        /// The underlying error.
        source: sqlx::Error,
    },
    /// A stored IAM record could not be read or written as JSON.
    #[error("iam record {key}: {source}")]
    Record {
        /// The record's key.
        key: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The audit event log could not be read or written.
    #[error("audit event log: {0}")]
    Events(String),
    /// A lock was poisoned by a panic while held.
    #[error("an in-memory index lock was poisoned")]
    Poisoned,
    /// The database was written by a newer Palisade than this one.
    #[error("the store is at schema version {found}, newer than this binary knows ({known})")]
    TooNew {
        /// The version found.
        found: i64,
        /// The newest version this binary has.
        known: i64,
    },
}

/// An access key and the principal it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// `AKIA…` (long-term) or `ASIA…` (temporary).
    pub access_key_id: String,
    /// The owning account.
    pub account_id: String,
    /// `Root` or `IAMUser`, as CloudTrail names them.
    pub principal_type: String,
    /// The principal's ARN.
    pub principal_arn: String,
    /// The principal's unique id (`aws:userid`).
    pub principal_id: String,
    /// The IAM user name, for IAM users.
    pub user_name: Option<String>,
    /// The sealed secret access key (see `palisade-seal`).
    pub sealed_secret: Vec<u8>,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// When the key was last used, by which service and in which region.
    pub last_used: Option<KeyLastUsed>,
}

/// Where and when an access key was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLastUsed {
    /// Epoch seconds.
    pub at: i64,
    /// The service's signing name.
    pub service: String,
    /// The region.
    pub region: String,
}

impl fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("principal_arn", &self.principal_arn)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// One audit event as stored: the indexed fields and the full record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The event's unique id.
    pub event_id: String,
    /// Event time, epoch milliseconds.
    pub event_time_ms: i64,
    /// The account the event belongs to.
    pub account_id: String,
    /// `<service>.amazonaws.com`.
    pub event_source: String,
    /// The operation.
    pub event_name: String,
    /// CloudTrail's readOnly flag.
    pub read_only: bool,
    /// The access key that signed the request, if any.
    pub access_key_id: Option<String>,
    /// The user name, if any.
    pub user_name: Option<String>,
    /// The error code when the request failed or was denied.
    pub error_code: Option<String>,
    /// The full CloudTrail record as JSON.
    pub record: String,
    /// The record's resources as (ARN, type), for lookups by ResourceName and ResourceType.
    pub resources: Vec<(String, String)>,
}

/// The attribute LookupEvents filters on (CloudTrail allows one per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAttribute {
    /// `EventId`.
    EventId,
    /// `EventName`.
    EventName,
    /// `ReadOnly` (`true` or `false`).
    ReadOnly,
    /// `Username`.
    Username,
    /// `EventSource`.
    EventSource,
    /// `AccessKeyId`.
    AccessKeyId,
    /// `ResourceName`: a resource ARN in the record.
    ResourceName,
    /// `ResourceType`: a resource type in the record.
    ResourceType,
}

/// A LookupEvents query: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// The account whose events to read.
    pub account_id: String,
    /// The one attribute filter, with its value.
    pub attribute: Option<(EventAttribute, String)>,
    /// Inclusive bounds on the event time, epoch milliseconds.
    pub start_ms: i64,
    /// See `start_ms`.
    pub end_ms: i64,
    /// Only events older than this position (the previous page's last), for paging.
    pub before: Option<i64>,
    /// The most events to return.
    pub limit: i64,
    /// Only events of this Region (`awsRegion`), as CloudTrail's event history is per Region;
    /// `None` for every Region (IAM's last-accessed data, KMS key usage).
    pub region: Option<String>,
}

/// The persistent state of a Palisade deployment.
pub trait Store: Send + Sync + fmt::Debug {
    /// Creates the account if it does not exist; returns whether it was created.
    fn ensure_account<'a>(&'a self, account_id: &'a str)
    -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Inserts or replaces an access key.
    fn put_access_key<'a>(
        &'a self,
        key: &'a AccessKeyRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Looks up one access key.
    fn access_key<'a>(
        &'a self,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AccessKeyRecord>, StoreError>>;
    /// Lists the access keys of one principal, in the order they were created (keys created in
    /// the same second too: the credential report's access_key_1 is the first of them).
    fn access_keys_of<'a>(
        &'a self,
        account_id: &'a str,
        principal_arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AccessKeyRecord>, StoreError>>;
    /// Appends audit events in one transaction: all are durable when this returns, or none are.
    fn append_events<'a>(&'a self, rows: &'a [AuditRow]) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Whether the audit log's room for the next events could not be made at the last append
    /// (a full disk): the appends so far succeeded, but new requests should wait.
    fn audit_space_low(&self) -> bool {
        false
    }
    /// Tries to make at least `need` bytes of room for audit events (again, after a full disk;
    /// or more, when requests under way were promised more); true when there is room now.
    fn audit_make_room(&self, need: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let _ = need;
        Box::pin(async { Ok(true) })
    }
    /// Bytes the next audit events can take without the log growing: the room promised to
    /// requests before they make changes. Cheap (no I/O); unbounded for stores without a limit.
    fn audit_room(&self) -> u64 {
        u64::MAX
    }
    /// The newest `limit` events of an account, newest first.
    fn recent_events<'a>(
        &'a self,
        account_id: &'a str,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<AuditRow>, StoreError>>;
    /// The position of the newest event written: every event written later has a greater one.
    fn last_event_position(&self) -> BoxFuture<'_, Result<i64, StoreError>>;
    /// Makes every event written from now on have a position of at least `next` (positions
    /// a restored store's trails already delivered); `true` when positions were passed over.
    fn audit_skip_to(&self, next: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let _ = next;
        Box::pin(async { Ok(false) })
    }
    /// An account's events after position `after_seq` and at or after `min_time_ms`, oldest
    /// first, each with its position: what a trail delivers next.
    fn events_after<'a>(
        &'a self,
        account_id: &'a str,
        after_seq: i64,
        min_time_ms: i64,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<(i64, AuditRow)>, StoreError>>;
    /// Events matching a LookupEvents query, newest first, each with its position for paging.
    fn lookup_events<'a>(
        &'a self,
        query: &'a EventQuery,
    ) -> BoxFuture<'a, Result<Vec<(i64, AuditRow)>, StoreError>>;
    /// Wipes all service state (test mode only): accounts, keys, IAM and events.
    fn reset(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The accounts, in creation order.
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// When an account was created (epoch seconds), if it exists: its root user's creation
    /// date, as IAM reports it.
    fn account_created_at<'a>(
        &'a self,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>>;
    /// Every access key (to index them by principal at start).
    fn all_access_keys(&self) -> BoxFuture<'_, Result<Vec<AccessKeyRecord>, StoreError>>;
    /// Records the last use of an access key.
    fn touch_access_key<'a>(
        &'a self,
        access_key_id: &'a str,
        used: &'a KeyLastUsed,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every IAM record of every account.
    fn iam_records(&self) -> BoxFuture<'_, Result<Vec<IamRecord>, StoreError>>;
    /// Applies IAM changes in one transaction: all or none.
    fn apply_iam<'a>(&'a self, changes: &'a [IamChange]) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every document of a collection, in key order.
    fn documents<'a>(
        &'a self,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>>;
    /// Applies document changes in one transaction: all or none.
    fn apply_documents<'a>(
        &'a self,
        changes: &'a [DocumentChange],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A service's record kept whole: the service owns the encoding of `body`.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// The collection, `<service>.<kind>` (e.g. `kms.key`).
    pub collection: String,
    /// Unique within the collection.
    pub key: String,
    /// The encoded record.
    pub body: Vec<u8>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies may hold sealed material; their bytes help nobody in a log.
        f.debug_struct("Document")
            .field("collection", &self.collection)
            .field("key", &self.key)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// One change to a document collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentChange {
    /// Inserts or replaces a document.
    Put(Document),
    /// Removes a document (no-op when absent).
    Delete {
        /// The collection.
        collection: String,
        /// The key.
        key: String,
    },
}

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_foundation.sql",
        sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "0002_iam.sql",
        sql: include_str!("../migrations/sqlite/0002_iam.sql"),
    },
    Migration {
        version: 3,
        name: "0003_documents.sql",
        sql: include_str!("../migrations/sqlite/0003_documents.sql"),
    },
];

/// `SELECT <every column audit_row reads, and seq> FROM audit_events`: audit events were kept in
/// that table before the event log, and are moved from it at open.
macro_rules! select_events {
    () => {
        "SELECT seq, event_id, event_time_ms, account_id, event_source, event_name, read_only, \
         access_key_id, user_name, error_code, record FROM audit_events"
    };
}

/// An `audit_events` row as an [`AuditRow`].
fn audit_row(row: &sqlx::sqlite::SqliteRow) -> Result<AuditRow, sqlx::Error> {
    let record: String = row.try_get("record")?;
    let resources = serde_json::from_str::<RecordResources>(&record)
        .map(|r| r.resources.into_iter().map(|r| (r.arn, r.kind)).collect())
        .unwrap_or_default();
    Ok(AuditRow {
        event_id: row.try_get("event_id")?,
        event_time_ms: row.try_get("event_time_ms")?,
        account_id: row.try_get("account_id")?,
        event_source: row.try_get("event_source")?,
        event_name: row.try_get("event_name")?,
        read_only: row.try_get("read_only")?,
        access_key_id: row.try_get("access_key_id")?,
        user_name: row.try_get("user_name")?,
        error_code: row.try_get("error_code")?,
        record,
        resources,
    })
}

/// The resources of a CloudTrail record, which the table did not keep in columns.
#[derive(serde::Deserialize)]
struct RecordResources {
    #[serde(default)]
    resources: Vec<RecordResource>,
}

#[derive(serde::Deserialize)]
struct RecordResource {
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Copies the write-ahead log back into the database file every second, beside the writers
/// (PASSIVE never blocks them), and stops when the pool is closed.
async fn checkpoint_wal(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One line when checkpoints start failing and one when they work again (bug: a line every
    // second for as long as the disk stayed full).
    let mut failing = false;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                // Not fatal: the log only grows until the next checkpoint succeeds.
                if failing {
                    tracing::debug!(error = %e, "wal checkpoint failed");
                } else {
                    tracing::warn!(error = %e, "wal checkpoint failed; retried every second, logged again when it succeeds");
                }
                failing = true;
            }
            Ok(_) => {
                if failing {
                    tracing::info!("wal checkpoints succeed again");
                }
                failing = false;
            }
        }
    }
}

/// The embedded SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The audit events, beside the database (see `event_log`).
    events: Arc<event_log::EventLog>,
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The size at which an audit log segment is closed and the next one started.
    pub event_segment_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_segment_bytes: event_log::SEGMENT_BYTES,
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/palisade.db` and `<data_dir>/events/`, and migrates
    /// them.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, &StoreOptions::default()).await
    }

    /// [`SqliteStore::open`] with options.
    pub async fn open_with(data_dir: &Path, opts: &StoreOptions) -> Result<Self, StoreError> {
        // Created owner-only before SQLite opens it (SQLite's own files follow its mode).
        let db = data_dir.join("palisade.db");
        std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(&db)
        .map_err(|e| StoreError::Events(format!("creating {}: {e}", db.display())))?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: every commit fsyncs the write-ahead log, so an acknowledged request's audit
            // event (and any key material it created) survives power loss, not only a crash of
            // the process as NORMAL would. Audit events are committed in groups, so it costs
            // one fsync per group: KMS Encrypt 19.3k vs 19.4–19.7k req/s with NORMAL
            // (bench/audit-cost.sh).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A checkpoint run by the committing connection stalls that commit (and every request
            // waiting on it) for the fsync of the database file; the checkpoint task below does
            // that work beside the writers instead.
            .pragma("wal_autocheckpoint", "0")
            // The write-ahead log is reused from its start once checkpointed, but keeps the
            // size it once grew to (82 MB beside a 1 MB database after a burst, until the
            // server stopped): cut back to 16 MiB whenever it is reset.
            .pragma("journal_size_limit", "16777216");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // An embedded file does not drop connections; pinging the worker thread before
            // every acquire cost a round trip per audit group.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let dir = data_dir.join("events");
        let segment_bytes = opts.event_segment_bytes;
        let events =
            tokio::task::spawn_blocking(move || event_log::EventLog::open(&dir, segment_bytes))
                .await
                .map_err(|e| StoreError::Events(format!("opening the log: {e}")))??;
        let store = Self {
            pool,
            events: Arc::new(events),
        };
        store.migrate().await?;
        store.move_table_events().await?;
        tokio::spawn(checkpoint_wal(store.pool.clone()));
        Ok(store)
    }

    /// Opens a private in-memory store (tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every in-memory connection would be its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let store = Self {
            pool,
            events: Arc::new(event_log::EventLog::in_memory()),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Moves audit events from the table that held them before the event log into the log, a
    /// page at a time, each page deleted once the log holds it. After a crash between the two,
    /// the log's newest event id says where the move stopped.
    async fn move_table_events(&self) -> Result<(), StoreError> {
        const PAGE: i64 = 10_000;
        let left: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_events LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if left.is_none() {
            return Ok(());
        }
        if let Some(id) = self.blocking(|log| log.last_event_id()).await?
            && let Some(seq) =
                sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_events WHERE event_id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
        {
            sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                .bind(seq)
                .execute(&self.pool)
                .await?;
        }
        let first: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_events")
            .fetch_one(&self.pool)
            .await?;
        if let Some(first) = first {
            self.blocking(move |log| log.start_at(first)).await?;
        }
        loop {
            let rows = sqlx::query(concat!(select_events!(), " ORDER BY seq LIMIT $1"))
                .bind(PAGE)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let last: i64 = last.try_get("seq")?;
            let rows = rows.iter().map(audit_row).collect::<Result<Vec<_>, _>>()?;
            self.append_events(&rows).await?;
            sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                .bind(last)
                .execute(&self.pool)
                .await?;
            tracing::info!(events = rows.len(), "audit events moved into the event log");
        }
    }

    /// Runs `f` on the event log off the async threads: it reads and syncs files.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&event_log::EventLog) -> Result<T, StoreError> + Send + 'static,
    {
        let log = self.events.clone();
        tokio::task::spawn_blocking(move || f(&log))
            .await
            .map_err(|e| StoreError::Events(format!("the log task failed: {e}")))?
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&self.pool)
                .await?;
        let known = SQLITE_MIGRATIONS.last().map_or(0, |m| m.version);
        if current > known {
            return Err(StoreError::TooNew {
                found: current,
                known,
            });
        }
        for m in SQLITE_MIGRATIONS.iter().filter(|m| m.version > current) {
            let wrap = |source| StoreError::Migration {
                version: m.version,
                name: m.name,
                source,
            };
            let mut tx = self.pool.begin().await.map_err(wrap)?;
            sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(wrap)?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_secs())
            .execute(&mut *tx)
            .await
            .map_err(wrap)?;
            tx.commit().await.map_err(wrap)?;
        }
        Ok(())
    }
}

/// IAM changes in one transaction on `conn`.
async fn apply_iam_on(
    conn: &mut SqliteConnection,
    changes: &[IamChange],
) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    for change in changes {
        match change {
            IamChange::Put(record) => {
                let key = record.key();
                let body = serde_json::to_string(record).map_err(|source| StoreError::Record {
                    key: key.clone(),
                    source,
                })?;
                sqlx::query(
                    "INSERT INTO iam_entities (account_id, kind, entity_key, body, \
                     updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (account_id, kind, entity_key) DO UPDATE SET \
                     body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(record.account_id())
                .bind(record.kind().as_str())
                .bind(&key)
                .bind(&body)
                .bind(now_secs())
                .execute(&mut *tx)
                .await?;
            }
            IamChange::Delete {
                account_id,
                kind,
                key,
            } => {
                sqlx::query(
                    "DELETE FROM iam_entities WHERE account_id = $1 AND kind = $2 \
                     AND entity_key = $3",
                )
                .bind(account_id)
                .bind(kind.as_str())
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
            IamChange::DeleteAccessKey(id) => {
                sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Document changes in one transaction on `conn`.
async fn apply_documents_on(
    conn: &mut SqliteConnection,
    changes: &[DocumentChange],
) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    for change in changes {
        match change {
            DocumentChange::Put(doc) => {
                sqlx::query(
                    "INSERT INTO documents (collection, doc_key, body, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (collection, doc_key) DO UPDATE \
                     SET body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(&doc.collection)
                .bind(&doc.key)
                .bind(&doc.body)
                .bind(now_secs())
                .execute(&mut *tx)
                .await?;
            }
            DocumentChange::Delete { collection, key } => {
                sqlx::query("DELETE FROM documents WHERE collection = $1 AND doc_key = $2")
                    .bind(collection)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Gives a write's connection back to the pool when the write succeeded, and closes it when it
/// failed. A COMMIT that fails (a full disk: SQLITE_FULL) can leave SQLite and the driver
/// disagreeing on whether a transaction is open; such a connection, back in the pool, ran later
/// writes inside a transaction that never committed (acknowledged, then lost) while holding the
/// write lock from the other connections. A new connection starts clean.
async fn settle<T>(
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if result.is_err() {
        // Closing rolls back whatever the connection still had open.
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %e, "closing a failed write's connection");
        }
    }
    result
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AccessKeyRecord, sqlx::Error> {
    Ok(AccessKeyRecord {
        access_key_id: row.try_get("access_key_id")?,
        account_id: row.try_get("account_id")?,
        principal_type: row.try_get("principal_type")?,
        principal_arn: row.try_get("principal_arn")?,
        principal_id: row.try_get("principal_id")?,
        user_name: row.try_get("user_name")?,
        sealed_secret: row.try_get("sealed_secret")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        last_used: match row.try_get::<Option<i64>, _>("last_used_at")? {
            Some(at) => Some(KeyLastUsed {
                at,
                service: row
                    .try_get::<Option<String>, _>("last_used_service")?
                    .unwrap_or_default(),
                region: row
                    .try_get::<Option<String>, _>("last_used_region")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
    })
}

const KEY_COLUMNS: &str = "access_key_id, account_id, principal_type, principal_arn, principal_id, \
                           user_name, sealed_secret, status, created_at, last_used_at, \
                           last_used_service, last_used_region";

impl Store for SqliteStore {
    fn ensure_account<'a>(
        &'a self,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) \
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account_id)
            .bind(now_secs())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn put_access_key<'a>(
        &'a self,
        key: &'a AccessKeyRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO access_keys (access_key_id, account_id, principal_type, principal_arn, \
                 principal_id, user_name, sealed_secret, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (access_key_id) DO UPDATE SET account_id = excluded.account_id, \
                 principal_type = excluded.principal_type, principal_arn = excluded.principal_arn, \
                 principal_id = excluded.principal_id, user_name = excluded.user_name, \
                 sealed_secret = excluded.sealed_secret, status = excluded.status",
            )
            .bind(&key.access_key_id)
            .bind(&key.account_id)
            .bind(&key.principal_type)
            .bind(&key.principal_arn)
            .bind(&key.principal_id)
            .bind(&key.user_name)
            .bind(&key.sealed_secret)
            .bind(&key.status)
            .bind(key.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn access_key<'a>(
        &'a self,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<AccessKeyRecord>, StoreError>> {
        Box::pin(async move {
            // KEY_COLUMNS is a constant: no caller input reaches the SQL text.
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
            )))
            .bind(access_key_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.as_ref().map(key_from_row).transpose()?)
        })
    }

    fn access_keys_of<'a>(
        &'a self,
        account_id: &'a str,
        principal_arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<AccessKeyRecord>, StoreError>> {
        Box::pin(async move {
            // Ties within a second are broken by rowid, which SQLite assigns ascending as rows
            // are inserted and an upsert keeps (only VACUUM could renumber rows, and the store
            // runs none): creation order, where the random key ids would flip two keys made in
            // the same second.
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {KEY_COLUMNS} FROM access_keys WHERE account_id = $1 AND principal_arn = $2 \
                 ORDER BY created_at, rowid"
            )))
            .bind(account_id)
            .bind(principal_arn)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
        })
    }

    fn append_events<'a>(&'a self, rows: &'a [AuditRow]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let frames = event_log::EventLog::encode(rows);
            self.blocking(move |log| log.append(frames)).await
        })
    }

    fn audit_space_low(&self) -> bool {
        self.events.space_low()
    }

    fn audit_make_room(&self, need: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.blocking(move |log| log.make_room(need)))
    }

    fn audit_room(&self) -> u64 {
        self.events.room()
    }

    fn recent_events<'a>(
        &'a self,
        account_id: &'a str,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<AuditRow>, StoreError>> {
        let account = account_id.to_owned();
        let limit = usize::try_from(limit).unwrap_or(0);
        Box::pin(self.blocking(move |log| log.recent(&account, limit)))
    }

    fn last_event_position(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.blocking(|log| log.last_position()))
    }

    fn audit_skip_to(&self, next: i64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.blocking(move |log| log.skip_to(next)))
    }

    fn events_after<'a>(
        &'a self,
        account_id: &'a str,
        after_seq: i64,
        min_time_ms: i64,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<(i64, AuditRow)>, StoreError>> {
        let account = account_id.to_owned();
        let limit = usize::try_from(limit).unwrap_or(0);
        Box::pin(self.blocking(move |log| log.after(&account, after_seq, min_time_ms, limit)))
    }

    fn lookup_events<'a>(
        &'a self,
        query: &'a EventQuery,
    ) -> BoxFuture<'a, Result<Vec<(i64, AuditRow)>, StoreError>> {
        let query = query.clone();
        Box::pin(self.blocking(move |log| log.lookup(&query)))
    }

    fn reset(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            for sql in [
                "DELETE FROM audit_events",
                "DELETE FROM iam_entities",
                "DELETE FROM documents",
                "DELETE FROM access_keys",
                "DELETE FROM accounts",
            ] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            self.blocking(|log| log.clear()).await
        })
    }

    fn accounts(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "SELECT account_id FROM accounts ORDER BY created_at, account_id",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn account_created_at<'a>(
        &'a self,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
    }

    fn all_access_keys(&self) -> BoxFuture<'_, Result<Vec<AccessKeyRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {KEY_COLUMNS} FROM access_keys ORDER BY created_at, rowid"
            )))
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
        })
    }

    fn touch_access_key<'a>(
        &'a self,
        access_key_id: &'a str,
        used: &'a KeyLastUsed,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE access_keys SET last_used_at = $1, last_used_service = $2, \
                 last_used_region = $3 WHERE access_key_id = $4",
            )
            .bind(used.at)
            .bind(&used.service)
            .bind(&used.region)
            .bind(access_key_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn iam_records(&self) -> BoxFuture<'_, Result<Vec<IamRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT account_id, kind, entity_key, body FROM iam_entities \
                 ORDER BY account_id, kind, entity_key",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let body: String = row.try_get("body")?;
                    serde_json::from_str(&body).map_err(|source| StoreError::Record {
                        key: row.try_get("entity_key").unwrap_or_default(),
                        source,
                    })
                })
                .collect()
        })
    }

    fn apply_iam<'a>(&'a self, changes: &'a [IamChange]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            let applied = apply_iam_on(&mut conn, changes).await;
            settle(conn, applied).await
        })
    }

    fn documents<'a>(
        &'a self,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT doc_key, body FROM documents WHERE collection = $1 ORDER BY doc_key",
            )
            .bind(collection)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(Document {
                        collection: collection.to_owned(),
                        key: row.try_get("doc_key")?,
                        body: row.try_get("body")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    fn apply_documents<'a>(
        &'a self,
        changes: &'a [DocumentChange],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            let applied = apply_documents_on(&mut conn, changes).await;
            settle(conn, applied).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> AccessKeyRecord {
        AccessKeyRecord {
            access_key_id: id.into(),
            account_id: "123456789012".into(),
            principal_type: "Root".into(),
            principal_arn: "arn:aws:iam::123456789012:root".into(),
            principal_id: "123456789012".into(),
            user_name: None,
            sealed_secret: vec![1, 2, 3],
            status: "Active".into(),
            created_at: 1,
            last_used: None,
        }
    }

    #[tokio::test]
    async fn a_principals_keys_come_in_creation_order_within_one_second() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).await.unwrap();
        s.ensure_account("123456789012").await.unwrap();
        for id in ["AKIAZZZZ", "AKIAAAAA", "AKIAMMMM"] {
            s.put_access_key(&key(id)).await.unwrap();
        }
        // Updating a key (a status change, a rename) keeps its place.
        let mut first = key("AKIAZZZZ");
        first.status = "Inactive".into();
        s.put_access_key(&first).await.unwrap();
        let keys = s
            .access_keys_of("123456789012", "arn:aws:iam::123456789012:root")
            .await
            .unwrap();
        let ids: Vec<_> = keys.iter().map(|k| k.access_key_id.as_str()).collect();
        assert_eq!(ids, ["AKIAZZZZ", "AKIAAAAA", "AKIAMMMM"]);
    }

    /// `t` ms after a moment an hour ago: within the 90 days the event log keeps in memory.
    fn recent_ms(t: i64) -> i64 {
        now_secs() * 1000 - 3_600_000 + t
    }

    fn event(id: &str, t: i64) -> AuditRow {
        AuditRow {
            event_id: id.into(),
            event_time_ms: recent_ms(t),
            account_id: "123456789012".into(),
            event_source: "sts.amazonaws.com".into(),
            event_name: "GetCallerIdentity".into(),
            read_only: true,
            access_key_id: Some("AKIA1".into()),
            user_name: None,
            error_code: None,
            record: "{}".into(),
            resources: vec![(
                "arn:aws:kms:us-east-1:123456789012:key/k".into(),
                "AWS::KMS::Key".into(),
            )],
        }
    }

    #[tokio::test]
    async fn accounts_keys_and_events_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open(dir.path()).await.unwrap();
            assert!(s.ensure_account("123456789012").await.unwrap());
            assert!(!s.ensure_account("123456789012").await.unwrap());
            s.put_access_key(&key("AKIA1")).await.unwrap();
            s.append_events(&[event("e1", 1), event("e2", 2)])
                .await
                .unwrap();
        }
        let s = SqliteStore::open(dir.path()).await.unwrap();
        let created = s.account_created_at("123456789012").await.unwrap();
        assert!(created.is_some_and(|t| t > 0 && t <= now_secs()));
        assert_eq!(s.account_created_at("210987654321").await.unwrap(), None);
        assert_eq!(s.access_key("AKIA1").await.unwrap(), Some(key("AKIA1")));
        assert_eq!(s.access_key("AKIA2").await.unwrap(), None);
        let evs = s.recent_events("123456789012", 10).await.unwrap();
        assert_eq!(
            evs.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["e2", "e1"]
        );
    }

    #[tokio::test]
    async fn events_in_the_table_of_older_versions_move_into_the_log_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).await.unwrap();
        for (i, id) in ["old1", "old2", "old3"].iter().enumerate() {
            sqlx::query(
                "INSERT INTO audit_events (seq, event_id, event_time_ms, account_id, event_source, \
                 event_name, read_only, access_key_id, user_name, error_code, record) \
                 VALUES ($1, $2, $3, '123456789012', 'kms.amazonaws.com', 'Encrypt', 0, 'AKIA1', \
                 NULL, NULL, $4)",
            )
            .bind(500 + i as i64)
            .bind(id)
            .bind(recent_ms(i as i64))
            .bind(format!(
                r#"{{"eventID":"{id}","resources":[{{"ARN":"arn:k{i}","type":"AWS::KMS::Key"}}]}}"#
            ))
            .execute(&s.pool)
            .await
            .unwrap();
        }
        drop(s);
        for _ in 0..2 {
            let s = SqliteStore::open(dir.path()).await.unwrap();
            let events = s.recent_events("123456789012", 10).await.unwrap();
            let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            assert_eq!(ids, ["old3", "old2", "old1"]);
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&s.pool)
                .await
                .unwrap();
            assert_eq!(left, 0);
            let by_resource = s
                .lookup_events(&EventQuery {
                    region: None,
                    account_id: "123456789012".into(),
                    attribute: Some((EventAttribute::ResourceName, "arn:k1".into())),
                    start_ms: 0,
                    end_ms: i64::MAX,
                    before: None,
                    limit: 10,
                })
                .await
                .unwrap();
            assert_eq!(by_resource.len(), 1);
            assert_eq!(by_resource[0].1.event_id, "old2");
            // Positions are kept: a trail's delivery cursor still points at the same events.
            assert_eq!(by_resource[0].0, 501);
        }
    }

    #[tokio::test]
    async fn a_failed_event_write_leaves_nothing_behind() {
        // Each group starts a segment, so taking the log's directory away fails the next write.
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            event_segment_bytes: 1,
        };
        let s = SqliteStore::open_with(dir.path(), &opts).await.unwrap();
        s.append_events(&[event("e1", 1)]).await.unwrap();
        let events = dir.path().join("events");
        let moved = dir.path().join("moved");
        std::fs::rename(&events, &moved).unwrap();
        std::fs::write(&events, b"not a directory").unwrap();
        assert!(matches!(
            s.append_events(&[event("lost", 2)]).await.unwrap_err(),
            StoreError::Events(_)
        ));
        std::fs::remove_file(&events).unwrap();
        std::fs::rename(&moved, &events).unwrap();
        s.append_events(&[event("e3", 3)]).await.unwrap();
        let ids = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.event_id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.recent_events("123456789012", 10).await.unwrap()),
            ["e3", "e1"]
        );
        drop(s);
        let s = SqliteStore::open_with(dir.path(), &opts).await.unwrap();
        assert_eq!(
            ids(s.recent_events("123456789012", 10).await.unwrap()),
            ["e3", "e1"]
        );
        let after = s.events_after("123456789012", 0, 0, 10).await.unwrap();
        assert_eq!(
            after.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[tokio::test]
    async fn large_batches_are_written_whole_and_in_order() {
        let s = SqliteStore::in_memory().await.unwrap();
        let rows: Vec<AuditRow> = (0..137).map(|i| event(&format!("e{i}"), i)).collect();
        s.append_events(&rows).await.unwrap();
        let evs = s.recent_events("123456789012", 1000).await.unwrap();
        assert_eq!(evs.len(), 137);
        assert_eq!(evs[0].event_id, "e136");
        assert_eq!(evs[136].event_id, "e0");
    }

    #[tokio::test]
    async fn reset_wipes_everything() {
        let s = SqliteStore::in_memory().await.unwrap();
        s.ensure_account("123456789012").await.unwrap();
        s.put_access_key(&key("AKIA1")).await.unwrap();
        s.append_events(&[event("e1", 1)]).await.unwrap();
        s.reset().await.unwrap();
        assert_eq!(s.access_key("AKIA1").await.unwrap(), None);
        assert!(
            s.recent_events("123456789012", 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.ensure_account("123456789012").await.unwrap());
    }

    fn user(name: &str) -> IamRecord {
        IamRecord::User(UserRecord {
            account_id: "123456789012".into(),
            name: name.into(),
            id: "AIDAEXAMPLE".into(),
            path: "/".into(),
            created_at: 1,
            tags: vec![],
            inline: Default::default(),
            attached: vec![],
            groups: vec![],
            boundary: None,
            login: None,
            password_last_used: None,
            ssh_keys: vec![],
            signing_certificates: vec![],
            service_credentials: vec![],
        })
    }

    #[tokio::test]
    async fn iam_records_persist_are_keyed_case_insensitively_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open(dir.path()).await.unwrap();
            s.apply_iam(&[
                IamChange::Put(Box::new(user("Alice"))),
                IamChange::Put(Box::new(user("bob"))),
            ])
            .await
            .unwrap();
            // Same name in another case replaces the record.
            s.apply_iam(&[IamChange::Put(Box::new(user("ALICE")))])
                .await
                .unwrap();
        }
        let s = SqliteStore::open(dir.path()).await.unwrap();
        let all = s.iam_records().await.unwrap();
        assert_eq!(all, vec![user("ALICE"), user("bob")]);
        s.apply_iam(&[IamChange::Delete {
            account_id: "123456789012".into(),
            kind: IamKind::User,
            key: "bob".into(),
        }])
        .await
        .unwrap();
        assert_eq!(s.iam_records().await.unwrap(), vec![user("ALICE")]);
        s.reset().await.unwrap();
        assert!(s.iam_records().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn key_last_use_is_recorded() {
        let s = SqliteStore::in_memory().await.unwrap();
        s.ensure_account("123456789012").await.unwrap();
        s.put_access_key(&key("AKIA1")).await.unwrap();
        let used = KeyLastUsed {
            at: 42,
            service: "iam".into(),
            region: "us-east-1".into(),
        };
        s.touch_access_key("AKIA1", &used).await.unwrap();
        assert_eq!(
            s.access_key("AKIA1").await.unwrap().unwrap().last_used,
            Some(used)
        );
        s.apply_iam(&[IamChange::DeleteAccessKey("AKIA1".into())])
            .await
            .unwrap();
        assert_eq!(s.access_key("AKIA1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn documents_change_atomically_and_list_in_key_order() {
        let s = SqliteStore::in_memory().await.unwrap();
        let doc = |k: &str, b: &[u8]| Document {
            collection: "kms.key".into(),
            key: k.into(),
            body: b.to_vec(),
        };
        s.apply_documents(&[
            DocumentChange::Put(doc("b", b"2")),
            DocumentChange::Put(doc("a", b"1")),
        ])
        .await
        .unwrap();
        s.apply_documents(&[
            DocumentChange::Put(doc("a", b"one")),
            DocumentChange::Delete {
                collection: "kms.key".into(),
                key: "b".into(),
            },
        ])
        .await
        .unwrap();
        assert_eq!(
            s.documents("kms.key").await.unwrap(),
            vec![doc("a", b"one")]
        );
        assert!(s.documents("kms.alias").await.unwrap().is_empty());
        s.reset().await.unwrap();
        assert!(s.documents("kms.key").await.unwrap().is_empty());
    }

    #[test]
    fn debug_never_shows_the_sealed_secret() {
        let text = format!("{:?}", key("AKIA1"));
        assert!(!text.contains("sealed_secret"), "{text}");
    }
}
