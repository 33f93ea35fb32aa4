//! Dedup by `messageId` within a horizon of *arrival* time (`receivedAt`; 24 h by default), as
//! Segment dedups: a retry arrives seconds to hours after the original, whatever the event time
//! it carries, so ids are forgotten by when they arrived. Memory is bounded twice: ids older
//! than the horizon behind the latest arrival are forgotten, and beyond `max_ids` the earliest
//! arrivals are forgotten first.

use crate::{stable_hash, Micros, MINUTE};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

/// The horizon by default: 24 hours.
pub const DEFAULT_HORIZON: Micros = 24 * 60 * MINUTE;

/// Ids remembered at most by default: 4 million (about 160 MB of state).
pub const DEFAULT_MAX_IDS: usize = 4_000_000;

/// The ids seen within the horizon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dedup {
    horizon: Micros,
    max_ids: usize,
    /// Hash of each id seen (64-bit xxh3: a false duplicate among a billion ids has odds of
    /// about 1 in 37).
    seen: HashSet<u64>,
    /// The same with the arrival time each was seen at, earliest first, for forgetting.
    expiry: BinaryHeap<Reverse<(Micros, u64)>>,
    latest: Micros,
    duplicates: u64,
    evicted: u64,
}

impl Dedup {
    /// Remembers ids for `horizon` of arrival time, [`DEFAULT_MAX_IDS`] at most.
    pub fn new(horizon: Micros) -> Self {
        Self::with_max_ids(horizon, DEFAULT_MAX_IDS)
    }

    /// Remembers ids for `horizon` of arrival time, `max_ids` at most (at least one).
    pub fn with_max_ids(horizon: Micros, max_ids: usize) -> Self {
        Self {
            horizon,
            max_ids: max_ids.max(1),
            seen: HashSet::new(),
            expiry: BinaryHeap::new(),
            latest: Micros::MIN,
            duplicates: 0,
            evicted: 0,
        }
    }

    /// Whether `message_id`, arriving at `arrival`, is new (true) or a duplicate of one that
    /// arrived within the horizon.
    pub fn first_time(&mut self, message_id: &str, arrival: Micros) -> bool {
        let hash = stable_hash(message_id);
        if !self.seen.insert(hash) {
            self.duplicates += 1;
            return false;
        }
        self.expiry.push(Reverse((arrival, hash)));
        if arrival > self.latest {
            self.latest = arrival;
            self.forget_older_than(self.latest.saturating_sub(self.horizon));
        }
        while self.seen.len() > self.max_ids {
            let Some(Reverse((_, hash))) = self.expiry.pop() else { break };
            self.seen.remove(&hash);
            self.evicted += 1;
        }
        true
    }

    fn forget_older_than(&mut self, cutoff: Micros) {
        while let Some(Reverse((time, hash))) = self.expiry.peek().copied() {
            if time >= cutoff {
                break;
            }
            self.expiry.pop();
            // Each hash is in the heap once: it is only pushed when first seen.
            self.seen.remove(&hash);
        }
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Ids forgotten before their horizon because `max_ids` was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_repeats_within_the_horizon_and_forgets_beyond_it() {
        let mut d = Dedup::new(60 * MINUTE);
        assert!(d.first_time("a", 0));
        assert!(!d.first_time("a", 0));
        assert!(d.first_time("b", 30 * MINUTE));
        assert!(!d.first_time("a", 0), "still within the horizon");
        assert!(d.first_time("c", 61 * MINUTE));
        assert_eq!(d.len(), 2, "a is forgotten: it arrived over an hour before the latest");
        assert!(d.first_time("a", 0), "beyond the horizon a repeat is not caught");
        assert_eq!(d.duplicates(), 2);
    }

    #[test]
    fn beyond_max_ids_the_earliest_arrivals_go_first() {
        let mut d = Dedup::with_max_ids(60 * MINUTE, 3);
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert!(d.first_time(id, i as Micros));
        }
        assert_eq!((d.len(), d.evicted()), (3, 1));
        assert!(!d.first_time("d", 5) && !d.first_time("b", 5));
        assert!(d.first_time("a", 5), "a arrived first and was forgotten");
    }
}
