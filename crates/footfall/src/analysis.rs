//! The analysis requests shared by the CLI (`footfall funnel`, `footfall retention`) and the
//! API (`POST /api/v1/funnel`, `POST /api/v1/retention`): parsing, defaults, and running them
//! over the lake.

use footfall_analytics::churn_store::latest_model;
use footfall_analytics::clusters::cluster;
use footfall_analytics::features::{self, Frame};
use footfall_analytics::funnel::{compute_funnel, Attribution, Exclusion, FunnelSpec, FunnelStep, Mode, StepResult};
use footfall_analytics::paths::{compute_paths, Direction, PathLink, PathsSpec};
use footfall_analytics::retention::{compute_retention, Period, RetentionSpec};
use footfall_analytics::rfm::{compute_rfm, profiles, write_segments};
use footfall_analytics::timeline::{load, LoadRequest};
use footfall_analytics::trends::{compute_lifecycle, compute_stickiness, compute_trend, Measure, TrendSpec};
use footfall_analytics::AnalyticsError;
use footfall_lake::metrics::{parse_step, parse_time};
use footfall_lake::Lake;
use footfall_processor::Micros;
use serde::Deserialize;

/// An exclusion in a request: `event` between steps `from_step` and `to_step` (1-based).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExclusionRequest {
    /// The excluded event (filters allowed, as in steps).
    pub event: String,
    /// After this step.
    pub from_step: usize,
    /// Before this step.
    pub to_step: usize,
}

/// A maximum gap in a request: step `step` (1-based, ≥ 2) within `within` of the step before.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxGapRequest {
    /// The step.
    pub step: usize,
    /// `30m`, `2h`, `1d`, …
    pub within: String,
}

/// A funnel request (the API's JSON body; the CLI builds the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelRequest {
    /// 2–32 steps: `Event` or `Event[property=value,…]`.
    pub steps: Vec<String>,
    /// Conversion window: `30m`, `1h`, `7d`, … (default 1d).
    pub window: Option<String>,
    /// `ordered` (default), `strict` or `any`.
    pub mode: Option<String>,
    /// Attempts from (RFC 3339 or Unix seconds; default 30 days before `to`).
    pub from: Option<String>,
    /// Attempts until (default now).
    pub to: Option<String>,
    /// Exclusions.
    #[serde(default)]
    pub exclusions: Vec<ExclusionRequest>,
    /// `device`, `channel`, `campaign`, `browser`, `os`, `country` or `prop:NAME`.
    pub breakdown: Option<String>,
    /// `first` (default), `last` or `stepN`.
    pub attribution: Option<String>,
    /// Maximum gaps between a step and the one before it in the attempt.
    #[serde(default)]
    pub max_gaps: Vec<MaxGapRequest>,
}

fn bad(message: String) -> AnalyticsError {
    AnalyticsError::BadRequest(message)
}

/// How far back a range reaches when `from` is not given: 30 days.
const DEFAULT_SPAN: Micros = 30 * 86_400_000_000;

/// `text` as a time (RFC 3339 or Unix seconds), or `default` when not given.
fn time_or(text: Option<&str>, default: Micros) -> Result<Micros, AnalyticsError> {
    text.map_or(Ok(default), |t| parse_time(t).map_err(|e| bad(e.to_string())))
}

/// A date as the analyses print it: `2026-11-20` (UTC).
fn date(time: Micros) -> String {
    footfall_lake::metrics::format_time(time).get(..10).unwrap_or_default().to_owned()
}

/// An analysis request: answered over the lake as JSON, the same from the CLI and the API.
pub trait Analysis: serde::de::DeserializeOwned + Send + 'static {
    /// What it answers.
    type Answer: serde::Serialize + Send;
    /// Runs it over `lake` at time `now`.
    fn run(
        &self,
        lake: &Lake,
        now: Micros,
    ) -> impl std::future::Future<Output = Result<Self::Answer, AnalyticsError>> + Send;
}

/// Splits `A,B[x=1,y=2],C` at the commas outside brackets.
pub fn split_steps(text: &str) -> Vec<String> {
    let (mut steps, mut current, mut depth) = (Vec::new(), String::new(), 0usize);
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                steps.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    steps.push(current.trim().to_owned());
    steps.retain(|s| !s.is_empty());
    steps
}

