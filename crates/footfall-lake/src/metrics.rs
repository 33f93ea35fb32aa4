//! The embedded time-series store: the one-minute windows of `metrics_1m` plus the windows the
//! processor holds in memory (closed but not committed yet, and still open), rolled up to a
//! coarser step. Counts and sums add; unique persons merge their sketches (a union), never
//! add distinct counts.

use crate::error::LakeError;
use crate::location::Lake;
use crate::processed::METRICS_1M;
use chrono::{DateTime, SecondsFormat, Utc};
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::IntervalMonthDayNano;
use deltalake::arrow::datatypes::{DataType, TimeUnit};
use deltalake::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use deltalake::datafusion::functions::expr_fn::date_bin;
use deltalake::datafusion::functions_aggregate::expr_fn::sum;
use deltalake::datafusion::prelude::{col, lit, DataFrame, SessionContext};
use deltalake::datafusion::scalar::ScalarValue;
use footfall_processor::pipeline::MetricRow;
use footfall_processor::sketch::PersonSketch;
use footfall_processor::windows::{WindowFigures, WindowKey};
use footfall_processor::{Micros, MINUTE};
use std::collections::BTreeMap;
use std::str::FromStr;

/// What to measure per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Events (bots and late events left out).
    Events,
    /// Unique persons (exact for small sets, HyperLogLog beyond).
    Uniques,
    /// Revenue of orders (refunds negative).
    Revenue,
    /// Orders completed.
    Orders,
}

impl FromStr for Metric {
    type Err = LakeError;
    fn from_str(text: &str) -> Result<Self, LakeError> {
        match text {
            "events" => Ok(Self::Events),
            "uniques" => Ok(Self::Uniques),
            "revenue" => Ok(Self::Revenue),
            "orders" => Ok(Self::Orders),
            other => Err(bad(format!("metric must be events, uniques, revenue or orders, not {other:?}"))),
        }
    }
}

/// A dimension to break a series down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Device type: desktop, mobile, tablet, other.
    Device,
    /// Acquisition channel.
    Channel,
    /// Event name.
    Event,
}

impl Dimension {
    /// Its name in queries and answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Channel => "channel",
            Self::Event => "event",
        }
    }
}

impl FromStr for Dimension {
    type Err = LakeError;
    fn from_str(text: &str) -> Result<Self, LakeError> {
        match text {
            "device" | "device_type" => Ok(Self::Device),
            "channel" => Ok(Self::Channel),
            "event" => Ok(Self::Event),
            other => Err(bad(format!("by must be device, channel or event, not {other:?}"))),
        }
    }
}

/// A step: whole minutes, written `1m`, `5m`, `1h`, `1d` (any count of m, h or d).
pub fn parse_step(text: &str) -> Result<Micros, LakeError> {
    let unit = match text.chars().last() {
        Some('m') => MINUTE,
        Some('h') => 60 * MINUTE,
        Some('d') => 24 * 60 * MINUTE,
        _ => return Err(bad(format!("step must be like 1m, 5m, 1h or 1d, not {text:?}"))),
    };
    let count: i64 = text[..text.len() - 1]
        .parse()
        .ok()
        .filter(|n| (1..=366 * 24 * 60).contains(n))
        .ok_or_else(|| bad(format!("step must be like 1m, 5m, 1h or 1d, not {text:?}")))?;
    Ok(count * unit)
}

/// A time: RFC 3339 (`2026-11-20T00:00:00Z`) or whole seconds since the epoch.
/// Times are of years 0000 to 9999, so every difference and step fits in µs.
pub fn parse_time(text: &str) -> Result<Micros, LakeError> {
    let time = match text.parse::<i64>() {
        Ok(seconds) => seconds.checked_mul(1_000_000),
        Err(_) => Some(
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros())
                .map_err(|e| bad(format!("time must be RFC 3339 or seconds since 1970, not {text:?}: {e}")))?,
        ),
    };
    time.filter(|t| (EARLIEST_TIME..=LATEST_TIME).contains(t))
        .ok_or_else(|| bad(format!("time {text:?} out of range (years 0000 to 9999)")))
}

/// 0000-01-01T00:00:00Z in µs.
const EARLIEST_TIME: Micros = -62_167_219_200_000_000;
/// 9999-12-31T23:59:59.999999Z in µs.
const LATEST_TIME: Micros = 253_402_300_799_999_999;

