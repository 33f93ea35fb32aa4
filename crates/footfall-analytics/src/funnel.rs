//! Conversion funnels, per person, in event time.
//!
//! An *attempt* starts at an event matching step 1 (in `any` mode: any step) inside the date
//! range; the conversion window is measured from it. `ordered`: each next step is the first
//! later event matching it (other events may come between); `strict`: each next step must be
//! the person's very next event; `any`: steps in any order, step k reached when k distinct
//! steps are done. Events at the same time keep their log order. A person counts once, with
//! their best attempt (most steps; the earliest among equals), as PostHog's funnels and
//! ClickHouse's `windowFunnel` do. An exclusion drops an attempt in which the excluded event
//! happens between the two given steps (or, if the later step is not reached, before the
//! window ends); a person whose every attempt is dropped is out of the funnel.

use crate::error::AnalyticsError;
use crate::timeline::{Event, Timelines};
use crate::Micros;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Most steps a funnel may have.
pub const MAX_STEPS: usize = 32;

/// A step: an event name and optional property filters, written
/// `Product Viewed[category=shoes,brand=acme]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    /// Event name (`page` for page views).
    pub event: String,
    /// `(property, value)` pairs that must all hold (values compared as text).
    pub filters: Vec<(String, String)>,
}

impl FromStr for FunnelStep {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self, AnalyticsError> {
        let bad = |why: &str| AnalyticsError::BadRequest(format!("step {text:?}: {why}"));
        let text = text.trim();
        let (event, filters) = match text.split_once('[') {
            None => (text, Vec::new()),
            Some((event, rest)) => {
                let inner = rest.strip_suffix(']').ok_or_else(|| bad("a filter list must end with ]"))?;
                let filters = inner
                    .split(',')
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').ok_or_else(|| bad("filters are property=value"))?;
                        if k.trim().is_empty() {
                            return Err(bad("a filter needs a property name"));
                        }
                        Ok((k.trim().to_owned(), v.trim().to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (event.trim(), filters)
            }
        };
        if event.is_empty() {
            return Err(bad("an event name is required"));
        }
        Ok(Self { event: event.to_owned(), filters })
    }
}

impl FunnelStep {
    /// Whether `event` (of `timelines`) is this step.
    fn matches(&self, name: Option<u32>, event: &Event) -> bool {
        if name != Some(event.name) {
            return false;
        }
        if self.filters.is_empty() {
            return true;
        }
        let Some(properties) = event.properties.as_deref() else { return false };
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(properties) else {
            return false;
        };
        self.filters.iter().all(|(key, wanted)| match map.get(key) {
            Some(serde_json::Value::String(s)) => s == wanted,
            Some(serde_json::Value::Number(n)) => wanted.parse::<f64>().ok() == n.as_f64(),
            Some(serde_json::Value::Bool(b)) => wanted == if *b { "true" } else { "false" },
            _ => false,
        })
    }
}

/// How steps must follow each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// In order; other events may come between.
    #[default]
    Ordered,
    /// In order with nothing between.
    Strict,
    /// In any order.
    Any,
}

impl FromStr for Mode {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self, AnalyticsError> {
        match text {
            "ordered" => Ok(Self::Ordered),
            "strict" => Ok(Self::Strict),
            "any" | "unordered" => Ok(Self::Any),
            other => Err(AnalyticsError::BadRequest(format!("mode must be ordered, strict or any, not {other:?}"))),
        }
    }
}

/// Which event of the attempt gives the breakdown value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Attribution {
    /// Step 1's.
    #[default]
    FirstTouch,
    /// The last step reached.
    LastTouch,
    /// Step N's (1-based), else step 1's for persons who did not reach it.
    Step(usize),
}

impl FromStr for Attribution {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self, AnalyticsError> {
        match text {
            "first" | "first_touch" => Ok(Self::FirstTouch),
            "last" | "last_touch" => Ok(Self::LastTouch),
            _ => text
                .strip_prefix("step")
                .map(|n| n.trim_start_matches([':', '_', ' ']))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n >= 1)
                .map(Self::Step)
                .ok_or_else(|| {
                    AnalyticsError::BadRequest(format!("attribution must be first, last or stepN, not {text:?}"))
                }),
        }
    }
}

/// An exclusion: persons doing `step` between steps `from` and `to` (1-based) drop out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The excluded event.
    pub step: FunnelStep,
    /// After this step.
    pub from: usize,
    /// Before this step.
    pub to: usize,
}

/// A funnel question.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelSpec {
    /// 2 to 32 steps.
    pub steps: Vec<FunnelStep>,
    /// Conversion window from the attempt's start (µs).
    pub window: Micros,
    /// Order mode.
    pub mode: Mode,
    /// Exclusions.
    pub exclusions: Vec<Exclusion>,
    /// Attempts start at or after this time (µs).
    pub from: Micros,
    /// And before this time.
    pub to: Micros,
    /// Whether events carry a breakdown value (see [`crate::timeline::LoadRequest::breakdown`]).
    pub breakdown: bool,
    /// Which event gives the breakdown value.
    pub attribution: Attribution,
}