impl FunnelRequest {
    /// The checked question and what to load for it.
    pub fn to_spec(&self, now: Micros) -> Result<(FunnelSpec, LoadRequest), AnalyticsError> {
        let mut steps = self.steps.iter().map(|s| s.parse::<FunnelStep>()).collect::<Result<Vec<_>, _>>()?;
        for gap in &self.max_gaps {
            let within = parse_step(&gap.within).map_err(|e| bad(format!("max gap of step {}: {e}", gap.step)))?;
            match steps.get_mut(gap.step.wrapping_sub(1)) {
                Some(step) if gap.step >= 2 => step.max_gap = Some(within),
                _ => return Err(bad(format!("max gap: step {} is not a step 2 to {}", gap.step, steps.len()))),
            }
        }
        let window = parse_step(self.window.as_deref().unwrap_or("1d")).map_err(|e| bad(format!("window: {e}")))?;
        let mode: Mode = self.mode.as_deref().unwrap_or("ordered").parse()?;
        let to = time_or(self.to.as_deref(), now)?;
        let from = time_or(self.from.as_deref(), to - DEFAULT_SPAN)?;
        let exclusions = self
            .exclusions
            .iter()
            .map(|x| Ok(Exclusion { step: x.event.parse()?, from: x.from_step, to: x.to_step }))
            .collect::<Result<Vec<_>, AnalyticsError>>()?;
        let attribution: Attribution = self.attribution.as_deref().unwrap_or("first").parse()?;
        if let Some(b) = &self.breakdown {
            footfall_analytics::timeline::breakdown_column(b)?;
        }
        let spec =
            FunnelSpec { steps, window, mode, exclusions, from, to, breakdown: self.breakdown.is_some(), attribution };
        spec.check()?;
        let named = spec.steps.iter().chain(spec.exclusions.iter().map(|x| &x.step));
        let mut events: Vec<String> = named.clone().map(|s| s.event.clone()).collect();
        events.sort();
        events.dedup();
        let mut properties_of: Vec<String> = named.filter(|s| !s.filters.is_empty()).map(|s| s.event.clone()).collect();
        properties_of.sort();
        properties_of.dedup();
        let load = LoadRequest {
            from,
            to: to.saturating_add(window),
            // Strict funnels need every event: any other one between steps breaks them.
            events: if mode == Mode::Strict { Vec::new() } else { events },
            properties_of,
            breakdown: self.breakdown.clone(),
            ..LoadRequest::default()
        };
        Ok((spec, load))
    }
}

impl Analysis for FunnelRequest {
    type Answer = Vec<StepResult>;

    /// Runs the funnel over `lake`.
    async fn run(&self, lake: &Lake, now: Micros) -> Result<Vec<StepResult>, AnalyticsError> {
        let (spec, request) = self.to_spec(now)?;
        let timelines = load(lake, &request).await?;
        compute_funnel(&spec, &timelines)
    }
}

/// A retention request (the API's JSON body; the CLI builds the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// The event that puts a person in a cohort.
    pub start: String,
    /// The event that counts as coming back.
    #[serde(rename = "return")]
    pub return_event: String,
    /// `day` (default), `week` or `month`.
    pub period: Option<String>,
    /// Periods after the cohort's (default 7).
    pub periods: Option<usize>,
    /// `first_time` (default) or `recurring`.
    pub cohorts: Option<String>,
    /// `bounded` (default: exactly in period k) or `unbounded` (in k or later).
    pub mode: Option<String>,
    /// Cohorts from (RFC 3339 or Unix seconds; default: `periods` periods before `to`).
    pub from: Option<String>,
    /// Cohorts until (default now).
    pub to: Option<String>,
    /// Split cohorts by `device`, `channel`, `campaign`, `browser`, `os`, `country` or
    /// `prop:NAME`, as of the person's first start event in the cohort's period.
    pub breakdown: Option<String>,
}

