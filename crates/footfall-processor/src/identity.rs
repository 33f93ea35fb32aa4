//! Identity stitching: every event gets the id of the person behind it (`person_id`), and the
//! links learned on the way (an anonymous id to the user who logged in on it, an earlier id to
//! the user it was aliased to) go to the `identities` table, through which queries attribute
//! earlier events to the person retroactively ([`crate::stitch`]).
//!
//! # Merge rules
//!
//! PostHog's model. A person is *identified* once one of its ids has been a message's
//! `userId`. Links are only made where they cannot join two identified people:
//!
//! - A message with both a `userId` and an `anonymousId` (an `identify`, or any later call)
//!   links the anonymous id to the user, unless the anonymous id already belongs to an
//!   identified person. A shared device stays its first user's; later users keep their own ids.
//! - `alias` (`previousId` → `userId`) merges the previous id's person into the user's unless
//!   both are identified already: an anonymous or unknown previous id joins a user, an
//!   identified user may take a new id, two identified users are never merged.
//! - An `identify` or `alias` whose merge is refused is reported ([`RefusedMerge`]): the
//!   processor makes it a dead letter `merge_of_identified_users`. The event itself is kept.
//!
//! Each link points to the id the message named (not to where that id leads), so every link
//! stays one user's own: erasing a user follows the links that point to them and no further.

use crate::bounded::BoundedMap;
use crate::input::InputEvent;
use crate::{stable_hash, Micros};
use serde::{Deserialize, Serialize};

/// How many links a chain may have. A merge that would make a longer one is refused, so a
/// client cannot make every lookup slow by renaming a user over and over.
pub const MAX_CHAIN: usize = 16;

/// A new link from an id to the person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The anonymous id or earlier id.
    pub id: String,
    /// The user id it was linked to (which may itself lead further, see [`crate::stitch`]).
    pub person_id: String,
    /// When it was learned (event time).
    pub linked_at: Micros,
    /// Offset of the event that made it.
    pub offset: u64,
}

/// Why a merge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    /// Both sides are identified people.
    MergeOfIdentifiedUsers,
    /// The merge would make a chain of more than [`MAX_CHAIN`] links.
    ChainTooLong,
}

impl RefusalReason {
    /// The dead letter's `reason_code`.
    pub fn code(self) -> &'static str {
        match self {
            Self::MergeOfIdentifiedUsers => "merge_of_identified_users",
            Self::ChainTooLong => "identity_chain_too_long",
        }
    }
}

/// An `identify` or `alias` whose merge was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedMerge {
    /// Why.
    pub reason: RefusalReason,
    /// The id the message asked to link (its `anonymousId` or `previousId`).
    pub id: String,
    /// The person that id belongs to.
    pub id_person: String,
    /// The person it would have joined.
    pub person_id: String,
}

impl RefusedMerge {
    /// A sentence for the dead letter's `reason`. It names no id: the letter's payload holds
    /// the message's ids, and an erasure finds the letter by them.
    pub fn describe(&self, kind: &str) -> String {
        match self.reason {
            RefusalReason::MergeOfIdentifiedUsers => {
                format!("{kind} would merge two identified people; identified users are never merged from a client")
            }
            RefusalReason::ChainTooLong => format!("{kind} would make a chain of more than {MAX_CHAIN} identity links"),
        }
    }
}

/// Ids the identity map remembers by default (linked ids, and apart, identified users).
pub const DEFAULT_MAX_IDS: usize = 4_000_000;

/// The identity map. Its maps are bounded (ids come from clients): past the bound, the ids
/// least recently seen are forgotten first. A forgotten id's later events keep that id as their
/// `person_id`; its link stays in the `identities` table, through which queries still attribute
/// them to the person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identities {
    /// Stable hash of a linked id → the id it is linked to. Keyed by hash (64 bits; a collision
    /// among a million ids has odds of about 1 in 36 million): every active visitor has an
    /// entry, and the id's text would double its size.
    links: BoundedMap<u64, Box<str>>,
    /// Stable hashes of the ids seen as a `userId` (the identified people's) → the longest
    /// chain of links ending at that id.
    users: BoundedMap<u64, u8>,
}

