//! The live view: what the dashboard shows second by second, kept in memory only (rebuilt from
//! new events after a restart). Ten-second buckets of the last ten minutes of event time,
//! persons active in the last five minutes, and the latest events.

use crate::pipeline::EventRow;
use crate::windows::{DEFAULT_MAX_EVENT_NAMES, OTHER_EVENTS};
use crate::{stable_hash, Micros, MINUTE, SECOND};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Width of a live bucket.
pub const BUCKET: Micros = 10 * SECOND;
/// How much event time the buckets cover.
pub const SPAN: Micros = 10 * MINUTE;
/// A person is active if seen within this much event time.
pub const ACTIVE: Micros = 5 * MINUTE;
/// Latest events kept.
pub const RECENT: usize = 50;

/// Persons the live view counts as active at most, by default.
pub const DEFAULT_MAX_PERSONS: usize = 1_000_000;

/// One ten-second bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// Bucket start (µs).
    pub start: Micros,
    /// Events (bots left out).
    pub events: u64,
    /// Page and screen views.
    pub page_views: u64,
    /// Orders completed.
    pub orders: u64,
    /// Revenue.
    pub revenue: f64,
    /// Events per name.
    pub by_event: BTreeMap<String, u64>,
}

/// One of the latest events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentEvent {
    /// Its log offset.
    pub offset: u64,
    /// Event time (µs).
    pub time: Micros,
    /// Event name.
    pub event: String,
    /// Person.
    pub person_id: String,
    /// Page path.
    pub path: Option<String>,
    /// Device type.
    pub device_type: String,
    /// Channel.
    pub channel: String,
    /// Revenue, for orders.
    pub revenue: Option<f64>,
}

/// What the live view holds now, ready to serialize.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveSnapshot {
    /// Latest event time seen (µs), if any.
    pub latest_event_time: Option<Micros>,
    /// The watermark (µs): windows before it are final.
    pub watermark: Option<Micros>,
    /// Persons seen in the last five minutes of event time.
    pub active_persons: u64,
    /// Ten-second buckets, oldest first.
    pub buckets: Vec<Bucket>,
    /// Latest events, newest first.
    pub recent: Vec<RecentEvent>,
    /// Events processed since the view started.
    pub events_seen: u64,
    /// Late events since the view started.
    pub late_seen: u64,
    /// The log offset processed up to.
    pub next_offset: u64,
}

impl LiveSnapshot {
    /// One view of several independent streams (Kafka partitions: disjoint persons): buckets
    /// added up by start, counts summed, the latest events of all, the latest times.
    pub fn merge(parts: Vec<LiveSnapshot>) -> LiveSnapshot {
        let mut buckets: BTreeMap<Micros, Bucket> = BTreeMap::new();
        let mut merged = LiveSnapshot::default();
        for part in parts {
            merged.latest_event_time = merged.latest_event_time.max(part.latest_event_time);
            merged.watermark = merged.watermark.max(part.watermark);
            merged.active_persons += part.active_persons;
            merged.events_seen += part.events_seen;
            merged.late_seen += part.late_seen;
            merged.next_offset += part.next_offset;
            merged.recent.extend(part.recent);
            for bucket in part.buckets {
                let into =
                    buckets.entry(bucket.start).or_insert_with(|| Bucket { start: bucket.start, ..Bucket::default() });
                into.events += bucket.events;
                into.page_views += bucket.page_views;
                into.orders += bucket.orders;
                into.revenue += bucket.revenue;
                for (event, n) in bucket.by_event {
                    *into.by_event.entry(event).or_default() += n;
                }
            }
        }
        // Buckets older than the newest stream's span are stale for the merged view.
        if let Some(latest) = merged.latest_event_time {
            buckets.retain(|start, _| *start + BUCKET > latest - SPAN);
        }
        merged.buckets = buckets.into_values().collect();
        merged.recent.sort_by(|a, b| b.time.cmp(&a.time).then(b.offset.cmp(&a.offset)));
        merged.recent.truncate(RECENT);
        merged
    }
}

