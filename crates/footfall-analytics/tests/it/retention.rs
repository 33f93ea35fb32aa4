//! Retention against a brute-force count: for every cohort day and period, every person
//! checked directly, on property-generated histories (ties, repeats, events at day edges).

use footfall_analytics::retention::{compute_retention, Period, RetentionSpec};
use footfall_analytics::{Micros, Timelines};
use proptest::prelude::*;

const DAY: Micros = 86_400_000_000;

fn brute_force(people: &[Vec<(bool, Micros)>], spec: &RetentionSpec) -> Vec<(Micros, usize, u64, u64)> {
    let (first, last) = (spec.from.div_euclid(DAY), (spec.to - 1).div_euclid(DAY));
    let mut cells = Vec::new();
    for cohort in first..=last {
        let members: Vec<&Vec<(bool, Micros)>> = people
            .iter()
            .filter(|events| {
                let start_days: Vec<i64> = events.iter().filter(|e| !e.0).map(|e| e.1.div_euclid(DAY)).collect();
                if spec.recurring {
                    start_days.contains(&cohort)
                } else {
                    start_days.iter().min() == Some(&cohort)
                }
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        for k in 0..=spec.periods {
            let target = cohort + k as i64;
            let returned = if k == 0 {
                members.len()
            } else {
                members
                    .iter()
                    .filter(|events| {
                        events.iter().any(|e| {
                            let day = e.1.div_euclid(DAY);
                            e.0 && if spec.unbounded { day >= target } else { day == target }
                        })
                    })
                    .count()
            };
            cells.push((cohort * DAY, k, members.len() as u64, returned as u64));
        }
    }
    cells
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn day_retention_equals_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((any::<bool>(), 0i64..(15 * DAY)), 0..10), 1..10),
        periods in 1usize..6,
        recurring in any::<bool>(),
        unbounded in any::<bool>(),
        from_day in 0i64..8,
        days in 1i64..8,
    ) {
        let names: Vec<String> = (0..people.len()).map(|p| format!("p{p}")).collect();
        let rows = people.iter().enumerate().flat_map(|(p, events)| {
            let person = names[p].as_str();
            events.iter().enumerate().map(move |(i, (back, t))| {
                (person, *t, i as i64, if *back { "R" } else { "S" }, None, None)
            })
        });
        let timelines = Timelines::from_rows(rows);
        let spec = RetentionSpec {
            start_event: "S".into(),
            return_event: "R".into(),
            period: Period::Day,
            periods,
            recurring,
            unbounded,
            from: from_day * DAY,
            to: (from_day + days) * DAY,
            now: 100 * DAY,
            breakdown: false,
        };
        let got: Vec<(Micros, usize, u64, u64)> = compute_retention(&spec, &timelines)
            .expect("retention")
            .iter()
            .map(|c| (c.cohort, c.period, c.cohort_size, c.persons))
            .collect();
        prop_assert_eq!(got, brute_force(&people, &spec));
    }
}

#[test]
fn unfinished_periods_are_incomplete_not_churned() {
    let rows = vec![("a", 0, 0, "S", None, None), ("a", DAY + 5, 1, "R", None, None)];
    let spec = RetentionSpec {
        start_event: "S".into(),
        return_event: "R".into(),
        period: Period::Day,
        periods: 3,
        recurring: false,
        unbounded: false,
        from: 0,
        to: DAY,
        now: 2 * DAY + 1,
        breakdown: false,
    };
    let cells = compute_retention(&spec, &Timelines::from_rows(rows)).expect("retention");
    let flags: Vec<(usize, u64, bool)> = cells.iter().map(|c| (c.period, c.persons, c.incomplete)).collect();
    assert_eq!(flags, vec![(0, 1, false), (1, 1, false), (2, 0, true), (3, 0, true)]);
    assert!(compute_retention(&RetentionSpec { periods: 0, ..spec }, &Timelines::new()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With a breakdown, a person counts under the value of their first start event in the
    /// cohort's day (ties in time broken by arrival); each value's cells equal a brute force
    /// over that value's members.
    #[test]
    fn breakdown_cohorts_split_by_the_first_start_event_of_the_period(
        people in prop::collection::vec(prop::collection::vec((any::<bool>(), 0i64..(6 * DAY), 0usize..2), 0..10), 1..10),
        periods in 1usize..4,
        recurring in any::<bool>(),
        unbounded in any::<bool>(),
    ) {
        const VALUES: [&str; 2] = ["app", "web"];
        let names: Vec<String> = (0..people.len()).map(|p| format!("p{p}")).collect();
        let rows = people.iter().enumerate().flat_map(|(p, events)| {
            let person = names[p].as_str();
            events.iter().enumerate().map(move |(i, (back, t, v))| {
                (person, *t, i as i64, if *back { "R" } else { "S" }, None, Some(VALUES[*v]))
            })
        });
        let timelines = Timelines::from_rows(rows);
        let spec = RetentionSpec {
            start_event: "S".into(),
            return_event: "R".into(),
            period: Period::Day,
            periods,
            recurring,
            unbounded,
            from: 0,
            to: 6 * DAY,
            now: 100 * DAY,
            breakdown: true,
        };
        let got = compute_retention(&spec, &timelines).expect("retention");
        let mut expected = Vec::new();
        for (v, value) in VALUES.iter().enumerate() {
            // Each person's events, keeping only those cohort days whose first start event
            // (by time, then arrival) carries this value: the brute force per value.
            let members: Vec<Vec<(bool, Micros)>> = people
                .iter()
                .map(|events| {
                    let mut first: std::collections::BTreeMap<i64, (Micros, usize, usize)> = Default::default();
                    for (i, (back, t, by)) in events.iter().enumerate() {
                        if !back {
                            let entry = first.entry(t.div_euclid(DAY)).or_insert((*t, i, *by));
                            if (*t, i) < (entry.0, entry.1) {
                                *entry = (*t, i, *by);
                            }
                        }
                    }
                    let starts_here = |day: i64| first.get(&day).is_some_and(|f| f.2 == v);
                    let first_day = first.keys().next().copied();
                    events
                        .iter()
                        .filter(|(back, t, _)| {
                            let day = t.div_euclid(DAY);
                            *back || (starts_here(day) && (recurring || Some(day) == first_day))
                        })
                        .map(|(back, t, _)| (*back, *t))
                        .collect()
                })
                .collect();
            let mine: Vec<(Micros, usize, u64, u64)> = got
                .iter()
                .filter(|c| c.breakdown.as_deref() == Some(value))
                .map(|c| (c.cohort, c.period, c.cohort_size, c.persons))
                .collect();
            expected.push((mine, brute_force(&members, &RetentionSpec { breakdown: false, ..spec.clone() })));
        }
        for (mine, want) in expected {
            prop_assert_eq!(mine, want);
        }
        prop_assert!(got.iter().all(|c| c.breakdown.is_some()));
    }
}
