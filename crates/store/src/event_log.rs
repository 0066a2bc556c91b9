//! The audit events: an append-only log of framed records in segment files, with the positions
//! and LookupEvents' attribute index in memory.
//!
//! Why not a SQLite table: every request's event must be durable before its response leaves, so
//! the audit write sits on every request's path. As a table it cost a quarter to a half of KMS
//! Encrypt's throughput (`bench/audit-cost.sh`): SQLite wrote each event twice (write-ahead log,
//! then checkpoint into the B-tree), kept a unique index on random event ids and a time index,
//! and its one worker thread spent its time in `pwrite`, `pread` and `fsync`. Events are never
//! updated and are read by position, which is what a log is for: a group commit here is one
//! `pwrite` of the group's frames and one `fdatasync`.
//!
//! One group is written at a time. Syncing a group while the next is written is safe (an
//! `fdatasync` covers everything written to the file before it) and was tried: with two or four
//! groups in flight KMS Encrypt was 0–20 % slower than with one, because smaller groups meant more
//! syncs for the same events and the disks measured here do not complete two syncs much faster
//! than one.
//!
//! # Format
//!
//! `<data-dir>/events/<first position, 20 digits>.log` holds consecutive frames:
//!
//! ```text
//! u32 LE  body length      u32 LE  CRC-32 of the body
//! body:   u64 position · i64 time (epoch ms) · u8 flags (bit 0: read-only)
//!         strings (u32 LE length + UTF-8): event id, account, event source, event name
//!         optional strings (length u32::MAX when absent): access key id, user name, error code
//!         u32 count, then (ARN, type) string pairs: the resources
//!         string: the CloudTrail record as JSON
//! ```
//!
//! # Recovery
//!
//! A group is acknowledged only after its frames are synced, so the only damage a crash leaves
//! is a torn tail of unacknowledged frames in the newest segment: at open, each segment is read
//! up to its first frame that is short, fails its checksum or is out of sequence, and the newest
//! one is truncated there. A bad frame followed by an intact one is not a torn write but damage to
//! acknowledged events: opening then fails instead of destroying them (and handing their
//! positions, which trails have delivered, to new events). A write that fails is never acknowledged either; the next group
//! truncates the segment back to the last acknowledged frame, or, when that fails too, starts a
//! new segment, and a segment's frames count only below the first position of the next one, so
//! frames of a failed write are never read back as events.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::event_index::EventIndex;
use crate::{AuditRow, EventAttribute, EventQuery, StoreError};

/// A segment is closed once it reaches this size; the next group starts a new one.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// No frame is larger: a longer length field is damage, not an event.
const MAX_FRAME: usize = 16 << 20;

const HEADER: usize = 8;
const ABSENT: u32 = u32::MAX;

/// The smallest frame `encode` writes (a header; position, time, flags; four empty strings,
/// three absent ones, no resources, an empty record): bounds how many frames some bytes can hold.
const MIN_FRAME: u64 = (HEADER + 8 + 8 + 1 + 4 * 4 + 4 * 3 + 4 + 4) as u64;

/// CloudTrail looks events up over the last 90 days; older ones stay in the segment files (for
/// `palisade audit events`) but leave memory, which bounds it by a window of time instead of
/// growing with the log forever. Checked when a segment starts and at open.
pub(crate) const RETENTION_MS: i64 = 90 * 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Events are appended in nearly time order: an event's time is when its request started, and it
/// is appended when the request ends. An event that started more than SLACK before a range's
/// start was therefore appended before any event inside the range began, and one that started
/// more than SLACK after its end was appended after all of them ended.
const SLACK_MS: i64 = 15 * 60 * 1000;

/// Where a segment's bytes are.
#[derive(Debug)]
enum Backing {
    File {
        file: Arc<File>,
        path: PathBuf,
    },
    /// A segment whose events are all older than [`RETENTION_MS`]: kept on disk, not open.
    Closed {
        path: PathBuf,
    },
    Memory(Vec<u8>),
}

#[derive(Debug)]
struct Segment {
    backing: Backing,
}

/// What is kept in memory per event: enough to filter without reading the record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time_ms: i64,
    offset: u64,
    len: u32,
    segment: u32,
    account: u32,
    /// `awsRegion`, as an index into `State::regions` (`ANY_REGION` when unknown).
    region: u16,
    read_only: bool,
}

/// The region of an entry whose record names none (or one past the table's size): it shows in
/// every Region's lookups rather than in none.
const ANY_REGION: u16 = u16::MAX;

#[derive(Debug, Default)]
struct State {
    segments: Vec<Segment>,
    /// `entries[i]` is the event at position `base + i`.
    entries: Vec<Entry>,
    base: i64,
    accounts: Vec<String>,
    account_ids: HashMap<String, u32>,
    regions: Vec<String>,
    region_ids: HashMap<String, u16>,
    /// Event id hash → position; ids whose hash was already taken go to `id_collisions`.
    ids: HashMap<u64, i64>,
    id_collisions: Vec<(u64, i64)>,
    index: EventIndex,
}

/// The appending side: only one group is written at a time.
#[derive(Debug)]
struct Writer {
    next_seq: i64,
    /// Bytes of acknowledged frames in the newest segment.
    len: u64,
    /// The newest segment's file, or None when the next group must start a new segment.
    file: Option<Arc<File>>,
    /// A write failed: the newest segment may hold frames that were never acknowledged.
    damaged: bool,
    /// How far the newest segment's file extends (frames, then zeros written ahead).
    allocated: u64,
}

/// The room kept ahead of the last frame: zeros written after it, whose blocks the file system
/// has allocated, so that the events of requests already under way can be written when the disk
/// fills. The server promises this room to requests before their handlers run
/// (`Store::audit_room`) and refuses a request, before it changes anything, when the room cannot
/// cover it (bug: 256 KiB, of which a fill triggered refusals only below 128 KiB, was less than
/// two dozen concurrent requests with large policies wrote, so their changes were kept without
/// their events).
pub(crate) const RESERVE: u64 = 2 << 20;

/// Zeros written after a group when the room ahead falls a chunk below [`RESERVE`]: one write
/// per 256 KiB of events on the hot path, as before. A sync of frames written over them changes
/// no metadata (the file's size), and took a third less time on this project's disks (median
/// 127 µs against 190 µs per 16 KiB group, extensions included).
static ZEROS: [u8; 256 << 10] = [0; 256 << 10];
const CHUNK: u64 = ZEROS.len() as u64;

/// The audit event log.
#[derive(Debug)]
pub(crate) struct EventLog {
    dir: Option<PathBuf>,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    state: RwLock<State>,
    /// The zeros written ahead could not be extended (a full disk): the groups already
    /// acknowledged, and a few more, fit in what is left, but the server should stop taking
    /// requests before a group finds no room at all, when the changes of its requests would
    /// already be made without their events.
    space_low: std::sync::atomic::AtomicBool,
    /// Bytes of zeros ahead of the last acknowledged frame in the newest segment: what the
    /// next events can take without allocating. Read per request (an atomic load, no syscall).
    room: std::sync::atomic::AtomicU64,
}

/// A frame's fields, borrowed from its bytes.
pub(crate) struct Frame<'a> {
    pub(crate) seq: i64,
    pub(crate) time_ms: i64,
    pub(crate) read_only: bool,
    pub(crate) event_id: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) event_source: &'a str,
    pub(crate) event_name: &'a str,
    pub(crate) access_key_id: Option<&'a str>,
    pub(crate) user_name: Option<&'a str>,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) resources: Vec<(&'a str, &'a str)>,
    pub(crate) record: &'a str,
}

impl Frame<'_> {
    fn to_row(&self) -> AuditRow {
        AuditRow {
            event_id: self.event_id.to_owned(),
            event_time_ms: self.time_ms,
            account_id: self.account_id.to_owned(),
            event_source: self.event_source.to_owned(),
            event_name: self.event_name.to_owned(),
            read_only: self.read_only,
            access_key_id: self.access_key_id.map(str::to_owned),
            user_name: self.user_name.map(str::to_owned),
            error_code: self.error_code.map(str::to_owned),
            record: self.record.to_owned(),
            resources: self
                .resources
                .iter()
                .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    // Fields are bounded by the request size limit, far below 4 GiB; saturate rather than wrap.
    let len = u32::try_from(s.len()).unwrap_or(ABSENT - 1);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// Appends one frame for `row` at position `seq`.
fn encode(buf: &mut Vec<u8>, seq: i64, row: &AuditRow) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&row.event_time_ms.to_le_bytes());
    buf.push(u8::from(row.read_only));
    put_str(buf, &row.event_id);
    put_str(buf, &row.account_id);
    put_str(buf, &row.event_source);
    put_str(buf, &row.event_name);
    put_opt(buf, row.access_key_id.as_deref());
    put_opt(buf, row.user_name.as_deref());
    put_opt(buf, row.error_code.as_deref());
    let n = u32::try_from(row.resources.len()).unwrap_or(0);
    buf.extend_from_slice(&n.to_le_bytes());
    for (arn, kind) in row.resources.iter().take(n as usize) {
        put_str(buf, arn);
        put_str(buf, kind);
    }
    put_str(buf, &row.record);
    // The length now; the position and the checksum when `append` numbers the frame.
    let len = u32::try_from(buf.len() - start - HEADER).unwrap_or(ABSENT);
    if let Some(h) = buf.get_mut(start..start + 4) {
        h.copy_from_slice(&len.to_le_bytes());
    }
}

