//! Funnels against a brute-force reference: every assignment of events to steps enumerated,
//! the deepest (earliest among equals) kept, exclusions checked on it; on property-generated
//! timelines with ties in time, repeated steps and noise events.

use footfall_analytics::funnel::{best_attempt, compute_funnel, Attribution, Exclusion, FunnelSpec, FunnelStep, Mode};
use footfall_analytics::{Micros, Timelines};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["A", "B", "C", "D", "X"];

fn step(name: &str) -> FunnelStep {
    FunnelStep { event: name.into(), filters: Vec::new(), optional: false, max_gap: None }
}

/// Every way to pick events for steps 1..=k after `start` (ordered or strict), depth-first.
fn assignments(
    names: &[&str],
    times: &[Micros],
    steps: &[&str],
    strict: bool,
    deadline: Micros,
    chosen: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
) {
    out.push(chosen.clone());
    if chosen.len() == steps.len() {
        return;
    }
    let last = *chosen.last().expect("a start");
    let candidates: Vec<usize> = if strict { vec![last + 1] } else { (last + 1..names.len()).collect() };
    for j in candidates {
        if j < names.len() && times[j] <= deadline && names[j] == steps[chosen.len()] {
            chosen.push(j);
            assignments(names, times, steps, strict, deadline, chosen, out);
            chosen.pop();
        }
    }
}

/// The reference's depth for one person (0: not in the funnel).
fn reference_depth(
    names: &[&str],
    times: &[Micros],
    spec_steps: &[&str],
    strict: bool,
    window: Micros,
    range: (Micros, Micros),
    exclusion: Option<(&str, usize, usize)>,
) -> usize {
    let mut best = 0;
    for start in 0..names.len() {
        if names[start] != spec_steps[0] || times[start] < range.0 || times[start] >= range.1 {
            continue;
        }
        let deadline = times[start] + window;
        let mut all = Vec::new();
        assignments(names, times, spec_steps, strict, deadline, &mut vec![start], &mut all);
        // The deepest assignment, earliest events first (lexicographic).
        let deepest = all.iter().map(Vec::len).max().unwrap_or(0);
        let chosen = all.into_iter().filter(|a| a.len() == deepest).min().expect("one");
        if let Some((x, from, to)) = exclusion {
            if let Some(&after) = chosen.get(from - 1) {
                let end = chosen.get(to - 1).copied();
                let hit = (after + 1..names.len())
                    .take_while(|&j| end.map_or(times[j] <= deadline, |b| j < b))
                    .any(|j| names[j] == x);
                if hit {
                    continue;
                }
            }
        }
        best = best.max(deepest);
    }
    best
}