impl Default for Identities {
    fn default() -> Self {
        Self::with_max_ids(DEFAULT_MAX_IDS)
    }
}

/// Where an id leads.
struct Root {
    /// The last id of its chain.
    id: String,
    /// Links from the id to it.
    length: usize,
    /// Whether the chain ended within [`MAX_CHAIN`] links (always, unless ids were forgotten).
    complete: bool,
}

impl Identities {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map remembering at most `max_ids` linked ids and as many identified users.
    pub fn with_max_ids(max_ids: usize) -> Self {
        Self { links: BoundedMap::new(max_ids), users: BoundedMap::new(max_ids) }
    }

    /// Ids forgotten to stay within the bound.
    pub fn forgotten(&self) -> u64 {
        self.links.forgotten() + self.users.forgotten()
    }

    /// The end of `id`'s chain of links.
    fn root(&self, id: &str) -> Root {
        let mut current = id;
        for length in 0..=MAX_CHAIN {
            match self.links.peek(&stable_hash(current)) {
                Some(next) if &**next != current && length < MAX_CHAIN => current = next,
                next => return Root { id: current.to_owned(), length, complete: next.is_none() },
            }
        }
        Root { id: current.to_owned(), length: MAX_CHAIN, complete: false }
    }

    /// Whether the person whose chain ends at `root` is identified: a chain's end is a user id
    /// (every link points to one), so only a lone id needs the map (which may have forgotten it).
    fn is_identified(&self, root: &Root) -> bool {
        root.length > 0 || self.users.contains_key(&stable_hash(&root.id))
    }

    /// The longest chain ending at `root` (kept for identified users, the ends of every chain).
    fn height(&self, root: &str) -> usize {
        self.users.peek(&stable_hash(root)).map_or(0, |h| usize::from(*h))
    }

    /// Links `from` (an id with no link yet) to `into`, unless a chain would grow past
    /// [`MAX_CHAIN`].
    fn link(&mut self, from: Root, into: &str, event: &InputEvent, links: &mut Vec<Link>) -> Result<(), RefusalReason> {
        let end = self.root(into);
        let height = self.height(&from.id) + 1 + end.length;
        if !from.complete || !end.complete || height > MAX_CHAIN {
            return Err(RefusalReason::ChainTooLong);
        }
        self.links.insert(stable_hash(&from.id), into.into());
        let tallest = self.height(&end.id).max(height);
        // Bounded by MAX_CHAIN, so it fits.
        self.users.insert(stable_hash(&end.id), u8::try_from(tallest).unwrap_or(u8::MAX));
        links.push(Link { id: from.id, person_id: into.to_owned(), linked_at: event.event_time, offset: event.offset });
        Ok(())
    }

    /// The person behind `event` as known now, learning from it first: links it makes are
    /// added to `links`; a merge it asked for and may not make is returned.
    pub fn observe(&mut self, event: &InputEvent, links: &mut Vec<Link>) -> (String, Option<RefusedMerge>) {
        let mut refused = None;
        if event.kind == "alias" {
            if let (Some(previous), Some(user)) = (&event.previous_id, &event.user_id) {
                let (from, into) = (self.root(previous), self.root(user));
                if from.id != into.id {
                    let id_person = from.id.clone();
                    let outcome = if self.is_identified(&from) && self.is_identified(&into) {
                        Err(RefusalReason::MergeOfIdentifiedUsers)
                    } else {
                        self.link(from, user, event, links)
                    };
                    if let Err(reason) = outcome {
                        refused = Some(RefusedMerge { reason, id: previous.clone(), id_person, person_id: into.id });
                    }
                }
            }
        }
        if let (Some(user), Some(anonymous)) = (&event.user_id, &event.anonymous_id) {
            // Seen again: its link is among the last to be forgotten.
            self.links.get(&stable_hash(anonymous));
            let (from, into) = (self.root(anonymous), self.root(user));
            if from.id != into.id {
                let id_person = from.id.clone();
                let outcome = if self.is_identified(&from) {
                    // A shared device: it stays its first user's.
                    Err(RefusalReason::MergeOfIdentifiedUsers)
                } else {
                    self.link(from, user, event, links)
                };
                // Reported for the calls that ask to merge, not for every later call of a
                // second user on a shared device.
                let explicit = event.kind == "identify" || event.kind == "alias";
                if let (Err(reason), true, true) = (outcome, explicit, refused.is_none()) {
                    refused = Some(RefusedMerge { reason, id: anonymous.clone(), id_person, person_id: into.id });
                }
            }
        }
        if let Some(user) = &event.user_id {
            let hash = stable_hash(user);
            if self.users.get(&hash).is_none() {
                self.users.insert(hash, 0);
            }
        }
        (self.resolve(event.user_id.as_deref(), event.anonymous_id.as_deref()), refused)
    }

