//! Per-person behavioural features as of a cutoff: what behavioural clustering and churn
//! prediction learn from. Only events before the cutoff and inside the lookback count, so
//! features at a past cutoff see exactly what was known then.
//!
//! Sessions are split where a person was idle for more than 30 minutes (the processor's rule,
//! without its campaign split). Device and channel are the person's most frequent ones.

use crate::error::AnalyticsError;
use crate::timeline::{load, Event, LoadRequest, Timelines};
use crate::Micros;
use footfall_lake::Lake;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// µs in a day.
pub const DAY: Micros = 86_400_000_000;
/// Idle time that ends a session.
const SESSION_GAP: Micros = 30 * 60 * 1_000_000;

/// Device types one-hot encoded (others encode as all zeros).
pub const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
/// Channels one-hot encoded (others encode as all zeros).
pub const CHANNELS: [&str; 6] = ["direct", "organic", "paid", "email", "social", "referral"];

/// The numeric features, in [`PersonFeatures::vector`] order (one-hot device and channel
/// columns follow as `device=…`, `channel=…`).
pub const NUMERIC: [&str; 12] = [
    "recency_days",
    "events_30d",
    "events_prev_30d",
    "activity_trend",
    "active_days",
    "sessions",
    "events_per_session",
    "orders",
    "revenue",
    "days_since_last_order",
    "cart_abandonment",
    "tenure_days",
];

/// Every feature name, in [`PersonFeatures::vector`] order.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = NUMERIC.iter().map(|n| (*n).to_owned()).collect();
    names.extend(DEVICES.iter().map(|d| format!("device={d}")));
    names.extend(CHANNELS.iter().map(|c| format!("channel={c}")));
    names
}

/// One person's features as of a cutoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonFeatures {
    /// Person id (stitched).
    pub person_id: String,
    /// Days from the last event to the cutoff.
    pub recency_days: f64,
    /// Events in the 30 days before the cutoff.
    pub events_30d: f64,
    /// Events in the 30 days before those.
    pub events_prev_30d: f64,
    /// (recent − previous) / (recent + previous + 1): −1 fading … +1 growing.
    pub activity_trend: f64,
    /// Distinct UTC days with events in the lookback.
    pub active_days: f64,
    /// Sessions in the lookback.
    pub sessions: f64,
    /// Events per session.
    pub events_per_session: f64,
    /// `Order Completed` events in the lookback.
    pub orders: f64,
    /// Their revenue.
    pub revenue: f64,
    /// Days from the last order to the cutoff (the lookback plus one without an order).
    pub days_since_last_order: f64,
    /// Share of sessions with a `Product Added` that ended without an order (0 without carts).
    pub cart_abandonment: f64,
    /// Days from the first event in the lookback to the cutoff.
    pub tenure_days: f64,
    /// Most frequent device type.
    pub device: String,
    /// Most frequent channel.
    pub channel: String,
}

impl PersonFeatures {
    /// The numeric features, then device and channel one-hot (see [`names`]).
    pub fn vector(&self) -> Vec<f64> {
        let mut v = vec![
            self.recency_days,
            self.events_30d,
            self.events_prev_30d,
            self.activity_trend,
            self.active_days,
            self.sessions,
            self.events_per_session,
            self.orders,
            self.revenue,
            self.days_since_last_order,
            self.cart_abandonment,
            self.tenure_days,
        ];
        v.extend(DEVICES.iter().map(|d| f64::from(u8::from(self.device == *d))));
        v.extend(CHANNELS.iter().map(|c| f64::from(u8::from(self.channel == *c))));
        v
    }
}

/// The time frame of features: events in `[cutoff − lookback_days, cutoff)`; persons with an
/// event in the last `active_days` before the cutoff are the ones described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The cutoff (µs): nothing at or after it is seen.
    pub cutoff: Micros,
    /// How far back events count (days).
    pub lookback_days: i64,
    /// Persons active in this many days before the cutoff are described.
    pub active_days: i64,
}

impl Frame {
    /// First µs the frame reads.
    pub fn start(&self) -> Micros {
        self.cutoff - self.lookback_days * DAY
    }
}

/// What the loader puts in an event's breakdown slot: `device|channel`.
const DEVICE_CHANNEL_SQL: &str = "concat(coalesce(e.device_type, ''), '|', coalesce(e.channel, ''))";

/// Loads the events features need for `[from, to)`: names, order revenue (in `properties`, as
/// a number) and `device|channel` (in `breakdown`).
pub async fn load_events(lake: &Lake, from: Micros, to: Micros) -> Result<Timelines, AnalyticsError> {
    let request = LoadRequest {
        from,
        to,
        properties_sql: Some(
            "CASE WHEN e.event = 'Order Completed' THEN CAST(coalesce(e.revenue, 0) AS VARCHAR) END".into(),
        ),
        breakdown_sql: Some(DEVICE_CHANNEL_SQL.into()),
        ..LoadRequest::default()
    };
    load(lake, &request).await
}