/// A time as RFC 3339 text, UTC.
pub fn format_time(time: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(time)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| time.to_string())
}

fn bad(message: String) -> LakeError {
    LakeError::BadMetricsQuery(message)
}

/// Most points a query may ask for (per series).
pub const MAX_POINTS: i64 = 100_000;

/// A metrics query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// What to measure.
    pub metric: Metric,
    /// Only this event, if given.
    pub event: Option<String>,
    /// Start, inclusive (µs); floored to the step.
    pub from: Micros,
    /// End, exclusive (µs).
    pub to: Micros,
    /// Step (µs, whole minutes).
    pub step: Micros,
    /// One series per value of this dimension, if given.
    pub by: Option<Dimension>,
}

impl MetricsQuery {
    /// A checked query: a positive range of at most [`MAX_POINTS`] steps.
    pub fn new(
        metric: Metric,
        event: Option<String>,
        from: Micros,
        to: Micros,
        step: Micros,
        by: Option<Dimension>,
    ) -> Result<Self, LakeError> {
        if step <= 0 || step % MINUTE != 0 {
            return Err(bad("step must be whole minutes".into()));
        }
        let from = from.div_euclid(step).checked_mul(step).ok_or_else(|| bad("from is out of range".into()))?;
        if to <= from {
            return Err(bad(format!("from ({}) must be before to ({})", format_time(from), format_time(to))));
        }
        if to.checked_sub(from).is_none_or(|range| range / step > MAX_POINTS) {
            return Err(bad(format!("at most {MAX_POINTS} points per series: use a coarser step")));
        }
        Ok(Self { metric, event, from, to, step, by })
    }

    /// Start of each step in the range.
    pub fn steps(&self) -> impl Iterator<Item = Micros> + '_ {
        (self.from..self.to).step_by(self.step as usize)
    }
}

/// One minute window of one event, device type and channel.
#[derive(Debug, Clone)]
pub struct WindowRecord {
    /// Window start (µs).
    pub start: Micros,
    /// Event name.
    pub event: String,
    /// Device type.
    pub device_type: String,
    /// Channel.
    pub channel: String,
    /// Events.
    pub events: u64,
    /// Revenue.
    pub revenue: f64,
    /// Orders.
    pub orders: u64,
    /// Unique persons.
    pub uniques: u64,
    /// Persons (empty when read for a metric that does not need them).
    pub persons: PersonSketch,
    /// The log offset that closed it; `u64::MAX` while open.
    pub trigger_offset: u64,
}

impl WindowRecord {
    /// A closed window from the processor's row.
    pub fn from_row(row: &MetricRow) -> Self {
        Self {
            start: row.key.start,
            event: row.key.event.clone(),
            device_type: row.key.device_type.clone(),
            channel: row.key.channel.clone(),
            events: row.events,
            revenue: row.revenue,
            orders: row.orders,
            uniques: row.uniques,
            persons: PersonSketch::from_bytes(&row.persons_sketch).unwrap_or_default(),
            trigger_offset: row.trigger_offset,
        }
    }

    /// A window still open.
    pub fn open(key: &WindowKey, figures: &WindowFigures) -> Self {
        Self {
            start: key.start,
            event: key.event.clone(),
            device_type: key.device_type.clone(),
            channel: key.channel.clone(),
            events: figures.events,
            revenue: figures.revenue,
            orders: figures.orders,
            uniques: figures.persons.clone().count(),
            persons: figures.persons.clone(),
            trigger_offset: u64::MAX,
        }
    }

    fn dimension(&self, by: Dimension) -> &str {
        match by {
            Dimension::Device => &self.device_type,
            Dimension::Channel => &self.channel,
            Dimension::Event => &self.event,
        }
    }
}

/// The windows only the processor holds: `metrics_1m` is committed up to log offset
/// `committed`; `windows` are those closed after it and those still open.
#[derive(Debug, Clone, Default)]
pub struct RecentWindows {
    /// `metrics_1m` holds every window closed by a record before this offset.
    pub committed: u64,
    /// Windows closed since, and open ones.
    pub windows: Vec<WindowRecord>,
}

/// One series of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The dimension's value (none without `by`).
    pub group: Option<String>,
    /// `(step start, value)` for every step of the range, zero where nothing happened.
    pub points: Vec<(Micros, f64)>,
}

