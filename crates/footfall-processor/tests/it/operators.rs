//! Operators against brute-force references on property-based inputs: shuffled, duplicated and
//! late events.

use footfall_processor::dedup::Dedup;
use footfall_processor::enrich::{Enricher, IpPolicy};
use footfall_processor::sessions::{Sessions, DEFAULT_GAP};
use footfall_processor::watermark::Watermark;
use footfall_processor::windows::Windows;
use footfall_processor::{InputEvent, Micros, MINUTE, SECOND};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// (message id, event time in seconds, person) triples, with repeats and disorder.
fn arrivals() -> impl Strategy<Value = Vec<(u16, i64, u8)>> {
    prop::collection::vec((0u16..400, 0i64..7_200, 0u8..20), 1..600)
}

proptest! {
    #[test]
    fn the_watermark_is_the_quorum_of_sources_and_outliers_cannot_move_it(
        honest in prop::collection::vec((0u8..8, 0i64..7_200), 1..300),
        outliers in prop::collection::vec((0u8..2, 0i64..10_000_000), 0..100),
        quorum in 1usize..5,
        lateness_s in 0i64..600,
        seed in any::<u64>(),
    ) {
        // The first `quorum` sources seen are honest ones; then honest and outlier events
        // interleave in an order drawn from `seed`.
        let (mut first, mut rest): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
        for (source, t) in honest {
            let new = !first.iter().any(|(s, _): &(u64, i64)| *s == u64::from(source));
            if new && first.len() < quorum { first.push((u64::from(source), t)) } else { rest.push((u64::from(source), t)) }
        }
        let honest_first = first.len();
        let outlier_sources = outliers.iter().map(|(s, _)| *s).collect::<BTreeSet<_>>().len();
        rest.extend(outliers.iter().map(|(s, t)| (1000 + u64::from(*s), *t)));
        let mut state = seed;
        for i in (1..rest.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            rest.swap(i, (state >> 33) as usize % (i + 1));
        }
        let events: Vec<(u64, i64)> = first.into_iter().chain(rest).collect();

        let lateness = lateness_s * SECOND;
        let mut watermark = Watermark::with_quorum(lateness, quorum, Micros::MAX);
        let mut reference: Option<Micros> = None;
        let mut latest_of: BTreeMap<u64, i64> = BTreeMap::new();
        let mut honest_max = i64::MIN;
        for (i, (source, t)) in events.iter().copied().enumerate() {
            let micros = t * SECOND;
            prop_assert_eq!(watermark.observe(micros, source, i as i64), reference.is_some_and(|w| micros < w));
            // Brute force: each source at its latest time, latest first; the quorum-th decides
            // (the earliest while fewer are known). Every source stays recent here.
            let entry = latest_of.entry(source).or_insert(micros);
            *entry = (*entry).max(micros);
            let mut times: Vec<i64> = latest_of.values().copied().collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            let voted = times[(quorum - 1).min(times.len() - 1)];
            reference = Some(reference.map_or(voted - lateness, |w: Micros| w.max(voted - lateness)));
            prop_assert_eq!(watermark.current(), reference);
            if source < 1000 {
                honest_max = honest_max.max(micros);
            }
            if i + 1 >= honest_first && honest_first == quorum && outlier_sources < quorum {
                prop_assert!(watermark.current() <= Some(honest_max - lateness), "fewer than a quorum of outliers moved it");
            }
        }
    }

    #[test]
    fn dedup_passes_each_id_once_within_the_horizon(arrivals in arrivals()) {
        // A horizon longer than the whole input: every repeat must be caught.
        let mut dedup = Dedup::new(10_000 * SECOND);
        let mut seen = HashSet::new();
        for (id, t, _) in &arrivals {
            let expected = seen.insert(*id);
            prop_assert_eq!(dedup.first_time(&format!("m{id}"), t * SECOND), expected);
        }
        prop_assert_eq!(dedup.duplicates() as usize, arrivals.len() - seen.len());
    }

    #[test]
    fn windows_count_what_a_brute_force_counts_and_late_events_are_exactly_the_closed_ones(
        arrivals in arrivals(), lateness_s in 0i64..600,
    ) {
        let mut windows = Windows::new(MINUTE);
        let mut watermark = Watermark::new(lateness_s * SECOND);
        let mut emitted: BTreeMap<i64, (u64, BTreeSet<u8>)> = BTreeMap::new();
        let mut reference: BTreeMap<i64, (u64, BTreeSet<u8>)> = BTreeMap::new();
        let mut late = 0;
        let mut max_seen: Option<Micros> = None;
        for (_, t, person) in &arrivals {
            let t = t * SECOND;
            // Late, by definition: the window ended at or before (latest time seen − lateness).
            let is_late = max_seen.is_some_and(|m| (t.div_euclid(MINUTE) + 1) * MINUTE <= m - lateness_s * SECOND);
            prop_assert_eq!(windows.is_closed(t, watermark.current()), is_late);
            watermark.observe(t, 0, 0);
            max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
            if is_late {
                late += 1;
                continue;
            }
            let entry = reference.entry(t.div_euclid(MINUTE) * MINUTE).or_default();
            entry.0 += 1;
            entry.1.insert(*person);
            windows.add(t, "page", "desktop", "direct", u64::from(*person), None);
            for (key, mut figures) in windows.close(watermark.current().unwrap_or(Micros::MIN)) {
                prop_assert!(!emitted.contains_key(&key.start), "a window is emitted once");
                let count = figures.persons.count();
                emitted.insert(key.start, (figures.events, BTreeSet::new()));
                prop_assert_eq!(count as usize, reference[&key.start].1.len());
            }
        }
        for (key, mut figures) in windows.close(Micros::MAX) {
            let count = figures.persons.count();
            prop_assert_eq!(count as usize, reference[&key.start].1.len());
            emitted.insert(key.start, (figures.events, BTreeSet::new()));
        }
        let counts: BTreeMap<i64, u64> = emitted.iter().map(|(k, v)| (*k, v.0)).collect();
        let expected: BTreeMap<i64, u64> = reference.iter().map(|(k, v)| (*k, v.0)).collect();
        prop_assert_eq!(counts, expected);
        prop_assert_eq!(late + reference.values().map(|v| v.0 as usize).sum::<usize>(), arrivals.len());
    }

    #[test]
    fn sessions_split_exactly_where_a_sorted_brute_force_sees_gaps(mut times in prop::collection::vec(0i64..20_000, 1..200)) {
        // In time order (what the processor sees when events are not late), a visitor's sessions
        // break at every gap longer than 30 minutes.
        times.sort();
        let mut sessions = Sessions::new(DEFAULT_GAP);
        let mut enricher = Enricher::new(IpPolicy::Drop);
        let mut ids = Vec::new();
        let mut closed = Vec::new();
        for t in &times {
            let e = InputEvent { kind: "track".into(), event: Some("x".into()), anonymous_id: Some("v".into()), event_time: t * SECOND, ..InputEvent::default() };
            let enriched = enricher.enrich(&e);
            let (id, done) = sessions.observe("v", &e, &enriched);
            ids.push(id);
            closed.extend(done);
        }
        closed.extend(sessions.close_idle(Micros::MAX));
        let breaks = times.windows(2).filter(|w| (w[1] - w[0]) * SECOND > DEFAULT_GAP).count();
        prop_assert_eq!(closed.len(), breaks + 1);
        prop_assert_eq!(closed.iter().map(|s| s.events).sum::<u64>() as usize, times.len());
        let distinct: BTreeSet<&String> = ids.iter().collect();
        prop_assert_eq!(distinct.len(), breaks + 1);
    }
}
