//! Sessions: a visitor's events grouped into visits, closed after an inactivity gap (30 min by
//! default) in event time, or when they arrive through a new campaign. Sessions are kept per
//! device (the anonymous id, else the person), so logging in mid-visit keeps one session,
//! which then carries the person's id.

use crate::enrich::Enrichment;
use crate::input::InputEvent;
use crate::{stable_hash, Micros, MINUTE};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// Sessions of every visitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sessions {
    gap: Micros,
    open: HashMap<String, Session>,
}

impl Sessions {
    /// Sessions closed after `gap` of inactivity.
    pub fn new(gap: Micros) -> Self {
        Self { gap, open: HashMap::new() }
    }

    /// Adds `event` of `person` to its session; returns the session id and the session it
    /// closed, if the event started a new one.
    pub fn observe(&mut self, person: &str, event: &InputEvent, enriched: &Enrichment) -> (String, Option<Session>) {
        let visitor = event.anonymous_id.as_deref().unwrap_or(person);
        let t = event.event_time;
        let campaign = event.utm_campaign.as_deref();
        let mut closed = None;
        if let Some(open) = self.open.get(visitor) {
            let idle = t - open.end > self.gap;
            let new_campaign = campaign.is_some() && campaign != open.campaign.as_deref();
            if idle || new_campaign {
                closed = self.open.remove(visitor);
            }
        }
        let session = self.open.entry(visitor.to_owned()).or_insert_with(|| Session {
            session_id: format!("{:016x}", stable_hash(&format!("{visitor}\u{0}{t}"))),
            person_id: person.to_owned(),
            start: t,
            end: t,
            events: 0,
            page_views: 0,
            landing_page: None,
            exit_page: None,
            channel: enriched.channel.to_owned(),
            device_type: enriched.agent.device_type.to_owned(),
            campaign: campaign.map(str::to_owned),
            converted: false,
            revenue: 0.0,
        });
        // An event older than the session's start (out of order) stretches it back.
        session.start = session.start.min(t);
        session.end = session.end.max(t);
        session.events += 1;
        session.person_id = person.to_owned();
        if matches!(event.kind.as_str(), "page" | "screen") {
            session.page_views += 1;
            if session.landing_page.is_none() {
                session.landing_page = enriched.path.clone();
            }
            session.exit_page = enriched.path.clone().or(session.exit_page.take());
        }
        if let Some(revenue) = enriched.revenue {
            session.revenue += revenue;
            session.converted |= revenue > 0.0 || event.event.as_deref() == Some("Order Completed");
        }
        (session.session_id.clone(), closed)
    }

    /// Closes every session idle for longer than the gap at `watermark`; oldest first.
    pub fn close_idle(&mut self, watermark: Micros) -> Vec<Session> {
        let gap = self.gap;
        let idle: Vec<String> =
            self.open.iter().filter(|(_, s)| s.end + gap < watermark).map(|(k, _)| k.clone()).collect();
        let mut closed: Vec<Session> = idle.iter().filter_map(|k| self.open.remove(k)).collect();
        closed.sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
        closed
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
