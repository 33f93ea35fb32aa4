//! Tumbling windows in event time: per window start, event name, device type and channel, the
//! events, unique persons (a mergeable sketch), revenue and orders. A window closes, and is
//! emitted once, when the watermark passes its end; an event for a closed window is late.

use crate::sketch::PersonSketch;
use crate::Micros;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Open windows of one width.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Windows {
    width: Micros,
    open: BTreeMap<WindowKey, WindowFigures>,
}

impl Windows {
    /// Windows `width` long.
    pub fn new(width: Micros) -> Self {
        Self { width, open: BTreeMap::new() }
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
        let key = WindowKey {
            start: self.start_of(time),
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
}
