//! The metrics query parameters shared by `footfall metrics` and `GET /api/v1/metrics`.

use footfall_lake::metrics::{parse_step, parse_time, Dimension, Metric, MetricsQuery};
use footfall_lake::LakeError;
use footfall_processor::Micros;
use serde::Deserialize;

/// A time series request; every parameter has a default.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    /// events, uniques, revenue or orders (default: events).
    #[arg(long)]
    pub metric: Option<String>,
    /// Only this event (default: every event).
    #[arg(long)]
    pub event: Option<String>,
    /// Start, RFC 3339 or seconds since 1970 (default: 24 hours before `to`).
    #[arg(long)]
    pub from: Option<String>,
    /// End, exclusive (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Step: 1m, 5m, 1h, 1d, … (default: 1h).
    #[arg(long)]
    pub step: Option<String>,
    /// One series per device, channel or event.
    #[arg(long)]
    pub by: Option<String>,
}

impl MetricsParams {
    /// The checked query and its step as given.
    pub fn to_query(&self, now: Micros) -> Result<(MetricsQuery, String), LakeError> {
        let metric: Metric = self.metric.as_deref().unwrap_or("events").parse()?;
        let step_text = self.step.clone().unwrap_or_else(|| "1h".into());
        let step = parse_step(&step_text)?;
        let to = match &self.to {
            Some(text) => parse_time(text)?,
            None => now,
        };
        let from = match &self.from {
            Some(text) => parse_time(text)?,
            None => to.saturating_sub(24 * 3_600_000_000),
        };
        let by = self.by.as_deref().map(str::parse::<Dimension>).transpose()?;
        let event = self.event.clone().filter(|e| !e.is_empty());
        Ok((MetricsQuery::new(metric, event, from, to, step, by)?, step_text))
    }
}

/// Now, in µs since 1970.
pub fn now_micros() -> Micros {
    chrono::Utc::now().timestamp_micros()
}