impl FunnelSpec {
    /// Checks the shape of the question.
    pub fn check(&self) -> Result<(), AnalyticsError> {
        let bad = |m: String| Err(AnalyticsError::BadRequest(m));
        if self.steps.len() < 2 || self.steps.len() > MAX_STEPS {
            return bad(format!("a funnel has 2 to {MAX_STEPS} steps, not {}", self.steps.len()));
        }
        if self.window <= 0 {
            return bad("the conversion window must be positive".into());
        }
        if self.to <= self.from {
            return bad("the date range is empty: from must be before to".into());
        }
        for e in &self.exclusions {
            if e.from < 1 || e.to <= e.from || e.to > self.steps.len() {
                return bad(format!(
                    "exclusion {:?}: between steps must be 1 ≤ from < to ≤ {}",
                    e.step.event,
                    self.steps.len()
                ));
            }
        }
        if let Attribution::Step(n) = self.attribution {
            if n > self.steps.len() {
                return bad(format!("attribution step{n}: the funnel has {} steps", self.steps.len()));
            }
        }
        Ok(())
    }
}

/// One step of the answer (per breakdown value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// 1-based.
    pub step: usize,
    /// Its event.
    pub event: String,
    /// Breakdown value (`null` for persons without one, or without a breakdown).
    pub breakdown: Option<String>,
    /// Persons who reached it.
    pub persons: u64,
    /// Of those who entered step 1 (0–1).
    pub conversion_from_start: f64,
    /// Of those who reached the previous step (0–1).
    pub conversion_from_previous: f64,
    /// Persons who reached the previous step but not this one.
    pub dropoff: u64,
    /// Median seconds from the previous step (none for step 1 or when nobody converted).
    pub median_seconds_to_convert: Option<f64>,
    /// Mean seconds from the previous step.
    pub mean_seconds_to_convert: Option<f64>,
}

/// A person's best attempt: the events (indices) reaching steps 1..=depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Index of the event completing each reached step, in step order.
    pub events: Vec<usize>,
}

/// Per event, which steps and exclusions it matches (bit i: step or exclusion i).
fn match_masks(spec: &FunnelSpec, timelines: &Timelines, events: &[Event]) -> (Vec<u32>, Vec<u32>) {
    let names: Vec<Option<u32>> = spec.steps.iter().map(|s| timelines.lookup(&s.event)).collect();
    let excluded: Vec<Option<u32>> = spec.exclusions.iter().map(|e| timelines.lookup(&e.step.event)).collect();
    let steps = events
        .iter()
        .map(|e| {
            spec.steps
                .iter()
                .zip(&names)
                .enumerate()
                .fold(0u32, |m, (i, (s, n))| m | (u32::from(s.matches(*n, e)) << i))
        })
        .collect();
    let exclusions = events
        .iter()
        .map(|e| {
            spec.exclusions
                .iter()
                .zip(&excluded)
                .enumerate()
                .fold(0u32, |m, (i, (x, n))| m | (u32::from(x.step.matches(*n, e)) << i))
        })
        .collect();
    (steps, exclusions)
}

/// The best attempt of one person's `events` (sorted), if any attempt survives exclusions.
pub fn best_attempt(spec: &FunnelSpec, timelines: &Timelines, events: &[Event]) -> Option<Attempt> {
    let (steps, exclusions) = match_masks(spec, timelines, events);
    let n = spec.steps.len();
    let mut best: Option<Attempt> = None;
    for start in 0..events.len() {
        let t0 = events[start].time;
        if t0 < spec.from || t0 >= spec.to {
            continue;
        }
        let starts = match spec.mode {
            Mode::Any => steps[start] != 0,
            _ => steps[start] & 1 != 0,
        };
        if !starts {
            continue;
        }
        let attempt = walk(spec, events, &steps, start);
        if excluded(spec, events, &exclusions, &attempt, start) {
            continue;
        }
        if best.as_ref().is_none_or(|b| attempt.events.len() > b.events.len()) {
            let full = attempt.events.len() == n;
            best = Some(attempt);
            if full {
                break;
            }
        }
    }
    best
}

