//! The population and its clock: who visits when, merged into one stream in event-time order.

use crate::persona::Persona;
use crate::session::{visit, Call, Shopper};
use crate::user_agent::Device;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random choice: the same config gives the same events.
    pub seed: u64,
    /// Number of shoppers.
    pub users: u32,
    /// First moment of the simulation.
    pub start: DateTime<Utc>,
    /// Multiplies every persona's visit rate (live mode raises it to reach a target rate).
    pub visit_rate_scale: f64,
    /// Whether visits follow the daily and weekly rhythm (off for a steady live demo).
    pub rhythm: bool,
    /// When churners stop visiting, measured from `start`: uniformly within this many days.
    pub churn_within_days: f64,
}

impl SimConfig {
    /// Average events a shopper produces per day at natural rates (for sizing live runs).
    pub const EVENTS_PER_USER_DAY: f64 = 0.515 * 13.0;

    /// A population of `users` starting at `start`, with natural rates and rhythm.
    pub fn new(seed: u64, users: u32, start: DateTime<Utc>) -> Self {
        Self { seed, users, start, visit_rate_scale: 1.0, rhythm: true, churn_within_days: 30.0 }
    }

    /// A steady live population producing about `events_per_second`, each shopper visiting
    /// about once an hour (so visits stay distinct sessions).
    pub fn live(seed: u64, events_per_second: f64, start: DateTime<Utc>) -> Self {
        let users = ((events_per_second * 3600.0 / 13.0).ceil() as u32).max(200);
        let natural = users as f64 * Self::EVENTS_PER_USER_DAY / 86_400.0;
        Self {
            seed,
            users,
            start,
            visit_rate_scale: events_per_second / natural,
            rhythm: false,
            churn_within_days: 3650.0,
        }
    }
}

/// One simulated call.
#[derive(Debug, Clone)]
pub struct SimEvent {
    /// When it happened (true time, without the device's clock skew).
    pub time: DateTime<Utc>,
    /// How far the device's clock is off, in milliseconds.
    pub clock_skew_ms: i64,
    /// The message, without `timestamp` (see [`SimEvent::into_message`]).
    pub message: Map<String, Value>,
}

impl SimEvent {
    /// The Segment message with `timestamp` as the device would report `time` (its clock skew
    /// included).
    pub fn into_message(self, time: DateTime<Utc>) -> Value {
        let mut message = self.message;
        let device_time = time + Duration::milliseconds(self.clock_skew_ms);
        message.insert("timestamp".into(), footfall_time(device_time).into());
        Value::Object(message)
    }
}

fn footfall_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Relative visit intensity by hour of day (UTC) — low at night, peaks at lunch and evening.
const HOURLY: [f64; 24] = [
    0.35, 0.25, 0.18, 0.15, 0.15, 0.2, 0.35, 0.6, 0.85, 1.0, 1.1, 1.2, 1.35, 1.3, 1.15, 1.1, 1.15, 1.3, 1.55, 1.75,
    1.8, 1.6, 1.1, 0.65,
];
const PEAK: f64 = 1.8 * 1.25;

/// The simulation: an iterator of calls in event-time order, without end.
#[derive(Debug)]
pub struct Simulator {
    rng: ChaCha8Rng,
    config: SimConfig,
    shoppers: Vec<Shopper>,
    /// Next visit of each shopper, soonest first: (ms since epoch, shopper).
    visits: BinaryHeap<Reverse<(i64, u32)>>,
    /// Calls of visits in progress, soonest first: (ms since epoch, sequence, shopper, call).
    calls: BinaryHeap<Reverse<(i64, u64, PendingCall)>>,
    sequence: u64,
}

#[derive(Debug)]
struct PendingCall {
    shopper: u32,
    message: Map<String, Value>,
}

