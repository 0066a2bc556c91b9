//! The audit step of the pipeline: every request becomes a CloudTrail event that is durable in the
//! store before the response leaves.
//!
//! Events are committed in groups: one writer task takes every event waiting in the queue and
//! appends them in one transaction, then acknowledges each. Under load a group holds many events,
//! so the cost of a commit is shared; with one client a group holds one event and the added
//! latency is one commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use palisade_audit::Event;
use palisade_store::{AuditRow, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The largest number of events committed in one transaction.
const MAX_GROUP: usize = 1024;

type Ack = oneshot::Sender<Result<(), String>>;

/// Accepts events from request handlers and makes them durable.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<(AuditRow, Ack)>,
    store: Arc<dyn Store>,
    /// Whether the last group was written: fail-closed mode refuses requests while it is not,
    /// and each refused request's own event is the probe that finds the store working again.
    healthy: Arc<AtomicBool>,
    /// Bytes of the event log's room promised to requests under way (see [`AuditSink::promise`]).
    promised: Arc<AtomicU64>,
}

/// Room never promised: for the events of requests that hold no promise (refused before they
/// run, or failed before their body was read), which carry no request body.
const UNPROMISED: u64 = 256 << 10;

/// An upper bound of what a request's events take in the event log, from its body's length: its
/// parameters are at most the body re-encoded as JSON (twice its size covers the escapes of a
/// percent-encoded form), a call across accounts records a second copy, and the rest of a
/// record (identity, TLS details, resources, response elements) stays within 16 KiB. Never more
/// than two records whose parameters and response elements are at CloudTrail's 100 KiB field
/// limit, past which they are omitted (`context::to_event`).
pub fn event_bound(body_len: u64) -> u64 {
    const MAX_RECORD: u64 = 2 * (100 << 10) + (16 << 10);
    body_len
        .saturating_mul(4)
        .saturating_add(16 << 10)
        .min(2 * MAX_RECORD)
}