/// Runs `query` over `metrics_1m` in `lake` and, if given, the processor's recent windows.
/// Read the recent windows before calling: the lake then holds at least what they say is
/// committed, and rows committed since are taken from them, not twice.
pub async fn query(
    lake: &Lake,
    query: &MetricsQuery,
    recent: Option<&RecentWindows>,
) -> Result<Vec<Series>, LakeError> {
    let frame = metrics_frame(lake).await?;
    answer(frame, query, recent).await
}

/// `metrics_1m` kept open between queries and brought to its latest version before each (a
/// few new commits read, not the whole log): what the API queries.
#[derive(Debug)]
pub struct MetricsStore {
    lake: Lake,
    table: tokio::sync::Mutex<Option<deltalake::DeltaTable>>,
}

impl MetricsStore {
    /// A store over `lake`'s `metrics_1m` (opened at the first query).
    pub fn new(lake: Lake) -> Self {
        Self { lake, table: tokio::sync::Mutex::new(None) }
    }

    /// [`query`], on the table kept open.
    pub async fn query(&self, query: &MetricsQuery, recent: Option<&RecentWindows>) -> Result<Vec<Series>, LakeError> {
        let frame = {
            let mut table = self.table.lock().await;
            match table.as_mut() {
                Some(open) => open.update_incremental(None).await?,
                None => *table = self.lake.open_table(METRICS_1M).await?,
            }
            match table.as_ref() {
                Some(open) => Some(frame_of(open).await?),
                None => None,
            }
        };
        answer(frame, query, recent).await
    }
}

/// Counts and sums are aggregated by DataFusion (a few rows per step come back); unique
/// persons need the sketches, merged here.
async fn answer(
    frame: Option<DataFrame>,
    query: &MetricsQuery,
    recent: Option<&RecentWindows>,
) -> Result<Vec<Series>, LakeError> {
    let mut cells = Cells::new(query);
    if let Some(frame) = frame {
        let frame = restrict(frame, query, recent.map(|r| r.committed))?;
        if query.metric == Metric::Uniques {
            let mut columns = COLUMNS.to_vec();
            columns.push("persons_sketch");
            for w in collect_windows(frame.select_columns(&columns)?).await? {
                cells.add(query, &w);
            }
        } else {
            add_sums(frame, query, &mut cells).await?;
        }
    }
    for w in recent.into_iter().flat_map(|r| &r.windows).filter(|w| in_range(query, w)) {
        cells.add(query, w);
    }
    Ok(cells.finish(query))
}

/// Only the rows of `query`'s range and event, closed before offset `before` if given.
fn restrict(frame: DataFrame, query: &MetricsQuery, before: Option<u64>) -> Result<DataFrame, LakeError> {
    let mut frame = frame
        .filter(col("window_start").gt_eq(lit(timestamp(query.from))))?
        .filter(col("window_start").lt(lit(timestamp(query.to))))?;
    if let Some(event) = &query.event {
        frame = frame.filter(col("event").eq(lit(event.as_str())))?;
    }
    if let Some(before) = before {
        frame = frame.filter(col("trigger_offset").lt(lit(i64::try_from(before).unwrap_or(i64::MAX))))?;
    }
    Ok(frame)
}

fn dimension_column(by: Dimension) -> &'static str {
    match by {
        Dimension::Device => "device_type",
        Dimension::Channel => "channel",
        Dimension::Event => "event",
    }
}

/// Sums of events, revenue and orders per step (and group), by DataFusion.
async fn add_sums(frame: DataFrame, query: &MetricsQuery, cells: &mut Cells) -> Result<(), LakeError> {
    let stride = ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, query.step * 1_000)));
    let step = date_bin(lit(stride), col("window_start"), lit(timestamp(0))).alias("step");
    let mut keys = vec![step];
    if let Some(by) = query.by {
        keys.push(col(dimension_column(by)).alias("grp"));
    }
    // Only the column the metric needs: fewer columns decoded, one sum per group.
    let column = match query.metric {
        Metric::Events | Metric::Uniques => "events",
        Metric::Revenue => "revenue",
        Metric::Orders => "orders",
    };
    let corrupt = |what: &str| LakeError::BadMetricsQuery(format!("metrics sums: unexpected column {what}"));
    for batch in frame.aggregate(keys, vec![sum(col(column)).alias("total")])?.collect().await? {
        let array = |name: &str| batch.column_by_name(name).ok_or_else(|| corrupt(name));
        // date_bin may answer in another unit: microseconds as the windows are.
        let steps = cast(array("step")?, &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())))?;
        let steps = steps.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| corrupt("step"))?;
        let totals = cast(array("total")?, &DataType::Float64)?;
        let totals = totals.as_primitive_opt::<Float64Type>().ok_or_else(|| corrupt("total"))?;
        // Grouped on the stored strings (views, maybe); cast only the few result rows.
        let groups = match batch.column_by_name("grp") {
            Some(array) => Some(cast(array, &DataType::Utf8)?),
            None => None,
        };
        let groups = match &groups {
            Some(array) => Some(array.as_string_opt::<i32>().ok_or_else(|| corrupt("grp"))?),
            None => None,
        };
        for i in 0..batch.num_rows() {
            let group = groups.map(|g| g.value(i).to_owned());
            let cell = cells.cell(group, steps.value(i));
            let total = totals.value(i);
            match query.metric {
                Metric::Revenue => cell.revenue += total,
                Metric::Orders => cell.orders += total.max(0.0) as u64,
                _ => cell.events += total.max(0.0) as u64,
            }
        }
    }
    Ok(())
}

