//! A map with a bound on its entries that forgets the least recently used first, in O(1) per
//! operation and with no bookkeeping per entry: two generations. New and used entries go to the
//! newer generation; when it holds half the bound, the older generation is forgotten and the
//! newer one takes its place. An entry is forgotten only after half the bound of other entries
//! were added or used since it last was.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `max` entries, forgetting the least recently used first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundedMap<K: Eq + Hash, V> {
    max: usize,
    newer: HashMap<K, V>,
    older: HashMap<K, V>,
    forgotten: u64,
}

impl<K: Eq + Hash, V> BoundedMap<K, V> {
    /// An empty map of at most `max` entries (at least 2).
    pub fn new(max: usize) -> Self {
        Self { max: max.max(2), newer: HashMap::new(), older: HashMap::new(), forgotten: 0 }
    }

    /// The value of `key`, without counting it as used.
    pub fn peek<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.newer.get(key).or_else(|| self.older.get(key))
    }

    /// Whether `key` is known.
    pub fn contains_key<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.newer.contains_key(key) || self.older.contains_key(key)
    }

    /// The value of `key`, counting it as used (it moves to the newer generation).
    pub fn get(&mut self, key: &K) -> Option<&V>
    where
        K: Clone,
    {
        if !self.newer.contains_key(key) {
            let value = self.older.remove(key)?;
            self.put(key.clone(), value);
        }
        self.newer.get(key)
    }

    /// Sets `key` to `value`, forgetting the older generation if the newer one is full.
    pub fn insert(&mut self, key: K, value: V) {
        self.older.remove(&key);
        self.put(key, value);
    }

    fn put(&mut self, key: K, value: V) {
        if self.newer.len() >= self.max / 2 && !self.newer.contains_key(&key) {
            self.forgotten += self.older.len() as u64;
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(key, value);
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q: Eq + Hash + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let newer = self.newer.remove(key);
        let older = self.older.remove(key);
        newer.or(older)
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.newer.retain(|k, v| keep(k, v));
        self.older.retain(|k, v| keep(k, v));
    }

    /// Entries known.
    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries forgotten to stay within the bound, since the map was made.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forgets_the_least_recently_used_first() {
        let mut map = BoundedMap::new(4);
        map.insert(1, "a");
        map.insert(2, "b");
        map.insert(3, "c"); // 1 and 2 become the older generation
        assert_eq!(map.get(&1), Some(&"a")); // used: back in the newer one, with 3
        map.insert(4, "d"); // 3 and 1 older; 2 forgotten
        assert_eq!(
            (map.peek(&2), map.peek(&1), map.peek(&3), map.peek(&4)),
            (None, Some(&"a"), Some(&"c"), Some(&"d"))
        );
        assert_eq!(map.forgotten(), 1);
    }

    proptest! {
        #[test]
        fn never_holds_more_than_its_bound_and_keeps_the_latest_entries(
            max in 2usize..64,
            keys in proptest::collection::vec(0u16..200, 0..500),
        ) {
            let mut map = BoundedMap::new(max);
            for (i, key) in keys.iter().enumerate() {
                map.insert(*key, i);
                prop_assert!(map.len() <= max);
                prop_assert_eq!(map.peek(key), Some(&i));
            }
            // The last max/2 distinct keys are always still known, with their latest values.
            let mut latest: Vec<(u16, usize)> = Vec::new();
            for (i, key) in keys.iter().enumerate().rev() {
                if latest.len() == max / 2 { break; }
                if !latest.iter().any(|(k, _)| k == key) { latest.push((*key, i)); }
            }
            for (key, i) in latest {
                prop_assert_eq!(map.peek(&key), Some(&i));
            }
        }
    }
}