/// Room in the event log promised to one request until its events are durable; released when
/// dropped.
#[derive(Debug)]
pub struct Promise {
    promised: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for Promise {
    fn drop(&mut self) {
        self.promised.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The writer task; await it after dropping every [`AuditSink`] to flush the queue on shutdown.
#[derive(Debug)]
pub struct AuditWriter(JoinHandle<()>);

impl AuditWriter {
    /// Waits until every queued event is written.
    pub async fn finish(self) {
        if let Err(e) = self.0.await {
            tracing::error!(error = %e, "audit writer stopped abnormally");
        }
    }
}

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The event could not be serialised.
    #[error("audit event cannot be serialised: {0}")]
    Encode(#[from] serde_json::Error),
    /// The writer has stopped (shutdown).
    #[error("the audit writer has stopped")]
    Closed,
    /// The store refused the group the event was in.
    #[error("the audit store failed: {0}")]
    Store(String),
}

impl AuditError {
    /// The answer to a request whose event could not be recorded, in fail-closed mode.
    pub fn unavailable(&self) -> crate::error::ApiError {
        crate::error::ApiError::new(
            "ServiceUnavailable",
            // Plain words only: the cause's text names paths and OS errors (logged instead).
            match self {
                Self::Store(detail) => format!(
                    "the audit event could not be written: {}",
                    crate::error::storage_cause(detail)
                ),
                Self::Encode(_) => "the audit event could not be serialised".to_owned(),
                Self::Closed => "the audit writer has stopped".to_owned(),
            },
            http::StatusCode::SERVICE_UNAVAILABLE,
        )
    }
}

impl AuditSink {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn Store>) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(MAX_GROUP * 8);
        let healthy = Arc::new(AtomicBool::new(!store.audit_space_low()));
        let handle = tokio::spawn(write_groups(store.clone(), rx, healthy.clone()));
        (
            Self {
                tx,
                store,
                healthy,
                promised: Arc::default(),
            },
            AuditWriter(handle),
        )
    }

    /// Promises `bytes` of the event log's room to a request before it runs; None when the room
    /// (made larger first, if the disk allows) cannot cover it beside what requests under way
    /// were promised: the request must then be refused before it changes anything, as a change
    /// is never made without its event. Costs two atomic operations while there is room (no
    /// I/O on the request path); the log is extended here only when a burst of large requests
    /// outgrows the room kept ahead.
    pub async fn promise(&self, bytes: u64) -> Option<Promise> {
        let total = self
            .promised
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        let promise = Promise {
            promised: self.promised.clone(),
            bytes,
        };
        let need = total.saturating_add(UNPROMISED);
        if need <= self.store.audit_room() {
            return Some(promise);
        }
        match self.store.audit_make_room(need).await {
            Ok(true) => Some(promise),
            Ok(false) => None,
            Err(e) => {
                tracing::debug!(error = %e, "no room for audit events");
                None
            }
        }
    }

    /// Whether events are being written.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// While events cannot be written, whether they can be again: the store is asked to make
    /// room for them now, so that the first request after an operator freed space is served
    /// rather than refused.
    pub async fn recovered(&self) -> bool {
        // Room for the refused requests' events and a few more: requests are then promised
        // what there is, and the log keeps its full reserve once the disk allows.
        match self.store.audit_make_room(4 * UNPROMISED).await {
            Ok(true) => {
                // Said by the writer once a group is written with the log's full room: room
                // for a few events is not a recovered disk.
                self.healthy.store(true, Ordering::Relaxed);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!(error = %e, "audit log still unwritable");
                false
            }
        }
    }

    /// Queues one event without waiting for it: for requests refused because the store is
    /// failing, whose events are written when it works again (and show that it does).
    pub fn record_detached(
        &self,
        event: Event,
        additional: Option<serde_json::Value>,
    ) -> Result<(), AuditError> {
        // Only within the room nobody was promised: a group that outgrew the room would fail
        // with it the events of requests whose changes are made.
        let free = self
            .store
            .audit_room()
            .saturating_sub(self.promised.load(Ordering::Relaxed));
        if free < UNPROMISED {
            return Err(AuditError::Store(
                "no room for the events of refused requests".into(),
            ));
        }
        let row = to_row(event, additional)?;
        let (ack, _done) = oneshot::channel();
        self.tx.try_send((row, ack)).map_err(|_| AuditError::Closed)
    }

    /// Records one event, and the resource owner's copy of it when the call crossed accounts
    /// (see [`crate::context::owner_copy`]), and waits until both are durable.
    pub async fn record_call(
        &self,
        mut event: Event,
        additional: Option<serde_json::Value>,
    ) -> Result<(), AuditError> {
        let Some(copy) = crate::context::owner_copy(&mut event) else {
            return self.record_with(event, additional).await;
        };
        // Both queued before either is awaited, so that one group usually holds the two.
        let copy_done = self.enqueue(to_row(copy, additional.clone())?).await?;
        self.record_with(event, additional).await?;
        durable(copy_done).await
    }

    /// Queues an event that the request's own event follows, without waiting for it: the
    /// writer takes events in order and writes groups one after another, so the request's
    /// event being durable means this one was written too (or its group failed, which turns
    /// fail-closed mode on). Spares a request that records two events a second group commit.
    pub async fn record_before_own(&self, mut event: Event) -> Result<(), AuditError> {
        if let Some(copy) = crate::context::owner_copy(&mut event) {
            self.enqueue(to_row(copy, None)?).await?;
        }
        self.enqueue(to_row(event, None)?).await?;
        Ok(())
    }

    /// Records one event with CloudTrail's `additionalEventData` and waits until it is durable.
    pub async fn record_with(
        &self,
        event: Event,
        additional: Option<serde_json::Value>,
    ) -> Result<(), AuditError> {
        let done = self.enqueue(to_row(event, additional)?).await?;
        durable(done).await
    }

    /// Queues a row for the writer; the receiver hears when its group was written.
    async fn enqueue(&self, row: AuditRow) -> Result<Done, AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((row, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        Ok(done)
    }
}

type Done = oneshot::Receiver<Result<(), String>>;

/// Waits for a queued row's group to be written.
async fn durable(done: Done) -> Result<(), AuditError> {
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AuditError::Store(e)),
        Err(_) => Err(AuditError::Closed),
    }
}

