//! Tumbling windows in event time: per window start, event name, device type and channel, the
//! events, unique persons (a mergeable sketch), revenue and orders. A window closes, and is
//! emitted once, when the watermark passes its end; an event for a closed window is late.

use crate::sketch::PersonSketch;
use crate::Micros;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The name under which a window counts events past its bound of distinct names.
pub const OTHER_EVENTS: &str = "(other)";

/// Distinct event names a window keeps by default.
pub const DEFAULT_MAX_EVENT_NAMES: usize = 1000;

/// What a window is kept for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowKey {
    /// Window start (µs), a multiple of the width.
    pub start: Micros,
    /// Event name (`page`, `Order Completed`, …).
    pub event: String,
    /// Device type.
    pub device_type: String,
    /// Acquisition channel.
    pub channel: String,
}

/// One window's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowFigures {
    /// Events.
    pub events: u64,
    /// Persons who sent them.
    pub persons: PersonSketch,
    /// Revenue of orders (refunds negative).
    pub revenue: f64,
    /// Orders completed.
    pub orders: u64,
}

/// Open windows of one width. Event names come from clients, so each window start keeps at
/// most `max_event_names` of them; events of further names are counted under [`OTHER_EVENTS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Windows {
    width: Micros,
    max_event_names: usize,
    open: BTreeMap<WindowKey, WindowFigures>,
    /// The event names of each open window start.
    names: BTreeMap<Micros, BTreeSet<String>>,
}

impl Windows {
    /// Windows `width` long.
    pub fn new(width: Micros) -> Self {
        Self::with_max_event_names(width, DEFAULT_MAX_EVENT_NAMES)
    }

    /// Windows `width` long keeping at most `max_event_names` distinct names per start.
    pub fn with_max_event_names(width: Micros, max_event_names: usize) -> Self {
        Self { width, max_event_names: max_event_names.max(1), open: BTreeMap::new(), names: BTreeMap::new() }
    }

    /// The width.
    pub fn width(&self) -> Micros {
        self.width
    }

    /// Start of the window holding `time`.
    pub fn start_of(&self, time: Micros) -> Micros {
        time.div_euclid(self.width) * self.width
    }

    /// Whether the window of `time` has closed at `watermark`.
    pub fn is_closed(&self, time: Micros, watermark: Option<Micros>) -> bool {
        watermark.is_some_and(|w| self.start_of(time) + self.width <= w)
    }

    /// Counts one event.
    pub fn add(
        &mut self,
        time: Micros,
        event: &str,
        device_type: &str,
        channel: &str,
        person: u64,
        revenue: Option<f64>,
    ) {
        let start = self.start_of(time);
        let names = self.names.entry(start).or_default();
        let event = if names.contains(event) {
            event
        } else if names.len() < self.max_event_names {
            names.insert(event.to_owned());
            event
        } else {
            OTHER_EVENTS
        };
        let key = WindowKey {
            start,
            event: event.to_owned(),
            device_type: device_type.to_owned(),
            channel: channel.to_owned(),
        };
        let figures = self.open.entry(key).or_default();
        figures.events += 1;
        figures.persons.insert(person);
        if let Some(revenue) = revenue {
            figures.revenue += revenue;
            if event == "Order Completed" {
                figures.orders += 1;
            }
        }
    }

    /// Removes and returns every window that ends at or before `watermark`, in key order.
    pub fn close(&mut self, watermark: Micros) -> Vec<(WindowKey, WindowFigures)> {
        let mut closed = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            if entry.key().start + self.width > watermark {
                break;
            }
            closed.push(entry.remove_entry());
        }
        while let Some(entry) = self.names.first_entry() {
            if *entry.key() + self.width > watermark {
                break;
            }
            entry.remove();
        }
        closed
    }

    /// The open windows (for the live view).
    pub fn open(&self) -> impl Iterator<Item = (&WindowKey, &WindowFigures)> {
        self.open.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MINUTE;

    #[test]
    fn windows_close_once_in_order_when_the_watermark_passes_their_end() {
        let mut w = Windows::new(MINUTE);
        w.add(MINUTE + 5, "page", "mobile", "direct", 1, None);
        w.add(MINUTE + 7, "page", "mobile", "direct", 1, None);
        w.add(MINUTE + 9, "Order Completed", "mobile", "direct", 2, Some(20.0));
        w.add(2 * MINUTE, "page", "desktop", "email", 3, None);
        w.add(-1, "page", "desktop", "email", 3, None);
        assert_eq!(w.start_of(-1), -MINUTE, "times before 1970 floor too");
        assert!(w.close(MINUTE).len() == 1, "the window before 0 only");
        let closed = w.close(2 * MINUTE);
        assert_eq!(closed.len(), 2);
        let (key, mut figures) = closed[1].clone();
        assert_eq!((key.event.as_str(), figures.events, figures.persons.count()), ("page", 2, 1));
        assert_eq!((closed[0].1.orders, closed[0].1.revenue), (1, 20.0));
        assert!(w.close(2 * MINUTE).is_empty(), "emitted once");
        assert!(w.is_closed(MINUTE + 59 * crate::SECOND, Some(2 * MINUTE)));
        assert!(!w.is_closed(2 * MINUTE, Some(2 * MINUTE)));
    }

    #[test]
    fn names_past_the_bound_are_counted_under_other() {
        let mut w = Windows::with_max_event_names(MINUTE, 2);
        for name in ["a", "b", "c", "a", "d"] {
            w.add(5, name, "desktop", "direct", 1, None);
        }
        w.add(MINUTE + 5, "z", "desktop", "direct", 1, None);
        let first: Vec<(String, u64)> = w.close(MINUTE).into_iter().map(|(k, f)| (k.event, f.events)).collect();
        assert_eq!(first, [(OTHER_EVENTS.to_owned(), 2), ("a".to_owned(), 2), ("b".to_owned(), 1)]);
        assert_eq!(w.names.len(), 1, "a closed window's names are forgotten");
    }
}