/// Just after the last event in the lake's `events` (µs), if there is one: where the data ends.
pub async fn data_end(lake: &Lake) -> Result<Option<Micros>, AnalyticsError> {
    use footfall_lake::arrow::array::{Array, AsArray};
    use footfall_lake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
    let query = "SELECT max(event_time) FROM events WHERE NOT is_bot";
    let Some(batches) = footfall_lake::sql::query_if_exists(lake, "events", query).await? else { return Ok(None) };
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
    let column =
        footfall_lake::arrow::compute::cast(batch.column(0), &DataType::Timestamp(TimeUnit::Microsecond, None))
            .map_err(footfall_lake::LakeError::from)?;
    let column = column.as_primitive::<TimestampMicrosecondType>();
    Ok((!column.is_null(0)).then(|| column.value(0) + 1))
}

/// The features of every person active in `frame`, sorted by person id. Events carry order
/// revenue in `properties` (a number) and `device|channel` in `breakdown`, as
/// [`load_events`] loads them.
pub fn compute(timelines: &Timelines, frame: Frame) -> Vec<PersonFeatures> {
    let order = timelines.lookup("Order Completed");
    let added = timelines.lookup("Product Added");
    let (start, cutoff) = (frame.start(), frame.cutoff);
    let active_from = cutoff - frame.active_days * DAY;
    let mut out = Vec::new();
    for (person, events) in &timelines.persons {
        let seen: Vec<&Event> = events.iter().filter(|e| e.time >= start && e.time < cutoff).collect();
        let Some(last) = seen.last() else { continue };
        if last.time < active_from {
            continue;
        }
        out.push(describe(timelines, person, &seen, frame, order, added));
    }
    out
}

fn describe(
    timelines: &Timelines,
    person: &str,
    seen: &[&Event],
    frame: Frame,
    order: Option<u32>,
    added: Option<u32>,
) -> PersonFeatures {
    let cutoff = frame.cutoff;
    let days = |t: Micros| (cutoff - t) as f64 / DAY as f64;
    let recent = seen.iter().filter(|e| e.time >= cutoff - 30 * DAY).count() as f64;
    let previous = seen.iter().filter(|e| e.time >= cutoff - 60 * DAY && e.time < cutoff - 30 * DAY).count() as f64;
    let mut active_days: Vec<i64> = seen.iter().map(|e| e.time.div_euclid(DAY)).collect();
    active_days.dedup();
    // Sessions: split at gaps over 30 minutes; per session, whether a cart was filled and
    // whether an order followed.
    let (mut sessions, mut carts, mut abandoned) = (0u32, 0u32, 0u32);
    let (mut cart, mut bought) = (false, false);
    let mut previous_time = Micros::MIN;
    let mut close = |cart: bool, bought: bool| {
        if cart {
            carts += 1;
            abandoned += u32::from(!bought);
        }
    };
    for e in seen {
        if previous_time == Micros::MIN || e.time - previous_time > SESSION_GAP {
            if sessions > 0 {
                close(cart, bought);
            }
            sessions += 1;
            (cart, bought) = (false, false);
        }
        cart |= Some(e.name) == added;
        bought |= Some(e.name) == order;
        previous_time = e.time;
    }
    close(cart, bought);
    let orders: Vec<&&Event> = seen.iter().filter(|e| Some(e.name) == order).collect();
    let revenue: f64 = orders
        .iter()
        .filter_map(|e| e.properties.as_deref().and_then(|p| p.parse::<f64>().ok()))
        .filter(|x| x.is_finite())
        .sum();
    let (device, channel) = most_frequent(timelines, seen);
    PersonFeatures {
        person_id: person.to_owned(),
        recency_days: seen.last().map_or(0.0, |e| days(e.time)),
        events_30d: recent,
        events_prev_30d: previous,
        activity_trend: (recent - previous) / (recent + previous + 1.0),
        active_days: active_days.len() as f64,
        sessions: f64::from(sessions),
        events_per_session: seen.len() as f64 / f64::from(sessions.max(1)),
        orders: orders.len() as f64,
        revenue,
        days_since_last_order: orders.last().map_or(frame.lookback_days as f64 + 1.0, |e| days(e.time)),
        cart_abandonment: if carts == 0 { 0.0 } else { f64::from(abandoned) / f64::from(carts) },
        tenure_days: seen.first().map_or(0.0, |e| days(e.time)),
        device,
        channel,
    }
}

