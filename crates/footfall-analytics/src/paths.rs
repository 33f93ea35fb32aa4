//! Paths: what persons did next after an event (or before it), step by step, as the links of a
//! Sankey chart. Each person contributes one path: from their first occurrence of the event in
//! the range onwards (`after`), or up to their last occurrence (`before`), `depth` events long.
//! A link `(step, source → target)` counts the persons whose path has `source` at position
//! `step - 1` and `target` at `step`.

use crate::error::AnalyticsError;
use crate::timeline::Timelines;
use crate::Micros;
use serde::Serialize;
use std::collections::HashMap;

/// Which way to walk from the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The events after it.
    After,
    /// The events before it (step 1 is the one just before).
    Before,
}

/// A paths question.
#[derive(Debug, Clone, PartialEq)]
pub struct PathsSpec {
    /// The event paths start (or end) at.
    pub event: String,
    /// Which way.
    pub direction: Direction,
    /// Events per path after the anchor (1–20).
    pub depth: usize,
    /// The anchor occurrence must be at or after this time (µs)…
    pub from: Micros,
    /// …and before this one.
    pub to: Micros,
    /// Links kept per step, the most travelled first (0: all).
    pub top: usize,
}

/// One link of the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathLink {
    /// 1 = from the anchor to the next (or previous) event.
    pub step: usize,
    /// Event at the previous position (the anchor event for step 1).
    pub source: String,
    /// Event at this position.
    pub target: String,
    /// Persons who went this way.
    pub persons: u64,
}

/// The links over every person of `timelines`, by step, most persons first (ties by name).
pub fn compute_paths(spec: &PathsSpec, timelines: &Timelines) -> Result<Vec<PathLink>, AnalyticsError> {
    if spec.depth == 0 || spec.depth > 20 {
        return Err(AnalyticsError::BadRequest("depth must be 1 to 20".into()));
    }
    if spec.to <= spec.from {
        return Err(AnalyticsError::BadRequest("the date range is empty: from must be before to".into()));
    }
    let Some(anchor) = timelines.lookup(&spec.event) else { return Ok(Vec::new()) };
    let mut counts: HashMap<(usize, u32, u32), u64> = HashMap::new();
    for (_, events) in &timelines.persons {
        let in_range = |i: &usize| events[*i].name == anchor && (spec.from..spec.to).contains(&events[*i].time);
        let path: Vec<u32> = match spec.direction {
            Direction::After => match (0..events.len()).find(in_range) {
                Some(start) => events[start..].iter().take(spec.depth + 1).map(|e| e.name).collect(),
                None => continue,
            },
            Direction::Before => match (0..events.len()).rev().find(in_range) {
                Some(end) => events[..=end].iter().rev().take(spec.depth + 1).map(|e| e.name).collect(),
                None => continue,
            },
        };
        for (step, pair) in path.windows(2).enumerate() {
            *counts.entry((step + 1, pair[0], pair[1])).or_default() += 1;
        }
    }
    let name = |i: u32| timelines.names[i as usize].clone();
    let mut links: Vec<PathLink> = counts
        .into_iter()
        .map(|((step, source, target), persons)| PathLink { step, source: name(source), target: name(target), persons })
        .collect();
    links.sort_by(|a, b| {
        (a.step, std::cmp::Reverse(a.persons), &a.source, &a.target).cmp(&(
            b.step,
            std::cmp::Reverse(b.persons),
            &b.source,
            &b.target,
        ))
    });
    if spec.top > 0 {
        let mut kept: HashMap<usize, usize> = HashMap::new();
        links.retain(|l| {
            let n = kept.entry(l.step).or_default();
            *n += 1;
            *n <= spec.top
        });
    }
    Ok(links)
}