fn in_range(query: &MetricsQuery, w: &WindowRecord) -> bool {
    w.start >= query.from && w.start < query.to && query.event.as_ref().is_none_or(|e| *e == w.event)
}

fn timestamp(time: Micros) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(time), Some("UTC".into()))
}

/// The columns every read takes.
const COLUMNS: [&str; 9] =
    ["window_start", "event", "device_type", "channel", "events", "uniques", "revenue", "orders", "trigger_offset"];

async fn metrics_frame(lake: &Lake) -> Result<Option<DataFrame>, LakeError> {
    match lake.open_table(METRICS_1M).await? {
        Some(table) => Ok(Some(frame_of(&table).await?)),
        None => Ok(None),
    }
}

/// A DataFrame over `table` in a session that knows its object store.
async fn frame_of(table: &deltalake::DeltaTable) -> Result<DataFrame, LakeError> {
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state())?;
    Ok(ctx.read_table(table.table_provider().await?)?)
}

async fn collect_windows(frame: DataFrame) -> Result<Vec<WindowRecord>, LakeError> {
    let mut windows = Vec::new();
    for batch in &frame.collect().await? {
        read_windows(batch, &mut windows)?;
    }
    Ok(windows)
}

/// The stored windows closed by a log record at or after `offset` (without their sketches),
/// in the order they were closed: what a sink following `metrics_1m` has not sent yet.
pub async fn windows_closed_since(lake: &Lake, offset: u64) -> Result<Vec<WindowRecord>, LakeError> {
    let Some(frame) = metrics_frame(lake).await? else {
        return Ok(Vec::new());
    };
    let from = i64::try_from(offset).unwrap_or(i64::MAX);
    let frame = frame.filter(col("trigger_offset").gt_eq(lit(from)))?.select_columns(&COLUMNS)?.sort(vec![
        col("trigger_offset").sort(true, false),
        col("window_start").sort(true, false),
        col("event").sort(true, false),
        col("device_type").sort(true, false),
        col("channel").sort(true, false),
    ])?;
    collect_windows(frame).await
}

fn read_windows(batch: &RecordBatch, into: &mut Vec<WindowRecord>) -> Result<(), LakeError> {
    let corrupt = |what: &str| LakeError::BadMetricsQuery(format!("metrics_1m: unexpected column {what}"));
    let column = |name: &str| batch.column_by_name(name).ok_or_else(|| corrupt(name));
    // Parquet strings and binaries may come back as views: cast to the plain arrays.
    let plain = |name: &str, to: DataType| -> Result<ArrayRef, LakeError> { Ok(cast(column(name)?, &to)?) };
    let start = column("window_start")?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| corrupt("window_start"))?;
    let (event, device, channel) =
        (plain("event", DataType::Utf8)?, plain("device_type", DataType::Utf8)?, plain("channel", DataType::Utf8)?);
    let (event, device, channel) = (event.as_string::<i32>(), device.as_string::<i32>(), channel.as_string::<i32>());
    let int = |name: &str| column(name)?.as_primitive_opt::<Int64Type>().ok_or_else(|| corrupt(name));
    let (events, orders, trigger) = (int("events")?, int("orders")?, int("trigger_offset")?);
    let uniques = int("uniques")?;
    let revenue = column("revenue")?.as_primitive_opt::<Float64Type>().ok_or_else(|| corrupt("revenue"))?;
    let sketches = match batch.column_by_name("persons_sketch") {
        Some(_) => Some(plain("persons_sketch", DataType::Binary)?),
        None => None,
    };
    let sketches = sketches.as_ref().map(|s| s.as_binary::<i32>());
    for i in 0..batch.num_rows() {
        let persons = match sketches {
            Some(s) if !s.is_null(i) => PersonSketch::from_bytes(s.value(i))
                .ok_or_else(|| LakeError::BadMetricsQuery(format!("metrics_1m: unreadable sketch in row {i}")))?,
            _ => PersonSketch::default(),
        };
        into.push(WindowRecord {
            start: start.value(i),
            event: event.value(i).to_owned(),
            device_type: device.value(i).to_owned(),
            channel: channel.value(i).to_owned(),
            events: events.value(i).max(0) as u64,
            revenue: revenue.value(i),
            orders: orders.value(i).max(0) as u64,
            uniques: uniques.value(i).max(0) as u64,
            persons,
            trigger_offset: trigger.value(i).max(0) as u64,
        });
    }
    Ok(())
}