/// The stored form of an event; takes it by value so that its strings move into the row.
fn to_row(
    event: Event,
    additional: Option<serde_json::Value>,
) -> Result<AuditRow, serde_json::Error> {
    // A field of the event, not a member added to its JSON afterwards: KMS's Encrypt records
    // carry one, and a round trip through a JSON value doubled their serialisation.
    let mut event = event;
    if additional.is_some() {
        event.additional_event_data = additional;
    }
    let mut record = serde_json::to_string(&event)?;
    // Only a record longer than CloudTrail's field limit can hold a field over it: the fields
    // are measured (and one over the limit omitted) then, not for every record on the hot path.
    if record.len() > crate::context::MAX_ELEMENTS_FIELD {
        use crate::context::within_field_limit;
        let over =
            |v: &Option<serde_json::Value>| v.as_ref().is_some_and(|v| !within_field_limit(v));
        if over(&event.request_parameters) || over(&event.response_elements) {
            event.request_parameters = event.request_parameters.take().filter(within_field_limit);
            event.response_elements = event.response_elements.take().filter(within_field_limit);
            record = serde_json::to_string(&event)?;
        }
    }
    let time_ms = time::OffsetDateTime::parse(
        &event.event_time,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp() * 1000)
    .unwrap_or_default();
    let user_name = lookup_user_name(&event.user_identity);
    Ok(AuditRow {
        event_id: event.event_id,
        event_time_ms: time_ms,
        account_id: event.recipient_account_id,
        event_source: event.event_source,
        event_name: event.event_name,
        read_only: event.read_only,
        access_key_id: event.user_identity.access_key_id,
        user_name,
        error_code: event.error_code,
        record,
        resources: event
            .resources
            .into_iter()
            .map(|r| (r.arn, r.kind))
            .collect(),
    })
}

/// LookupEvents' `Username` (and its attribute): the IAM user's name; for a role or federated
/// session, the session's name (the ARN's last part), as CloudTrail shows it; `root` for the
/// root user.
fn lookup_user_name(who: &palisade_audit::UserIdentity) -> Option<String> {
    if who.user_name.is_some() {
        return who.user_name.clone();
    }
    match who.kind.as_str() {
        "Root" => Some("root".to_owned()),
        "AssumedRole" | "FederatedUser" => who
            .arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_owned),
        _ => None,
    }
}

