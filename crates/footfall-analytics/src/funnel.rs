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
//!
//! Optional steps (`?Coupon Applied`) may be skipped; a step may also have a maximum gap from
//! the step before it in the attempt. With either, an attempt takes the chain of events that
//! gets furthest through the steps, then includes the most optional steps, then uses the
//! earliest events (found by a search; without them one greedy pass gives the same chain).

use crate::error::AnalyticsError;
use crate::timeline::{Event, Timelines};
use crate::Micros;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
    /// The step may be skipped (written with a leading `?`).
    pub optional: bool,
    /// The most time (µs) allowed from the previous step of the attempt to this one.
    pub max_gap: Option<Micros>,
}

impl FromStr for FunnelStep {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self, AnalyticsError> {
        let bad = |why: &str| AnalyticsError::BadRequest(format!("step {text:?}: {why}"));
        let text = text.trim();
        let (optional, text) = match text.strip_prefix('?') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, text),
        };
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
        Ok(Self { event: event.to_owned(), filters, optional, max_gap: None })
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
    /// Whether no step is optional or has a maximum gap (one greedy pass finds each attempt).
    pub fn plain(&self) -> bool {
        self.steps.iter().all(|s| !s.optional && s.max_gap.is_none())
    }

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
        if self.steps[0].optional || self.steps[0].max_gap.is_some() {
            return bad("step 1 cannot be optional or have a maximum gap".into());
        }
        if !self.plain() && self.mode == Mode::Any {
            return bad("optional steps and maximum gaps need ordered or strict mode".into());
        }
        if self.steps.iter().any(|s| s.max_gap.is_some_and(|g| g <= 0)) {
            return bad("a maximum gap must be positive".into());
        }
        for e in &self.exclusions {
            if self.steps[e.from - 1].optional || self.steps[e.to - 1].optional {
                return bad(format!("exclusion {:?}: its steps cannot be optional ones", e.step.event));
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
    /// Whether the step may be skipped.
    pub optional: bool,
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

/// A person's best attempt: the chain of events through the steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Index of the event completing each step of the chain, in step order.
    pub events: Vec<usize>,
    /// The step (0-based) each of those events completes (skipped optional steps are absent).
    pub steps: Vec<usize>,
}

impl Attempt {
    /// The last step reached (0-based).
    pub fn furthest(&self) -> usize {
        self.steps.last().copied().unwrap_or(0)
    }

    /// Better than `other`: further through the steps, then more of them.
    fn beats(&self, other: &Attempt) -> bool {
        (self.furthest(), self.steps.len()) > (other.furthest(), other.steps.len())
    }

    /// The event of `step` (0-based), if the chain includes it.
    fn event_of(&self, step: usize) -> Option<usize> {
        self.steps.iter().position(|&s| s == step).map(|i| self.events[i])
    }
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
        let attempt =
            if spec.plain() { walk(spec, events, &steps, start) } else { search(spec, events, &steps, start) };
        if excluded(spec, events, &exclusions, &attempt, start) {
            continue;
        }
        if best.as_ref().is_none_or(|b| attempt.beats(b)) {
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
            let steps = (0..reached.len()).collect();
            Attempt { events: reached, steps }
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
            let steps = (0..reached.len()).collect();
            Attempt { events: reached, steps }
        }
    }
}

/// The best chain of an attempt from `start` when steps may be skipped or have maximum gaps
/// (ordered or strict): a memoized search over (step, event) of the chains within the window.
fn search(spec: &FunnelSpec, events: &[Event], steps: &[u32], start: usize) -> Attempt {
    let deadline = events[start].time.saturating_add(spec.window);
    let end = events.partition_point(|e| e.time <= deadline).max(start + 1);
    let mut memo: HashMap<(usize, usize), Attempt> = HashMap::new();
    best_from(spec, events, steps, end, 0, start, &mut memo)
}

/// The best chain whose first element is `step` completed by event `at`.
fn best_from(
    spec: &FunnelSpec,
    events: &[Event],
    masks: &[u32],
    end: usize,
    step: usize,
    at: usize,
    memo: &mut HashMap<(usize, usize), Attempt>,
) -> Attempt {
    if let Some(known) = memo.get(&(step, at)) {
        return known.clone();
    }
    let mut best: Option<Attempt> = None;
    // Next steps: the following one, or further when every step skipped is optional.
    for next in step + 1..spec.steps.len() {
        let candidates = if spec.mode == Mode::Strict { at + 1..(at + 2).min(end) } else { at + 1..end };
        for j in candidates {
            if masks[j] & (1 << next) == 0 {
                continue;
            }
            if spec.steps[next].max_gap.is_some_and(|gap| events[j].time - events[at].time > gap) {
                continue;
            }
            let chain = best_from(spec, events, masks, end, next, j, memo);
            // The best continuation: furthest, then most steps, then earliest events.
            let better = match &best {
                None => true,
                Some(b) => chain.beats(b) || (!b.beats(&chain) && chain.events < b.events),
            };
            if better {
                best = Some(chain);
            }
        }
        if !spec.steps[next].optional {
            break;
        }
    }
    let mut chain = Attempt { events: vec![at], steps: vec![step] };
    if let Some(rest) = best {
        chain.events.extend(rest.events);
        chain.steps.extend(rest.steps);
    }
    memo.insert((step, at), chain.clone());
    chain
}

/// Whether an exclusion drops `attempt`.
fn excluded(spec: &FunnelSpec, events: &[Event], exclusions: &[u32], attempt: &Attempt, start: usize) -> bool {
    let deadline = events[start].time.saturating_add(spec.window);
    spec.exclusions.iter().enumerate().any(|(i, x)| {
        let Some(after) = attempt.event_of(x.from - 1) else { return false };
        let before = attempt.event_of(x.to - 1);
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
        let last = attempt.events.len() - 1;
        let by = match spec.attribution {
            _ if !spec.breakdown => None,
            Attribution::FirstTouch => events[attempt.events[0]].breakdown,
            Attribution::LastTouch => events[attempt.events[last]].breakdown,
            Attribution::Step(k) => events[attempt.event_of(k - 1).unwrap_or(attempt.events[0])].breakdown,
        };
        let by = by.map(|i| timelines.names[i as usize].as_str());
        let (persons, seconds) = groups.entry((by.is_none(), by)).or_insert_with(|| (vec![0; n], vec![Vec::new(); n]));
        for (i, (&step, &event)) in attempt.steps.iter().zip(&attempt.events).enumerate() {
            persons[step] += 1;
            if i > 0 {
                let gap = events[event].time - events[attempt.events[i - 1]].time;
                seconds[step].push(gap as f64 / 1e6);
            }
        }
    }
    // Conversion "from previous" compares with the nearest earlier step that cannot be skipped.
    let previous_required: Vec<usize> =
        (0..n).map(|k| (0..k).rev().find(|&j| !spec.steps[j].optional).unwrap_or(0)).collect();
    let mut results = Vec::new();
    for ((_, by), (persons, mut seconds)) in groups {
        let breakdown = by.map(str::to_owned);
        for k in 0..n {
            let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let previous = persons[previous_required[k]];
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
                optional: spec.steps[k].optional,
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
