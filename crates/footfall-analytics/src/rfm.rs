//! RFM segmentation of buyers: recency (days since the last order), frequency (orders) and
//! monetary value (revenue), each scored 1–5 by quintile among the buyers (5 = most recent,
//! most frequent, most spent), and named segments from the recency and frequency scores:
//!
//! | segment | rule (first that holds) |
//! |---|---|
//! | Champions | R ≥ 4 and F ≥ 4 |
//! | Loyal | R ≥ 3 and F ≥ 3 |
//! | Potential Loyalists | R ≥ 3 (and F ≤ 2) |
//! | At Risk | R ≤ 2 and F ≥ 3 |
//! | Hibernating | R = 2 (and F ≤ 2) |
//! | Lost | R = 1 (and F ≤ 2) |
//!
//! Orders are `Order Completed` events; revenue is `revenue`, else `total`, of their
//! properties (as the processor's enrichment reads it).

use crate::timeline::{Event, Timelines};
use crate::Micros;
use serde::Serialize;
use std::collections::BTreeMap;

/// µs in a day.
const DAY: Micros = 86_400_000_000;

/// The segments, best first.
pub const SEGMENTS: [&str; 6] = ["Champions", "Loyal", "Potential Loyalists", "At Risk", "Hibernating", "Lost"];

/// One buyer's figures and scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmRow {
    /// Person id.
    pub person_id: String,
    /// Whole days from the last order to `as_of`.
    pub recency_days: i64,
    /// Orders.
    pub frequency: u64,
    /// Revenue.
    pub monetary: f64,
    /// 1–5.
    pub r: u8,
    /// 1–5.
    pub f: u8,
    /// 1–5.
    pub m: u8,
    /// The named segment.
    pub segment: &'static str,
}

/// The segment of recency and frequency scores.
pub fn segment(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (4.., 4..) => SEGMENTS[0],
        (3.., 3..) => SEGMENTS[1],
        (3.., _) => SEGMENTS[2],
        (_, 3..) => SEGMENTS[3],
        (2, _) => SEGMENTS[4],
        _ => SEGMENTS[5],
    }
}

/// Quintile scores of `values` (1–5, 5 for the largest), by rank: sorted ascending, the k-th
/// of n (0-based) gets 1 + ⌊5k/n⌋; equal values share the score of their middle rank (so when
/// every buyer ties, as recency does on a single day of data, all score 3, not 1).
pub fn quintiles(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let mut scores = vec![0u8; n];
    let mut k = 0;
    while k < n {
        let mut j = k;
        while j < n && values[order[j]] == values[order[k]] {
            j += 1;
        }
        // Ranks k … j−1: the middle one is (k + j − 1) / 2.
        let score = 1 + (5 * (k + j - 1) / (2 * n)) as u8;
        for &i in &order[k..j] {
            scores[i] = score;
        }
        k = j;
    }
    scores
}

fn revenue(event: &Event) -> f64 {
    let Some(serde_json::Value::Object(map)) =
        event.properties.as_deref().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
    else {
        return 0.0;
    };
    let number = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    number(map.get("revenue")).or(number(map.get("total"))).filter(|x| x.is_finite()).unwrap_or(0.0)
}

/// Every buyer's RFM as of `as_of` (orders after it are not seen), sorted by person.
pub fn compute_rfm(timelines: &Timelines, as_of: Micros) -> Vec<RfmRow> {
    let Some(order) = timelines.lookup("Order Completed") else { return Vec::new() };
    let mut buyers: Vec<(String, i64, u64, f64)> = Vec::new();
    for (person, events) in &timelines.persons {
        let orders: Vec<&Event> = events.iter().filter(|e| e.name == order && e.time <= as_of).collect();
        let Some(last) = orders.iter().map(|e| e.time).max() else { continue };
        let spent = orders.iter().map(|e| revenue(e)).sum();
        buyers.push((person.clone(), (as_of - last).div_euclid(DAY), orders.len() as u64, spent));
    }
    // Recency: fewer days is better, so score the negated days.
    let r = quintiles(&buyers.iter().map(|b| -(b.1 as f64)).collect::<Vec<_>>());
    let f = quintiles(&buyers.iter().map(|b| b.2 as f64).collect::<Vec<_>>());
    let m = quintiles(&buyers.iter().map(|b| b.3).collect::<Vec<_>>());
    buyers
        .into_iter()
        .enumerate()
        .map(|(i, (person_id, recency_days, frequency, monetary))| RfmRow {
            person_id,
            recency_days,
            frequency,
            monetary,
            r: r[i],
            f: f[i],
            m: m[i],
            segment: segment(r[i], f[i]),
        })
        .collect()
}

