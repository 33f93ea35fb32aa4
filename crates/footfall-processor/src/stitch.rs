//! Resolving the `identities` table: which person every linked id belongs to in the end. The
//! one implementation behind every reader (the analyses, the `identity_roots` table the
//! `persons` transform and SQL users join), so they all stitch alike.
//!
//! The result depends only on the set of links, never on the order they are read in:
//!
//! - an id linked more than once (several streams, or after the processor forgot it) keeps its
//!   earliest link, by (time, offset, person);
//! - chains are followed to their end (`a1 → u1`, then `u1 → u9`: `a1` is `u9`'s);
//! - a cycle (which one processor never makes, but several streams could) is broken at the
//!   member whose link is the latest: that member is the cycle's person.

use crate::Micros;
use std::collections::HashMap;

/// One id's link, as ordered to pick the earliest.
type Candidate = (Micros, u64, String);

/// Links read so far; [`Stitching::persons`] resolves them.
#[derive(Debug, Default, Clone)]
pub struct Stitching {
    links: HashMap<String, Candidate>,
}

impl Stitching {
    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the link of `id` to `person_id`, learned at `linked_at` by the record at `offset`.
    pub fn add(&mut self, id: &str, person_id: &str, linked_at: Micros, offset: u64) {
        if id == person_id {
            return;
        }
        let earlier = |existing: &Candidate| (linked_at, offset, person_id) < (existing.0, existing.1, &*existing.2);
        match self.links.get_mut(id) {
            Some(existing) if earlier(existing) => *existing = (linked_at, offset, person_id.to_owned()),
            Some(_) => {}
            None => {
                self.links.insert(id.to_owned(), (linked_at, offset, person_id.to_owned()));
            }
        }
    }

    /// Links kept (one per linked id).
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no link was added.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Every linked id → the person it belongs to (the end of its chain). Ids without a link
    /// are their own person and are not in the map. Linear in the links.
    pub fn persons(&self) -> HashMap<String, String> {
        let mut person: HashMap<&str, &str> = HashMap::with_capacity(self.links.len());
        let mut path: Vec<&str> = Vec::new();
        let mut on_path: HashMap<&str, usize> = HashMap::new();
        for start in self.links.keys() {
            path.clear();
            on_path.clear();
            let mut current = start.as_str();
            let end = loop {
                if let Some(known) = person.get(current) {
                    break *known;
                }
                if let Some(&position) = on_path.get(current) {
                    // A cycle: its latest link is dropped; that member is the cycle's person.
                    let breaker = path[position..]
                        .iter()
                        .copied()
                        .max_by(|a, b| self.key(a).cmp(&self.key(b)))
                        .unwrap_or(current);
                    break breaker;
                }
                match self.links.get(current) {
                    Some((_, _, next)) => {
                        on_path.insert(current, path.len());
                        path.push(current);
                        current = next;
                    }
                    None => break current,
                }
            };
            for id in &path {
                person.insert(id, end);
            }
        }
        person.into_iter().filter(|(id, end)| id != end).map(|(id, end)| (id.to_owned(), end.to_owned())).collect()
    }

    /// The order of `id`'s link among others (later is greater).
    fn key<'a>(&'a self, id: &'a str) -> (Micros, u64, &'a str, &'a str) {
        match self.links.get(id) {
            Some((at, offset, to)) => (*at, *offset, to.as_str(), id),
            None => (Micros::MIN, 0, "", id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stitched(links: &[(&str, &str, Micros)]) -> Vec<(String, String)> {
        let mut s = Stitching::new();
        for (n, (id, to, at)) in links.iter().enumerate() {
            s.add(id, to, *at, n as u64);
        }
        let mut out: Vec<_> = s.persons().into_iter().collect();
        out.sort();
        out
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn chains_are_followed_to_their_end() {
        assert_eq!(
            stitched(&[("a1", "u1", 1), ("u1", "u9", 2), ("a2", "u9", 3)]),
            pairs(&[("a1", "u9"), ("a2", "u9"), ("u1", "u9")])
        );
    }

    #[test]
    fn the_earliest_link_of_an_id_wins_whatever_the_order() {
        let forward = stitched(&[("a1", "u1", 5), ("a1", "u2", 7)]);
        let backward = stitched(&[("a1", "u2", 7), ("a1", "u1", 5)]);
        assert_eq!(forward, pairs(&[("a1", "u1")]));
        assert_eq!(backward, forward);
    }

    #[test]
    fn a_cycle_is_broken_at_its_latest_link() {
        // a → b (t1), b → c (t2), c → a (t3): c's link is the latest, so c is the person.
        let expected = pairs(&[("a", "c"), ("b", "c"), ("x", "c")]);
        assert_eq!(stitched(&[("a", "b", 1), ("b", "c", 2), ("c", "a", 3), ("x", "a", 4)]), expected);
        assert_eq!(stitched(&[("x", "a", 4), ("c", "a", 3), ("b", "c", 2), ("a", "b", 1)]), expected);
        assert_eq!(stitched(&[("a", "a", 1)]), pairs(&[]), "a self-link is no link");
    }
}
