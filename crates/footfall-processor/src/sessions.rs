//! Sessions: a visitor's events grouped into visits, closed after an inactivity gap (30 min by
//! default) in event time, or when they arrive through a new campaign. Sessions are kept per
//! device (the anonymous id, else the person), so logging in mid-visit keeps one session,
//! which then carries the person's id.

use crate::enrich::Enrichment;
use crate::input::InputEvent;
use crate::{stable_hash, Micros, MINUTE};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The inactivity gap by default: 30 minutes.
pub const DEFAULT_GAP: Micros = 30 * MINUTE;

/// One session, open or closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Its id: a stable hash of the visitor and the start.
    pub session_id: String,
    /// The person, as known at its last event.
    pub person_id: String,
    /// First event time.
    pub start: Micros,
    /// Last event time.
    pub end: Micros,
    /// Events in it.
    pub events: u64,
    /// Page and screen views.
    pub page_views: u64,
    /// Path of the first page.
    pub landing_page: Option<String>,
    /// Path of the last page.
    pub exit_page: Option<String>,
    /// Channel of the first event.
    pub channel: String,
    /// Device type of the first event.
    pub device_type: String,
    /// UTM campaign it came through.
    pub campaign: Option<String>,
    /// Whether an order was completed in it.
    pub converted: bool,
    /// Revenue of its orders.
    pub revenue: f64,
}

impl Session {
    /// Seconds from first to last event.
    pub fn duration_seconds(&self) -> f64 {
        (self.end - self.start) as f64 / 1e6
    }

    /// A bounce: one page view and nothing else.
    pub fn bounced(&self) -> bool {
        self.events <= 1
    }
}

/// A session while it is open, kept compact: its id as a number, repeated strings (pages,
/// channels, devices, campaigns) shared through [`Strings`]. A million open sessions is the
/// state of a million active visitors, so every byte here counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenSession {
    id: u64,
    person: Arc<str>,
    start: Micros,
    end: Micros,
    events: u32,
    page_views: u32,
    landing_page: Option<Arc<str>>,
    exit_page: Option<Arc<str>>,
    channel: Arc<str>,
    device_type: Arc<str>,
    campaign: Option<Arc<str>>,
    converted: bool,
    revenue: f64,
}

impl OpenSession {
    fn id_text(&self) -> String {
        format!("{:016x}", self.id)
    }

    fn to_session(&self) -> Session {
        let text = |s: &Option<Arc<str>>| s.as_deref().map(str::to_owned);
        Session {
            session_id: self.id_text(),
            person_id: self.person.to_string(),
            start: self.start,
            end: self.end,
            events: u64::from(self.events),
            page_views: u64::from(self.page_views),
            landing_page: text(&self.landing_page),
            exit_page: text(&self.exit_page),
            channel: self.channel.to_string(),
            device_type: self.device_type.to_string(),
            campaign: text(&self.campaign),
            converted: self.converted,
            revenue: self.revenue,
        }
    }
}

/// Strings that repeat across sessions (paths, channels, devices, campaigns), stored once.
/// Bounded: cleared when it holds too many (sessions keep their copies).
#[derive(Debug, Clone, Default)]
struct Strings(HashSet<Arc<str>>);

/// Distinct strings kept for sharing at most.
const SHARED_STRINGS_MAX: usize = 100_000;

impl Strings {
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(known) = self.0.get(text) {
            return Arc::clone(known);
        }
        if self.0.len() >= SHARED_STRINGS_MAX {
            self.0.clear();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// Sessions of every visitor, keyed by a stable hash of the visitor's id (64 bits: a collision
/// among a million visitors has odds of about 1 in 36 million).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sessions {
    gap: Micros,
    /// Boxed: a hash table is up to half empty after it grows, and empty slots of a
    /// pointer cost far less than empty slots of a session.
    open: HashMap<u64, Box<OpenSession>>,
    #[serde(skip)]
    strings: Strings,
}

impl Sessions {
    /// Sessions closed after `gap` of inactivity.
    pub fn new(gap: Micros) -> Self {
        Self { gap, open: HashMap::new(), strings: Strings::default() }
    }

