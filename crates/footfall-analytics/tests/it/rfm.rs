//! RFM against a brute-force computation: figures per buyer from the raw rows, scores as
//! 1 + ⌊5 · (worse + (tied − 1) / 2) / buyers⌋, the middle rank of a buyer's tie group
//! (worse: buyers with a strictly worse value; tied: buyers with the same, themselves included).

use footfall_analytics::rfm::{compute_rfm, segment};
use footfall_analytics::{Micros, Timelines};
use proptest::prelude::*;

const DAY: Micros = 86_400_000_000;

/// (person, recency days, orders, revenue).
type Buyer = (String, i64, u64, f64);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn scores_and_segments_equal_the_brute_force(
        people in prop::collection::vec(prop::collection::vec((any::<bool>(), 0i64..(40 * DAY), 0u32..500), 0..8), 1..25),
    ) {
        let as_of = 30 * DAY;
        let ids: Vec<String> = (0..people.len()).map(|p| format!("p{p:02}")).collect();
        let props: Vec<Vec<String>> = people
            .iter()
            .map(|events| events.iter().map(|(_, _, cents)| format!(r#"{{"revenue": {cents}}}"#)).collect())
            .collect();
        let rows = people.iter().enumerate().flat_map(|(p, events)| {
            let (person, props) = (ids[p].as_str(), &props[p]);
            events.iter().enumerate().map(move |(i, (order, t, _))| {
                let name = if *order { "Order Completed" } else { "Product Viewed" };
                (person, *t, i as i64, name, Some(props[i].as_str()), None)
            })
        });
        let got = compute_rfm(&Timelines::from_rows(rows), as_of);

        let buyers: Vec<Buyer> = people
            .iter()
            .enumerate()
            .filter_map(|(p, events)| {
                let orders: Vec<&(bool, Micros, u32)> = events.iter().filter(|e| e.0 && e.1 <= as_of).collect();
                let last = orders.iter().map(|e| e.1).max()?;
                // Whole amounts: float sums are exact in any order, so ties are ties on both sides.
                let spent: f64 = orders.iter().map(|e| e.2 as f64).sum();
                Some((ids[p].clone(), (as_of - last) / DAY, orders.len() as u64, spent))
            })
            .collect();
        let n = buyers.len();
        let score = |better: &dyn Fn(&Buyer) -> f64, b: &Buyer| {
            let worse = buyers.iter().filter(|o| better(o) < better(b)).count();
            let tied = buyers.iter().filter(|o| better(o) == better(b)).count();
            (1 + 5 * (2 * worse + tied - 1) / (2 * n)) as u8
        };
        prop_assert_eq!(got.len(), n);
        for row in &got {
            let b = buyers.iter().find(|b| b.0 == row.person_id).expect("a buyer");
            prop_assert_eq!((row.recency_days, row.frequency), (b.1, b.2));
            prop_assert!((row.monetary - b.3).abs() < 1e-9);
            let r = score(&|o| -(o.1 as f64), b);
            let f = score(&|o| o.2 as f64, b);
            let m = score(&|o| o.3, b);
            prop_assert_eq!((row.r, row.f, row.m), (r, f, m));
            prop_assert_eq!(row.segment, segment(r, f));
        }
    }
}
