//! Unique persons per window: exact for small sets, HyperLogLog++ (the `hyperloglogplus`
//! crate, precision 14: about 0.8% standard error) beyond. Sketches merge, so coarser windows
//! and dimensions get their uniques by merging, never by adding distinct counts.

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

/// Persons counted exactly up to this many; a sketch beyond.
pub const EXACT_LIMIT: usize = 256;

/// HyperLogLog++ precision: 2^14 registers.
pub const PRECISION: u8 = 14;

/// xxh3 as the sketch's hasher: stable across processes and versions, so stored sketches of
/// different runs merge.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StableHasher;

impl BuildHasher for StableHasher {
    type Hasher = xxhash_rust::xxh3::Xxh3;
    fn build_hasher(&self) -> Self::Hasher {
        xxhash_rust::xxh3::Xxh3::new()
    }
}

/// A set of person hashes, exact or estimated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PersonSketch {
    /// Sorted, distinct hashes.
    Exact(Vec<u64>),
    /// A HyperLogLog++ sketch of the hashes.
    Estimated(Box<HyperLogLogPlus<u64, StableHasher>>),
}

impl Default for PersonSketch {
    fn default() -> Self {
        Self::Exact(Vec::new())
    }
}

impl PersonSketch {
    /// Adds a person (by [`crate::stable_hash`] of their id).
    pub fn insert(&mut self, person: u64) {
        match self {
            Self::Exact(set) => {
                if let Err(at) = set.binary_search(&person) {
                    set.insert(at, person);
                    if set.len() > EXACT_LIMIT {
                        let mut sketch = new_sketch();
                        for p in set.iter() {
                            sketch.insert(p);
                        }
                        *self = Self::Estimated(Box::new(sketch));
                    }
                }
            }
            Self::Estimated(sketch) => sketch.insert(&person),
        }
    }

    /// Adds every person of `other`.
    pub fn merge(&mut self, other: &PersonSketch) {
        match other {
            Self::Exact(set) => set.iter().for_each(|p| self.insert(*p)),
            Self::Estimated(theirs) => {
                if let Self::Exact(set) = self {
                    let mut sketch = new_sketch();
                    set.iter().for_each(|p| sketch.insert(p));
                    *self = Self::Estimated(Box::new(sketch));
                }
                if let Self::Estimated(mine) = self {
                    // Same precision and hasher by construction: merging cannot fail.
                    let _ = mine.merge(theirs);
                }
            }
        }
    }

    /// How many persons: exact, or the sketch's estimate rounded.
    pub fn count(&mut self) -> u64 {
        match self {
            Self::Exact(set) => set.len() as u64,
            Self::Estimated(sketch) => sketch.count().round() as u64,
        }
    }

    /// Whether the count is exact.
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact(_))
    }

    /// The sketch as bytes (the same persons inserted in the same order give the same bytes).
    pub fn to_bytes(&mut self) -> Vec<u8> {
        self.count(); // folds the sketch's pending set into its sorted list: canonical bytes
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// A sketch from [`PersonSketch::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

fn new_sketch() -> HyperLogLogPlus<u64, StableHasher> {
    // PRECISION is within the crate's bounds (4..=18), so this cannot fail.
    HyperLogLogPlus::new(PRECISION, StableHasher).unwrap_or_else(|_| unreachable!("precision 14 is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_while_small_then_within_two_percent_and_merges_like_a_union() {
        let mut small = PersonSketch::default();
        for p in [5u64, 1, 5, 9] {
            small.insert(p);
        }
        assert_eq!((small.count(), small.is_exact()), (3, true));

        let (mut a, mut b, mut both) = (PersonSketch::default(), PersonSketch::default(), PersonSketch::default());
        for i in 0..60_000u64 {
            let h = crate::stable_hash(&format!("person-{i}"));
            if i < 40_000 {
                a.insert(h);
            }
            if i >= 20_000 {
                b.insert(h);
            }
            both.insert(h);
        }
        let mut merged = a.clone();
        merged.merge(&b);
        for (sketch, truth) in [(&mut a, 40_000.0), (&mut merged, 60_000.0), (&mut both, 60_000.0)] {
            let n = sketch.count() as f64;
            assert!((n - truth).abs() / truth < 0.02, "{n} vs {truth}");
        }
        let mut restored = PersonSketch::from_bytes(&merged.to_bytes()).expect("round trip");
        assert_eq!(restored.count(), merged.count());
        assert_eq!(merged.to_bytes(), merged.clone().to_bytes(), "canonical bytes");
    }
}
