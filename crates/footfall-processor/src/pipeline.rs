//! The operators composed: one stored record in, rows of the output tables out. Every row
//! carries the offset of the record that produced it (`trigger_offset`), so a replay from a
//! checkpoint can skip what an output table already holds, whatever its batch boundaries.

use crate::dedup::{Dedup, DEFAULT_HORIZON, DEFAULT_MAX_IDS};
use crate::enrich::{Enricher, Enrichment, IpPolicy};
use crate::geo::GeoDb;
use crate::identity::{Identities, Link, RefusedMerge};
use crate::input::InputEvent;
use crate::sessions::{Session, Sessions, DEFAULT_GAP};
use crate::watermark::{Watermark, DEFAULT_IDLE, DEFAULT_LATENESS, DEFAULT_QUORUM};
use crate::windows::{WindowKey, Windows};
use crate::{stable_hash, Micros, MINUTE};
use footfall_log::StoredRecord;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How the processor behaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessorConfig {
    /// Dedup horizon (µs of arrival time).
    pub dedup_horizon: Micros,
    /// Message ids dedup remembers at most (the earliest arrivals are forgotten first).
    pub dedup_max_ids: usize,
    /// Allowed lateness behind the latest event time (µs).
    pub lateness: Micros,
    /// Distinct devices whose event times move the watermark (see [`Watermark::with_quorum`]).
    pub watermark_quorum: usize,
    /// Arrival time (µs) after which a silent device stops counting for the watermark.
    pub watermark_idle: Micros,
    /// Session inactivity gap (µs).
    pub session_gap: Micros,
    /// Metrics window width (µs).
    pub window: Micros,
    /// What to keep of IP addresses.
    pub ip_policy: IpPolicy,
    /// Anonymous ids (and, apart, aliases) the identity map remembers at most.
    pub identity_max_ids: usize,
    /// Distinct event names per metrics window and live bucket; the rest count as `(other)`.
    pub max_event_names: usize,
    /// Active persons the live view counts at most.
    pub live_max_persons: usize,
    /// The key of the person hashes in stored sketches (the lake's: see [`crate::SketchKey`]).
    pub sketch_key: crate::SketchKey,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            dedup_horizon: DEFAULT_HORIZON,
            dedup_max_ids: DEFAULT_MAX_IDS,
            lateness: DEFAULT_LATENESS,
            watermark_quorum: DEFAULT_QUORUM,
            watermark_idle: DEFAULT_IDLE,
            session_gap: DEFAULT_GAP,
            window: MINUTE,
            ip_policy: IpPolicy::default(),
            identity_max_ids: crate::identity::DEFAULT_MAX_IDS,
            max_event_names: crate::windows::DEFAULT_MAX_EVENT_NAMES,
            live_max_persons: crate::live::DEFAULT_MAX_PERSONS,
            sketch_key: crate::SketchKey::default(),
        }
    }
}

/// A row of the silver `events` table.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The event, as parsed.
    pub input: InputEvent,
    /// The person behind it, as known when it was processed.
    pub person_id: String,
    /// Its session (none for bots).
    pub session_id: Option<String>,
    /// Whether it arrived after its window closed (kept, not counted in `metrics_1m`).
    pub late: bool,
    /// What enrichment added.
    pub enriched: Enrichment,
}

/// A row of the gold `metrics_1m` table: one closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// The record whose event time closed the window.
    pub trigger_offset: u64,
    /// The window and its dimensions.
    pub key: WindowKey,
    /// Window width in seconds.
    pub window_seconds: i64,
    /// Events.
    pub events: u64,
    /// Unique persons (exact up to a few hundred, else estimated).
    pub uniques: u64,
    /// The persons' sketch (mergeable), as bytes.
    pub persons_sketch: Vec<u8>,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: u64,
}

/// A row of the silver `sessions` table: one closed session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// The record that closed it.
    pub trigger_offset: u64,
    /// The session.
    pub session: Session,
}