/// The `awsRegion` of a record as this crate's callers write it (serde's compact JSON, whose
/// first `"awsRegion":` is the top-level member: a key inside a string would have its quotes
/// escaped). Read from the record so that the frame format stays as it is.
fn record_region(record: &str) -> Option<&str> {
    const KEY: &str = "\"awsRegion\":\"";
    let at = record.find(KEY)? + KEY.len();
    let rest = record.get(at..)?;
    let value = rest.get(..rest.find('"')?)?;
    // Regions are plain names; a value with an escape is no Region to scope by.
    (!value.contains('\\')).then_some(value)
}

fn le32(bytes: Option<&[u8]>) -> Option<u32> {
    Some(u32::from_le_bytes(bytes?.try_into().ok()?))
}

/// Reads a frame body; None when it is malformed.
fn decode(body: &[u8]) -> Option<Frame<'_>> {
    struct Cursor<'a>(&'a [u8]);
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let (head, rest) = self.0.split_at_checked(n)?;
            self.0 = rest;
            Some(head)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn i64(&mut self) -> Option<i64> {
            Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
        fn str(&mut self) -> Option<&'a str> {
            let n = self.u32()? as usize;
            std::str::from_utf8(self.take(n)?).ok()
        }
        fn opt(&mut self) -> Option<Option<&'a str>> {
            let n = self.u32()?;
            if n == ABSENT {
                return Some(None);
            }
            std::str::from_utf8(self.take(n as usize)?).ok().map(Some)
        }
    }
    let mut c = Cursor(body);
    let seq = c.i64()?;
    let time_ms = c.i64()?;
    let flags = *c.take(1)?.first()?;
    let event_id = c.str()?;
    let account_id = c.str()?;
    let event_source = c.str()?;
    let event_name = c.str()?;
    let access_key_id = c.opt()?;
    let user_name = c.opt()?;
    let error_code = c.opt()?;
    let n = c.u32()?;
    let mut resources = Vec::new();
    for _ in 0..n {
        resources.push((c.str()?, c.str()?));
    }
    let record = c.str()?;
    c.0.is_empty().then_some(Frame {
        seq,
        time_ms,
        read_only: flags & 1 == 1,
        event_id,
        account_id,
        event_source,
        event_name,
        access_key_id,
        user_name,
        error_code,
        resources,
        record,
    })
}

/// Splits `bytes` at a frame: (body, the frame's total length), or None at a torn or damaged one.
fn next_frame(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let len = le32(bytes.get(..4))? as usize;
    let crc = le32(bytes.get(4..HEADER))?;
    if len > MAX_FRAME {
        return None;
    }
    let body = bytes.get(HEADER..HEADER + len)?;
    (crc32fast::hash(body) == crc).then_some((body, HEADER + len))
}

fn id_hash(event_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same in every process, and event ids are ours (random UUIDs),
    // so there is nothing for an attacker to collide; collisions are still resolved exactly.
    let mut h = std::hash::DefaultHasher::new();
    event_id.hash(&mut h);
    h.finish()
}

fn segment_name(first_seq: i64) -> String {
    format!("{first_seq:020}.log")
}

/// Starts the segment whose first position is `first_seq` with [`RESERVE`] bytes of room. The
/// outer error is a segment that could not be created; the inner one, no room for it (a full
/// disk), after which nothing is left behind (an empty segment would hide the frames that the
/// previous one goes on taking at these positions).
type NewSegment = Result<(Arc<File>, Segment), StoreError>;

fn new_segment(dir: &Path, first_seq: i64) -> Result<NewSegment, StoreError> {
    let (f, segment) = create_segment(dir, first_seq)?;
    let mut at = 0;
    let mut written = Ok(());
    while at < RESERVE && written.is_ok() {
        written = f.write_all_at(&ZEROS, at);
        at += CHUNK;
    }
    match written.and_then(|()| f.sync_data()) {
        Ok(()) => Ok(Ok((f, segment))),
        Err(e) => {
            let path = dir.join(segment_name(first_seq));
            std::fs::remove_file(&path)
                .and_then(|()| File::open(dir)?.sync_all())
                .map_err(|e| io_error("removing", &path, e))?;
            Ok(Err(io_error("making room in", &path, e)))
        }
    }
}

/// Creates (or empties) the segment whose first position is `first_seq`, durably: the new name
/// must survive a crash as surely as the frames that will be in it.
fn create_segment(dir: &Path, first_seq: i64) -> Result<(Arc<File>, Segment), StoreError> {
    let path = dir.join(segment_name(first_seq));
    // Owner only, whatever the umask: the events name every caller and resource.
    let f = std::os::unix::fs::OpenOptionsExt::mode(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(&path)
    .map_err(|e| io_error("creating", &path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing", dir, e))?;
    let f = Arc::new(f);
    let segment = Segment {
        backing: Backing::File {
            file: f.clone(),
            path,
        },
    };
    Ok((f, segment))
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Events(format!("{what} {}: {e}", path.display()))
}

impl State {
    fn account_id(&mut self, account: &str) -> u32 {
        if let Some(id) = self.account_ids.get(account) {
            return *id;
        }
        let id = u32::try_from(self.accounts.len()).unwrap_or(u32::MAX);
        self.accounts.push(account.to_owned());
        self.account_ids.insert(account.to_owned(), id);
        id
    }

    fn region_id(&mut self, region: Option<&str>) -> u16 {
        let Some(region) = region else {
            return ANY_REGION;
        };
        if let Some(id) = self.region_ids.get(region) {
            return *id;
        }
        let Ok(id) = u16::try_from(self.regions.len()) else {
            return ANY_REGION;
        };
        if id == ANY_REGION {
            return ANY_REGION;
        }
        self.regions.push(region.to_owned());
        self.region_ids.insert(region.to_owned(), id);
        id
    }

    /// Whether the entry belongs to the Region a query asks for: `None` for any Region,
    /// `Some(None)` for a Region no event names.
    fn in_region(&self, e: &Entry, region: Option<Option<u16>>) -> bool {
        match region {
            None => true,
            Some(r) => e.region == ANY_REGION || r == Some(e.region),
        }
    }

    /// Records the frame at `offset` of the newest segment.
    fn add(&mut self, frame: &Frame<'_>, offset: u64, len: usize) {
        let account = self.account_id(frame.account_id);
        let region = self.region_id(record_region(frame.record));
        let segment = u32::try_from(self.segments.len().saturating_sub(1)).unwrap_or(0);
        if self.entries.is_empty() {
            self.base = frame.seq;
        } else if frame.seq > self.seq_of(self.entries.len()) {
            // Positions skipped after a dropped tail stay empty: entries are indexed by position.
            self.fill_gap(frame.seq);
        }
        self.entries.push(Entry {
            time_ms: frame.time_ms,
            offset,
            len: u32::try_from(len).unwrap_or(0),
            segment,
            account,
            region,
            read_only: frame.read_only,
        });
        let h = id_hash(frame.event_id);
        match self.ids.entry(h) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.id_collisions.push((h, frame.seq));
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(frame.seq);
            }
        }
        self.index.insert(frame);
    }

    /// Forgets the events older than `cutoff_ms` (give or take SLACK, since positions are only
    /// nearly in time order), and closes the segments that held only those.
    fn prune(&mut self, cutoff_ms: i64) {
        let k = self
            .entries
            .partition_point(|e| e.time_ms < cutoff_ms.saturating_sub(SLACK_MS));
        if k == 0 {
            return;
        }
        self.entries.drain(..k);
        self.base = self
            .base
            .saturating_add(i64::try_from(k).unwrap_or(i64::MAX));
        let base = self.base;
        self.index.prune(base);
        self.ids.retain(|_, seq| *seq >= base);
        self.id_collisions.retain(|(_, seq)| *seq >= base);
        // The newest segment stays open whatever its age: it is appended to.
        let keep_from = self
            .entries
            .iter()
            .find(|e| e.segment != u32::MAX)
            .map_or(self.segments.len().saturating_sub(1), |e| {
                e.segment as usize
            });
        for s in self.segments.iter_mut().take(keep_from) {
            if let Backing::File { path, .. } = &s.backing {
                s.backing = Backing::Closed { path: path.clone() };
            }
        }
    }

    /// Positions up to `seq` that no segment holds: entries of no account.
    fn fill_gap(&mut self, seq: i64) {
        let time_ms = self.entries.last().map_or(0, |e| e.time_ms);
        while self.seq_of(self.entries.len()) < seq {
            self.entries.push(Entry {
                time_ms,
                offset: 0,
                len: 0,
                segment: u32::MAX,
                account: u32::MAX,
                region: ANY_REGION,
                read_only: false,
            });
        }
    }

    fn entry(&self, seq: i64) -> Option<(usize, &Entry)> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.entries.get(i).map(|e| (i, e))
    }

    fn seq_of(&self, i: usize) -> i64 {
        self.base
            .saturating_add(i64::try_from(i).unwrap_or(i64::MAX))
    }

    fn last_seq(&self) -> i64 {
        self.seq_of(self.entries.len()).saturating_sub(1)
    }

    /// The index range `lo..hi` outside which no event of `start_ms..=end_ms` can be.
    fn time_bounds(&self, start_ms: i64, end_ms: i64) -> (usize, usize) {
        let lo = self
            .entries
            .partition_point(|e| e.time_ms < start_ms.saturating_sub(SLACK_MS));
        let hi = self
            .entries
            .partition_point(|e| e.time_ms <= end_ms.saturating_add(SLACK_MS));
        (lo, hi.max(lo))
    }
}