impl PartialEq for PendingCall {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PendingCall {}
impl PartialOrd for PendingCall {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PendingCall {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

fn hex_id(rng: &mut ChaCha8Rng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

impl Simulator {
    /// Creates the population and schedules everyone's first visit.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let total: u32 = Persona::MIX.iter().map(|(_, w)| w).sum();
        let locales = [
            ("en-US", "America/New_York"),
            ("en-GB", "Europe/London"),
            ("de-DE", "Europe/Berlin"),
            ("fr-FR", "Europe/Paris"),
            ("en-US", "America/Los_Angeles"),
        ];
        let shoppers: Vec<Shopper> = (0..config.users)
            .map(|index| {
                let mut roll = rng.random_range(0..total);
                let persona = Persona::MIX
                    .iter()
                    .find(|(_, w)| {
                        let hit = roll < *w;
                        roll = roll.saturating_sub(*w);
                        hit
                    })
                    .map_or(Persona::WindowShopper, |(p, _)| *p);
                let device = match rng.random_range(0..100) {
                    0..=54 => Device::Mobile,
                    55..=89 => Device::Desktop,
                    _ => Device::Tablet,
                };
                let agents = device.user_agents();
                let churn_at = (persona == Persona::Churner).then(|| {
                    config.start + Duration::seconds((rng.random::<f64>() * config.churn_within_days * 86_400.0) as i64)
                });
                Shopper {
                    index,
                    persona,
                    device,
                    user_agent: agents[rng.random_range(0..agents.len())],
                    anonymous_id: hex_id(&mut rng),
                    identified: false,
                    // One device in twenty has a clock that is off by up to ten minutes.
                    clock_skew_ms: if rng.random_bool(0.05) { rng.random_range(-600_000..600_000) } else { 0 },
                    churn_at,
                    has_bought: false,
                    ip: format!("203.0.113.{}", 1 + index % 250),
                    locale: locales[rng.random_range(0..locales.len())],
                }
            })
            .collect();
        let mut sim = Self { rng, config, shoppers, visits: BinaryHeap::new(), calls: BinaryHeap::new(), sequence: 0 };
        let start_ms = sim.config.start.timestamp_millis();
        for index in 0..sim.shoppers.len() as u32 {
            if let Some(at) = sim.next_visit_after(index, start_ms) {
                sim.visits.push(Reverse((at, index)));
            }
        }
        sim
    }

    /// The simulated shoppers (ground truth for tests: personas, churn dates).
    pub fn shoppers(&self) -> &[Shopper] {
        &self.shoppers
    }

    /// Visit intensity at `ms` relative to the average; at most [`Self::peak`].
    fn rhythm(&self, ms: i64) -> f64 {
        if !self.config.rhythm {
            return 1.0;
        }
        let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else { return 1.0 };
        let weekend = if t.weekday().number_from_monday() >= 6 { 1.25 } else { 1.0 };
        HOURLY[t.hour() as usize] * weekend
    }

    fn peak(&self) -> f64 {
        if self.config.rhythm {
            PEAK
        } else {
            1.0
        }
    }

    /// Samples the shopper's next visit after `after_ms` (a Poisson process thinned by the
    /// rhythm), or `None` if they will not come back.
    fn next_visit_after(&mut self, index: u32, after_ms: i64) -> Option<i64> {
        let shopper = &self.shoppers[index as usize];
        if shopper.persona == Persona::OneTimeBuyer && shopper.has_bought && self.rng.random_bool(0.9) {
            return None;
        }
        let churn_ms = shopper.churn_at.map(|t| t.timestamp_millis());
        let peak = self.peak();
        let per_ms = shopper.persona.behaviour().sessions_per_day * self.config.visit_rate_scale * peak / 86_400_000.0;
        let mut t = after_ms;
        for _ in 0..10_000 {
            let u: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
            t += (-u.ln() / per_ms) as i64 + 1;
            if churn_ms.is_some_and(|c| t >= c) {
                return None;
            }
            if self.rng.random::<f64>() * peak <= self.rhythm(t) {
                return Some(t);
            }
        }
        None
    }

    fn start_visit(&mut self, at_ms: i64, index: u32) {
        let shopper = &mut self.shoppers[index as usize];
        // Cookies get cleared: one visit in ten starts with a new anonymous id.
        if self.rng.random_bool(0.1) {
            shopper.anonymous_id = hex_id(&mut self.rng);
        }
        let calls: Vec<Call> = visit(shopper, &mut self.rng, &mut hex_id);
        let end = calls.last().map_or(at_ms, |c| at_ms + c.at_ms);
        for call in calls {
            self.sequence += 1;
            self.calls.push(Reverse((
                at_ms + call.at_ms,
                self.sequence,
                PendingCall { shopper: index, message: call.message },
            )));
        }
        if let Some(next) = self.next_visit_after(index, end) {
            self.visits.push(Reverse((next, index)));
        }
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            let next_call = self.calls.peek().map(|Reverse((t, _, _))| *t);
            let next_visit = self.visits.peek().map(|Reverse((t, _))| *t);
            match (next_call, next_visit) {
                (Some(c), Some(v)) if v < c => {}
                (Some(_), _) => {
                    let Reverse((t, _, call)) = self.calls.pop()?;
                    let skew = self.shoppers[call.shopper as usize].clock_skew_ms;
                    return Some(SimEvent {
                        time: DateTime::<Utc>::from_timestamp_millis(t)?,
                        clock_skew_ms: skew,
                        message: call.message,
                    });
                }
                (None, None) => return None,
                (None, Some(_)) => {}
            }
            let Reverse((at, index)) = self.visits.pop()?;
            self.start_visit(at, index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("time").with_timezone(&Utc)
    }

    #[test]
    fn the_same_seed_gives_the_same_events_in_time_order() {
        let run = |seed| -> Vec<(DateTime<Utc>, Value)> {
            Simulator::new(SimConfig::new(seed, 200, start()))
                .take(3_000)
                .map(|e| (e.time, e.clone().into_message(e.time)))
                .collect()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "events come in time order");
    }

    #[test]
    fn every_message_is_valid_segment() {
        for event in Simulator::new(SimConfig::new(1, 300, start())).take(5_000) {
            let text = serde_json::to_string(&event.clone().into_message(event.time)).expect("json");
            let message = footfall_event::Message::parse(&text).expect("parses");
            message.validate(None).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
    }

    #[test]
    fn churners_stop_and_the_day_has_a_rhythm() {
        let sim = Simulator::new(SimConfig::new(3, 2_000, start()));
        let churn: Vec<_> =
            sim.shoppers().iter().filter_map(|s| s.churn_at.map(|c| (s.anonymous_id.clone(), c, s.index))).collect();
        assert!(!churn.is_empty());
        let end = start() + Duration::days(60);
        let mut by_hour = [0u64; 24];
        let mut users_after_churn = 0;
        let churn_of: std::collections::HashMap<String, DateTime<Utc>> =
            churn.iter().map(|(_, c, i)| (format!("user-{i:06}"), *c)).collect();
        for e in sim.take_while(|e| e.time < end) {
            by_hour[e.time.hour() as usize] += 1;
            if let Some(Value::String(user)) = e.message.get("userId") {
                if churn_of.get(user).is_some_and(|c| e.time > *c + Duration::hours(3)) {
                    users_after_churn += 1;
                }
            }
        }
        assert_eq!(users_after_churn, 0, "a churned shopper came back");
        assert!(by_hour[20] > by_hour[3] * 4, "evening {} vs night {}", by_hour[20], by_hour[3]);
    }
}