async fn write_groups(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(AuditRow, Ack)>,
    healthy: Arc<AtomicBool>,
) {
    let mut rows = Vec::with_capacity(MAX_GROUP);
    let mut acks = Vec::with_capacity(MAX_GROUP);
    // Whether the log last said that events are not being recorded.
    let mut said_down = !healthy.load(Ordering::Relaxed);
    loop {
        let Some((row, ack)) = rx.recv().await else {
            return;
        };
        rows.push(row);
        acks.push(ack);
        while rows.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok((row, ack)) => {
                    rows.push(row);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        let result = store.append_events(&rows).await.map_err(|e| e.to_string());
        // This group is written, but no room could be made for the next ones: stop taking
        // requests now, while the events of those under way still fit.
        let low = result.is_ok() && store.audit_space_low();
        let now_healthy = result.is_ok() && !low;
        healthy.store(now_healthy, Ordering::Relaxed);
        // One line when writing starts to fail and one when it works again, not a line per
        // group while a disk stays full. What was last said is tracked here, not read from the
        // flag, which requests set when room is made for them (bug: "recorded again" was
        // logged while the disk was still full, and the real recovery went unsaid). On a disk
        // that frees a little room at a time the state can flip with each group: the flips
        // are said at most once a minute (bug: hundreds of lines a minute).
        if let Err(e) = &result {
            tracing::debug!(error = %e, events = rows.len(), "audit events were not recorded");
        }
        if now_healthy == said_down
            && once_a_minute(if now_healthy {
                &RECOVERED_LOGGED
            } else {
                &FULL_LOGGED
            })
        {
            said_down = !now_healthy;
            match &result {
                Err(e) => {
                    tracing::error!(error = %e, "audit events are not being recorded: requests are refused until they are")
                }
                Ok(()) if low => tracing::error!(
                    "the audit log's disk is full: requests are refused until there is room"
                ),
                Ok(()) => tracing::warn!("audit events are being recorded again"),
            }
        }
        for ack in acks.drain(..) {
            // A handler that gave up waiting (client gone) is not an error.
            let _ = ack.send(result.clone());
        }
        rows.clear();
    }
}

/// Samples the events of requests refused before their caller is known (no credentials, an
/// unknown access key, a bad signature, an invalid web identity token or SAML assertion): the
/// first of them from each client address are
/// recorded, then about one a second per address and twenty a second in all. Such requests
/// cost their sender nothing, and each event took 1.4 KB of disk for good and 180 bytes of
/// memory for 90 days (bug: one client without credentials made the server keep a million
/// events in 15 minutes). What is not recorded is counted and logged once a minute.
///
/// Refusals of a key that exists (a wrong signature, an inactive key, an expired session) are
/// sampled by the principal that owns it instead, one a second each after 60, and twenty a
/// second per account: someone holding or guessing at real credentials is what an operator
/// looks for, and a flood of requests with made-up keys from many addresses must not use up
/// the room their events have (bug: it did, and hid them). By principal, not by key: anyone
/// with credentials can mint session keys at will, and a budget per key then let one
/// principal's sessions use up everyone's.
#[derive(Debug, Default)]
pub struct UnauthenticatedEvents(std::sync::Mutex<Sampler>);

#[derive(Debug, Default)]
struct Sampler {
    all: Option<Bucket>,
    by_address: std::collections::HashMap<std::net::IpAddr, Bucket>,
    /// Refusals of existing keys, by the owners' account and by owner.
    by_account: std::collections::HashMap<String, Bucket>,
    by_owner: std::collections::HashMap<String, Bucket>,
    dropped: u64,
}

/// A token bucket: `burst` events at once, then `rate` a second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn full(burst: f64, now: std::time::Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    fn take(&mut self, (rate, burst): (f64, f64), now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per client address (an IPv6 client by its /64), or per existing access key: a burst of 60,
/// then one a second.
const PER_ADDRESS: (f64, f64) = (1.0, 60.0);
/// From all addresses together (and apart from them, for existing keys): a burst of 600, then
/// twenty a second.
const ALL_ADDRESSES: (f64, f64) = (20.0, 600.0);
/// Addresses (or keys) tracked at once; past it the buckets start over (full).
const MAX_ADDRESSES: usize = 16_384;

static SAMPLED_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl UnauthenticatedEvents {
    /// Whether the event of an unauthenticated request from `address` is recorded;
    /// `owner` is whose the access key it named is, when that key exists.
    pub fn admit(&self, address: std::net::IpAddr, owner: Option<&KeyOwner>) -> bool {
        self.admit_at(address, owner, std::time::Instant::now())
    }

    /// [`Self::admit`] at `now`.
    fn admit_at(
        &self,
        address: std::net::IpAddr,
        owner: Option<&KeyOwner>,
        now: std::time::Instant,
    ) -> bool {
        let Ok(mut s) = self.0.lock() else {
            return true;
        };
        let s = &mut *s;
        let admitted = match owner {
            Some(o) => {
                take_keyed(&mut s.by_owner, o.principal.as_str(), now, PER_ADDRESS)
                    && take_keyed(&mut s.by_account, o.account.as_str(), now, ALL_ADDRESSES)
            }
            None => {
                take_keyed(&mut s.by_address, &address, now, PER_ADDRESS)
                    && s.all
                        .get_or_insert_with(|| Bucket::full(ALL_ADDRESSES.1, now))
                        .take(ALL_ADDRESSES, now)
            }
        };
        if !admitted {
            s.dropped += 1;
            if once_a_minute(&SAMPLED_LOGGED) {
                tracing::warn!(
                    not_recorded = s.dropped,
                    "requests without valid credentials arrive faster than their events are recorded \
                     (60 at once then 1 a second per client address or key owner, 20 a second in all or per account): \
                     some are refused without an audit event (counted since the last such line)"
                );
                s.dropped = 0;
            }
        }
        admitted
    }
}

/// Whose an access key is, for sampling the refusals of its requests: the principal that holds
/// it or minted it (a user, a role, the root user; not a session, which anyone allowed can
/// mint at will) and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The owner's unique id within its account: a user's or a role's (the root user's is the
    /// account id).
    pub principal: String,
    /// The owner's account.
    pub account: String,
}

impl KeyOwner {
    /// The owner of `caller`'s key: for a session, the user it was minted for
    /// (GetSessionToken, GetFederationToken) or the role (AssumeRole*); else the caller.
    pub fn of(caller: &crate::identity::Caller) -> Self {
        let id = &caller.principal_id;
        let principal = caller
            .session
            .as_ref()
            .and_then(|s| s.user_id.clone().or_else(|| s.role_id.clone()))
            // A role's session id is `AROA…:name`, a root user's federated user's
            // `ACCOUNT:name`: the part before the name.
            .unwrap_or_else(|| id.split(':').next().unwrap_or(id).to_owned());
        Self {
            principal: format!("{}/{principal}", caller.account_id),
            account: caller.account_id.clone(),
        }
    }
}

