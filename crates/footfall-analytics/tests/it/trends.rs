//! Trends, lifecycle and stickiness against brute-force counts over the raw rows.

use footfall_analytics::retention::Period;
use footfall_analytics::trends::{compute_lifecycle, compute_stickiness, compute_trend, Measure, TrendSpec};
use footfall_analytics::{Micros, Timelines};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const DAY: Micros = 86_400_000_000;
const NAMES: [&str; 3] = ["A", "B", "C"];
const DEVICES: [&str; 2] = ["mobile", "desktop"];

type People = Vec<Vec<(usize, Micros, usize)>>;

fn timelines(people: &People) -> Timelines {
    let ids: Vec<String> = (0..people.len()).map(|p| format!("p{p}")).collect();
    let rows = people.iter().enumerate().flat_map(|(p, events)| {
        let person = ids[p].as_str();
        events.iter().enumerate().map(move |(i, (n, t, d))| (person, *t, i as i64, NAMES[*n], None, Some(DEVICES[*d])))
    });
    Timelines::from_rows(rows)
}

fn people() -> impl Strategy<Value = People> {
    prop::collection::vec(prop::collection::vec((0usize..3, 0i64..(12 * DAY), 0usize..2), 0..10), 1..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn daily_events_and_uniques_per_device_equal_the_brute_force(people in people(), from_day in 0i64..5, days in 1i64..6, uniques in any::<bool>()) {
        let (from, to) = (from_day * DAY, (from_day + days) * DAY);
        let spec = TrendSpec {
            event: Some("A".into()),
            measure: if uniques { Measure::Uniques } else { Measure::Events },
            interval: Period::Day,
            from,
            to,
            breakdown: true,
        };
        let got: BTreeMap<(String, Micros), f64> = compute_trend(&spec, &timelines(&people))
            .expect("trend")
            .into_iter()
            .filter(|p| p.value > 0.0)
            .map(|p| ((p.breakdown.expect("device"), p.time), p.value))
            .collect();
        let mut expected: BTreeMap<(String, Micros), BTreeSet<(usize, usize)>> = BTreeMap::new();
        for (p, events) in people.iter().enumerate() {
            for (i, (n, t, d)) in events.iter().enumerate() {
                if *n == 0 && *t >= from && *t < to {
                    let who = if uniques { (p, 0) } else { (p, i) };
                    expected.entry((DEVICES[*d].to_owned(), t.div_euclid(DAY) * DAY)).or_default().insert(who);
                }
            }
        }
        let expected: BTreeMap<(String, Micros), f64> = expected.into_iter().map(|(k, v)| (k, v.len() as f64)).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn lifecycle_and_stickiness_equal_the_brute_force(people in people(), from_day in 1i64..5, days in 1i64..6) {
        let (from, to) = (from_day * DAY, (from_day + days) * DAY);
        let tl = timelines(&people);
        let got: Vec<(u64, u64, u64, u64)> = compute_lifecycle(None, Period::Day, from, to, &tl)
            .expect("lifecycle")
            .iter()
            .map(|p| (p.new, p.returning, p.resurrecting, p.dormant))
            .collect();
        let mut expected = Vec::new();
        for day in from_day..from_day + days {
            let mut cell = (0, 0, 0, 0);
            for events in &people {
                let active = |d: i64| events.iter().any(|e| e.1.div_euclid(DAY) == d);
                let first = events.iter().map(|e| e.1.div_euclid(DAY)).min();
                let earlier = events.iter().any(|e| e.1.div_euclid(DAY) < day - 1);
                if active(day) && first == Some(day) {
                    cell.0 += 1;
                } else if active(day) && active(day - 1) {
                    cell.1 += 1;
                } else if active(day) && earlier {
                    cell.2 += 1;
                } else if !active(day) && active(day - 1) {
                    cell.3 += 1;
                }
            }
            expected.push(cell);
        }
        prop_assert_eq!(got, expected);

        let sticky = compute_stickiness(Some("B"), from, to, &tl).expect("stickiness");
        let mut expected: BTreeMap<usize, u64> = BTreeMap::new();
        for events in &people {
            let days: BTreeSet<i64> =
                events.iter().filter(|e| e.0 == 1 && e.1 >= from && e.1 < to).map(|e| e.1.div_euclid(DAY)).collect();
            if !days.is_empty() {
                *expected.entry(days.len()).or_default() += 1;
            }
        }
        prop_assert_eq!(sticky, expected);
    }
}