    /// Adds `event` of `person` to its session; returns the session id and the session it
    /// closed, if the event started a new one.
    pub fn observe(&mut self, person: &str, event: &InputEvent, enriched: &Enrichment) -> (String, Option<Session>) {
        let visitor = event.anonymous_id.as_deref().unwrap_or(person);
        let key = stable_hash(visitor);
        let t = event.event_time;
        let campaign = event.utm_campaign.as_deref();
        let mut closed = None;
        if let Some(open) = self.open.get(&key) {
            let idle = t - open.end > self.gap;
            let new_campaign = campaign.is_some() && campaign != open.campaign.as_deref();
            if idle || new_campaign {
                closed = self.open.remove(&key).map(|s| s.to_session());
            }
        }
        let strings = &mut self.strings;
        let session = self.open.entry(key).or_insert_with(|| {
            Box::new(OpenSession {
                id: stable_hash(&format!("{visitor}\u{0}{t}")),
                person: Arc::from(person),
                start: t,
                end: t,
                events: 0,
                page_views: 0,
                landing_page: None,
                exit_page: None,
                channel: strings.get(enriched.channel),
                device_type: strings.get(enriched.agent.device_type),
                campaign: campaign.map(|c| strings.get(c)),
                converted: false,
                revenue: 0.0,
            })
        });
        // An event older than the session's start (out of order) stretches it back.
        session.start = session.start.min(t);
        session.end = session.end.max(t);
        session.events = session.events.saturating_add(1);
        if *session.person != *person {
            session.person = Arc::from(person);
        }
        if matches!(event.kind.as_str(), "page" | "screen") {
            session.page_views = session.page_views.saturating_add(1);
            if let Some(path) = enriched.path.as_deref() {
                let path = strings.get(path);
                session.landing_page.get_or_insert_with(|| Arc::clone(&path));
                session.exit_page = Some(path);
            }
        }
        if let Some(revenue) = enriched.revenue {
            session.revenue += revenue;
            session.converted |= revenue > 0.0 || event.event.as_deref() == Some("Order Completed");
        }
        (session.id_text(), closed)
    }

    /// Closes every session idle for longer than the gap at `watermark`; oldest first.
    pub fn close_idle(&mut self, watermark: Micros) -> Vec<Session> {
        let gap = self.gap;
        let idle: Vec<u64> = self.open.iter().filter(|(_, s)| s.end + gap < watermark).map(|(k, _)| *k).collect();
        let mut closed: Vec<Session> =
            idle.iter().filter_map(|k| self.open.remove(k)).map(|s| s.to_session()).collect();
        closed.sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
        closed
    }

    /// Drops the open sessions of `ids` (an erased user's own ids: of their devices, or
    /// carrying them as the person). Returns how many.
    pub fn forget(&mut self, ids: &[String]) -> usize {
        let keys: HashSet<u64> = ids.iter().map(|id| stable_hash(id)).collect();
        let before = self.open.len();
        self.open.retain(|key, session| !keys.contains(key) && !ids.iter().any(|id| **id == *session.person));
        before - self.open.len()
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{Enricher, IpPolicy};

    fn page(anonymous: &str, minute: i64, campaign: Option<&str>) -> InputEvent {
        InputEvent {
            kind: "page".into(),
            anonymous_id: Some(anonymous.into()),
            event_time: minute * MINUTE,
            page_path: Some(format!("/p{minute}")),
            utm_campaign: campaign.map(Into::into),
            ..InputEvent::default()
        }
    }

    #[test]
    fn a_gap_or_a_new_campaign_starts_a_new_session() {
        let mut sessions = Sessions::new(DEFAULT_GAP);
        let mut enricher = Enricher::new(IpPolicy::Drop);
        let mut see = |e: InputEvent| {
            let enriched = enricher.enrich(&e);
            sessions.observe("a", &e, &enriched)
        };
        let (first, none) = see(page("a", 0, None));
        assert!(none.is_none());
        assert_eq!(see(page("a", 29, None)).0, first, "29 minutes later: same visit");
        let (second, closed) = see(page("a", 60, None));
        assert_ne!(second, first, "31 minutes idle");
        let closed = closed.expect("the first session closed");
        assert_eq!((closed.events, closed.page_views, closed.duration_seconds()), (2, 2, 29.0 * 60.0));
        assert_eq!((closed.landing_page.as_deref(), closed.exit_page.as_deref()), (Some("/p0"), Some("/p29")));
        let (third, closed) = see(page("a", 61, Some("winter_sale")));
        assert_ne!(third, second, "a new campaign");
        assert!(closed.expect("closed").bounced());
        assert_eq!(see(page("a", 62, Some("winter_sale"))).0, third, "the same campaign goes on");
    }

    #[test]
    fn idle_sessions_close_at_the_watermark_in_a_stable_order() {
        let mut sessions = Sessions::new(DEFAULT_GAP);
        let mut enricher = Enricher::new(IpPolicy::Drop);
        for (who, minute) in [("b", 5), ("a", 5), ("c", 50)] {
            let e = page(who, minute, None);
            let enriched = enricher.enrich(&e);
            sessions.observe(who, &e, &enriched);
        }
        assert!(sessions.close_idle(35 * MINUTE).is_empty(), "exactly the gap is not beyond it");
        let closed = sessions.close_idle(36 * MINUTE);
        assert_eq!(closed.len(), 2);
        assert!(closed[0].session_id < closed[1].session_id, "same start: by id");
        assert_eq!(sessions.open(), 1);
    }
}