/// The live view. Bounded whether or not anyone takes snapshots: aged buckets are dropped as
/// new ones open, each bucket keeps at most `max_event_names` names (the rest under
/// [`OTHER_EVENTS`]), and at most `max_persons` active persons are counted (past that, those
/// seen longest ago are forgotten first).
#[derive(Debug)]
pub struct LiveView {
    latest: Option<Micros>,
    buckets: BTreeMap<Micros, Bucket>,
    active: HashMap<u64, Micros>,
    /// Active persons after the last pruning: the next one is due when twice as many are known.
    active_pruned_at: usize,
    recent: VecDeque<RecentEvent>,
    events_seen: u64,
    late_seen: u64,
    max_event_names: usize,
    max_persons: usize,
}

impl Default for LiveView {
    fn default() -> Self {
        Self::with_limits(DEFAULT_MAX_EVENT_NAMES, DEFAULT_MAX_PERSONS)
    }
}

impl LiveView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty view with these bounds.
    pub fn with_limits(max_event_names: usize, max_persons: usize) -> Self {
        Self {
            latest: None,
            buckets: BTreeMap::new(),
            active: HashMap::new(),
            active_pruned_at: 0,
            recent: VecDeque::new(),
            events_seen: 0,
            late_seen: 0,
            max_event_names: max_event_names.max(1),
            max_persons: max_persons.max(1),
        }
    }

    /// Forgets an erased user's own `ids`: their latest events and their place among the
    /// active persons (the counts of the buckets hold no ids and stay).
    pub fn forget(&mut self, ids: &[String]) {
        self.recent.retain(|event| !ids.contains(&event.person_id));
        for id in ids {
            self.active.remove(&stable_hash(id));
        }
    }

    /// Drops the buckets older than the span before `latest`.
    fn prune_buckets(&mut self, latest: Micros) {
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() + BUCKET > latest - SPAN {
                break;
            }
            entry.remove();
        }
    }

    /// Forgets persons not seen within the active time before `latest`, then, when still more
    /// than the bound, those seen longest ago until a tenth of the bound is free (so pruning
    /// stays rare).
    fn prune_active(&mut self, latest: Micros) {
        self.active.retain(|_, seen| *seen > latest - ACTIVE);
        if self.active.len() > self.max_persons {
            let keep = self.max_persons - self.max_persons / 10;
            let mut times: Vec<Micros> = self.active.values().copied().collect();
            let cut = times.len() - keep;
            let (_, oldest_kept, _) = times.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            self.active.retain(|_, seen| *seen >= oldest_kept);
            // Ties at the cut: forget arbitrary ones among them to meet the bound exactly.
            let mut excess = self.active.len().saturating_sub(keep);
            self.active.retain(|_, seen| {
                let forget = excess > 0 && *seen == oldest_kept;
                excess -= usize::from(forget);
                !forget
            });
        }
        self.active_pruned_at = self.active.len();
    }

    /// Adds a processed event (bots are left out).
    pub fn observe(&mut self, row: &EventRow) {
        if row.enriched.agent.is_bot {
            return;
        }
        let t = row.input.event_time;
        self.events_seen += 1;
        if row.late {
            self.late_seen += 1;
        }
        let latest = self.latest.map_or(t, |l| l.max(t));
        self.latest = Some(latest);
        if t > latest - SPAN {
            let start = t.div_euclid(BUCKET) * BUCKET;
            if !self.buckets.contains_key(&start) {
                self.prune_buckets(latest);
            }
            let max_event_names = self.max_event_names;
            let bucket = self.buckets.entry(start).or_insert_with(|| Bucket { start, ..Bucket::default() });
            bucket.events += 1;
            if matches!(row.input.kind.as_str(), "page" | "screen") {
                bucket.page_views += 1;
            }
            if let Some(revenue) = row.enriched.revenue {
                bucket.revenue += revenue;
                if row.input.event.as_deref() == Some("Order Completed") {
                    bucket.orders += 1;
                }
            }
            let name = row.input.event_name();
            let known = bucket.by_event.len();
            match bucket.by_event.get_mut(name) {
                Some(n) => *n += 1,
                None if known < max_event_names => {
                    bucket.by_event.insert(name.to_owned(), 1);
                }
                None => *bucket.by_event.entry(OTHER_EVENTS.to_owned()).or_default() += 1,
            }
        }
        if t > latest - ACTIVE {
            let seen = self.active.entry(stable_hash(&row.person_id)).or_insert(t);
            *seen = (*seen).max(t);
            if self.active.len() > self.max_persons || self.active.len() > 2 * self.active_pruned_at.max(1024) {
                self.prune_active(latest);
            }
        }
        self.recent.push_front(RecentEvent {
            offset: row.input.offset,
            time: t,
            event: row.input.event_name().to_owned(),
            person_id: row.person_id.clone(),
            path: row.enriched.path.clone(),
            device_type: row.enriched.agent.device_type.to_owned(),
            channel: row.enriched.channel.to_owned(),
            revenue: row.enriched.revenue,
        });
        self.recent.truncate(RECENT);
    }

    /// Drops what has aged out and returns the view.
    pub fn snapshot(&mut self, watermark: Option<Micros>, next_offset: u64) -> LiveSnapshot {
        if let Some(latest) = self.latest {
            self.prune_buckets(latest);
            self.prune_active(latest);
        }
        LiveSnapshot {
            latest_event_time: self.latest,
            watermark,
            active_persons: self.active.len() as u64,
            buckets: self.buckets.values().cloned().collect(),
            recent: self.recent.iter().cloned().collect(),
            events_seen: self.events_seen,
            late_seen: self.late_seen,
            next_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_partitions_adds_buckets_and_keeps_the_latest_events() {
        let at = |start: Micros, events: u64| Bucket {
            start,
            events,
            page_views: events,
            by_event: BTreeMap::from([("page".to_owned(), events)]),
            ..Bucket::default()
        };
        let recent = |offset: u64, time: Micros| RecentEvent {
            offset,
            time,
            event: "page".into(),
            person_id: format!("p{offset}"),
            path: None,
            device_type: "desktop".into(),
            channel: "direct".into(),
            revenue: None,
        };
        let a = LiveSnapshot {
            latest_event_time: Some(SPAN + 20 * SECOND),
            active_persons: 2,
            buckets: vec![at(SPAN, 3), at(SPAN + 10 * SECOND, 1)],
            recent: vec![recent(1, SPAN + 20 * SECOND)],
            events_seen: 4,
            ..LiveSnapshot::default()
        };
        let b = LiveSnapshot {
            latest_event_time: Some(SPAN + 15 * SECOND),
            active_persons: 1,
            buckets: vec![at(0, 9), at(SPAN + 10 * SECOND, 2)],
            recent: vec![recent(7, SPAN + 15 * SECOND)],
            events_seen: 11,
            ..LiveSnapshot::default()
        };
        let merged = LiveSnapshot::merge(vec![a, b]);
        assert_eq!(merged.latest_event_time, Some(SPAN + 20 * SECOND));
        assert_eq!((merged.active_persons, merged.events_seen), (3, 15));
        // The bucket at 0 is older than ten minutes before the latest event: dropped.
        let kept: Vec<_> = merged.buckets.iter().map(|b| (b.start, b.events, b.by_event["page"])).collect();
        assert_eq!(kept, [(SPAN, 3, 3), (SPAN + 10 * SECOND, 3, 3)]);
        assert_eq!(merged.recent.iter().map(|r| r.offset).collect::<Vec<_>>(), [1, 7]);
    }

    fn row(time: Micros, event: &str, person: &str) -> EventRow {
        EventRow {
            input: crate::InputEvent {
                kind: "track".into(),
                event: Some(event.into()),
                event_time: time,
                ..crate::InputEvent::default()
            },
            person_id: person.into(),
            session_id: None,
            late: false,
            enriched: crate::enrich::Enrichment::default(),
        }
    }

    #[test]
    fn stays_bounded_without_snapshots() {
        let mut view = LiveView::with_limits(3, 100);
        // An hour of events, a new person and a new name each second, and no snapshot taken
        // (as in `footfall process`).
        for s in 0..3600 {
            view.observe(&row(s * SECOND, &format!("name-{s}"), &format!("p{s}")));
            assert!(view.active.len() <= 100, "{} persons at {s} s", view.active.len());
            assert!(view.buckets.len() as i64 <= SPAN / BUCKET + 1, "{} buckets", view.buckets.len());
            assert!(view.buckets.values().all(|b| b.by_event.len() <= 4));
        }
        let snapshot = view.snapshot(None, 3600);
        let last = snapshot.buckets.last().expect("a bucket");
        assert_eq!(last.events, 10);
        assert_eq!((last.by_event.len(), last.by_event[OTHER_EVENTS]), (4, 7), "3 names, then the rest as other");
        assert!(snapshot.active_persons <= 100 && snapshot.active_persons >= 90);
        // Only those seen most recently were kept.
        assert!(view.active.values().all(|seen| *seen >= 3400 * SECOND));
    }
}
