//! Identity stitching: `identify` links an anonymous id to a user id, `alias` links an earlier
//! id to a user id, and every event gets the id of the person behind it (`person_id`): the
//! user id (followed through aliases), else the user an anonymous id was linked to, else the
//! anonymous id itself.
//!
//! Events a visitor made before logging in were processed with their anonymous id; the links
//! ([`Link`]) go to the `identities` table, through which queries (and a batch fold) attribute
//! those events to the person retroactively, with no time window.

use crate::bounded::BoundedMap;
use crate::input::InputEvent;
use crate::{stable_hash, Micros};
use serde::{Deserialize, Serialize};

/// How many alias hops are followed at most (a guard against cycles).
const MAX_ALIAS_HOPS: usize = 16;

/// A new link from an id to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The anonymous id or earlier user id.
    pub id: String,
    /// The person it belongs to.
    pub person_id: String,
    /// When it was learned (event time).
    pub linked_at: Micros,
    /// Offset of the event that made it.
    pub offset: u64,
}

/// Ids the identity map remembers by default (anonymous ids and aliases, each kept apart).
pub const DEFAULT_MAX_IDS: usize = 4_000_000;

/// The identity map. Both of its maps are bounded (ids come from clients): past the bound, the
/// ids least recently seen are forgotten first. A forgotten anonymous id's later events keep
/// that id as their `person_id`; its link stays in the `identities` table, through which
/// queries still attribute them to the person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identities {
    /// Stable hash of an anonymous id → user id it was first identified as. Keyed by hash
    /// (64 bits; a collision among a million anonymous ids has odds of about 1 in 36 million):
    /// every active visitor has an entry, and the id's text would double its size.
    anonymous: BoundedMap<u64, Box<str>>,
    /// Earlier user id → later user id (alias).
    aliases: BoundedMap<String, String>,
}

impl Default for Identities {
    fn default() -> Self {
        Self::with_max_ids(DEFAULT_MAX_IDS)
    }
}

impl Identities {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map remembering at most `max_ids` anonymous ids and as many aliases.
    pub fn with_max_ids(max_ids: usize) -> Self {
        Self { anonymous: BoundedMap::new(max_ids), aliases: BoundedMap::new(max_ids) }
    }

    /// Ids forgotten to stay within the bound.
    pub fn forgotten(&self) -> u64 {
        self.anonymous.forgotten() + self.aliases.forgotten()
    }

    /// The person a user id stands for, following aliases.
    fn resolve_user(&self, user_id: &str) -> String {
        let mut current = user_id;
        for _ in 0..MAX_ALIAS_HOPS {
            match self.aliases.peek(current) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current.to_owned()
    }

    /// The person behind `event` as known now, learning from it first; returns the person id
    /// and the link it made, if any.
    pub fn observe(&mut self, event: &InputEvent) -> (String, Option<Link>) {
        let mut link = None;
        if event.kind == "alias" {
            if let (Some(previous), Some(user)) = (&event.previous_id, &event.user_id) {
                let person = self.resolve_user(user);
                if previous != &person && !self.aliases.contains_key(previous) {
                    self.aliases.insert(previous.clone(), person.clone());
                    link = Some(self.link(previous, &person, event));
                }
            }
        }
        match (&event.user_id, &event.anonymous_id) {
            (Some(user), Some(anonymous)) => {
                let person = self.resolve_user(user);
                // The first user an anonymous id is seen with owns it (a shared device's later
                // users keep their own ids).
                let hash = stable_hash(anonymous);
                if self.anonymous.get(&hash).is_none() {
                    self.anonymous.insert(hash, user.as_str().into());
                    link = link.or(Some(self.link(anonymous, &person, event)));
                }
                (person, link)
            }
            (Some(user), None) => (self.resolve_user(user), link),
            (None, Some(anonymous)) => match self.anonymous.get(&stable_hash(anonymous)).cloned() {
                Some(user) => (self.resolve_user(&user), link),
                None => (anonymous.clone(), link),
            },
            (None, None) => (String::new(), link),
        }
    }

    /// The person behind these ids as known now, without learning anything: what a query
    /// resolving through `identities` finds.
    pub fn resolve(&self, user_id: Option<&str>, anonymous_id: Option<&str>) -> String {
        match (user_id, anonymous_id) {
            (Some(user), _) => self.resolve_user(user),
            (None, Some(anonymous)) => {
                self.anonymous.peek(&stable_hash(anonymous)).map_or(anonymous.to_owned(), |u| self.resolve_user(u))
            }
            (None, None) => String::new(),
        }
    }

    fn link(&self, id: &str, person: &str, event: &InputEvent) -> Link {
        Link { id: id.to_owned(), person_id: person.to_owned(), linked_at: event.event_time, offset: event.offset }
    }

    /// Anonymous ids and aliases known.
    pub fn len(&self) -> usize {
        self.anonymous.len() + self.aliases.len()
    }

    /// Whether nothing is linked yet.
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

    #[test]
    fn anonymous_events_belong_to_the_user_once_identified_and_aliases_merge_users() {
        let mut ids = Identities::new();
        assert_eq!(ids.observe(&event("page", None, Some("a1"), None)).0, "a1", "unknown yet");
        let (person, link) = ids.observe(&event("identify", Some("u1"), Some("a1"), None));
        assert_eq!(person, "u1");
        assert_eq!(link.map(|l| (l.id, l.person_id)), Some(("a1".into(), "u1".into())));
        assert_eq!(ids.observe(&event("page", None, Some("a1"), None)).0, "u1", "later anonymous events");
        // A second user on the same device keeps their own id; the device stays u1's.
        assert_eq!(ids.observe(&event("identify", Some("u2"), Some("a1"), None)).0, "u2");
        assert_eq!(ids.observe(&event("page", None, Some("a1"), None)).0, "u1");
        // u1 becomes u9: both ids, and u1's device, are u9 from now on.
        let (person, link) = ids.observe(&event("alias", Some("u9"), None, Some("u1")));
        assert_eq!((person.as_str(), link.map(|l| l.id)), ("u9", Some("u1".into())));
        assert_eq!(ids.observe(&event("track", Some("u1"), None, None)).0, "u9");
        assert_eq!(ids.observe(&event("page", None, Some("a1"), None)).0, "u9");
    }

    #[test]
    fn past_its_bound_the_map_forgets_the_ids_least_recently_seen() {
        let mut ids = Identities::with_max_ids(4);
        ids.observe(&event("identify", Some("u1"), Some("a1"), None));
        for n in 2..=4 {
            ids.observe(&event("identify", Some(&format!("u{n}")), Some(&format!("a{n}")), None));
            // a1 is seen again each time, so it stays.
            assert_eq!(ids.observe(&event("page", None, Some("a1"), None)).0, "u1");
        }
        assert_eq!(ids.observe(&event("page", None, Some("a2"), None)).0, "a2", "forgotten");
        assert_eq!(ids.forgotten(), 1);
        assert!(ids.len() <= 4);
    }

    #[test]
    fn alias_cycles_do_not_hang() {
        let mut ids = Identities::new();
        ids.observe(&event("alias", Some("b"), None, Some("a")));
        ids.observe(&event("alias", Some("a"), None, Some("b")));
        let (person, _) = ids.observe(&event("track", Some("a"), None, None));
        assert!(person == "a" || person == "b");
    }
}
