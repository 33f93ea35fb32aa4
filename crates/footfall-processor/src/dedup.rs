//! Dedup by `messageId` within a horizon of event time (24 h by default), in bounded memory:
//! ids older than the horizon behind the latest event time are forgotten.

use crate::{stable_hash, Micros, MINUTE};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

/// The horizon by default: 24 hours.
pub const DEFAULT_HORIZON: Micros = 24 * 60 * MINUTE;

/// The ids seen within the horizon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dedup {
    horizon: Micros,
    /// Hash of each id seen (64-bit xxh3: a false duplicate among a billion ids has odds of
    /// about 1 in 37).
    seen: HashSet<u64>,
    /// The same with the event time each was seen at, oldest first, for forgetting.
    expiry: BinaryHeap<Reverse<(Micros, u64)>>,
    latest: Micros,
    duplicates: u64,
}

impl Dedup {
    /// Remembers ids for `horizon` of event time.
    pub fn new(horizon: Micros) -> Self {
        Self { horizon, seen: HashSet::new(), expiry: BinaryHeap::new(), latest: Micros::MIN, duplicates: 0 }
    }

    /// Whether `message_id` is new (true) or a duplicate of one seen within the horizon.
    pub fn first_time(&mut self, message_id: &str, event_time: Micros) -> bool {
        let hash = stable_hash(message_id);
        if !self.seen.insert(hash) {
            self.duplicates += 1;
            return false;
        }
        self.expiry.push(Reverse((event_time, hash)));
        if event_time > self.latest {
            self.latest = event_time;
            self.forget_old();
        }
        true
    }

    fn forget_old(&mut self) {
        let cutoff = self.latest.saturating_sub(self.horizon);
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
        assert_eq!(d.len(), 2, "a is forgotten: its time is over an hour behind the latest");
        assert!(d.first_time("a", 0), "beyond the horizon a repeat is not caught");
        assert_eq!(d.duplicates(), 2);
    }
}