impl RetentionRequest {
    /// The checked question and what to load for it.
    pub fn to_spec(&self, now: Micros) -> Result<(RetentionSpec, LoadRequest), AnalyticsError> {
        let period: Period = self.period.as_deref().unwrap_or("day").parse()?;
        let periods = self.periods.unwrap_or(7);
        let recurring = match self.cohorts.as_deref().unwrap_or("first_time") {
            "first_time" | "first" => false,
            "recurring" => true,
            other => return Err(bad(format!("cohorts must be first_time or recurring, not {other:?}"))),
        };
        let unbounded = match self.mode.as_deref().unwrap_or("bounded") {
            "bounded" => false,
            "unbounded" => true,
            other => return Err(bad(format!("mode must be bounded or unbounded, not {other:?}"))),
        };
        let to = time_or(self.to.as_deref(), now)?;
        let from = time_or(self.from.as_deref(), period.start(period.index(to) - periods as i64))?;
        let spec = RetentionSpec {
            start_event: self.start.clone(),
            return_event: self.return_event.clone(),
            period,
            periods,
            recurring,
            unbounded,
            from,
            to,
            now,
            breakdown: self.breakdown.is_some(),
        };
        let last = period.start(period.index(to.saturating_sub(1)) + periods as i64 + 1);
        let load = LoadRequest {
            // First-time cohorts need every earlier start event, to know which was first.
            from: if recurring { period.start(period.index(from)) } else { Micros::MIN },
            to: last,
            events: vec![self.start.clone(), self.return_event.clone()],
            breakdown: self.breakdown.clone(),
            ..LoadRequest::default()
        };
        Ok((spec, load))
    }
}

impl Analysis for RetentionRequest {
    type Answer = Vec<serde_json::Value>;

    /// Runs the retention query over `lake`: one JSON object per cohort and period.
    async fn run(&self, lake: &Lake, now: Micros) -> Result<Vec<serde_json::Value>, AnalyticsError> {
        let (spec, request) = self.to_spec(now)?;
        let timelines = load(lake, &request).await?;
        let cells = compute_retention(&spec, &timelines)?;
        Ok(cells
            .iter()
            .map(|c| {
                let mut cell = serde_json::json!({
                    "cohort": date(c.cohort),
                    "cohort_size": c.cohort_size,
                    "period": c.period,
                    "persons": c.persons,
                    "percent": c.percent,
                    "incomplete": c.incomplete,
                });
                if self.breakdown.is_some() {
                    cell["breakdown"] = c.breakdown.clone().into();
                }
                cell
            })
            .collect())
    }
}

/// How far beyond the range a path may look for its next (or previous) events.
const PATH_SLACK: Micros = 30 * 86_400_000_000;

/// A paths request (the API's JSON body; the CLI builds the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsRequest {
    /// The event paths start (or end) at.
    pub event: String,
    /// `after` (default) or `before`.
    pub direction: Option<String>,
    /// Events per path (default 3).
    pub depth: Option<usize>,
    /// Links kept per step (default 10; 0: all).
    pub top: Option<usize>,
    /// Anchor events from (RFC 3339 or Unix seconds; default 30 days before `to`).
    pub from: Option<String>,
    /// Anchor events until (default now).
    pub to: Option<String>,
}

impl PathsRequest {
    /// The checked question and what to load for it (events up to 30 days beyond the range).
    pub fn to_spec(&self, now: Micros) -> Result<(PathsSpec, LoadRequest), AnalyticsError> {
        let direction = match self.direction.as_deref().unwrap_or("after") {
            "after" => Direction::After,
            "before" => Direction::Before,
            other => return Err(bad(format!("direction must be after or before, not {other:?}"))),
        };
        let to = time_or(self.to.as_deref(), now)?;
        let from = time_or(self.from.as_deref(), to - DEFAULT_SPAN)?;
        let spec = PathsSpec {
            event: self.event.clone(),
            direction,
            depth: self.depth.unwrap_or(3),
            from,
            to,
            top: self.top.unwrap_or(10),
        };
        let (load_from, load_to) = match direction {
            Direction::After => (from, to.saturating_add(PATH_SLACK)),
            Direction::Before => (from.saturating_sub(PATH_SLACK), to),
        };
        let load = LoadRequest { from: load_from, to: load_to, ..LoadRequest::default() };
        Ok((spec, load))
    }
}

impl Analysis for PathsRequest {
    type Answer = Vec<PathLink>;

    /// Runs the paths query over `lake`.
    async fn run(&self, lake: &Lake, now: Micros) -> Result<Vec<PathLink>, AnalyticsError> {
        let (spec, request) = self.to_spec(now)?;
        let timelines = load(lake, &request).await?;
        compute_paths(&spec, &timelines)
    }
}

/// A trends request (the API's JSON body; the CLI builds the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendsRequest {
    /// `events` (default), `uniques`, `sum:PROPERTY`, `lifecycle` or `stickiness`.
    pub show: Option<String>,
    /// Only this event (every event if none; `sum:` needs one).
    pub event: Option<String>,
    /// `day` (default), `week` or `month` (stickiness counts days).
    pub interval: Option<String>,
    /// From (RFC 3339 or Unix seconds; default 30 days before `to`).
    pub from: Option<String>,
    /// To (default now).
    pub to: Option<String>,
    /// Break `events`, `uniques` and `sum:` down by device, channel, campaign, browser, os,
    /// country or prop:NAME.
    pub breakdown: Option<String>,
}