impl EventLog {
    /// A log kept in memory (tests).
    pub(crate) fn in_memory() -> Self {
        Self {
            dir: None,
            segment_bytes: SEGMENT_BYTES,
            writer: Mutex::new(Writer {
                next_seq: 1,
                len: 0,
                file: None,
                damaged: false,
                allocated: 0,
            }),
            state: RwLock::default(),
            space_low: Default::default(),
            room: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    /// Opens the log in `dir`, creating it, and reads every segment back (recovering a torn tail).
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> Result<Self, StoreError> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(|e| io_error("creating", dir, e))?;
        let firsts = segment_files(dir)?;
        let mut skips = skipped_ranges(dir)?;
        let mut state = State::default();
        let mut next_seq = 1i64;
        let mut len = 0u64;
        let mut file = None;
        let mut skipped = false;
        let count = firsts.len();
        for (i, (first, path)) in firsts.iter().enumerate() {
            // A segment's frames count only below the next segment's first position.
            let limit = firsts.get(i + 1).map_or(i64::MAX, |(f, _)| *f);
            let newest = i + 1 == count;
            let f = OpenOptions::new()
                .read(true)
                .write(newest)
                .open(path)
                .map_err(|e| io_error("opening", path, e))?;
            let f = Arc::new(f);
            state.segments.push(Segment {
                backing: Backing::File {
                    file: f.clone(),
                    path: path.clone(),
                },
            });
            let good = read_segment(&f, path, *first, limit, &skips, &mut state)?;
            state.prune(now_ms().saturating_sub(RETENTION_MS));
            next_seq = next_seq.max(*first).max(state.last_seq().saturating_add(1));
            if newest {
                let size = f
                    .metadata()
                    .map_err(|e| io_error("reading", path, e))?
                    .len();
                if size > good {
                    // Zeros written ahead are expected; anything else is a torn write.
                    let mut tail = vec![0u8; usize::try_from(size - good).unwrap_or(0)];
                    f.read_exact_at(&mut tail, good)
                        .map_err(|e| io_error("reading", path, e))?;
                    let written = tail.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                    let torn = written > 0;
                    // Every later offset is tried, not only where the bad frame's length field
                    // points (bug: two damaged length bytes made acknowledged events after them
                    // look like a torn tail, which was cut off and their positions reused).
                    if torn && let Some((at, seq)) = find_intact_frame(&tail, 1, next_seq) {
                        // A torn write is the end of the file; a bad frame followed by a good one
                        // is damage to acknowledged events, which truncating would destroy (and
                        // whose positions new events would then take again).
                        return Err(StoreError::Events(format!(
                            "{}: the event at byte {good} is damaged but events after it are \
                             intact (position {seq} at byte {}); refusing to drop acknowledged \
                             audit events. Restore the file from a backup (`palisade audit \
                             events` lists the events before the damage)",
                            path.display(),
                            good + at as u64
                        )));
                    }
                    // Bytes no torn write leaves (a length no frame has, another position)
                    // are damage, which the offline reader reports too (bug: opening cut off a
                    // segment's worth of random bytes as a torn tail while `palisade audit
                    // events` called it damage).
                    if torn && let Some(why) = not_a_torn_tail(&tail, next_seq, true) {
                        return Err(StoreError::Events(format!(
                            "{}: the bytes after the event ending at byte {good} are not a torn \
                             write: {why}; refusing to cut them off. Restore the file from a \
                             backup (`palisade audit events` lists the events before them)",
                            path.display()
                        )));
                    }
                    if torn {
                        // The bytes cut off may hold events that were acknowledged (damage to
                        // the newest ones) and delivered by trails, whose cursors are past
                        // them: new events never take those positions again (bug: they did, and
                        // trails never delivered the new events). As many positions are skipped
                        // as the bytes could hold frames, and the next group starts a segment
                        // named by the first position after them.
                        let skip = (written as u64).div_ceil(MIN_FRAME);
                        let from = next_seq;
                        next_seq = next_seq.saturating_add(i64::try_from(skip).unwrap_or(i64::MAX));
                        skipped = true;
                        // The skipped positions are recorded, so that later opens know the gap
                        // for what it is (bug: every start after a torn tail logged them as
                        // lost events, an alarm that never went away).
                        record_skip(dir, from, next_seq.saturating_sub(1))?;
                        skips.push((from, next_seq.saturating_sub(1)));
                        tracing::warn!(
                            path = %path.display(),
                            kept = good,
                            dropped = written,
                            next_position = next_seq,
                            "audit log: dropping a torn tail of unacknowledged events; its positions are not reused"
                        );
                    }
                    f.set_len(good)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| io_error("truncating", path, e))?;
                }
                len = good;
                file = (!skipped).then_some(f);
            }
        }
        // Positions recorded as skipped are never taken again, even when no event followed
        // them before the server stopped.
        if let Some(end) = skips.iter().map(|&(_, to)| to.saturating_add(1)).max()
            && end > next_seq
        {
            next_seq = end;
            file = None;
        }
        let log = Self {
            dir: Some(dir.to_owned()),
            segment_bytes: segment_bytes.max(1),
            writer: Mutex::new(Writer {
                next_seq,
                len,
                file,
                damaged: false,
                allocated: len,
            }),
            state: RwLock::new(state),
            space_low: Default::default(),
            room: Default::default(),
        };
        // Room for the first events is made now: a server started on a full disk refuses
        // requests (fail-closed) instead of making their changes and failing their events.
        if !log.make_room(RESERVE)? {
            tracing::warn!(dir = %dir.display(), "no room for audit events");
            log.space_low
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(log)
    }

    /// Makes the next event's position at least `next`, recording the positions passed over
    /// as skipped; `false` when it already was. Positions handed out by an earlier life of the
    /// log (a store restored with an older copy of the log, whose trails delivered past its
    /// end) are never taken again: new events there would never reach those trails.
    pub(crate) fn skip_to(&self, next: i64) -> Result<bool, StoreError> {
        {
            let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
            if next <= w.next_seq {
                return Ok(false);
            }
            if let Some(dir) = &self.dir {
                record_skip(dir, w.next_seq, next.saturating_sub(1))?;
            }
            w.next_seq = next;
            // The next group starts a segment named by its first position; the zeros written
            // ahead in this one will take no frame.
            if let Some(f) = w.file.take()
                && let Err(e) = f.set_len(w.len).and_then(|()| f.sync_all())
            {
                tracing::warn!(error = %e, "audit log: the room written ahead in a segment left behind could not be cut off");
            }
            w.allocated = w.len;
            // No room until the next segment has some (the old segment's is gone).
            self.publish_room(&w);
        }
        // The room promised at open moves to the segment the next events start.
        if !self.make_room(RESERVE)? {
            tracing::warn!("no room for audit events");
            self.space_low
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Frames `rows` for appending (CPU only, no I/O): positions are filled in by `append`.
    pub(crate) fn encode(rows: &[AuditRow]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(rows.iter().map(|r| r.record.len() + 256).sum());
        for row in rows {
            encode(&mut buf, 0, row);
        }
        buf
    }

    /// Appends framed events: durable when this returns Ok, or none of them is ever read back.
    /// Blocking.
    pub(crate) fn append(&self, mut frames: Vec<u8>) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        // Number the frames, now that the writer is held.
        let mut at = 0usize;
        let mut spans = Vec::new();
        let mut seq = w.next_seq;
        while at < frames.len() {
            let len = le32(frames.get(at..at + 4))
                .ok_or_else(|| StoreError::Events("a malformed frame to append".into()))?
                as usize;
            let body = frames
                .get_mut(at + HEADER..at + HEADER + len)
                .ok_or_else(|| StoreError::Events("a malformed frame to append".into()))?;
            body.get_mut(..8)
                .ok_or_else(|| StoreError::Events("a malformed frame to append".into()))?
                .copy_from_slice(&seq.to_le_bytes());
            let crc = crc32fast::hash(body);
            if let Some(c) = frames.get_mut(at + 4..at + HEADER) {
                c.copy_from_slice(&crc.to_le_bytes());
            }
            spans.push((at, HEADER + len));
            at += HEADER + len;
            seq += 1;
        }
        if spans.is_empty() {
            return Ok(());
        }
        let offset = match &self.dir {
            None => self.append_memory(&frames)?,
            Some(dir) => {
                let result = self.append_file(&mut w, dir, &frames);
                if result.is_err() {
                    w.damaged = true;
                }
                result?
            }
        };
        // Durable: make the events visible.
        let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
        for (start, len) in spans {
            let frame = frames
                .get(start + HEADER..start + len)
                .and_then(decode)
                .ok_or_else(|| StoreError::Events("a malformed frame to append".into()))?;
            state.add(&frame, offset + start as u64, len);
        }
        w.next_seq = seq;
        w.len = offset + frames.len() as u64;
        self.publish_room(&w);
        Ok(())
    }

    fn publish_room(&self, w: &Writer) {
        if self.dir.is_some() {
            self.room.store(
                w.allocated.saturating_sub(w.len),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// Bytes the next events can take without the file growing (see [`RESERVE`]).
    pub(crate) fn room(&self) -> u64 {
        self.room.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn append_memory(&self, frames: &[u8]) -> Result<u64, StoreError> {
        let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
        if state.segments.is_empty() {
            state.segments.push(Segment {
                backing: Backing::Memory(Vec::new()),
            });
        }
        match state.segments.last_mut().map(|s| &mut s.backing) {
            Some(Backing::Memory(bytes)) => {
                let offset = bytes.len() as u64;
                bytes.extend_from_slice(frames);
                Ok(offset)
            }
            _ => Err(StoreError::Events("in-memory log without a segment".into())),
        }
    }

    /// Writes and syncs `frames` at the end of the newest segment, starting a new one first when
    /// it is full, missing or damaged. Returns the offset they were written at.
    fn append_file(&self, w: &mut Writer, dir: &Path, frames: &[u8]) -> Result<u64, StoreError> {
        self.ready(w, dir)?;
        let Some(f) = &w.file else {
            return Err(StoreError::Events("no segment to append to".into()));
        };
        let offset = w.len;
        let end = offset + frames.len() as u64;
        f.write_all_at(frames, offset)
            .map_err(|e| StoreError::Events(format!("writing audit events: {e}")))?;
        // Room is made ahead of need: a failure to make more does not fail this group (its
        // frames are written), it says the disk is filling while there is still room to write
        // the events of requests already under way.
        let extend = w.allocated.saturating_sub(end) + CHUNK <= RESERVE;
        let from = w.allocated.max(end);
        let extended = extend && f.write_all_at(&ZEROS, from).is_ok();
        f.sync_data()
            .map_err(|e| StoreError::Events(format!("writing audit events: {e}")))?;
        if extended {
            w.allocated = from + CHUNK;
        } else {
            w.allocated = w.allocated.max(end);
        }
        self.space_low
            .store(extend && !extended, std::sync::atomic::Ordering::Relaxed);
        Ok(offset)
    }

    /// Makes the newest segment ready to take frames: a damaged tail cut off, a new segment
    /// started when there is none or the newest is full.
    fn ready(&self, w: &mut Writer, dir: &Path) -> Result<(), StoreError> {
        if w.damaged {
            // Cut off whatever the failed write left; if that fails too, leave it behind a new
            // segment, whose first position makes those frames unreadable.
            if let Some(f) = &w.file
                && f.set_len(w.len).and_then(|()| f.sync_all()).is_err()
            {
                w.file = None;
            }
            w.allocated = w.len;
            w.damaged = false;
        }
        let full = w.file.is_some() && w.len >= self.segment_bytes;
        if w.file.is_none() || full {
            // The new segment gets its room before it takes a frame. When that fails (a full
            // disk) the full segment goes on taking frames: its room is what was promised to
            // the requests under way, and a new segment without room would fail their events.
            let (f, segment) = match new_segment(dir, w.next_seq)? {
                Ok(made) => made,
                Err(e) if full => {
                    tracing::warn!(error = %e, "audit log: no room for a new segment; the current one grows past its size");
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
            state.segments.push(segment);
            state.prune(now_ms().saturating_sub(RETENTION_MS));
            drop(state);
            w.file = Some(f);
            w.len = 0;
            w.allocated = RESERVE;
            self.publish_room(w);
        }
        Ok(())
    }

    /// Whether the room written ahead could not be extended at the last group.
    pub(crate) fn space_low(&self) -> bool {
        self.space_low.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes at least `need` bytes of room ahead of the last frame (at open,
    /// while events cannot be written, and when more is promised to requests under way than
    /// there is): the newest segment made ready (started if there is none), then zeros written
    /// after its last frame. True when there is that much room now.
    pub(crate) fn make_room(&self, need: u64) -> Result<bool, StoreError> {
        let Some(dir) = &self.dir else {
            return Ok(true);
        };
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        if self.ready(&mut w, dir).is_err() {
            return Ok(false);
        }
        let Some(f) = w.file.clone() else {
            return Ok(false);
        };
        let target = w.len.saturating_add(need.max(CHUNK));
        // Zeros already allocated ahead are not written again.
        let mut at = w.allocated.max(w.len);
        let wrote = at < target;
        let mut ok = true;
        while at < target {
            if f.write_all_at(&ZEROS, at).is_err() {
                ok = false;
                break;
            }
            at += CHUNK;
        }
        ok = ok && (!wrote || f.sync_data().is_ok());
        // Zeros written count as room even when a later chunk failed: their blocks are
        // allocated (a write that returns has its space, even before a sync).
        w.allocated = w.allocated.max(at);
        if ok {
            self.space_low
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        self.publish_room(&w);
        Ok(ok && w.allocated.saturating_sub(w.len) >= need)
    }

    /// Reads the events at `seqs`, in that order; positions no longer in memory are skipped.
    fn read(&self, seqs: &[i64]) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let mut out = Vec::with_capacity(seqs.len());
        let mut buf = Vec::new();
        for &seq in seqs {
            let (file, offset, len) = {
                let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
                let Some((_, e)) = state.entry(seq) else {
                    continue;
                };
                let segment = state
                    .segments
                    .get(e.segment as usize)
                    .ok_or_else(|| StoreError::Events(format!("event {seq} has no segment")))?;
                match &segment.backing {
                    Backing::File { file, .. } => (file.clone(), e.offset, e.len as usize),
                    Backing::Closed { .. } => continue,
                    Backing::Memory(bytes) => {
                        buf.clear();
                        let start = usize::try_from(e.offset).unwrap_or(usize::MAX);
                        buf.extend_from_slice(
                            bytes.get(start..start + e.len as usize).ok_or_else(|| {
                                StoreError::Events(format!("event {seq} is outside its segment"))
                            })?,
                        );
                        let row = frame_row(seq, &buf)?;
                        out.push((seq, row));
                        continue;
                    }
                }
            };
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| StoreError::Events(format!("reading audit event {seq}: {e}")))?;
            out.push((seq, frame_row(seq, &buf)?));
        }
        Ok(out)
    }

    /// The position of the newest event written (below every future position).
    pub(crate) fn last_position(&self) -> Result<i64, StoreError> {
        let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
        Ok(state.last_seq())
    }

    /// The newest `limit` events of an account, newest first.
    pub(crate) fn recent(&self, account: &str, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let seqs: Vec<i64> = {
            let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
            let Some(acc) = state.account_ids.get(account).copied() else {
                return Ok(Vec::new());
            };
            state
                .entries
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| e.account == acc)
                .take(limit)
                .map(|(i, _)| state.seq_of(i))
                .collect()
        };
        Ok(self.read(&seqs)?.into_iter().map(|(_, r)| r).collect())
    }

    /// An account's events after `after_seq` at or after `min_time_ms`, oldest first.
    pub(crate) fn after(
        &self,
        account: &str,
        after_seq: i64,
        min_time_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let seqs: Vec<i64> = {
            let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
            let Some(acc) = state.account_ids.get(account).copied() else {
                return Ok(Vec::new());
            };
            let from = usize::try_from(after_seq.saturating_add(1).saturating_sub(state.base))
                .unwrap_or(0);
            state
                .entries
                .iter()
                .enumerate()
                .skip(from)
                .filter(|(_, e)| e.account == acc && e.time_ms >= min_time_ms)
                .take(limit)
                .map(|(i, _)| state.seq_of(i))
                .collect()
        };
        self.read(&seqs)
    }

    /// Events matching a LookupEvents query, newest first.
    pub(crate) fn lookup(&self, q: &EventQuery) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let limit = usize::try_from(q.limit).unwrap_or(0);
        let seqs: Vec<i64> = {
            let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
            let Some(acc) = state.account_ids.get(&q.account_id).copied() else {
                return Ok(Vec::new());
            };
            // Only the last 90 days, as CloudTrail (older events may not be pruned yet).
            let q = &EventQuery {
                start_ms: q.start_ms.max(now_ms().saturating_sub(RETENTION_MS)),
                ..q.clone()
            };
            let region = q.region.as_ref().map(|r| state.region_ids.get(r).copied());
            let (lo, hi) = state.time_bounds(q.start_ms, q.end_ms);
            let hi = match q.before {
                Some(b) => hi.min(usize::try_from(b.saturating_sub(state.base)).unwrap_or(0)),
                None => hi,
            };
            let lo_seq = state.seq_of(lo);
            let hi_seq = state.seq_of(hi).saturating_sub(1);
            let in_range = |seq: i64| {
                state.entry(seq).is_some_and(|(_, e)| {
                    e.account == acc
                        && e.time_ms >= q.start_ms
                        && e.time_ms <= q.end_ms
                        && state.in_region(e, region)
                })
            };
            match &q.attribute {
                Some((EventAttribute::EventId, id)) => {
                    let h = id_hash(id);
                    let mut seqs: Vec<i64> = state
                        .ids
                        .get(&h)
                        .copied()
                        .into_iter()
                        .chain(
                            state
                                .id_collisions
                                .iter()
                                .filter(|(c, _)| *c == h)
                                .map(|(_, s)| *s),
                        )
                        .filter(|s| (lo_seq..=hi_seq).contains(s) && in_range(*s))
                        .collect();
                    seqs.sort_unstable_by(|a, b| b.cmp(a));
                    // The hash only narrows; the id itself decides.
                    drop(state);
                    return Ok(self
                        .read(&seqs)?
                        .into_iter()
                        .filter(|(_, r)| r.event_id == *id)
                        .take(limit)
                        .collect());
                }
                Some((EventAttribute::ReadOnly, v)) => {
                    let want = v == "true";
                    (lo..hi)
                        .rev()
                        .filter(|i| {
                            state.entries.get(*i).is_some_and(|e| {
                                e.read_only == want
                                    && e.account == acc
                                    && e.time_ms >= q.start_ms
                                    && e.time_ms <= q.end_ms
                                    && state.in_region(e, region)
                            })
                        })
                        .take(limit)
                        .map(|i| state.seq_of(i))
                        .collect()
                }
                Some((attr, value)) => {
                    // The index lists the value's positions; their time is checked here (the
                    // position range is a little wider than asked).
                    let mut out = Vec::with_capacity(limit);
                    let mut upper = hi_seq;
                    while out.len() < limit {
                        let want = (limit - out.len()) * 2;
                        let seqs =
                            state
                                .index
                                .newest(&q.account_id, *attr, value, lo_seq, upper, want);
                        let Some(oldest) = seqs.last().copied() else {
                            break;
                        };
                        out.extend(seqs.iter().copied().filter(|s| in_range(*s)));
                        if seqs.len() < want {
                            break;
                        }
                        upper = oldest - 1;
                    }
                    out.truncate(limit);
                    out
                }
                None => (lo..hi)
                    .rev()
                    .filter(|i| {
                        state.entries.get(*i).is_some_and(|e| {
                            e.account == acc
                                && e.time_ms >= q.start_ms
                                && e.time_ms <= q.end_ms
                                && state.in_region(e, region)
                        })
                    })
                    .take(limit)
                    .map(|i| state.seq_of(i))
                    .collect(),
            }
        };
        self.read(&seqs)
    }

    /// Deletes every event (test mode's reset); positions keep counting up.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
        for s in state.segments.drain(..) {
            if let Backing::File { path, .. } | Backing::Closed { path } = s.backing {
                std::fs::remove_file(&path).map_err(|e| io_error("removing", &path, e))?;
            }
        }
        let next = w.next_seq;
        *state = State::default();
        w.file = None;
        w.len = 0;
        w.allocated = 0;
        w.damaged = false;
        // An empty segment named by the next position keeps positions counting up after a
        // restart, so that a trail's delivery cursor never sees a position twice.
        if let Some(dir) = &self.dir {
            let (f, segment) = create_segment(dir, next)?;
            state.segments.push(segment);
            w.file = Some(f);
        }
        Ok(())
    }

    /// Numbers the next event `seq` when the log is empty: events moved from the table of older
    /// versions keep the positions trails' delivery cursors point at.
    pub(crate) fn start_at(&self, seq: i64) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
        if state.entries.is_empty() && seq > w.next_seq {
            w.next_seq = seq;
            // The next group starts a segment named by it.
            w.file = None;
        }
        Ok(())
    }

    /// The id of the newest event, if any.
    pub(crate) fn last_event_id(&self) -> Result<Option<String>, StoreError> {
        let last = {
            let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
            state
                .entries
                .iter()
                .rposition(|e| e.account != u32::MAX)
                .map(|i| state.seq_of(i))
        };
        let Some(seq) = last else {
            return Ok(None);
        };
        Ok(self.read(&[seq])?.pop().map(|(_, r)| r.event_id))
    }
}

fn frame_row(seq: i64, bytes: &[u8]) -> Result<AuditRow, StoreError> {
    next_frame(bytes)
        .and_then(|(body, _)| decode(body))
        .filter(|f| f.seq == seq)
        .map(|f| f.to_row())
        .ok_or_else(|| StoreError::Events(format!("audit event {seq} is damaged on disk")))
}

/// Calls `visit` with each valid frame of a segment (and its offset and length), in order, up to
/// the first that is torn, damaged or out of sequence, or whose position reaches `limit`; returns
/// the length of that valid prefix. `visit` returning false stops early.
fn for_each_frame(
    file: &File,
    path: &Path,
    first: i64,
    limit: i64,
    mut visit: impl FnMut(&Frame<'_>, u64, usize) -> Result<bool, StoreError>,
) -> Result<u64, StoreError> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let mut expected = first;
    let mut header = [0u8; HEADER];
    let mut frame = Vec::new();
    loop {
        if expected >= limit || !read_full(&mut reader, &mut header, path)? {
            return Ok(offset);
        }
        let len = le32(header.get(..4)).unwrap_or(ABSENT) as usize;
        if len > MAX_FRAME {
            return Ok(offset);
        }
        frame.clear();
        frame.extend_from_slice(&header);
        frame.resize(HEADER + len, 0);
        if !read_full(
            &mut reader,
            frame.get_mut(HEADER..).unwrap_or_default(),
            path,
        )? {
            return Ok(offset);
        }
        let Some(f) = next_frame(&frame).and_then(|(body, _)| decode(body)) else {
            return Ok(offset);
        };
        if f.seq != expected {
            return Ok(offset);
        }
        if !visit(&f, offset, frame.len())? {
            return Ok(offset);
        }
        offset += frame.len() as u64;
        expected += 1;
    }
}

/// The first intact frame in `bytes` at or after offset `from` whose position is `min_seq` or
/// later: its offset and position. Every offset is tried, so that one damaged length field
/// cannot hide the frames after it. Cheap on zeros and noise: a frame's position is checked
/// before its checksum.
fn find_intact_frame(bytes: &[u8], from: usize, min_seq: i64) -> Option<(usize, i64)> {
    (from..bytes.len()).find_map(|at| {
        let rest = bytes.get(at..)?;
        let seq = rest
            .get(HEADER..HEADER + 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)?;
        if seq < min_seq {
            return None;
        }
        let (body, _) = next_frame(rest)?;
        decode(body).filter(|f| f.seq == seq).map(|f| (at, f.seq))
    })
}

/// Reads a segment's frames into `state`; returns the length of its valid prefix.
fn read_segment(
    file: &File,
    path: &Path,
    first: i64,
    limit: i64,
    skips: &[(i64, i64)],
    state: &mut State,
) -> Result<u64, StoreError> {
    for_each_frame(file, path, first, limit, |f, offset, len| {
        let next = state.seq_of(state.entries.len());
        if state.entries.is_empty() {
            state.base = f.seq;
        } else if f.seq > next {
            if gap_is_skipped(skips, next, f.seq - 1) {
                tracing::info!(
                    path = %path.display(),
                    from = next,
                    to = f.seq - 1,
                    "audit log: positions skipped after a torn tail was cut off"
                );
            } else {
                // An older segment lost events (damage on disk): the positions stay, empty.
                tracing::error!(
                    path = %path.display(),
                    from = next,
                    to = f.seq - 1,
                    "audit log: events are missing"
                );
            }
            state.fill_gap(f.seq);
        } else if f.seq < next {
            return Err(StoreError::Events(format!(
                "{}: position {} was already read from an older segment",
                path.display(),
                f.seq
            )));
        }
        state.add(f, offset, len);
        Ok(true)
    })
}

/// The name of the marker of positions `from..=to` skipped after a torn tail.
fn skip_marker(from: i64, to: i64) -> String {
    format!("skipped-{from:020}-{to:020}")
}

/// Records that positions `from..=to` were skipped, durably (file and directory synced) before
/// any event takes a later position.
fn record_skip(dir: &Path, from: i64, to: i64) -> Result<(), StoreError> {
    let path = dir.join(skip_marker(from, to));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|f| f.sync_all())
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(|e| io_error("writing", &path, e))
}

/// The position ranges recorded as skipped after torn tails.
fn skipped_ranges(dir: &Path) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| io_error("listing", dir, e))?
        .filter_map(Result::ok)
        .filter_map(|d| {
            let name = d.file_name();
            let (from, to) = name.to_str()?.strip_prefix("skipped-")?.split_once('-')?;
            Some((from.parse().ok()?, to.parse().ok()?))
        })
        .collect())
}

/// Whether the missing positions `from..=to` are all ones skipped on purpose.
fn gap_is_skipped(skips: &[(i64, i64)], from: i64, to: i64) -> bool {
    let mut at = from;
    while at <= to {
        match skips.iter().find(|(a, b)| *a <= at && at <= *b) {
            Some((_, b)) => at = b.saturating_add(1),
            None => return false,
        }
    }
    true
}

/// The segment files in `dir` with their first positions, oldest first.
fn segment_files(dir: &Path) -> Result<Vec<(i64, PathBuf)>, StoreError> {
    let mut firsts: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| io_error("listing", dir, e))?
        .filter_map(Result::ok)
        .filter_map(|d| {
            let name = d.file_name();
            let first = name.to_str()?.strip_suffix(".log")?.parse().ok()?;
            Some((first, d.path()))
        })
        .collect();
    firsts.sort();
    Ok(firsts)
}