/// The most frequent device and channel (ties: the alphabetically first).
fn most_frequent(timelines: &Timelines, seen: &[&Event]) -> (String, String) {
    let mut devices: HashMap<&str, u32> = HashMap::new();
    let mut channels: HashMap<&str, u32> = HashMap::new();
    for e in seen {
        let Some(both) = e.breakdown.map(|b| timelines.names[b as usize].as_str()) else { continue };
        let (device, channel) = both.split_once('|').unwrap_or((both, ""));
        *devices.entry(device).or_default() += 1;
        *channels.entry(channel).or_default() += 1;
    }
    let top = |counts: HashMap<&str, u32>| {
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(name, _)| name.to_owned())
            .unwrap_or_default()
    };
    (top(devices), top(channels))
}

/// Signed log scale, sign(x)·ln(1 + |x|): counts and money spread over orders of magnitude.
pub fn log_scaled(row: &[f64]) -> Vec<f64> {
    row.iter().map(|x| x.signum() * x.abs().ln_1p()).collect()
}

/// Per-column mean and standard deviation, to put features on one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means.
    pub means: Vec<f64>,
    /// Column standard deviations (1 where a column is constant).
    pub stds: Vec<f64>,
}

impl Standardizer {
    /// Learns the scale of `rows` (all the same length).
    pub fn fit(rows: &[Vec<f64>]) -> Self {
        let width = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let means: Vec<f64> = (0..width).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
        let stds = (0..width)
            .map(|j| {
                let var = rows.iter().map(|r| (r[j] - means[j]).powi(2)).sum::<f64>() / n;
                if var > 1e-12 {
                    var.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        Self { means, stds }
    }

    /// `row` standardized.
    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter().zip(self.means.iter().zip(&self.stds)).map(|(x, (m, s))| (x - m) / s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timelines(rows: &[(&str, Micros, &str, Option<&str>, &str)]) -> Timelines {
        Timelines::from_rows(
            rows.iter().enumerate().map(|(i, (p, t, e, props, dc))| (*p, *t, i as i64, *e, *props, Some(*dc))),
        )
    }

    #[test]
    fn features_count_only_the_frame_and_split_sessions_at_thirty_minutes() {
        let minute = 60_000_000;
        let cutoff = 100 * DAY;
        let t = timelines(&[
            // Before the lookback: ignored.
            ("a", cutoff - 91 * DAY, "Page Viewed", None, "desktop|direct"),
            // Session 1 (day −40): a cart, no order.
            ("a", cutoff - 40 * DAY, "Product Viewed", None, "mobile|paid"),
            ("a", cutoff - 40 * DAY + 10 * minute, "Product Added", None, "mobile|paid"),
            // Session 2 (day −5): a cart and an order of 30.
            ("a", cutoff - 5 * DAY, "Product Added", None, "mobile|paid"),
            ("a", cutoff - 5 * DAY + 30 * minute, "Order Completed", Some("30.5"), "mobile|paid"),
            // Exactly 31 minutes later: a new session.
            ("a", cutoff - 5 * DAY + 61 * minute, "Page Viewed", None, "desktop|paid"),
            // At the cutoff: not seen.
            ("a", cutoff, "Page Viewed", None, "desktop|direct"),
            // b: last seen 45 days ago — not active in the last 30 days.
            ("b", cutoff - 45 * DAY, "Page Viewed", None, "desktop|direct"),
        ]);
        let frame = Frame { cutoff, lookback_days: 90, active_days: 30 };
        let f = compute(&t, frame);
        assert_eq!(f.len(), 1);
        let a = &f[0];
        assert_eq!(a.person_id, "a");
        assert_eq!(a.sessions, 3.0);
        assert_eq!(a.events_30d, 3.0);
        assert_eq!(a.events_prev_30d, 2.0);
        assert_eq!(a.orders, 1.0);
        assert_eq!(a.revenue, 30.5);
        assert_eq!(a.cart_abandonment, 0.5);
        assert_eq!(a.active_days, 2.0);
        assert_eq!(a.device, "mobile");
        assert_eq!(a.channel, "paid");
        assert!((a.tenure_days - 40.0).abs() < 1e-9);
        assert!((a.days_since_last_order - (5.0 - 30.0 / 1440.0)).abs() < 1e-9);
        assert!((a.recency_days - (5.0 - 61.0 / 1440.0)).abs() < 1e-9);
        assert_eq!(a.vector().len(), names().len());
    }

    #[test]
    fn standardized_columns_have_mean_zero_and_unit_variance() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0], vec![5.0, 5.0]];
        let s = Standardizer::fit(&rows);
        let z: Vec<Vec<f64>> = rows.iter().map(|r| s.apply(r)).collect();
        assert!((z.iter().map(|r| r[0]).sum::<f64>()).abs() < 1e-12);
        assert!((z.iter().map(|r| r[0] * r[0]).sum::<f64>() / 3.0 - 1.0).abs() < 1e-12);
        assert!(z.iter().all(|r| r[1] == 0.0), "a constant column becomes zeros");
    }
}
