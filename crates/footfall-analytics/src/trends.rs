//! Trends over intervals (UTC days, ISO weeks, calendar months): events, unique persons or
//! the sum of a property per interval, optionally per breakdown value; the lifecycle of
//! persons per interval (new, returning, resurrecting, dormant, as PostHog defines them); and
//! stickiness (persons by how many days of the range they were active).

use crate::error::AnalyticsError;
use crate::retention::Period;
use crate::timeline::{Event, Timelines};
use crate::Micros;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What to count per interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Events.
    Events,
    /// Distinct persons.
    Uniques,
    /// The sum of a numeric property (numbers, or text that reads as one).
    Sum(String),
}

/// A trend question.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSpec {
    /// Only this event (all events if none).
    pub event: Option<String>,
    /// What to count.
    pub measure: Measure,
    /// Interval length.
    pub interval: Period,
    /// From (µs, inclusive)…
    pub from: Micros,
    /// …to (exclusive).
    pub to: Micros,
    /// Whether events carry a breakdown value.
    pub breakdown: bool,
}

/// One point of a trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Interval start (µs).
    pub time: Micros,
    /// Breakdown value (none without a breakdown or for events without one).
    pub breakdown: Option<String>,
    /// The measure.
    pub value: f64,
}

fn check(from: Micros, to: Micros, interval: Period) -> Result<(i64, i64), AnalyticsError> {
    if to <= from {
        return Err(AnalyticsError::BadRequest("the date range is empty: from must be before to".into()));
    }
    let (first, last) = (interval.index(from), interval.index(to - 1));
    if last - first > 10_000 {
        return Err(AnalyticsError::BadRequest("at most 10,000 intervals: use a longer interval".into()));
    }
    Ok((first, last))
}

fn wanted(timelines: &Timelines, event: Option<&str>) -> Option<Option<u32>> {
    match event {
        None => Some(None),
        Some(name) => timelines.lookup(name).map(Some),
    }
}

fn property(event: &Event, name: &str) -> Option<f64> {
    let properties = event.properties.as_deref()?;
    let serde_json::Value::Object(map) = serde_json::from_str::<serde_json::Value>(properties).ok()? else {
        return None;
    };
    match map.get(name)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One interval of one group: the running value, and the persons seen (for uniques).
type Cell = (f64, HashSet<usize>);

/// The trend: every interval of the range for every breakdown value seen (zero where none).
pub fn compute_trend(spec: &TrendSpec, timelines: &Timelines) -> Result<Vec<TrendPoint>, AnalyticsError> {
    let (first, last) = check(spec.from, spec.to, spec.interval)?;
    let Some(name) = wanted(timelines, spec.event.as_deref()) else { return Ok(Vec::new()) };
    // (group, interval) → (value, persons seen)
    let mut cells: BTreeMap<(bool, Option<&str>), BTreeMap<i64, Cell>> = BTreeMap::new();
    if !spec.breakdown {
        cells.insert((false, None), BTreeMap::new());
    }
    for (person, (_, events)) in timelines.persons.iter().enumerate() {
        for e in events.iter().filter(|e| name.is_none_or(|n| n == e.name)) {
            if e.time < spec.from || e.time >= spec.to {
                continue;
            }
            let group = if spec.breakdown { e.breakdown.map(|b| timelines.names[b as usize].as_str()) } else { None };
            let cell = cells.entry((spec.breakdown && group.is_none(), group)).or_default();
            let (value, persons) = cell.entry(spec.interval.index(e.time)).or_default();
            match &spec.measure {
                Measure::Events => *value += 1.0,
                Measure::Uniques => {
                    persons.insert(person);
                }
                Measure::Sum(p) => *value += property(e, p).unwrap_or(0.0),
            }
        }
    }
    let mut points = Vec::new();
    for ((_, group), intervals) in cells {
        for index in first..=last {
            let value = intervals.get(&index).map_or(0.0, |(v, persons)| match spec.measure {
                Measure::Uniques => persons.len() as f64,
                _ => *v,
            });
            points.push(TrendPoint { time: spec.interval.start(index), breakdown: group.map(str::to_owned), value });
        }
    }
    Ok(points)
}

/// Persons of one interval by lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LifecyclePoint {
    /// Interval start (µs).
    pub time: Micros,
    /// Active for the first time ever.
    pub new: u64,
    /// Active in this interval and the one before.
    pub returning: u64,
    /// Active now, not in the interval before, but at some time earlier.
    pub resurrecting: u64,
    /// Active in the interval before but not in this one.
    pub dormant: u64,
}

/// The lifecycle per interval of persons doing `event` (any event if none). `timelines` must
/// hold each person's activity since their first (for `new` to mean new).
pub fn compute_lifecycle(
    event: Option<&str>,
    interval: Period,
    from: Micros,
    to: Micros,
    timelines: &Timelines,
) -> Result<Vec<LifecyclePoint>, AnalyticsError> {
    let (first, last) = check(from, to, interval)?;
    let mut points: Vec<LifecyclePoint> =
        (first..=last).map(|i| LifecyclePoint { time: interval.start(i), ..LifecyclePoint::default() }).collect();
    let Some(name) = wanted(timelines, event) else { return Ok(points) };
    for (_, events) in &timelines.persons {
        let active: BTreeSet<i64> =
            events.iter().filter(|e| name.is_none_or(|n| n == e.name)).map(|e| interval.index(e.time)).collect();
        let Some(&born) = active.first() else { continue };
        for (slot, index) in (first..=last).enumerate() {
            let (now, before) = (active.contains(&index), active.contains(&(index - 1)));
            let point = &mut points[slot];
            match (now, before) {
                (true, _) if index == born => point.new += 1,
                (true, true) => point.returning += 1,
                (true, false) => point.resurrecting += 1,
                (false, true) => point.dormant += 1,
                (false, false) => {}
            }
        }
    }
    Ok(points)
}

/// Persons by the number of distinct days (1…) of the range on which they did `event`.
pub fn compute_stickiness(
    event: Option<&str>,
    from: Micros,
    to: Micros,
    timelines: &Timelines,
) -> Result<BTreeMap<usize, u64>, AnalyticsError> {
    check(from, to, Period::Day)?;
    let mut histogram = BTreeMap::new();
    let Some(name) = wanted(timelines, event) else { return Ok(histogram) };
    for (_, events) in &timelines.persons {
        let days: BTreeSet<i64> = events
            .iter()
            .filter(|e| name.is_none_or(|n| n == e.name) && e.time >= from && e.time < to)
            .map(|e| Period::Day.index(e.time))
            .collect();
        if !days.is_empty() {
            *histogram.entry(days.len()).or_default() += 1;
        }
    }
    Ok(histogram)
}
