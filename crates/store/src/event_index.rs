//! An in-memory index of audit events for LookupEvents: for each account, attribute and value,
//! the positions (`seq`) of the events that have it, ascending.
//!
//! Why not SQLite indexes: one B-tree per attribute, each inserted at a random position per
//! event, more than doubled what the audit write costs (KMS Encrypt with audit on went from
//! 20.0k to 14.5k requests/s in `bench/audit-cost.sh`), because every group commit rewrote a
//! page per distinct value in each index. Appending a position to a vector costs tens of
//! nanoseconds, and the index is rebuilt from the event log at start (about a second per million
//! events). LookupEvents then reads the newest positions of a value in O(log n) and reads
//! just those events.

use std::collections::HashMap;

use crate::EventAttribute;
use crate::event_log::Frame;

/// The attributes kept here; the others are answered from the table itself.
fn slot(attr: EventAttribute) -> Option<u8> {
    match attr {
        EventAttribute::EventName => Some(0),
        EventAttribute::Username => Some(1),
        EventAttribute::AccessKeyId => Some(2),
        EventAttribute::EventSource => Some(3),
        EventAttribute::ResourceName => Some(4),
        EventAttribute::ResourceType => Some(5),
        EventAttribute::EventId | EventAttribute::ReadOnly => None,
    }
}

/// Per attribute slot, each value's positions.
type Slots = [HashMap<String, Vec<i64>>; 6];

/// Keyed by account first, and looked up by `&str` before anything is inserted: adding an event
/// allocates nothing unless it brings a value not seen before (allocating the keys of every
/// lookup was a tenth of the audit step's CPU).
#[derive(Default)]
pub(crate) struct EventIndex {
    postings: HashMap<String, Slots>,
}

impl std::fmt::Debug for EventIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventIndex({} accounts)", self.postings.len())
    }
}

impl EventIndex {
    fn add(&mut self, account: &str, slot: u8, value: &str, seq: i64) {
        if !self.postings.contains_key(account) {
            self.postings.insert(account.to_owned(), Slots::default());
        }
        let Some(values) = self
            .postings
            .get_mut(account)
            .and_then(|s| s.get_mut(usize::from(slot)))
        else {
            return;
        };
        if !values.contains_key(value) {
            values.insert(value.to_owned(), Vec::new());
        }
        let Some(list) = values.get_mut(value) else {
            return;
        };
        // Positions arrive in order; an out-of-order one (never expected) is placed correctly.
        match list.last() {
            Some(last) if *last >= seq => {
                let at = list.partition_point(|s| *s < seq);
                if list.get(at) != Some(&seq) {
                    list.insert(at, seq);
                }
            }
            _ => list.push(seq),
        }
    }

    /// Adds one event.
    pub(crate) fn insert(&mut self, f: &Frame<'_>) {
        let (a, seq) = (f.account_id, f.seq);
        self.add(a, 0, f.event_name, seq);
        if let Some(u) = f.user_name {
            self.add(a, 1, u, seq);
        }
        if let Some(k) = f.access_key_id {
            self.add(a, 2, k, seq);
        }
        self.add(a, 3, f.event_source, seq);
        let mut types: Vec<&str> = Vec::new();
        for (name, kind) in &f.resources {
            self.add(a, 4, name, seq);
            if !types.contains(kind) {
                types.push(kind);
            }
        }
        for kind in types {
            self.add(a, 5, kind, seq);
        }
    }

    /// Forgets every position below `base`.
    pub(crate) fn prune(&mut self, base: i64) {
        for slots in self.postings.values_mut() {
            for values in slots.iter_mut() {
                values.retain(|_, list| {
                    let k = list.partition_point(|s| *s < base);
                    list.drain(..k);
                    !list.is_empty()
                });
            }
        }
        self.postings
            .retain(|_, slots| slots.iter().any(|values| !values.is_empty()));
    }

    /// Up to `limit` positions of events with the value, newest first, within `lo..=hi`.
    pub(crate) fn newest(
        &self,
        account: &str,
        attr: EventAttribute,
        value: &str,
        lo: i64,
        hi: i64,
        limit: usize,
    ) -> Vec<i64> {
        let Some(slot) = slot(attr) else {
            return Vec::new();
        };
        let Some(list) = self
            .postings
            .get(account)
            .and_then(|s| s.get(usize::from(slot)))
            .and_then(|values| values.get(value))
        else {
            return Vec::new();
        };
        let start = list.partition_point(|s| *s < lo);
        let end = list.partition_point(|s| *s <= hi);
        list.get(start..end)
            .unwrap_or_default()
            .iter()
            .rev()
            .take(limit)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: i64, name: &str) -> Frame<'_> {
        Frame {
            seq,
            time_ms: 0,
            read_only: true,
            event_id: "",
            account_id: "1",
            event_source: "kms.amazonaws.com",
            event_name: name,
            access_key_id: None,
            user_name: Some("alice"),
            error_code: None,
            resources: vec![("arn:k", "AWS::KMS::Key")],
            record: "{}",
        }
    }

    #[test]
    fn newest_positions_come_first_within_bounds() {
        let mut idx = EventIndex::default();
        for seq in 1..=10 {
            idx.insert(&frame(
                seq,
                if seq % 2 == 0 { "Encrypt" } else { "Decrypt" },
            ));
        }
        assert_eq!(
            idx.newest("1", EventAttribute::EventName, "Encrypt", 0, i64::MAX, 3),
            vec![10, 8, 6]
        );
        assert_eq!(
            idx.newest("1", EventAttribute::EventName, "Encrypt", 3, 7, 10),
            vec![6, 4]
        );
        assert_eq!(
            idx.newest("1", EventAttribute::ResourceName, "arn:k", 0, 2, 10),
            vec![2, 1]
        );
        assert_eq!(
            idx.newest("1", EventAttribute::ResourceType, "AWS::KMS::Key", 0, 99, 1),
            vec![10]
        );
        assert!(
            idx.newest("2", EventAttribute::Username, "alice", 0, 99, 5)
                .is_empty()
        );
    }
}