/// Rows produced, by table.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Silver `events`.
    pub events: Vec<EventRow>,
    /// Silver `sessions`.
    pub sessions: Vec<SessionRow>,
    /// Gold `metrics_1m`.
    pub metrics: Vec<MetricRow>,
    /// Silver `identities`: new links of ids to persons.
    pub identities: Vec<Link>,
    /// `dead_letters`: merges the identity rules refused.
    pub refused: Vec<RefusalRow>,
}

/// An `identify` or `alias` whose merge was refused: a `dead_letters` row. The event itself is
/// kept in `events`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusalRow {
    /// The record of the message.
    pub offset: u64,
    /// When it was received.
    pub received_at: Micros,
    /// Its `messageId`.
    pub message_id: String,
    /// The dead letter's `reason_code`.
    pub reason_code: &'static str,
    /// The dead letter's `reason`.
    pub reason: String,
    /// The message's identity fields, as JSON (`type`, `messageId`, `userId`, `anonymousId`,
    /// `previousId`): what an erasure finds the letter by.
    pub payload: String,
}

impl RefusalRow {
    fn new(input: &InputEvent, refused: &RefusedMerge) -> Self {
        let payload = serde_json::json!({
            "type": input.kind,
            "messageId": input.message_id,
            "userId": input.user_id,
            "anonymousId": input.anonymous_id,
            "previousId": input.previous_id,
        });
        Self {
            offset: input.offset,
            received_at: input.received_at,
            message_id: input.message_id.clone(),
            reason_code: refused.reason.code(),
            reason: refused.describe(&input.kind),
            payload: payload.to_string(),
        }
    }
}

impl Outputs {
    /// Whether nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.sessions.is_empty()
            && self.metrics.is_empty()
            && self.identities.is_empty()
            && self.refused.is_empty()
    }
}

/// Counters of what the processor has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Records processed.
    pub records: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Late events (kept in `events`, not in `metrics_1m`).
    pub late: u64,
    /// Bot events (kept in `events`, not in sessions or metrics).
    pub bots: u64,
    /// Records that were not Segment messages (skipped).
    pub unreadable: u64,
    /// `identify` and `alias` calls whose merge was refused (kept in `events`, and dead-lettered).
    pub refused_merges: u64,
}

/// Everything the processor remembers: checkpointed as one value, with the offset it is valid
/// at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessorState {
    /// The next log offset to process.
    pub next_offset: u64,
    /// Counters.
    pub counters: Counters,
    dedup: Dedup,
    identities: Identities,
    sessions: Sessions,
    windows: Windows,
    watermark: Watermark,
}

impl ProcessorState {
    /// The state before any record.
    pub fn new(config: &ProcessorConfig) -> Self {
        Self {
            next_offset: 0,
            counters: Counters::default(),
            dedup: Dedup::with_max_ids(config.dedup_horizon, config.dedup_max_ids),
            identities: Identities::with_max_ids(config.identity_max_ids),
            sessions: Sessions::new(config.session_gap),
            windows: Windows::with_max_event_names(config.window, config.max_event_names),
            watermark: Watermark::with_quorum(config.lateness, config.watermark_quorum, config.watermark_idle),
        }
    }

    /// The watermark now.
    pub fn watermark(&self) -> Option<Micros> {
        self.watermark.current()
    }

    /// Open windows (for the live view).
    pub fn windows(&self) -> &Windows {
        &self.windows
    }

    /// Forgets an erased user's own `ids` (their user id and anonymous ids): their identity
    /// links and open sessions, so that their next event starts a new, unlinked person. Open
    /// windows keep only keyed hashes of persons ([`crate::SketchKey`]). Returns the entries
    /// removed.
    pub fn forget(&mut self, ids: &[String]) -> usize {
        self.identities.forget(ids) + self.sessions.forget(ids)
    }
}