/// Reads the log in `dir` without changing anything (a server may be appending to it): `visit`
/// gets each event with its position, oldest first, until it returns false. A torn tail is
/// skipped, not cut off.
pub fn read_events(
    dir: &Path,
    mut visit: impl FnMut(i64, AuditRow) -> bool,
) -> Result<(), StoreError> {
    let segments = segment_files(dir)?;
    // Damage is reported after every readable event was visited: a torn tail (the newest
    // frames of a crash, never acknowledged) is not damage, but a bad frame with intact ones
    // after it is lost acknowledged events, as the server sees it when it refuses to start.
    let mut damage = Vec::new();
    for (i, (first, path)) in segments.iter().enumerate() {
        let limit = segments.get(i + 1).map_or(i64::MAX, |(f, _)| *f);
        let file = File::open(path).map_err(|e| io_error("opening", path, e))?;
        let mut more = true;
        let mut next = *first;
        let end = for_each_frame(&file, path, *first, limit, |f, _, _| {
            more = visit(f.seq, f.to_row());
            next = f.seq + 1;
            Ok(more)
        })?;
        if !more {
            break;
        }
        // The rest of the segment is searched for any intact frame (bug: only the one where
        // the damaged length pointed was tried, so a damaged length field hid every
        // acknowledged event after it and this reader said all was well).
        let mut rest = Vec::new();
        (&file)
            .seek(std::io::SeekFrom::Start(end))
            .and_then(|_| (&file).read_to_end(&mut rest))
            .map_err(|e| io_error("reading", path, e))?;
        if next < limit
            && let Some((at, seq)) =
                find_intact_frame(&rest, 1, next).filter(|(_, seq)| *seq < limit)
        {
            damage.push(format!(
                "{}: the event at byte {end} (position {next}) is damaged and intact events follow it (position {seq} at byte {})",
                path.display(),
                end + at as u64
            ));
        } else if next < limit
            && let Some(why) = not_a_torn_tail(&rest, next, i + 1 == segments.len())
        {
            damage.push(format!(
                "{}: the event at byte {end} (position {next}) is damaged: {why}",
                path.display()
            ));
        }
    }
    if damage.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Events(damage.join("; ")))
    }
}

