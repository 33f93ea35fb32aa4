//! Event time's clock: the latest event time seen minus the allowed lateness. Windows and
//! sessions close when the watermark passes their end; an event older than the watermark is
//! late.
//!
//! One source (a device) cannot move the clock for everyone: the watermark follows the
//! `quorum`-th latest event time among distinct sources, each counted once at its latest
//! event time, so up to `quorum − 1` sources with clocks far ahead are outvoted. While fewer
//! sources are known it follows the earliest of them. A source that has sent nothing for
//! `idle` of *arrival* time stops counting, so a quiet site's clock is not held back by a
//! visitor who left hours ago. It never goes back. Deterministic: arrival times are the
//! stored `receivedAt`s, not the wall clock.

use crate::{Micros, MINUTE};
use serde::{Deserialize, Serialize};

/// Allowed lateness by default: 2 minutes.
pub const DEFAULT_LATENESS: Micros = 2 * MINUTE;

/// Distinct sources whose event times the watermark needs by default: 3 (two outliers are
/// outvoted).
pub const DEFAULT_QUORUM: usize = 3;

/// Arrival time after which a silent source stops counting, by default: 5 minutes.
pub const DEFAULT_IDLE: Micros = 5 * MINUTE;

/// One source's latest event time and latest arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Vote {
    event_time: Micros,
    source: u64,
    arrival: Micros,
}

/// The watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    lateness: Micros,
    quorum: usize,
    idle: Micros,
    /// Recent sources with the latest event times, latest first, at most `quorum` of them.
    votes: Vec<Vote>,
    newest_arrival: Micros,
    current: Option<Micros>,
}

impl Watermark {
    /// A watermark that trails the latest event time by `lateness` (a quorum of one source).
    pub fn new(lateness: Micros) -> Self {
        Self::with_quorum(lateness, 1, Micros::MAX)
    }

    /// A watermark that trails by `lateness` the `quorum`-th latest event time among distinct
    /// sources (at least one) that arrived within `idle` of the newest arrival.
    pub fn with_quorum(lateness: Micros, quorum: usize, idle: Micros) -> Self {
        let quorum = quorum.max(1);
        Self {
            lateness: lateness.max(0),
            quorum,
            idle: idle.max(0),
            votes: Vec::with_capacity(quorum + 1),
            newest_arrival: Micros::MIN,
            current: None,
        }
    }

    /// Takes an event time of `source`, arrived at `arrival`, into account; returns whether
    /// the event is late (older than the watermark as it stood before it).
    pub fn observe(&mut self, event_time: Micros, source: u64, arrival: Micros) -> bool {
        let late = self.current.is_some_and(|w| event_time < w);
        self.newest_arrival = self.newest_arrival.max(arrival);
        match self.votes.iter_mut().find(|v| v.source == source) {
            Some(vote) => {
                vote.event_time = vote.event_time.max(event_time);
                vote.arrival = vote.arrival.max(arrival);
            }
            None => self.votes.push(Vote { event_time, source, arrival }),
        }
        let stale_before = self.newest_arrival.saturating_sub(self.idle);
        self.votes.retain(|v| v.arrival >= stale_before);
        // Latest first; equal times by source, so the order never depends on arrival.
        self.votes.sort_unstable_by_key(|v| std::cmp::Reverse((v.event_time, v.source)));
        self.votes.truncate(self.quorum);
        if let Some(voted) = self.votes.last() {
            let candidate = voted.event_time.saturating_sub(self.lateness);
            self.current = Some(self.current.map_or(candidate, |w| w.max(candidate)));
        }
        late
    }

    /// The watermark now: no event older than this is expected any more.
    pub fn current(&self) -> Option<Micros> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trails_the_latest_event_and_calls_older_ones_late() {
        let mut w = Watermark::new(2 * MINUTE);
        assert_eq!(w.current(), None);
        assert!(!w.observe(10 * MINUTE, 1, 0));
        assert_eq!(w.current(), Some(8 * MINUTE));
        assert!(!w.observe(9 * MINUTE, 2, 0), "out of order but within the lateness");
        assert_eq!(w.current(), Some(8 * MINUTE), "never goes back");
        assert!(w.observe(8 * MINUTE - 1, 3, 0));
        assert!(!w.observe(20 * MINUTE, 1, 0));
        assert_eq!(w.current(), Some(18 * MINUTE));
    }

    #[test]
    fn one_source_far_ahead_is_outvoted() {
        let mut w = Watermark::with_quorum(0, 3, DEFAULT_IDLE);
        for source in 0..10 {
            w.observe(10 * MINUTE, source, 0);
        }
        // One device dated years ahead, sending many events.
        for _ in 0..100 {
            w.observe(1_000_000 * MINUTE, 99, 0);
        }
        assert_eq!(w.current(), Some(10 * MINUTE));
        assert!(!w.observe(10 * MINUTE + 1, 5, 0), "everyone else is still on time");
        w.observe(11 * MINUTE, 6, 0);
        w.observe(11 * MINUTE, 7, 0);
        assert_eq!(w.current(), Some(11 * MINUTE), "a quorum moves it");
    }

    #[test]
    fn a_source_that_went_quiet_stops_holding_it_back() {
        let mut w = Watermark::with_quorum(0, 3, 5 * MINUTE);
        w.observe(10 * MINUTE, 1, 10 * MINUTE);
        w.observe(10 * MINUTE, 2, 10 * MINUTE);
        w.observe(30 * MINUTE, 3, 12 * MINUTE);
        assert_eq!(w.current(), Some(10 * MINUTE), "1 and 2 were heard from within five minutes");
        // Source 1 and 2 have been silent: the one visitor left drives the clock on its own.
        w.observe(40 * MINUTE, 3, 40 * MINUTE);
        assert_eq!(w.current(), Some(40 * MINUTE));
        // Two others come by with older clocks: the earliest of the few known holds it.
        w.observe(38 * MINUTE, 4, 41 * MINUTE);
        w.observe(45 * MINUTE, 3, 41 * MINUTE);
        assert_eq!(w.current(), Some(40 * MINUTE), "never goes back, and 4 holds it at 38");
    }
}
