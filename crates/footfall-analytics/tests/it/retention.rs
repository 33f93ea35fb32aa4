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
    };
    let cells = compute_retention(&spec, &Timelines::from_rows(rows)).expect("retention");
    let flags: Vec<(usize, u64, bool)> = cells.iter().map(|c| (c.period, c.persons, c.incomplete)).collect();
    assert_eq!(flags, vec![(0, 1, false), (1, 1, false), (2, 0, true), (3, 0, true)]);
    assert!(compute_retention(&RetentionSpec { periods: 0, ..spec }, &Timelines::new()).is_err());
}