/// Per segment: persons and mean recency, frequency and monetary value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentProfile {
    /// The segment.
    pub segment: &'static str,
    /// Buyers in it.
    pub persons: u64,
    /// Mean days since the last order.
    pub mean_recency_days: f64,
    /// Mean orders.
    pub mean_frequency: f64,
    /// Mean revenue.
    pub mean_monetary: f64,
}

/// The profile of every segment (in [`SEGMENTS`] order, empty ones included).
pub fn profiles(rows: &[RfmRow]) -> Vec<SegmentProfile> {
    let mut sums: BTreeMap<&str, (u64, f64, f64, f64)> = BTreeMap::new();
    for r in rows {
        let s = sums.entry(r.segment).or_default();
        *s = (s.0 + 1, s.1 + r.recency_days as f64, s.2 + r.frequency as f64, s.3 + r.monetary);
    }
    SEGMENTS
        .iter()
        .map(|&segment| {
            let (n, rec, freq, money) = sums.get(segment).copied().unwrap_or_default();
            let mean = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
            SegmentProfile {
                segment,
                persons: n,
                mean_recency_days: mean(rec),
                mean_frequency: mean(freq),
                mean_monetary: mean(money),
            }
        })
        .collect()
}

/// The gold table segments are written to.
pub const SEGMENTS_TABLE: &str = "segments";

/// Replaces the gold `segments` table: one row per person who is a buyer (`rows`: RFM
/// figures, scores and segment) or clustered (`clusters`: `(person_id, cluster)`), or both;
/// the columns of the other kind are null. All `as_of`.
pub async fn write_segments(
    lake: &footfall_lake::Lake,
    rows: &[RfmRow],
    clusters: &[(String, usize)],
    as_of: Micros,
) -> Result<(), crate::AnalyticsError> {
    use footfall_lake::arrow::array::{
        ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use footfall_lake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let mut persons: BTreeMap<&str, (Option<&RfmRow>, Option<usize>)> = BTreeMap::new();
    for r in rows {
        persons.entry(&r.person_id).or_default().0 = Some(r);
    }
    for (person, cluster) in clusters {
        persons.entry(person).or_default().1 = Some(*cluster);
    }
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("recency_days", DataType::Int64, true),
        Field::new("frequency", DataType::Int64, true),
        Field::new("monetary", DataType::Float64, true),
        Field::new("r", DataType::Int64, true),
        Field::new("f", DataType::Int64, true),
        Field::new("m", DataType::Int64, true),
        Field::new("segment", DataType::Utf8, true),
        Field::new("cluster", DataType::Int64, true),
        Field::new("as_of", utc(), false),
    ]));
    let rfm = |f: &dyn Fn(&RfmRow) -> i64| {
        Arc::new(persons.values().map(|(r, _)| r.map(f)).collect::<Int64Array>()) as ArrayRef
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(persons.keys().map(|p| Some(*p)).collect::<StringArray>()),
        rfm(&|r| r.recency_days),
        rfm(&|r| r.frequency as i64),
        Arc::new(persons.values().map(|(r, _)| r.map(|r| r.monetary)).collect::<Float64Array>()),
        rfm(&|r| i64::from(r.r)),
        rfm(&|r| i64::from(r.f)),
        rfm(&|r| i64::from(r.m)),
        Arc::new(persons.values().map(|(r, _)| r.map(|r| r.segment)).collect::<StringArray>()),
        Arc::new(persons.values().map(|(_, c)| c.map(|c| c as i64)).collect::<Int64Array>()),
        Arc::new(TimestampMicrosecondArray::from(vec![as_of; persons.len()]).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(footfall_lake::LakeError::from)?;
    let mut table = footfall_lake::LakeTable::open(lake, SEGMENTS_TABLE, schema, &[]).await?;
    table.replace(vec![batch]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_rank_and_ties_share_a_score() {
        assert_eq!(quintiles(&[10.0, 20.0, 30.0, 40.0, 50.0]), vec![1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[5.0, 5.0, 5.0]), vec![2, 2, 2]);
        assert_eq!(quintiles(&[7.0; 40]), vec![3; 40], "all tied: the middle score");
        assert_eq!(quintiles(&[1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]), vec![1, 1, 1, 2, 3, 3, 4, 4, 5, 5]);
        assert!(quintiles(&[]).is_empty());
    }

    #[test]
    fn every_score_pair_has_one_segment() {
        assert_eq!(segment(5, 5), "Champions");
        assert_eq!(segment(3, 5), "Loyal");
        assert_eq!(segment(5, 1), "Potential Loyalists");
        assert_eq!(segment(2, 4), "At Risk");
        assert_eq!(segment(2, 2), "Hibernating");
        assert_eq!(segment(1, 1), "Lost");
        for r in 1..=5 {
            for f in 1..=5 {
                assert!(SEGMENTS.contains(&segment(r, f)));
            }
        }
    }
}