fn timelines(people: &[Vec<(u8, Micros)>]) -> Timelines {
    let persons: Vec<String> = (0..people.len()).map(|p| format!("p{p}")).collect();
    let mut rows = Vec::new();
    for (p, events) in people.iter().enumerate() {
        for (i, (name, time)) in events.iter().enumerate() {
            rows.push((persons[p].as_str(), *time, i as i64, NAMES[*name as usize], None, None));
        }
    }
    Timelines::from_rows(rows)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn ordered_and_strict_funnels_equal_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((0u8..5, 0i64..40), 0..12), 1..8),
        steps in prop::collection::vec(0usize..4, 2..5),
        window in 1i64..30,
        strict in any::<bool>(),
        exclude in any::<bool>(),
        exclude_after in 1usize..4,
    ) {
        let names: Vec<&str> = steps.iter().map(|&s| NAMES[s]).collect();
        let after = exclude_after.min(names.len() - 1);
        let exclusion = exclude.then_some(("X", after, after + 1));
        let spec = FunnelSpec {
            steps: names.iter().map(|n| step(n)).collect(),
            window,
            mode: if strict { Mode::Strict } else { Mode::Ordered },
            exclusions: exclusion.iter().map(|&(x, from, to)| Exclusion { step: step(x), from, to }).collect(),
            from: 5,
            to: 35,
            breakdown: false,
            attribution: Attribution::FirstTouch,
        };
        let tl = timelines(&people);
        let mut expected = vec![0u64; names.len()];
        for (_, events) in &tl.persons {
            let event_names: Vec<&str> = events.iter().map(|e| tl.names[e.name as usize].as_str()).collect();
            let times: Vec<Micros> = events.iter().map(|e| e.time).collect();
            let want = reference_depth(&event_names, &times, &names, strict, window, (5, 35), exclusion);
            let got = best_attempt(&spec, &tl, events).map_or(0, |a| a.events.len());
            prop_assert_eq!(got, want, "events {:?} at {:?}", event_names, times);
            for slot in expected.iter_mut().take(want) {
                *slot += 1;
            }
        }
        let result = compute_funnel(&spec, &tl).expect("funnel");
        let got: Vec<u64> = result.iter().map(|r| r.persons).collect();
        if expected[0] == 0 {
            prop_assert!(result.is_empty());
        } else {
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn ties_windows_exclusions_and_breakdowns_by_hand() {
    let s = 1_000_000;
    // p0: A B C within the hour; p1: A, then B after the window; p2: A X B C (excluded);
    // p3: B A B (ordered: A B); p4: A and B at the same time, B logged first (not after A).
    let rows = vec![
        ("p0", 0, 0, "A", None, Some("mobile")),
        ("p0", 600 * s, 1, "B", None, Some("desktop")),
        ("p0", 1200 * s, 2, "C", None, Some("desktop")),
        ("p1", 0, 3, "A", None, Some("mobile")),
        ("p1", 3700 * s, 4, "B", None, Some("mobile")),
        ("p2", 0, 5, "A", None, Some("desktop")),
        ("p2", 10 * s, 6, "X", None, Some("desktop")),
        ("p2", 20 * s, 7, "B", None, Some("desktop")),
        ("p2", 30 * s, 8, "C", None, Some("desktop")),
        ("p3", 0, 9, "B", None, None),
        ("p3", 5 * s, 10, "A", None, None),
        ("p3", 65 * s, 11, "B", None, None),
        ("p4", 100 * s, 13, "A", None, Some("tablet")),
        ("p4", 100 * s, 12, "B", None, Some("tablet")),
    ];
    let tl = Timelines::from_rows(rows);
    let spec = FunnelSpec {
        steps: vec![step("A"), step("B"), step("C")],
        window: 3600 * s,
        mode: Mode::Ordered,
        exclusions: vec![Exclusion { step: step("X"), from: 1, to: 2 }],
        from: 0,
        to: 86_400 * s,
        breakdown: false,
        attribution: Attribution::FirstTouch,
    };
    let result = compute_funnel(&spec, &tl).expect("funnel");
    let persons: Vec<u64> = result.iter().map(|r| r.persons).collect();
    assert_eq!(persons, vec![4, 2, 1], "p2 is excluded; p0 and p3 reach B; p0 reaches C");
    assert_eq!(result[1].dropoff, 2);
    assert_eq!(result[1].median_seconds_to_convert, Some((600.0 + 60.0) / 2.0));
    assert_eq!(result[2].mean_seconds_to_convert, Some(600.0));
    assert!((result[1].conversion_from_start - 0.5).abs() < 1e-12);

    let by_device = FunnelSpec { breakdown: true, attribution: Attribution::LastTouch, ..spec.clone() };
    let result = compute_funnel(&by_device, &tl).expect("funnel");
    let cells: Vec<(Option<&str>, usize, u64)> =
        result.iter().map(|r| (r.breakdown.as_deref(), r.step, r.persons)).collect();
    // Last touch: p0's C is on desktop; p1 and p4 stop at A (mobile, tablet); p3 has none.
    assert_eq!(
        cells,
        vec![
            (Some("desktop"), 1, 1),
            (Some("desktop"), 2, 1),
            (Some("desktop"), 3, 1),
            (Some("mobile"), 1, 1),
            (Some("mobile"), 2, 0),
            (Some("mobile"), 3, 0),
            (Some("tablet"), 1, 1),
            (Some("tablet"), 2, 0),
            (Some("tablet"), 3, 0),
            (None, 1, 1),
            (None, 2, 1),
            (None, 3, 0),
        ]
    );

    let any = FunnelSpec { mode: Mode::Any, exclusions: Vec::new(), ..spec.clone() };
    let result = compute_funnel(&any, &tl).expect("funnel");
    // In any order p4's B and A at the same instant count, and p3 starts at B; p1's B is
    // still outside the window; p2's exclusion is gone.
    assert_eq!(result.iter().map(|r| r.persons).collect::<Vec<_>>(), vec![5, 4, 2]);

    assert!(compute_funnel(&FunnelSpec { steps: vec![step("A")], ..spec.clone() }, &tl).is_err());
    assert!(compute_funnel(&FunnelSpec { window: 0, ..spec }, &tl).is_err());
}

/// `window_funnel` levels per person through DataFusion SQL over `(person, time, event)`
/// rows, split into three partitions so partial states merge.
fn sql_levels(people: &[Vec<(u8, Micros)>], window_seconds: i64, steps: &[&str]) -> Vec<i64> {
    use footfall_lake::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
    use footfall_lake::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use footfall_lake::datafusion::datasource::MemTable;
    use footfall_lake::datafusion::prelude::SessionContext;
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("person", DataType::Int64, false),
        Field::new("t", DataType::Int64, false),
        Field::new("event", DataType::Utf8, false),
    ]));
    let mut rows: Vec<(i64, Micros, &str)> = Vec::new();
    for (p, events) in people.iter().enumerate() {
        rows.push((p as i64, 0, "noise")); // every person has a row, so every person has a level
        rows.extend(events.iter().map(|(n, t)| (p as i64, *t, NAMES[*n as usize])));
    }
    let partitions = rows
        .chunks(rows.len().div_ceil(3).max(1))
        .map(|c| {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(c.iter().map(|r| r.0).collect::<Int64Array>()),
                Arc::new(c.iter().map(|r| r.1).collect::<Int64Array>()),
                Arc::new(c.iter().map(|r| Some(r.2)).collect::<StringArray>()),
            ];
            vec![RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch")]
        })
        .collect();
    let conditions = steps.iter().map(|s| format!("event = '{s}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT person, window_funnel({window_seconds}, to_timestamp_micros(t), {conditions}) AS level \
         FROM e GROUP BY person ORDER BY person"
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_udaf(footfall_lake::window_funnel::window_funnel_udaf());
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, partitions).expect("table"))).expect("register");
        let batches = ctx.sql(&sql).await.expect("plan").collect().await.expect("run");
        batches.iter().flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec()).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The SQL aggregate agrees with the brute force on ordered funnels (distinct times: the
    /// aggregate has no log offsets to order ties by).
    #[test]
    fn window_funnel_in_sql_equals_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((0u8..5, 1i64..10), 0..12), 1..8),
        steps in prop::collection::vec(0usize..4, 2..5),
        window in 1i64..30,
    ) {
        const S: Micros = 1_000_000;
        // Gaps → increasing times (seconds, in µs).
        let people: Vec<Vec<(u8, Micros)>> = people
            .iter()
            .map(|events| events.iter().scan(0, |t, (n, gap)| { *t += gap * S; Some((*n, *t)) }).collect())
            .collect();
        let names: Vec<&str> = steps.iter().map(|&s| NAMES[s]).collect();
        let levels = sql_levels(&people, window, &names);
        for (p, events) in people.iter().enumerate() {
            let event_names: Vec<&str> = events.iter().map(|(n, _)| NAMES[*n as usize]).collect();
            let times: Vec<Micros> = events.iter().map(|(_, t)| *t).collect();
            let want = reference_depth(&event_names, &times, &names, false, window * S, (Micros::MIN, Micros::MAX), None);
            prop_assert_eq!(levels[p], want as i64, "events {:?} at {:?}", event_names, times);
        }
    }
}