/// Takes a token from `key`'s bucket in `buckets` (`burst` at once, then `rate` a second);
/// past `MAX_ADDRESSES` buckets they start over, full.
fn take_keyed<K, Q>(
    buckets: &mut std::collections::HashMap<K, Bucket>,
    key: &Q,
    now: std::time::Instant,
    (rate, burst): (f64, f64),
) -> bool
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: ToOwned<Owned = K> + std::hash::Hash + Eq + ?Sized,
{
    if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(key) {
        buckets.clear();
    }
    if let Some(b) = buckets.get_mut(key) {
        return b.take((rate, burst), now);
    }
    buckets
        .entry(key.to_owned())
        .or_insert_with(|| Bucket::full(burst, now))
        .take((rate, burst), now)
}

static FULL_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RECOVERED_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether a minute has passed since `last` (seconds since the epoch) was set; sets it if so.
pub(crate) fn once_a_minute(last: &std::sync::atomic::AtomicU64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prev = last.load(Ordering::Relaxed);
    now.saturating_sub(prev) >= 60
        && last
            .compare_exchange(prev, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: every request without valid credentials was recorded, so one client could
    /// fill the disk and memory with events at no cost.
    #[test]
    fn unauthenticated_events_are_sampled_per_address_and_in_all() {
        let sampler = UnauthenticatedEvents::default();
        let t = std::time::Instant::now();
        let one: std::net::IpAddr = [192, 0, 2, 1].into();
        let admitted = (0..100).filter(|_| sampler.admit_at(one, None, t)).count();
        assert_eq!(admitted, 60);
        // Another address has its own burst, until all together reach theirs.
        let mut all = admitted;
        for n in 0..=255u8 {
            let other: std::net::IpAddr = [198, 51, 100, n].into();
            all += (0..100)
                .filter(|_| sampler.admit_at(other, None, t))
                .count();
        }
        assert_eq!(all, 600);
        // A second later the address may send one more, and all of them twenty.
        let later = t + std::time::Duration::from_secs(1);
        assert!(sampler.admit_at(one, None, later));
        assert!(!sampler.admit_at(one, None, later));
    }

    /// Regression: a flood of requests with made-up keys from many addresses used up the room
    /// of all refused requests, so that wrong signatures made with a real key went unrecorded.
    #[test]
    fn refusals_of_existing_keys_are_sampled_apart_from_the_flood() {
        let sampler = UnauthenticatedEvents::default();
        let t = std::time::Instant::now();
        for n in 0..=255u8 {
            let other: std::net::IpAddr = [198, 51, 100, n].into();
            for _ in 0..10 {
                sampler.admit_at(other, None, t);
            }
        }
        assert!(!sampler.admit_at([192, 0, 2, 9].into(), None, t));
        let one: std::net::IpAddr = [198, 51, 100, 7].into();
        let owner = |p: &str, a: &str| KeyOwner {
            principal: p.into(),
            account: a.into(),
        };
        let alice = owner("AIDAALICE", "111111111111");
        let admitted = (0..100)
            .filter(|_| sampler.admit_at(one, Some(&alice), t))
            .count();
        assert_eq!(admitted, 60);
        // Another principal has its own burst, whatever the address.
        assert!(sampler.admit_at(one, Some(&owner("AIDABOB", "111111111111")), t));
    }

    /// Regression: refusals were sampled per access key with one budget for every key, so
    /// one principal minting session keys could use it up and hide another's wrong signatures.
    #[test]
    fn one_principal_cannot_use_up_another_accounts_or_principals_room() {
        let sampler = UnauthenticatedEvents::default();
        let t = std::time::Instant::now();
        let at: std::net::IpAddr = [198, 51, 100, 1].into();
        let mallory = KeyOwner {
            principal: "AROAMALLORY".into(),
            account: "222222222222".into(),
        };
        for _ in 0..5000 {
            sampler.admit_at(at, Some(&mallory), t);
        }
        let victim = KeyOwner {
            principal: "AIDAVICTIM".into(),
            account: "111111111111".into(),
        };
        assert!(sampler.admit_at(at, Some(&victim), t));
        let neighbour = KeyOwner {
            principal: "AIDANEIGHBOUR".into(),
            account: "222222222222".into(),
        };
        assert!(sampler.admit_at(at, Some(&neighbour), t));
    }

    /// Regression: on a full disk that freed a little room at a time, every group flipped the
    /// log's state and logged a line: hundreds a minute.
    #[test]
    fn state_flips_are_logged_at_most_once_a_minute() {
        let last = std::sync::atomic::AtomicU64::new(0);
        assert!(once_a_minute(&last));
        assert!(!once_a_minute(&last));
        assert!(!once_a_minute(&last));
    }
}