/// The processor: state plus the (stateless but cached) enricher.
#[derive(Debug)]
pub struct Processor {
    state: ProcessorState,
    enricher: Enricher,
    sketch_key: crate::SketchKey,
}

impl Processor {
    /// A processor resuming from `state`.
    pub fn new(config: &ProcessorConfig, state: ProcessorState) -> Self {
        Self { state, enricher: Enricher::new(config.ip_policy), sketch_key: config.sketch_key }
    }

    /// Also places IPs (country, city) with `geo`.
    pub fn with_geo(self, geo: Arc<GeoDb>) -> Self {
        Self { enricher: self.enricher.with_geo(geo), ..self }
    }

    /// The state, for checkpoints.
    pub fn state(&self) -> &ProcessorState {
        &self.state
    }

    /// Forgets an erased user's own ids (see [`ProcessorState::forget`]).
    pub fn forget(&mut self, ids: &[String]) -> usize {
        self.state.forget(ids)
    }

    /// Processes one record, adding what it produces to `out`.
    pub fn process(&mut self, record: &StoredRecord, out: &mut Outputs) {
        self.process_parsed(record.offset, InputEvent::from_record(record).ok(), out);
    }

    /// Processes the record at `offset`, already parsed (`None`: not a Segment message).
    /// Parsing is the one step without state, so callers may do it on other threads.
    pub fn process_parsed(&mut self, offset: u64, input: Option<InputEvent>, out: &mut Outputs) {
        let sketch_key = self.sketch_key;
        let state = &mut self.state;
        state.next_offset = offset + 1;
        state.counters.records += 1;
        let Some(input) = input else {
            state.counters.unreadable += 1;
            return;
        };
        if !state.dedup.first_time(&input.message_id, input.received_at) {
            state.counters.duplicates += 1;
            return;
        }
        let (person_id, refused) = state.identities.observe(&input, &mut out.identities);
        if let Some(refused) = refused {
            state.counters.refused_merges += 1;
            out.refused.push(RefusalRow::new(&input, &refused));
        }
        let enriched = self.enricher.enrich(&input);
        let t = input.event_time;
        let minute_before = state.watermark.current().map(|w| w.div_euclid(MINUTE));
        let late = state.windows.is_closed(t, state.watermark.current());
        let device = input.anonymous_id.as_deref().or(input.user_id.as_deref()).unwrap_or_default();
        state.watermark.observe(t, stable_hash(device), input.received_at);

        let mut session_id = None;
        if enriched.agent.is_bot {
            state.counters.bots += 1;
        } else {
            let (id, closed) = state.sessions.observe(&person_id, &input, &enriched);
            session_id = Some(id);
            out.sessions.extend(closed.map(|session| SessionRow { trigger_offset: offset, session }));
            if late {
                state.counters.late += 1;
            } else {
                state.windows.add(
                    t,
                    input.event_name(),
                    enriched.agent.device_type,
                    enriched.channel,
                    sketch_key.hash(&person_id),
                    enriched.revenue,
                );
            }
        }
        out.events.push(EventRow { input, person_id, session_id, late, enriched });

        // When the watermark enters a new minute: emit closed windows and idle sessions.
        let watermark = state.watermark.current();
        if let Some(w) = watermark.filter(|w| Some(w.div_euclid(MINUTE)) != minute_before) {
            let window_seconds = state.windows.width() / crate::SECOND;
            for (key, mut figures) in state.windows.close(w) {
                out.metrics.push(MetricRow {
                    trigger_offset: offset,
                    key,
                    window_seconds,
                    events: figures.events,
                    uniques: figures.persons.count(),
                    persons_sketch: figures.persons.to_bytes(),
                    revenue: figures.revenue,
                    orders: figures.orders,
                });
            }
            out.sessions.extend(
                state.sessions.close_idle(w).into_iter().map(|session| SessionRow { trigger_offset: offset, session }),
            );
        }
    }
}
