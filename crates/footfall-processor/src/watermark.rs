//! Event time's clock: the latest event time seen minus the allowed lateness. Windows and
//! sessions close when the watermark passes their end; an event older than the watermark is
//! late.

use crate::{Micros, MINUTE};
use serde::{Deserialize, Serialize};

/// Allowed lateness by default: 2 minutes.
pub const DEFAULT_LATENESS: Micros = 2 * MINUTE;

/// The watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    lateness: Micros,
    max_event_time: Option<Micros>,
}

impl Watermark {
    /// A watermark that trails the latest event time by `lateness`.
    pub fn new(lateness: Micros) -> Self {
        Self { lateness: lateness.max(0), max_event_time: None }
    }

    /// Takes an event time into account; returns whether the event is late (older than the
    /// watermark as it stood before it).
    pub fn observe(&mut self, event_time: Micros) -> bool {
        let late = self.current().is_some_and(|w| event_time < w);
        self.max_event_time = Some(self.max_event_time.map_or(event_time, |m| m.max(event_time)));
        late
    }

    /// The watermark now: no event older than this is expected any more.
    pub fn current(&self) -> Option<Micros> {
        self.max_event_time.map(|m| m - self.lateness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trails_the_latest_event_and_calls_older_ones_late() {
        let mut w = Watermark::new(2 * MINUTE);
        assert_eq!(w.current(), None);
        assert!(!w.observe(10 * MINUTE));
        assert_eq!(w.current(), Some(8 * MINUTE));
        assert!(!w.observe(9 * MINUTE), "out of order but within the lateness");
        assert_eq!(w.current(), Some(8 * MINUTE), "never goes back");
        assert!(w.observe(8 * MINUTE - 1));
        assert!(!w.observe(20 * MINUTE));
        assert_eq!(w.current(), Some(18 * MINUTE));
    }
}