impl Analysis for TrendsRequest {
    type Answer = Vec<serde_json::Value>;

    /// Runs it over `lake`: JSON rows (`{time, breakdown, value}`, `{time, new, returning,
    /// resurrecting, dormant}` or `{days, persons}`).
    async fn run(&self, lake: &Lake, now: Micros) -> Result<Vec<serde_json::Value>, AnalyticsError> {
        let interval: Period = self.interval.as_deref().unwrap_or("day").parse()?;
        let to = time_or(self.to.as_deref(), now)?;
        let from = time_or(self.from.as_deref(), to - DEFAULT_SPAN)?;
        if let Some(b) = &self.breakdown {
            footfall_analytics::timeline::breakdown_column(b)?;
        }
        let show = self.show.as_deref().unwrap_or("events");
        let events: Vec<String> = self.event.iter().cloned().collect();
        let range = LoadRequest { from, to, events: events.clone(), ..LoadRequest::default() };
        match show {
            "lifecycle" => {
                // `new` needs each person's history, not just the range.
                let timelines = load(lake, &LoadRequest { from: Micros::MIN, ..range }).await?;
                let points = compute_lifecycle(self.event.as_deref(), interval, from, to, &timelines)?;
                Ok(points
                    .iter()
                    .map(|p| {
                        serde_json::json!({"time": date(p.time), "new": p.new, "returning": p.returning,
                                           "resurrecting": p.resurrecting, "dormant": p.dormant})
                    })
                    .collect())
            }
            "stickiness" => {
                let timelines = load(lake, &range).await?;
                let histogram = compute_stickiness(self.event.as_deref(), from, to, &timelines)?;
                Ok(histogram
                    .iter()
                    .map(|(days, persons)| serde_json::json!({"days": days, "persons": persons}))
                    .collect())
            }
            measure => {
                let measure = match measure {
                    "events" => Measure::Events,
                    "uniques" => Measure::Uniques,
                    other => match other.strip_prefix("sum:") {
                        Some(p) if !p.is_empty() && self.event.is_some() => Measure::Sum(p.to_owned()),
                        Some(_) => return Err(bad("sum:PROPERTY needs an event".into())),
                        None => {
                            return Err(bad(format!(
                                "show must be events, uniques, sum:PROPERTY, lifecycle or stickiness, not {other:?}"
                            )))
                        }
                    },
                };
                let properties_of = if matches!(measure, Measure::Sum(_)) { events } else { Vec::new() };
                let request = LoadRequest { properties_of, breakdown: self.breakdown.clone(), ..range };
                let timelines = load(lake, &request).await?;
                let spec = TrendSpec {
                    event: self.event.clone(),
                    measure,
                    interval,
                    from,
                    to,
                    breakdown: self.breakdown.is_some(),
                };
                Ok(compute_trend(&spec, &timelines)?
                    .iter()
                    .map(|p| serde_json::json!({"time": date(p.time), "breakdown": p.breakdown, "value": p.value}))
                    .collect())
            }
        }
    }
}

/// A segments request (the API's JSON body; the CLI builds the same).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsRequest {
    /// The day segments are computed for (RFC 3339 or Unix seconds; default now).
    pub as_of: Option<String>,
    /// Also list every buyer with their scores.
    #[serde(default)]
    pub persons: bool,
    /// Behavioural clusters (default: the k from 2 to 8 with the best silhouette).
    pub k: Option<usize>,
    /// Also replace the gold `segments` table with every buyer's scores (CLI only).
    #[serde(skip)]
    pub write: bool,
}

impl Analysis for SegmentsRequest {
    type Answer = serde_json::Value;