/// Why the bytes after a segment's valid frames, which `next` would begin, cannot be a torn
/// tail (`None` when they can be one, or are the zeros written ahead). A torn tail is the end
/// of the newest segment, where a group was being written: its first frame header is still the
/// zeros written ahead, or declares a length a frame can have and, once the position is
/// written, position `next` (bug: a segment of random bytes was taken for a torn tail, and
/// `palisade audit events` printed nothing and exited 0). Opening truncates older segments
/// back to their last good frame, so anything left after one is damage.
fn not_a_torn_tail(rest: &[u8], next: i64, newest: bool) -> Option<String> {
    let written = rest.iter().filter(|b| **b != 0).count();
    if written == 0 {
        return None;
    }
    if !newest {
        return Some(format!(
            "{written} bytes after it in a segment that later ones follow are not events"
        ));
    }
    let header = rest.get(..HEADER).unwrap_or(rest);
    if header.iter().all(|b| *b == 0) {
        return None;
    }
    let len = le32(rest.get(..4)).map_or(0, |l| l as usize);
    if len > MAX_FRAME {
        return Some(format!(
            "its length field says {len} bytes, more than any event (not a torn write)"
        ));
    }
    let seq = rest
        .get(HEADER..HEADER + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_le_bytes);
    match seq {
        Some(seq) if seq != 0 && seq != next => {
            Some(format!("it says it is position {seq} (not a torn write)"))
        }
        _ => None,
    }
}

