//! Identity stitching against a brute-force union-find: the processor's merge rules, the
//! links it writes, and their resolution by every reader, on generated graphs.

use footfall_processor::identity::Identities;
use footfall_processor::stitch::Stitching;
use footfall_processor::InputEvent;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

/// The merge rules by brute force: people are sets of ids (a union-find over every id), a
/// person is identified once one of its ids was a `userId`.
#[derive(Default)]
struct Reference {
    parent: HashMap<String, String>,
    users: HashSet<String>,
}

impl Reference {
    fn find(&self, id: &str) -> String {
        let mut current = id.to_owned();
        while let Some(next) = self.parent.get(&current) {
            current = next.clone();
        }
        current
    }

    fn identified(&self, id: &str) -> bool {
        let person = self.find(id);
        self.users.iter().any(|u| self.find(u) == person)
    }

    fn union(&mut self, a: &str, b: &str) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent.insert(a, b);
        }
    }

    /// Applies one message; whether a merge it asked for was refused.
    fn apply(&mut self, e: &InputEvent) -> bool {
        let mut refused = false;
        if let (true, Some(previous), Some(user)) = (e.kind == "alias", &e.previous_id, &e.user_id) {
            if self.find(previous) != self.find(user) {
                if self.identified(previous) && self.identified(user) {
                    refused = true;
                } else {
                    self.union(previous, user);
                }
            }
        }
        if let (Some(user), Some(anonymous)) = (&e.user_id, &e.anonymous_id) {
            if self.find(anonymous) != self.find(user) {
                if self.identified(anonymous) {
                    refused |= e.kind == "identify" || e.kind == "alias";
                } else {
                    self.union(anonymous, user);
                }
            }
        }
        if let Some(user) = &e.user_id {
            self.users.insert(user.clone());
        }
        refused
    }
}

const IDS: [&str; 7] = ["user-0", "user-1", "user-2", "device-0", "device-1", "device-2", "device-3"];

/// One call of a small world: 4 devices, 3 users; page views, tracks, identifies and aliases
/// (whose previous id is any id, a user's or a device's).
fn call() -> impl Strategy<Value = (u8, Option<u8>, u8, u8)> {
    (0u8..4, prop::option::of(3u8..7), 0u8..3, 0u8..7)
}

fn event(n: usize, (kind, device, user, previous): (u8, Option<u8>, u8, u8)) -> InputEvent {
    let device = device.map(|d| IDS[usize::from(d)].to_owned());
    let user_id = Some(IDS[usize::from(user)].to_owned());
    let base = InputEvent { offset: n as u64, event_time: n as i64, ..InputEvent::default() };
    match kind {
        0 if device.is_some() => InputEvent { kind: "page".into(), anonymous_id: device, ..base },
        1 => InputEvent { kind: "identify".into(), user_id, anonymous_id: device, ..base },
        2 => InputEvent {
            kind: "alias".into(),
            user_id,
            anonymous_id: device,
            previous_id: Some(IDS[usize::from(previous)].to_owned()),
            ..base
        },
        _ => InputEvent { kind: "track".into(), user_id, anonymous_id: device, ..base },
    }
}

fn stitched(links: &[footfall_processor::identity::Link]) -> HashMap<String, String> {
    let mut stitching = Stitching::new();
    for l in links {
        stitching.add(&l.id, &l.person_id, l.linked_at, l.offset);
    }
    stitching.persons()
}

fn person_of<'a>(persons: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    persons.get(id).map_or(id, String::as_str)
}

proptest! {
    #[test]
    fn the_processor_merges_exactly_what_the_rules_allow_and_every_reader_agrees(
        calls in prop::collection::vec(call(), 1..80),
        rotate in 0usize..80,
    ) {
        let mut ids = Identities::new();
        let mut reference = Reference::default();
        let mut links = Vec::new();
        for (n, c) in calls.iter().enumerate() {
            let e = event(n, *c);
            let (person, refused) = ids.observe(&e, &mut links);
            let expected_refusal = reference.apply(&e);
            prop_assert_eq!(refused.is_some(), expected_refusal, "{:?}", e);
            // The processor's person is what a reader of the links written so far finds.
            let id = e.user_id.clone().or(e.anonymous_id.clone()).unwrap_or_default();
            let persons = stitched(&links);
            prop_assert_eq!(person_of(&persons, &id), person.as_str(), "{:?}", e);
            prop_assert_eq!(reference.find(&person), reference.find(&id), "{:?}", e);
        }
        // The persons the links make are the reference's, whatever order they are read in.
        let persons = stitched(&links);
        let mut rotated = links.clone();
        rotated.rotate_left(rotate % links.len().max(1));
        rotated.reverse();
        prop_assert_eq!(&stitched(&rotated), &persons);
        for a in IDS {
            for b in IDS {
                prop_assert_eq!(
                    person_of(&persons, a) == person_of(&persons, b),
                    reference.find(a) == reference.find(b),
                    "{} and {}", a, b
                );
            }
        }
    }

    #[test]
    fn stitching_any_links_is_independent_of_their_order_and_partitions_like_a_union_find(
        raw in prop::collection::vec((0u8..8, 0u8..8, 0i64..5), 0..30),
        rotate in 0usize..30,
    ) {
        // Links from several streams: an id may be linked twice, and cycles happen.
        let links: Vec<(String, String, i64, u64)> = raw
            .iter()
            .enumerate()
            .map(|(n, (a, b, t))| (format!("id-{a}"), format!("id-{b}"), *t, n as u64 % 3))
            .collect();
        let stitch = |links: &[(String, String, i64, u64)]| {
            let mut s = Stitching::new();
            for (a, b, t, o) in links {
                s.add(a, b, *t, *o);
            }
            s.persons()
        };
        let persons = stitch(&links);
        let mut other = links.clone();
        other.rotate_left(rotate % links.len().max(1));
        other.reverse();
        prop_assert_eq!(&stitch(&other), &persons);

        // The reference: each id's earliest link (by time, offset, target), then a union-find.
        let mut earliest: HashMap<&str, (i64, u64, &str)> = HashMap::new();
        for (a, b, t, o) in &links {
            if a == b {
                continue;
            }
            let candidate = (*t, *o, b.as_str());
            let slot = earliest.entry(a.as_str()).or_insert(candidate);
            if candidate < *slot {
                *slot = candidate;
            }
        }
        let mut reference = Reference::default();
        for (a, (_, _, b)) in &earliest {
            reference.union(a, b);
        }
        for a in 0..8 {
            for b in 0..8 {
                let (a, b) = (format!("id-{a}"), format!("id-{b}"));
                prop_assert_eq!(
                    person_of(&persons, &a) == person_of(&persons, &b),
                    reference.find(&a) == reference.find(&b),
                    "{} and {}", a, b
                );
            }
        }
        // Every person is a member of its own group and is not itself linked onward.
        for person in persons.values() {
            prop_assert!(!persons.contains_key(person), "{} leads further", person);
        }
    }
}