    /// The person behind these ids as known now, without learning anything: what a query
    /// resolving through `identities` finds.
    pub fn resolve(&self, user_id: Option<&str>, anonymous_id: Option<&str>) -> String {
        match user_id.or(anonymous_id) {
            Some(id) => self.root(id).id,
            None => String::new(),
        }
    }

    /// Forgets `ids` (an erased user's own ids): their links, the links to them and whether
    /// they were identified. Returns the entries removed.
    pub fn forget(&mut self, ids: &[String]) -> usize {
        let before = self.len();
        for id in ids {
            let hash = stable_hash(id);
            self.links.remove(&hash);
            self.users.remove(&hash);
        }
        self.links.retain(|_, to| !ids.iter().any(|id| **id == **to));
        before - self.len()
    }

    /// Linked ids and identified users known.
    pub fn len(&self) -> usize {
        self.links.len() + self.users.len()
    }

    /// Whether nothing is known yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, user: Option<&str>, anonymous: Option<&str>, previous: Option<&str>) -> InputEvent {
        InputEvent {
            kind: kind.into(),
            user_id: user.map(Into::into),
            anonymous_id: anonymous.map(Into::into),
            previous_id: previous.map(Into::into),
            ..InputEvent::default()
        }
    }

    fn observe(ids: &mut Identities, e: InputEvent) -> (String, Vec<(String, String)>, Option<RefusalReason>) {
        let mut links = Vec::new();
        let (person, refused) = ids.observe(&e, &mut links);
        (person, links.into_iter().map(|l| (l.id, l.person_id)).collect(), refused.map(|r| r.reason))
    }

    fn pair(a: &str, b: &str) -> Vec<(String, String)> {
        vec![(a.into(), b.into())]
    }

    #[test]
    fn anonymous_ids_join_their_user_and_a_shared_device_stays_its_first_users() {
        let mut ids = Identities::new();
        assert_eq!(observe(&mut ids, event("page", None, Some("a1"), None)).0, "a1", "unknown yet");
        assert_eq!(
            observe(&mut ids, event("identify", Some("u1"), Some("a1"), None)),
            ("u1".into(), pair("a1", "u1"), None)
        );
        assert_eq!(observe(&mut ids, event("page", None, Some("a1"), None)).0, "u1", "later anonymous events");
        // A second user on the same device keeps their own id, and the refusal is reported.
        let (person, links, refused) = observe(&mut ids, event("identify", Some("u2"), Some("a1"), None));
        assert_eq!((person.as_str(), links.len(), refused), ("u2", 0, Some(RefusalReason::MergeOfIdentifiedUsers)));
        // Not reported for ordinary calls (every call of u2 on that device would be).
        assert_eq!(observe(&mut ids, event("track", Some("u2"), Some("a1"), None)), ("u2".into(), vec![], None));
        assert_eq!(observe(&mut ids, event("page", None, Some("a1"), None)).0, "u1");
    }

    #[test]
    fn alias_renames_a_user_or_joins_an_anonymous_id_but_never_merges_two_identified_users() {
        let mut ids = Identities::new();
        observe(&mut ids, event("identify", Some("u1"), Some("a1"), None));
        // u1 takes the new id u9: both ids, and u1's device, are u9 from now on.
        assert_eq!(
            observe(&mut ids, event("alias", Some("u9"), None, Some("u1"))),
            ("u9".into(), pair("u1", "u9"), None)
        );
        assert_eq!(observe(&mut ids, event("track", Some("u1"), None, None)).0, "u9");
        assert_eq!(observe(&mut ids, event("page", None, Some("a1"), None)).0, "u9");
        // An anonymous previous id joins the user.
        assert_eq!(
            observe(&mut ids, event("alias", Some("u9"), None, Some("a7"))),
            ("u9".into(), pair("a7", "u9"), None)
        );
        // The abuse: victim is identified, attacker too; refused.
        observe(&mut ids, event("track", Some("victim"), None, None));
        observe(&mut ids, event("track", Some("attacker"), None, None));
        let (person, links, refused) = observe(&mut ids, event("alias", Some("attacker"), None, Some("victim")));
        assert_eq!(
            (person.as_str(), links.len(), refused),
            ("attacker", 0, Some(RefusalReason::MergeOfIdentifiedUsers))
        );
        assert_eq!(observe(&mut ids, event("track", Some("victim"), None, None)).0, "victim");
        // Nor through an identified person's anonymous id.
        let (_, links, refused) = observe(&mut ids, event("alias", Some("attacker"), None, Some("a1")));
        assert_eq!((links.len(), refused), (0, Some(RefusalReason::MergeOfIdentifiedUsers)));
        assert_eq!(observe(&mut ids, event("page", None, Some("a1"), None)).0, "u9");
    }

    #[test]
    fn a_chain_of_renames_stops_at_its_bound() {
        let mut ids = Identities::new();
        observe(&mut ids, event("track", Some("n0"), None, None));
        let mut refused_at = None;
        for n in 1..40 {
            let (_, _, refused) =
                observe(&mut ids, event("alias", Some(&format!("n{n}")), None, Some(&format!("n{}", n - 1))));
            if refused.is_some() {
                refused_at = Some((n, refused));
                break;
            }
        }
        assert_eq!(refused_at, Some((MAX_CHAIN + 1, Some(RefusalReason::ChainTooLong))));
        assert_eq!(ids.resolve(Some("n0"), None), format!("n{MAX_CHAIN}"));
    }

    #[test]
    fn past_its_bound_the_map_forgets_the_ids_least_recently_seen() {
        let mut ids = Identities::with_max_ids(4);
        observe(&mut ids, event("identify", Some("u1"), Some("a1"), None));
        for n in 2..=4 {
            observe(&mut ids, event("identify", Some(&format!("u{n}")), Some(&format!("a{n}")), None));
            // a1 is seen again each time, so it stays.
            assert_eq!(observe(&mut ids, event("identify", Some("u1"), Some("a1"), None)).0, "u1");
            assert_eq!(ids.resolve(None, Some("a1")), "u1");
        }
        assert_eq!(ids.resolve(None, Some("a2")), "a2", "forgotten");
        assert!(ids.forgotten() >= 1);
    }

    #[test]
    fn a_forgotten_user_and_their_devices_are_unknown_afterwards() {
        let mut ids = Identities::new();
        observe(&mut ids, event("identify", Some("u1"), Some("a1"), None));
        observe(&mut ids, event("identify", Some("u2"), Some("a2"), None));
        assert_eq!(ids.forget(&["u1".into(), "a1".into()]), 2, "a1's link and u1 as a user");
        assert_eq!(ids.resolve(None, Some("a1")), "a1");
        assert_eq!(ids.resolve(None, Some("a2")), "u2", "another user's link stays");
        // u1 may be linked again, as a new person.
        let (person, links, refused) = observe(&mut ids, event("identify", Some("u3"), Some("u1"), None));
        assert_eq!((person.as_str(), links.len(), refused), ("u3", 1, None));
    }

    #[test]
    fn alias_cycles_are_never_made() {
        let mut ids = Identities::new();
        observe(&mut ids, event("alias", Some("b"), None, Some("a")));
        let (_, links, _) = observe(&mut ids, event("alias", Some("a"), None, Some("b")));
        assert!(links.is_empty(), "a and b are one person already");
        assert_eq!(ids.resolve(Some("a"), None), "b");
    }
}