/// Fills `buf`; false at end of file (or a partial read there).
fn read_full(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<bool, StoreError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("reading", path, e)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, t: i64, account: &str) -> AuditRow {
        AuditRow {
            event_id: id.into(),
            event_time_ms: recent(t),
            account_id: account.into(),
            event_source: "kms.amazonaws.com".into(),
            event_name: if t % 2 == 0 { "Encrypt" } else { "Decrypt" }.into(),
            read_only: t % 3 == 0,
            access_key_id: Some("AKIA1".into()),
            user_name: None,
            error_code: None,
            record: format!(r#"{{"eventID":"{id}"}}"#),
            resources: vec![("arn:k".into(), "AWS::KMS::Key".into())],
        }
    }

    /// `t` ms after a moment a day ago: inside the 90 days events are kept in memory for.
    fn recent(t: i64) -> i64 {
        static DAY_AGO: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *DAY_AGO.get_or_init(|| now_ms() - 86_400_000) + t
    }

    fn group(log: &EventLog, from: i64, n: i64) {
        let rows: Vec<AuditRow> = (from..from + n)
            .map(|t| row(&format!("e{t}"), t, "1"))
            .collect();
        log.append(EventLog::encode(&rows)).unwrap();
    }

    fn ids(rows: &[(i64, AuditRow)]) -> Vec<String> {
        rows.iter().map(|(_, r)| r.event_id.clone()).collect()
    }

    fn query(attribute: Option<(EventAttribute, &str)>, before: Option<i64>) -> EventQuery {
        EventQuery {
            region: None,
            account_id: "1".into(),
            attribute: attribute.map(|(a, v)| (a, v.to_owned())),
            start_ms: 0,
            end_ms: i64::MAX,
            before,
            limit: 3,
        }
    }

    /// A closed log of events e1–e3 in one segment: its directory, the segment and its bytes.
    /// Three events on disk, one byte of the newest changed.
    fn newest_of_three_events_damaged() -> tempfile::TempDir {
        let (dir, seg, mut bytes) = three_events_on_disk();
        let at = frames_end(&bytes) - 3;
        bytes[at] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        dir
    }

    fn three_events_on_disk() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        group(&log, 1, 3);
        drop(log);
        let seg = segments(dir.path()).pop().unwrap();
        let bytes = std::fs::read(&seg).unwrap();
        (dir, seg, bytes)
    }

    /// Where the frames end and the zeros written ahead begin (a record ends with `}`).
    fn frames_end(bytes: &[u8]) -> usize {
        bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|d| d.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn events_read_back_after_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), 1000).unwrap();
        for g in 0..4 {
            group(&log, g * 5 + 1, 5);
        }
        assert!(segments(dir.path()).len() > 1, "small segments rotate");
        drop(log);
        let log = EventLog::open(dir.path(), 1000).unwrap();
        let all = log.after("1", 0, 0, 100).unwrap();
        assert_eq!(all.len(), 20);
        assert!(all.iter().zip(1..).all(|((seq, r), n)| *seq == n
            && r.event_id == format!("e{n}")
            && r.resources == [("arn:k".to_owned(), "AWS::KMS::Key".to_owned())]));
        assert_eq!(
            ids(&log.lookup(&query(None, None)).unwrap()),
            ["e20", "e19", "e18"]
        );
        assert_eq!(
            ids(&log.lookup(&query(None, Some(18))).unwrap()),
            ["e17", "e16", "e15"]
        );
        assert_eq!(
            ids(&log
                .lookup(&query(Some((EventAttribute::EventName, "Encrypt")), None))
                .unwrap()),
            ["e20", "e18", "e16"]
        );
        assert_eq!(
            ids(&log
                .lookup(&query(Some((EventAttribute::ReadOnly, "true")), None))
                .unwrap()),
            ["e18", "e15", "e12"]
        );
        assert_eq!(
            ids(&log
                .lookup(&query(Some((EventAttribute::EventId, "e7")), None))
                .unwrap()),
            ["e7"]
        );
        assert!(
            log.lookup(&query(Some((EventAttribute::EventId, "e99")), None))
                .unwrap()
                .is_empty()
        );
        let mut windowed = query(None, None);
        windowed.start_ms = recent(4);
        windowed.end_ms = recent(6);
        windowed.limit = 10;
        assert_eq!(ids(&log.lookup(&windowed).unwrap()), ["e6", "e5", "e4"]);
        // Appending continues the numbering.
        group(&log, 21, 1);
        assert_eq!(log.after("1", 20, 0, 10).unwrap()[0].0, 21);
    }

    /// Regression: the room kept ahead of the last event (256 KiB, refusals from 128 KiB) was
    /// smaller than what the requests under way could write when the disk filled. The room is
    /// now RESERVE, published for the server to promise to requests without I/O, kept as
    /// events are written, made larger on demand, and ready in a new segment before its first
    /// frame.
    #[test]
    fn room_ahead_covers_the_reserve_and_is_published_for_promises() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), 100 << 10).unwrap();
        assert!(log.room() >= RESERVE, "room made at open: {}", log.room());
        for g in 0..40 {
            group(&log, g * 50 + 1, 50);
            assert!(log.room() + CHUNK >= RESERVE, "room kept: {}", log.room());
        }
        assert!(segments(dir.path()).len() > 1, "segments rolled over");
        let seg = segments(dir.path()).pop().unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        assert!(len >= RESERVE, "a new segment has its room before frames");
        // More than the reserve, when promised to a burst of large requests.
        assert!(log.make_room(3 * RESERVE).unwrap());
        assert!(log.room() >= 3 * RESERVE);
        assert_eq!(EventLog::in_memory().room(), u64::MAX);
    }

    #[test]
    fn a_torn_tail_is_dropped_at_open_and_writing_goes_on() {
        let (dir, seg, mut bytes) = three_events_on_disk();
        let good = frames_end(&bytes);
        assert!(bytes.len() > good, "zeros are written ahead of the frames");
        // A crash in the middle of the next group's write: half a frame over the zeros.
        let mut frames = EventLog::encode(&[row("torn", 4, "1")]);
        frames.truncate(frames.len() / 2);
        bytes[good..good + frames.len()].copy_from_slice(&frames);
        std::fs::write(&seg, &bytes).unwrap();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        // The torn frame is gone; what follows the good frames is the room made at open.
        let after = std::fs::read(&seg).unwrap();
        assert_eq!(frames_end(&after), good);
        assert!(after[good..].iter().all(|b| *b == 0));
        assert_eq!(ids(&log.after("1", 0, 0, 10).unwrap()), ["e1", "e2", "e3"]);
        group(&log, 4, 1);
        drop(log);
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(
            ids(&log.after("1", 0, 0, 10).unwrap()),
            ["e1", "e2", "e3", "e4"]
        );
    }

    /// Regression: a store restored with an older copy of the log had trails past its end,
    /// and new events took the positions those trails had delivered. Positions passed over
    /// stay passed over, across a restart before any event too.
    #[test]
    fn positions_skipped_to_are_never_taken_again() {
        let (dir, _, _) = three_events_on_disk();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(log.skip_to(10).unwrap());
        assert!(!log.skip_to(5).unwrap());
        drop(log);
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        group(&log, 4, 1);
        let seqs: Vec<i64> = log
            .after("1", 0, 0, 10)
            .unwrap()
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(seqs, [1, 2, 3, 10]);
        drop(log);
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(ids(&log.after("1", 3, 0, 10).unwrap()), ["e4"]);
    }

    /// Regression: random bytes after the newest segment's events were cut off at open as a
    /// torn tail, while `palisade audit events` reported them as damage.
    #[test]
    fn bytes_no_torn_write_leaves_are_refused_at_open() {
        let (dir, seg, mut bytes) = three_events_on_disk();
        let good = frames_end(&bytes);
        // A length field no frame can have.
        bytes[good..good + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&seg, &bytes).unwrap();
        let err = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap_err();
        assert!(err.to_string().contains("are not a torn write"), "{err}");
        assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was cut off");
        assert!(read_events(dir.path(), |_, _| true).is_err());
    }

    #[test]
    fn a_changed_byte_is_never_read_back_as_an_event() {
        let dir = newest_of_three_events_damaged();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(ids(&log.after("1", 0, 0, 10).unwrap()), ["e1", "e2"]);
    }

    /// Regression: a changed byte in an early event was taken for a torn tail, and opening
    /// truncated every acknowledged event after it; new events then took their positions again,
    /// which trail delivery had already delivered, so delivery stopped.
    #[test]
    fn damage_before_intact_events_is_refused_not_truncated() {
        let (dir, seg, mut bytes) = three_events_on_disk();
        // Inside the first event's record (its JSON), far from its header.
        let first_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        bytes[HEADER + first_len - 2] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        let err = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to drop acknowledged audit events"),
            "{err}"
        );
        assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was cut off");
        // Regression: the offline reader printed nothing of it and said all was well.
        let err = read_events(dir.path(), |_, _| true).unwrap_err();
        assert!(
            err.to_string()
                .contains("is damaged and intact events follow it"),
            "{err}"
        );
    }

    /// Regression: two damaged bytes (the length field of event 3 of 6) made events 3-6 look
    /// like a torn tail: opening cut them off and reused their positions, and `palisade audit
    /// events` printed two events and exited 0. Intact frames anywhere after the damage are
    /// found now, not only where the damaged length points.
    #[test]
    fn a_damaged_length_field_before_intact_events_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        group(&log, 1, 6);
        drop(log);
        let seg = segments(dir.path()).pop().unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        let mut at = 0;
        for _ in 0..2 {
            at += HEADER + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        }
        bytes[at..at + 2].copy_from_slice(&[0xff, 0x7f]);
        std::fs::write(&seg, &bytes).unwrap();
        let err = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to drop acknowledged audit events"),
            "{err}"
        );
        assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was cut off");
        let mut seen = Vec::new();
        let err = read_events(dir.path(), |seq, _| {
            seen.push(seq);
            true
        })
        .unwrap_err();
        assert_eq!(seen, [1, 2]);
        assert!(
            err.to_string()
                .contains("is damaged and intact events follow it (position 4"),
            "{err}"
        );
    }

    /// Regression: a segment of random bytes was taken for a torn tail: `palisade audit events`
    /// printed nothing and exited 0. A real torn tail (a partly written newest frame) still is
    /// one.
    #[test]
    fn bytes_that_cannot_be_a_torn_tail_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        // Deterministic noise (an LCG): a length field far over the largest frame.
        let mut x: u32 = 0xDEAD_BEEF;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(dir.path().join(segment_name(1)), &noise).unwrap();
        let err = read_events(dir.path(), |_, _| true).unwrap_err();
        assert!(err.to_string().contains("(position 1) is damaged"), "{err}");
        // A header giving a plausible length but another position.
        let (dir, seg, bytes) = three_events_on_disk();
        let mut wrong = bytes.clone();
        let end = frames_end(&wrong);
        let mut frame = EventLog::encode(&[row("x", 9, "1")]);
        frame[HEADER..HEADER + 8].copy_from_slice(&77i64.to_le_bytes());
        wrong.splice(end..end + frame.len(), frame);
        std::fs::write(&seg, &wrong).unwrap();
        let err = read_events(dir.path(), |_, _| true).unwrap_err();
        assert!(err.to_string().contains("position 77"), "{err}");
        // The newest frame half written: a torn tail, the events before it listed.
        let mut torn = bytes.clone();
        let end = frames_end(&torn);
        let mut frame = EventLog::encode(&[row("x", 9, "1")]);
        frame[HEADER..HEADER + 8].copy_from_slice(&4i64.to_le_bytes());
        frame.truncate(frame.len() / 2);
        torn.splice(end..end + frame.len(), frame);
        std::fs::write(&seg, &torn).unwrap();
        let mut seen = 0;
        read_events(dir.path(), |_, _| {
            seen += 1;
            true
        })
        .unwrap();
        assert_eq!(seen, 3);
    }

    /// Regression: damage to the newest event (acknowledged, and delivered by a trail whose
    /// cursor is past it) was cut off as a torn tail and its position handed to the next
    /// event, which trails then never delivered. Positions of a dropped tail are never reused.
    #[test]
    fn positions_of_a_dropped_tail_are_never_handed_out_again() {
        let dir = newest_of_three_events_damaged();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(ids(&log.after("1", 0, 0, 10).unwrap()), ["e1", "e2"]);
        group(&log, 4, 1);
        let after = log.after("1", 2, 0, 10).unwrap();
        assert_eq!(ids(&after), ["e4"]);
        assert!(after[0].0 > 3, "position 3 reused: {}", after[0].0);
        drop(log);
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        let all = log.after("1", 0, 0, 10).unwrap();
        assert_eq!(ids(&all), ["e1", "e2", "e4"]);
        group(&log, 5, 1);
        assert!(
            log.after("1", 0, 0, 10)
                .unwrap()
                .windows(2)
                .all(|w| w[0].0 < w[1].0)
        );
    }

    /// Regression: after a torn tail was cut off, every later start logged its skipped
    /// positions as lost events ("events are missing"), an alarm that never went away.
    #[test]
    fn skipped_positions_are_recorded_and_not_taken_for_lost_events() {
        let dir = newest_of_three_events_damaged();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        group(&log, 4, 1);
        let after = log.after("1", 2, 0, 10).unwrap();
        let first_new = after[0].0;
        drop(log);
        let skips = skipped_ranges(dir.path()).unwrap();
        assert_eq!(skips.len(), 1);
        assert!(
            gap_is_skipped(&skips, 3, first_new - 1),
            "{skips:?} {first_new}"
        );
        assert!(!gap_is_skipped(&skips, 2, first_new - 1));
        assert!(!gap_is_skipped(&skips, 3, first_new));
        // Reopening again neither fails nor records another skip.
        drop(EventLog::open(dir.path(), SEGMENT_BYTES).unwrap());
        assert_eq!(skipped_ranges(dir.path()).unwrap(), skips);
    }

    #[test]
    fn positions_keep_counting_after_clear_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        group(&log, 1, 3);
        log.clear().unwrap();
        assert!(log.recent("1", 10).unwrap().is_empty());
        drop(log);
        let log = EventLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert!(log.recent("1", 10).unwrap().is_empty());
        group(&log, 9, 1);
        assert_eq!(log.after("1", 0, 0, 10).unwrap()[0].0, 4);
    }

    #[test]
    fn accounts_see_only_their_own_events() {
        let log = EventLog::in_memory();
        log.append(EventLog::encode(&[
            row("a", 1, "1"),
            row("b", 2, "2"),
            row("c", 3, "1"),
        ]))
        .unwrap();
        let recent: Vec<String> = log
            .recent("1", 10)
            .unwrap()
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        assert_eq!(recent, ["c", "a"]);
        assert_eq!(ids(&log.after("2", 0, 0, 10).unwrap()), ["b"]);
        assert!(log.recent("3", 10).unwrap().is_empty());
    }

    #[test]
    fn lookups_are_scoped_to_the_region_asked_as_cloudtrails_event_history() {
        // Bug: LookupEvents in eu-west-1 returned us-east-1's events.
        let in_region = |id: &str, t: i64, region: &str| AuditRow {
            record: format!(
                r#"{{"eventID":"{id}","awsRegion":"{region}","requestParameters":{{"awsRegion":"x"}}}}"#
            ),
            ..row(id, t, "1")
        };
        let log = EventLog::in_memory();
        log.append(EventLog::encode(&[
            in_region("a", 1, "us-east-1"),
            in_region("b", 2, "eu-west-1"),
            in_region("c", 3, "us-east-1"),
            row("d", 4, "1"),
        ]))
        .unwrap();
        let lookup = |region: Option<&str>, attribute: Option<(EventAttribute, &str)>| {
            ids(&log
                .lookup(&EventQuery {
                    region: region.map(str::to_owned),
                    limit: 10,
                    ..query(attribute, None)
                })
                .unwrap())
        };
        // `d` names no Region: it is shown everywhere rather than nowhere.
        assert_eq!(lookup(Some("us-east-1"), None), ["d", "c", "a"]);
        assert_eq!(lookup(Some("eu-west-1"), None), ["d", "b"]);
        assert_eq!(lookup(Some("ap-south-1"), None), ["d"]);
        assert_eq!(lookup(None, None), ["d", "c", "b", "a"]);
        assert_eq!(
            lookup(
                Some("eu-west-1"),
                Some((EventAttribute::EventName, "Encrypt"))
            ),
            ["d", "b"]
        );
        assert_eq!(
            lookup(Some("us-east-1"), Some((EventAttribute::EventId, "b"))),
            Vec::<String>::new()
        );
        assert_eq!(record_region(r#"{"awsRegion":"a\"b"}"#), None);
    }

    #[test]
    fn groups_appended_from_many_threads_are_all_read_back_in_position_order() {
        let dir = tempfile::tempdir().unwrap();
        // Small segments, so that segments change between groups.
        let log = Arc::new(EventLog::open(dir.path(), 4000).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for g in 0..25 {
                        let rows: Vec<AuditRow> = (0..3)
                            .map(|i| row(&format!("t{t}-g{g}-{i}"), 1, "1"))
                            .collect();
                        log.append(EventLog::encode(&rows)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let check = |log: &EventLog| {
            let all = log.after("1", 0, 0, 1000).unwrap();
            assert_eq!(all.len(), 300);
            assert!(all.iter().zip(1..).all(|((seq, _), n)| *seq == n));
            let mut ids = ids(&all);
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 300);
            // A group's events stay together and in order.
            for w in all.chunks(3) {
                let names: Vec<&str> = w.iter().map(|(_, r)| r.event_id.as_str()).collect();
                let stem = names[0].trim_end_matches("-0");
                assert_eq!(
                    names,
                    [
                        format!("{stem}-0"),
                        format!("{stem}-1"),
                        format!("{stem}-2")
                    ]
                );
            }
        };
        check(&log);
        drop(log);
        check(&EventLog::open(dir.path(), 4000).unwrap());
    }

    #[test]
    fn the_read_only_reader_skips_a_torn_tail_without_cutting_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), 1000).unwrap();
        for g in 0..3 {
            group(&log, g * 5 + 1, 5);
        }
        drop(log);
        let seg = segments(dir.path()).pop().unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(b"torn");
        std::fs::write(&seg, &bytes).unwrap();
        let mut seen = Vec::new();
        read_events(dir.path(), |seq, row| {
            seen.push((seq, row.event_id));
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 15);
        assert!(
            seen.iter()
                .zip(1..)
                .all(|((seq, id), n)| *seq == n && *id == format!("e{n}"))
        );
        assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing is changed");
        let mut first_two = 0;
        read_events(dir.path(), |_, _| {
            first_two += 1;
            first_two < 2
        })
        .unwrap();
        assert_eq!(first_two, 2);
    }

    #[test]
    fn events_older_than_90_days_leave_memory_but_not_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), 100).unwrap();
        let old = now_ms() - RETENTION_MS - 2 * SLACK_MS;
        let rows: Vec<AuditRow> = (0..5)
            .map(|i| {
                let mut r = row(&format!("old{i}"), 0, "1");
                r.event_time_ms = old + i;
                r
            })
            .collect();
        log.append(EventLog::encode(&rows)).unwrap();
        group(&log, 1, 5);
        // Still in memory until a segment starts, but never looked up: CloudTrail's 90 days.
        let mut all = query(None, None);
        all.limit = 100;
        all.start_ms = 0;
        assert_eq!(log.lookup(&all).unwrap().len(), 5);
        // Each group starts a segment (100-byte segments): the next one prunes the old events.
        group(&log, 6, 5);
        let state = log.state.read().unwrap();
        assert_eq!(state.entries.len(), 10);
        assert_eq!(state.base, 6);
        assert!(matches!(state.segments[0].backing, Backing::Closed { .. }));
        drop(state);
        assert_eq!(log.recent("1", 100).unwrap().len(), 10);
        assert_eq!(log.after("1", 0, 0, 100).unwrap()[0].0, 6);
        assert!(
            log.lookup(&query(Some((EventAttribute::EventId, "old1")), None))
                .unwrap()
                .is_empty()
        );
        drop(log);
        let log = EventLog::open(dir.path(), 100).unwrap();
        assert_eq!(log.state.read().unwrap().entries.len(), 10);
        assert_eq!(log.lookup(&all).unwrap().len(), 10);
        let mut on_disk = 0;
        read_events(dir.path(), |_, _| {
            on_disk += 1;
            true
        })
        .unwrap();
        assert_eq!(on_disk, 15);
        // Appending goes on at the next position.
        group(&log, 11, 1);
        assert_eq!(log.recent("1", 1).unwrap()[0].event_id, "e11");
    }

    #[test]
    fn frames_round_trip_every_field() {
        let mut r = row("x", 7, "1");
        r.user_name = Some("alice".into());
        r.error_code = Some("AccessDenied".into());
        r.access_key_id = None;
        let mut frames = EventLog::encode(std::slice::from_ref(&r));
        let log = EventLog::in_memory();
        log.append(std::mem::take(&mut frames)).unwrap();
        assert_eq!(log.recent("1", 1).unwrap(), [r]);
    }
}