    /// Runs RFM over `lake` and clusters the persons active in the 30 days before `as_of` by
    /// behaviour: `{"as_of", "buyers", "segments": [profile…], "clusters": {k, silhouettes,
    /// profiles} | null, "persons": [row…]?}`.
    async fn run(&self, lake: &Lake, now: Micros) -> Result<serde_json::Value, AnalyticsError> {
        let as_of = time_or(self.as_of.as_deref(), now)?;
        let orders = vec!["Order Completed".to_owned()];
        let request = LoadRequest {
            from: Micros::MIN,
            to: as_of.saturating_add(1),
            events: orders.clone(),
            properties_of: orders,
            ..LoadRequest::default()
        };
        let rows = compute_rfm(&load(lake, &request).await?, as_of);
        let frame = Frame { cutoff: as_of.saturating_add(1), lookback_days: 90, active_days: 30 };
        let timelines = features::load_events(lake, frame.start(), frame.cutoff).await?;
        let persons = features::compute(&timelines, frame);
        let clustering = match cluster(&persons, self.k, 42) {
            Ok(clustering) => Some(clustering),
            // Too few active persons to cluster: RFM alone, unless a k was asked for.
            Err(AnalyticsError::BadRequest(_)) if self.k.is_none() => None,
            Err(e) => return Err(e),
        };
        if self.write {
            let assigned: Vec<(String, usize)> = clustering
                .as_ref()
                .map(|c| persons.iter().map(|p| p.person_id.clone()).zip(c.assignments.iter().copied()).collect())
                .unwrap_or_default();
            write_segments(lake, &rows, &assigned, as_of).await?;
        }
        let clusters = clustering.as_ref().map(|c| {
            serde_json::json!({
                "k": c.k,
                "persons": persons.len(),
                "silhouettes": c.silhouettes.iter().map(|(k, s)| serde_json::json!({"k": k, "silhouette": s})).collect::<Vec<_>>(),
                "profiles": c.profiles.iter().map(|p| serde_json::json!({
                    "cluster": p.cluster,
                    "persons": p.persons,
                    "label": p.label,
                    "means": p.means.iter().map(|(n, v)| (n.clone(), serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
                })).collect::<Vec<_>>(),
            })
        });
        let mut answer = serde_json::json!({
            "as_of": footfall_lake::metrics::format_time(as_of),
            "buyers": rows.len(),
            "segments": profiles(&rows),
            "clusters": clusters,
        });
        if self.persons {
            answer["persons"] = serde_json::to_value(&rows).map_err(|e| bad(e.to_string()))?;
        }
        Ok(answer)
    }
}

/// A churn request: the latest model's report and the latest scores (the API's JSON body).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnRequest {
    /// How many of the most at-risk persons to list (default 20, at most 1,000).
    pub top: Option<usize>,
}

impl Analysis for ChurnRequest {
    type Answer = serde_json::Value;

    /// `{"trained_at", "report", "scored": {"cutoff", "persons", "risk": {high, medium, low},
    /// "histogram": [persons per 0.1 of probability], "top": [score…]} | null}`, or
    /// `{"trained_at": null}` before the first training.
    async fn run(&self, lake: &Lake, _now: Micros) -> Result<serde_json::Value, AnalyticsError> {
        let top = self.top.unwrap_or(20);
        if top > 1_000 {
            return Err(bad(format!("top must be at most 1000, not {top}")));
        }
        let Some((model, trained_at)) = latest_model(lake).await? else {
            return Ok(serde_json::json!({ "trained_at": null, "report": null, "scored": null }));
        };
        let query = "SELECT person_id, churn_probability, rank, risk, recency_days, events_30d, orders, revenue, \
                     cutoff FROM churn_scores ORDER BY rank";
        let scored = match footfall_lake::sql::query_if_exists(lake, "churn_scores", query).await? {
            None => serde_json::Value::Null,
            Some(batches) => {
                let (_, rows) = crate::output::json_rows(&batches).map_err(|e| bad(e.to_string()))?;
                let mut risk = serde_json::Map::new();
                let mut histogram = [0u64; 10];
                for row in &rows {
                    let level = row["risk"].as_str().unwrap_or("").to_owned();
                    let n = risk.get(&level).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    risk.insert(level, (n + 1).into());
                    let p = row["churn_probability"].as_f64().unwrap_or(0.0);
                    histogram[((p * 10.0).floor().max(0.0) as usize).min(9)] += 1;
                }
                serde_json::json!({
                    "cutoff": rows.first().map(|r| r["cutoff"].clone()),
                    "persons": rows.len(),
                    "risk": risk,
                    "histogram": histogram,
                    "top": rows.iter().take(top).collect::<Vec<_>>(),
                })
            }
        };
        Ok(serde_json::json!({
            "trained_at": footfall_lake::metrics::format_time(trained_at),
            "report": model.report,
            "scored": scored,
        }))
    }
}