#[derive(Default)]
struct Accumulator {
    events: u64,
    revenue: f64,
    orders: u64,
    persons: PersonSketch,
}

/// Figures per group and step.
struct Cells(BTreeMap<Option<String>, BTreeMap<Micros, Accumulator>>);

impl Cells {
    fn new(query: &MetricsQuery) -> Self {
        let mut cells = BTreeMap::new();
        if query.by.is_none() {
            cells.insert(None, BTreeMap::new());
        }
        Self(cells)
    }

    fn cell(&mut self, group: Option<String>, step: Micros) -> &mut Accumulator {
        self.0.entry(group).or_default().entry(step).or_default()
    }

    /// Adds one window (in range).
    fn add(&mut self, query: &MetricsQuery, w: &WindowRecord) {
        let group = query.by.map(|by| w.dimension(by));
        let step = w.start.div_euclid(query.step) * query.step;
        let cell = self.cell(group.map(str::to_owned), step);
        cell.events += w.events;
        cell.revenue += w.revenue;
        cell.orders += w.orders;
        if query.metric == Metric::Uniques {
            cell.persons.merge(&w.persons);
        }
    }

    /// Every step of the range for every group, zero where empty.
    fn finish(self, query: &MetricsQuery) -> Vec<Series> {
        self.0
            .into_iter()
            .map(|(group, mut steps)| Series {
                group,
                points: query
                    .steps()
                    .map(|t| {
                        let value = steps.get_mut(&t).map_or(0.0, |cell| match query.metric {
                            Metric::Events => cell.events as f64,
                            Metric::Uniques => cell.persons.count() as f64,
                            Metric::Revenue => cell.revenue,
                            Metric::Orders => cell.orders as f64,
                        });
                        (t, value)
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Rolls one-minute windows up to `query`'s step and groups: counts and sums add, sketches
/// merge. Every step of the range gets a point (zero if empty), in time order; groups sorted.
pub fn roll_up<'a>(query: &MetricsQuery, windows: impl Iterator<Item = &'a WindowRecord>) -> Vec<Series> {
    let mut cells = Cells::new(query);
    for w in windows.filter(|w| in_range(query, w)) {
        cells.add(query, w);
    }
    cells.finish(query)
}

/// The answer as JSON: `{"metric", "step", "from", "to", "event", "by", "series": [{<by>:
/// value, "points": [{"time", "value"}]}]}`; counts are integers.
pub fn to_json(query: &MetricsQuery, step_text: &str, series: &[Series]) -> serde_json::Value {
    let number = |v: f64| match query.metric {
        Metric::Revenue => serde_json::json!(v),
        _ => serde_json::json!(v.round() as u64),
    };
    let series: Vec<serde_json::Value> = series
        .iter()
        .map(|s| {
            let points: Vec<serde_json::Value> = s
                .points
                .iter()
                .map(|&(t, v)| serde_json::json!({ "time": format_time(t), "value": number(v) }))
                .collect();
            let mut entry = serde_json::Map::new();
            if let (Some(by), Some(group)) = (query.by, &s.group) {
                entry.insert(by.name().into(), group.clone().into());
            }
            entry.insert("points".into(), points.into());
            entry.into()
        })
        .collect();
    serde_json::json!({
        "metric": match query.metric {
            Metric::Events => "events", Metric::Uniques => "uniques",
            Metric::Revenue => "revenue", Metric::Orders => "orders",
        },
        "event": query.event,
        "from": format_time(query.from),
        "to": format_time(query.to),
        "step": step_text,
        "by": query.by.map(Dimension::name),
        "series": series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_processor::stable_hash;

    fn window(start: Micros, event: &str, device: &str, persons: &[&str], revenue: f64) -> WindowRecord {
        let mut sketch = PersonSketch::default();
        persons.iter().for_each(|p| sketch.insert(stable_hash(p)));
        WindowRecord {
            start,
            event: event.into(),
            device_type: device.into(),
            channel: "direct".into(),
            events: persons.len() as u64,
            revenue,
            orders: u64::from(revenue > 0.0),
            uniques: persons.len() as u64,
            persons: sketch,
            trigger_offset: 0,
        }
    }

    #[test]
    fn steps_times_and_bad_parameters() {
        assert_eq!(parse_step("5m").expect("5m"), 5 * MINUTE);
        assert_eq!(parse_step("1d").expect("1d"), 24 * 60 * MINUTE);
        for bad in ["", "m", "0m", "5s", "1w", "-1h", "1.5h"] {
            assert!(parse_step(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_time("1970-01-01T00:01:00Z").expect("rfc3339"), MINUTE);
        assert_eq!(parse_time("60").expect("seconds"), MINUTE);
        assert!(parse_time("yesterday").is_err());
        assert!(MetricsQuery::new(Metric::Events, None, 10 * MINUTE, 5 * MINUTE, MINUTE, None).is_err());
        assert!(MetricsQuery::new(Metric::Events, None, 0, MAX_POINTS * MINUTE + MINUTE, MINUTE, None).is_err());
        // Extremes overflow nothing: refused as out of range, or as too many points.
        assert!(MetricsQuery::new(Metric::Events, None, i64::MIN, i64::MAX, MINUTE, None).is_err());
        assert!(MetricsQuery::new(Metric::Events, None, i64::MIN + 1, i64::MAX, 366 * 24 * 60 * MINUTE, None).is_err());
        for text in ["9223372036854775807", "-9223372036854775808", "+275760-09-13T00:00:00Z", "253402300800"] {
            assert!(parse_time(text).is_err(), "{text} is out of range");
        }
        assert!(parse_time("253402300799").is_ok());
        assert!("visits".parse::<Metric>().is_err() && "os".parse::<Dimension>().is_err());
    }

    #[test]
    fn rollups_add_counts_and_merge_persons() {
        let hour = 60 * MINUTE;
        let windows = [
            window(0, "page", "mobile", &["a", "b"], 0.0),
            window(MINUTE, "page", "mobile", &["a", "c"], 0.0),
            window(2 * MINUTE, "page", "desktop", &["a"], 0.0),
            window(hour + MINUTE, "Order Completed", "desktop", &["d"], 20.0),
        ];
        let q = |metric, by| MetricsQuery::new(metric, None, 0, 2 * hour, hour, by).expect("query");
        let events = roll_up(&q(Metric::Events, None), windows.iter());
        assert_eq!(events, vec![Series { group: None, points: vec![(0, 5.0), (hour, 1.0)] }]);
        let uniques = roll_up(&q(Metric::Uniques, None), windows.iter());
        assert_eq!(uniques[0].points, vec![(0, 3.0), (hour, 1.0)], "a, b, c once each: a union, not 2 + 2 + 1");
        let by_device = roll_up(&q(Metric::Uniques, Some(Dimension::Device)), windows.iter());
        assert_eq!(by_device.len(), 2);
        assert_eq!((by_device[0].group.as_deref(), by_device[0].points[0].1), (Some("desktop"), 1.0));
        assert_eq!((by_device[1].group.as_deref(), by_device[1].points[0].1), (Some("mobile"), 3.0));
        let revenue = roll_up(&q(Metric::Revenue, None), windows.iter());
        assert_eq!(revenue[0].points, vec![(0, 0.0), (hour, 20.0)]);
        let only_orders = MetricsQuery::new(Metric::Orders, Some("Order Completed".into()), 0, 2 * hour, MINUTE, None);
        let orders = roll_up(&only_orders.expect("query"), windows.iter());
        assert_eq!(orders[0].points.len(), 120);
        assert_eq!(orders[0].points.iter().map(|p| p.1).sum::<f64>(), 1.0);
    }
}
