//! Paths against a brute-force count: each person's raw events sorted by hand, the anchor
//! found, the links counted as strings.

use footfall_analytics::paths::{compute_paths, Direction, PathsSpec};
use footfall_analytics::{Micros, Timelines};
use proptest::prelude::*;
use std::collections::BTreeMap;

const NAMES: [&str; 4] = ["A", "B", "C", "D"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn links_equal_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((0usize..4, 0i64..30), 0..12), 1..10),
        depth in 1usize..5,
        before in any::<bool>(),
    ) {
        let ids: Vec<String> = (0..people.len()).map(|p| format!("p{p}")).collect();
        let rows = people.iter().enumerate().flat_map(|(p, events)| {
            let person = ids[p].as_str();
            events.iter().enumerate().map(move |(i, (name, t))| (person, *t, i as i64, NAMES[*name], None, None))
        });
        let timelines = Timelines::from_rows(rows);
        let spec = PathsSpec {
            event: "A".into(),
            direction: if before { Direction::Before } else { Direction::After },
            depth,
            from: 5,
            to: 25,
            top: 0,
        };
        let mut expected: BTreeMap<(usize, String, String), u64> = BTreeMap::new();
        for events in &people {
            let mut sorted: Vec<(Micros, usize, &str)> =
                events.iter().enumerate().map(|(i, (n, t))| (*t, i, NAMES[*n])).collect();
            sorted.sort();
            let anchors: Vec<usize> =
                (0..sorted.len()).filter(|&i| sorted[i].2 == "A" && sorted[i].0 >= 5 && sorted[i].0 < 25).collect();
            let path: Vec<&str> = if before {
                let Some(&end) = anchors.last() else { continue };
                (0..=end).rev().take(depth + 1).map(|i| sorted[i].2).collect()
            } else {
                let Some(&start) = anchors.first() else { continue };
                (start..sorted.len()).take(depth + 1).map(|i| sorted[i].2).collect()
            };
            for k in 1..path.len() {
                *expected.entry((k, path[k - 1].to_owned(), path[k].to_owned())).or_default() += 1;
            }
        }
        let got: BTreeMap<(usize, String, String), u64> = compute_paths(&spec, &timelines)
            .expect("paths")
            .into_iter()
            .map(|l| ((l.step, l.source, l.target), l.persons))
            .collect();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn top_keeps_the_most_travelled_links_per_step() {
    let mut rows = Vec::new();
    let persons: Vec<String> = (0..6).map(|p| format!("p{p}")).collect();
    for (p, next) in ["B", "B", "B", "C", "C", "D"].iter().enumerate() {
        rows.push((persons[p].as_str(), 10, 0, "A", None, None));
        rows.push((persons[p].as_str(), 20, 1, *next, None, None));
    }
    let spec = PathsSpec { event: "A".into(), direction: Direction::After, depth: 2, from: 0, to: 100, top: 2 };
    let links = compute_paths(&spec, &Timelines::from_rows(rows)).expect("paths");
    let got: Vec<(usize, &str, &str, u64)> =
        links.iter().map(|l| (l.step, l.source.as_str(), l.target.as_str(), l.persons)).collect();
    assert_eq!(got, vec![(1, "A", "B", 3), (1, "A", "C", 2)]);
    assert!(compute_paths(&PathsSpec { depth: 0, ..spec }, &Timelines::new()).is_err());
}