/// The steps one attempt from `start` reaches.
fn walk(spec: &FunnelSpec, events: &[Event], steps: &[u32], start: usize) -> Attempt {
    let n = spec.steps.len();
    let deadline = events[start].time.saturating_add(spec.window);
    match spec.mode {
        Mode::Ordered | Mode::Strict => {
            let mut reached = vec![start];
            for (j, mask) in steps.iter().enumerate().skip(start + 1) {
                if reached.len() == n || events[j].time > deadline {
                    break;
                }
                if mask & (1 << reached.len()) != 0 {
                    reached.push(j);
                } else if spec.mode == Mode::Strict {
                    break;
                }
            }
            Attempt { events: reached }
        }
        Mode::Any => {
            let mut done = 0u32;
            let mut reached = Vec::new();
            for (j, mask) in steps.iter().enumerate().skip(start) {
                if events[j].time > deadline || reached.len() == n {
                    break;
                }
                let new = mask & !done;
                if new != 0 {
                    // One event completes one step (the lowest it matches not done yet).
                    done |= new & new.wrapping_neg();
                    reached.push(j);
                }
            }
            Attempt { events: reached }
        }
    }
}

/// Whether an exclusion drops `attempt`.
fn excluded(spec: &FunnelSpec, events: &[Event], exclusions: &[u32], attempt: &Attempt, start: usize) -> bool {
    let deadline = events[start].time.saturating_add(spec.window);
    spec.exclusions.iter().enumerate().any(|(i, x)| {
        let Some(&after) = attempt.events.get(x.from - 1) else { return false };
        let before = attempt.events.get(x.to - 1).copied();
        (after + 1..events.len())
            .take_while(|&j| before.map_or(events[j].time <= deadline, |b| j < b))
            .any(|j| exclusions[j] & (1 << i) != 0)
    })
}

/// Persons per step, and seconds from the previous step of each who converted.
type Tally = (Vec<u64>, Vec<Vec<f64>>);

/// The funnel over every person of `timelines`: one result per step (per breakdown value,
/// values sorted, persons without one last).
pub fn compute_funnel(spec: &FunnelSpec, timelines: &Timelines) -> Result<Vec<StepResult>, AnalyticsError> {
    spec.check()?;
    let n = spec.steps.len();
    // Per breakdown value: persons per step and seconds to convert per step.
    let mut groups: BTreeMap<(bool, Option<&str>), Tally> = BTreeMap::new();
    for (_, events) in &timelines.persons {
        let Some(attempt) = best_attempt(spec, timelines, events) else { continue };
        let depth = attempt.events.len();
        let by = match spec.attribution {
            _ if !spec.breakdown => None,
            Attribution::FirstTouch => events[attempt.events[0]].breakdown,
            Attribution::LastTouch => events[attempt.events[depth - 1]].breakdown,
            Attribution::Step(k) => events[attempt.events.get(k - 1).copied().unwrap_or(attempt.events[0])].breakdown,
        };
        let by = by.map(|i| timelines.names[i as usize].as_str());
        let (persons, seconds) = groups.entry((by.is_none(), by)).or_insert_with(|| (vec![0; n], vec![Vec::new(); n]));
        for k in 0..depth {
            persons[k] += 1;
            if k > 0 {
                let gap = events[attempt.events[k]].time - events[attempt.events[k - 1]].time;
                seconds[k].push(gap as f64 / 1e6);
            }
        }
    }
    let mut results = Vec::new();
    for ((_, by), (persons, mut seconds)) in groups {
        let breakdown = by.map(str::to_owned);
        for k in 0..n {
            let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let previous = if k == 0 { persons[0] } else { persons[k - 1] };
            let times = &mut seconds[k];
            times.sort_by(f64::total_cmp);
            let median = match times.len() {
                0 => None,
                len if len % 2 == 1 => Some(times[len / 2]),
                len => Some((times[len / 2 - 1] + times[len / 2]) / 2.0),
            };
            let mean = (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64);
            results.push(StepResult {
                step: k + 1,
                event: spec.steps[k].event.clone(),
                breakdown: breakdown.clone(),
                persons: persons[k],
                conversion_from_start: ratio(persons[k], persons[0]),
                conversion_from_previous: ratio(persons[k], previous),
                dropoff: previous - persons[k],
                median_seconds_to_convert: if k == 0 { None } else { median },
                mean_seconds_to_convert: if k == 0 { None } else { mean },
            });
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_with_filters_and_bad_ones_are_refused() {
        let step: FunnelStep = "Product Viewed[category=shoes, brand = acme]".parse().expect("step");
        assert_eq!(step.event, "Product Viewed");
        assert_eq!(step.filters, vec![("category".into(), "shoes".into()), ("brand".into(), "acme".into())]);
        for bad in ["", "[a=b]", "X[a=b", "X[ab]", "X[=b]"] {
            assert!(bad.parse::<FunnelStep>().is_err(), "{bad}");
        }
        assert_eq!("step2".parse::<Attribution>().expect("step2"), Attribution::Step(2));
        assert!("step0".parse::<Attribution>().is_err() && "middle".parse::<Attribution>().is_err());
        assert!("sideways".parse::<Mode>().is_err());
    }
}
