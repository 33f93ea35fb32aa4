//! Retention: cohorts of persons by when they did a start event, and how many came back (did
//! a return event) in each later period.
//!
//! Periods are UTC calendar days, ISO weeks (from Monday) or calendar months. `first_time`
//! puts a person in the cohort of the first period they ever did the start event (earlier
//! data counts, so "first" means first); `recurring` puts them in every period they did it.
//! Period 0 is the cohort itself. `bounded`: returned in exactly period k; `unbounded`:
//! in period k or later (Mixpanel's "on or after"). A period that has not ended by `now` is
//! marked incomplete rather than counted as churn. With a breakdown, each cohort splits by
//! the value of the person's first start event in the cohort's period (a person property such
//! as device, channel, country or `prop:NAME`, as it was when they entered the cohort).

use crate::error::AnalyticsError;
use crate::timeline::Timelines;
use crate::Micros;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// µs in a day.
const DAY: Micros = 86_400_000_000;

/// A period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// UTC calendar day.
    Day,
    /// ISO week, Monday to Sunday, UTC.
    Week,
    /// Calendar month, UTC.
    Month,
}

impl FromStr for Period {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self, AnalyticsError> {
        match text {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            other => Err(AnalyticsError::BadRequest(format!("period must be day, week or month, not {other:?}"))),
        }
    }
}

/// Days from 1970-01-01 to the first day of `month` (months since 1970-01).
fn month_start_day(month: i64) -> i64 {
    let (year, m) = (1970 + month.div_euclid(12), month.rem_euclid(12) + 1);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Period {
    /// The number of the period holding `time` (days, weeks or months since 1970).
    pub fn index(self, time: Micros) -> i64 {
        let day = time.div_euclid(DAY);
        match self {
            Self::Day => day,
            // 1970-01-01 was a Thursday: shift so weeks start on Monday.
            Self::Week => (day + 3).div_euclid(7),
            Self::Month => {
                let mut month = (day as f64 / 30.436_875).floor() as i64;
                while month_start_day(month) > day {
                    month -= 1;
                }
                while month_start_day(month + 1) <= day {
                    month += 1;
                }
                month
            }
        }
    }

    /// Start of period `index` (µs).
    pub fn start(self, index: i64) -> Micros {
        match self {
            Self::Day => index * DAY,
            Self::Week => (index * 7 - 3) * DAY,
            Self::Month => month_start_day(index) * DAY,
        }
    }
}

/// A retention question.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionSpec {
    /// The event that puts a person in a cohort.
    pub start_event: String,
    /// The event that counts as coming back.
    pub return_event: String,
    /// Period length.
    pub period: Period,
    /// Periods after the cohort's (the matrix has `periods + 1` columns).
    pub periods: usize,
    /// `first_time` (false) or `recurring` (true) cohorts.
    pub recurring: bool,
    /// Returned in period k or later (true), or in exactly period k (false).
    pub unbounded: bool,
    /// Cohorts from the period holding this time (µs)…
    pub from: Micros,
    /// …up to the period holding this time (exclusive).
    pub to: Micros,
    /// Periods ending after this are incomplete.
    pub now: Micros,
    /// Whether events carry a breakdown value (see [`crate::timeline::LoadRequest::breakdown`]).
    pub breakdown: bool,
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionCell {
    /// Start of the cohort's period (µs).
    pub cohort: Micros,
    /// The breakdown value (with a breakdown; `null` for persons without one).
    pub breakdown: Option<String>,
    /// Persons in the cohort.
    pub cohort_size: u64,
    /// 0 … periods.
    pub period: usize,
    /// Persons who came back in it (period 0: the cohort).
    pub persons: u64,
    /// Of the cohort (0–100).
    pub percent: f64,
    /// The period has not ended yet.
    pub incomplete: bool,
}

/// The cohort × period matrix over `timelines` (which must hold every start event since the
/// beginning for `first_time` cohorts, and the return events up to the last period).
pub fn compute_retention(spec: &RetentionSpec, timelines: &Timelines) -> Result<Vec<RetentionCell>, AnalyticsError> {
    if spec.periods == 0 || spec.periods > 366 {
        return Err(AnalyticsError::BadRequest("periods must be 1 to 366".into()));
    }
    if spec.to <= spec.from {
        return Err(AnalyticsError::BadRequest("the date range is empty: from must be before to".into()));
    }
    let (first_cohort, last_cohort) = (spec.period.index(spec.from), spec.period.index(spec.to - 1));
    let start = timelines.lookup(&spec.start_event);
    let back = timelines.lookup(&spec.return_event);
    // (breakdown, cohort) → (persons, per period k ≥ 1: persons returned); persons without a
    // breakdown value sort last.
    type Key<'a> = (bool, Option<&'a str>, i64);
    let mut cohorts: BTreeMap<Key<'_>, (u64, Vec<u64>)> = BTreeMap::new();
    for (_, events) in &timelines.persons {
        // Each start period with the breakdown of its first start event.
        let mut starts: BTreeMap<i64, Option<u32>> = BTreeMap::new();
        for e in events.iter().filter(|e| Some(e.name) == start) {
            starts.entry(spec.period.index(e.time)).or_insert(e.breakdown);
        }
        let cohorts_of: Vec<(i64, Option<u32>)> =
            if spec.recurring { starts.into_iter().collect() } else { starts.into_iter().next().into_iter().collect() };
        let returns: BTreeSet<i64> =
            events.iter().filter(|e| Some(e.name) == back).map(|e| spec.period.index(e.time)).collect();
        for (cohort, by) in cohorts_of.into_iter().filter(|(c, _)| (first_cohort..=last_cohort).contains(c)) {
            let by = by.filter(|_| spec.breakdown).map(|i| timelines.names[i as usize].as_str());
            let (size, returned) =
                cohorts.entry((by.is_none(), by, cohort)).or_insert_with(|| (0, vec![0; spec.periods]));
            *size += 1;
            for k in 1..=spec.periods {
                let target = cohort + k as i64;
                let came_back =
                    if spec.unbounded { returns.range(target..).next().is_some() } else { returns.contains(&target) };
                if came_back {
                    returned[k - 1] += 1;
                }
            }
        }
    }
    let mut cells = Vec::new();
    for ((_, by, cohort), (size, returned)) in cohorts {
        for k in 0..=spec.periods {
            let persons = if k == 0 { size } else { returned[k - 1] };
            cells.push(RetentionCell {
                cohort: spec.period.start(cohort),
                breakdown: by.map(str::to_owned),
                cohort_size: size,
                period: k,
                persons,
                percent: if size == 0 { 0.0 } else { 100.0 * persons as f64 / size as f64 },
                incomplete: spec.period.start(cohort + k as i64 + 1) > spec.now,
            });
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_days_iso_weeks_and_months() {
        // 2026-11-25 (a Wednesday) 13:00 UTC.
        let t = 1_795_611_600_000_000;
        assert_eq!(Period::Day.start(Period::Day.index(t)), 1_795_564_800_000_000, "midnight");
        assert_eq!(Period::Week.start(Period::Week.index(t)), 1_795_392_000_000_000, "Monday 2026-11-23");
        assert_eq!(Period::Month.start(Period::Month.index(t)), 1_793_491_200_000_000, "2026-11-01");
        assert_eq!(Period::Month.index(0), 0);
        assert_eq!(Period::Month.start(Period::Month.index(t) + 2), 1_798_761_600_000_000, "2027-01-01");
        assert_eq!(Period::Week.index(Period::Week.start(5)), 5);
    }
}