/// Every chain from `start`: (steps, events), each continuing by a later event (strict: the
/// very next one) matching a later step, skipping only optional steps, within the deadline and
/// each step's maximum gap.
fn chains(
    names: &[&str],
    times: &[Micros],
    spec: &FunnelSpec,
    deadline: Micros,
    chain: &mut (Vec<usize>, Vec<usize>),
    out: &mut Vec<(Vec<usize>, Vec<usize>)>,
) {
    out.push(chain.clone());
    let (step, at) = (*chain.0.last().expect("start"), *chain.1.last().expect("start"));
    for next in step + 1..spec.steps.len() {
        for j in at + 1..names.len() {
            if spec.mode == Mode::Strict && j != at + 1 {
                break;
            }
            let s = &spec.steps[next];
            if names[j] == s.event && times[j] <= deadline && s.max_gap.is_none_or(|g| times[j] - times[at] <= g) {
                chain.0.push(next);
                chain.1.push(j);
                chains(names, times, spec, deadline, chain, out);
                chain.0.pop();
                chain.1.pop();
            }
        }
        if !spec.steps[next].optional {
            break;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Optional steps and maximum gaps: the chosen chain of every person equals the brute
    /// force's (furthest step, then most steps, then earliest events; earliest attempt among
    /// equals), and the step counts follow from those chains.
    #[test]
    fn optional_steps_and_gaps_equal_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((0u8..5, 0i64..40), 0..12), 1..8),
        shape in prop::collection::vec((0usize..4, any::<bool>(), prop::option::of(1i64..10)), 2..6),
        window in 1i64..40,
        strict in any::<bool>(),
    ) {
        let steps: Vec<FunnelStep> = shape
            .iter()
            .enumerate()
            .map(|(i, (name, optional, gap))| FunnelStep {
                optional: i > 0 && *optional,
                max_gap: if i > 0 { *gap } else { None },
                ..step(NAMES[*name])
            })
            .collect();
        let spec = FunnelSpec {
            steps,
            window,
            mode: if strict { Mode::Strict } else { Mode::Ordered },
            exclusions: Vec::new(),
            from: 5,
            to: 35,
            breakdown: false,
            attribution: Attribution::FirstTouch,
        };
        let tl = timelines(&people);
        let mut expected = vec![0u64; spec.steps.len()];
        for (_, events) in &tl.persons {
            let names: Vec<&str> = events.iter().map(|e| tl.names[e.name as usize].as_str()).collect();
            let times: Vec<Micros> = events.iter().map(|e| e.time).collect();
            let mut best: Option<(Vec<usize>, Vec<usize>)> = None;
            for start in 0..names.len() {
                if names[start] != spec.steps[0].event || times[start] < 5 || times[start] >= 35 {
                    continue;
                }
                let mut all = Vec::new();
                chains(&names, &times, &spec, times[start] + window, &mut (vec![0], vec![start]), &mut all);
                let rank = |c: &(Vec<usize>, Vec<usize>)| (*c.0.last().expect("step"), c.0.len());
                let top = all.iter().map(rank).max().expect("one");
                let chosen = all.into_iter().filter(|c| rank(c) == top).min_by(|a, b| a.1.cmp(&b.1)).expect("one");
                if best.as_ref().is_none_or(|b| rank(&chosen) > rank(b)) {
                    best = Some(chosen);
                }
            }
            let got = best_attempt(&spec, &tl, events).map(|a| (a.steps, a.events));
            prop_assert_eq!(&got, &best, "events {:?} at {:?}", names, times);
            for &s in best.iter().flat_map(|b| &b.0) {
                expected[s] += 1;
            }
        }
        let result = compute_funnel(&spec, &tl).expect("funnel");
        let got: Vec<u64> = result.iter().map(|r| r.persons).collect();
        if expected[0] == 0 {
            prop_assert!(result.is_empty());
        } else {
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn optional_steps_convert_from_the_last_required_step_and_bad_shapes_are_refused() {
    // A → (?B) → C: p0 does A, B, C; p1 skips B; p2 does A, B only.
    let tl = timelines(&[vec![(0, 10), (1, 11), (2, 12)], vec![(0, 10), (2, 13)], vec![(0, 10), (1, 14)]]);
    let spec = FunnelSpec {
        steps: vec![step("A"), FunnelStep { optional: true, ..step("B") }, step("C")],
        window: 10,
        mode: Mode::Ordered,
        exclusions: Vec::new(),
        from: 0,
        to: 100,
        breakdown: false,
        attribution: Attribution::FirstTouch,
    };
    let result = compute_funnel(&spec, &tl).expect("funnel");
    let rows: Vec<(u64, u64, bool)> = result.iter().map(|r| (r.persons, r.dropoff, r.optional)).collect();
    assert_eq!(rows, vec![(3, 0, false), (2, 1, true), (2, 1, false)]);
    assert!((result[2].conversion_from_previous - 2.0 / 3.0).abs() < 1e-12, "C against A, not against B");
    // A 1-tick gap: p1's C comes 3 after A — out; p0's C 1 after B — in.
    let gap = FunnelSpec {
        steps: vec![
            step("A"),
            FunnelStep { optional: true, ..step("B") },
            FunnelStep { max_gap: Some(1), ..step("C") },
        ],
        ..spec.clone()
    };
    let persons: Vec<u64> = compute_funnel(&gap, &tl).expect("funnel").iter().map(|r| r.persons).collect();
    assert_eq!(persons, vec![3, 2, 1]);
    let first_optional =
        FunnelSpec { steps: vec![FunnelStep { optional: true, ..step("A") }, step("B")], ..spec.clone() };
    assert!(compute_funnel(&first_optional, &tl).is_err());
    assert!(compute_funnel(&FunnelSpec { mode: Mode::Any, ..spec.clone() }, &tl).is_err());
    let excluded_optional =
        FunnelSpec { exclusions: vec![Exclusion { step: step("X"), from: 1, to: 2 }], ..spec.clone() };
    assert!(compute_funnel(&excluded_optional, &tl).is_err());
    assert!("?B".parse::<FunnelStep>().expect("step").optional);
}
