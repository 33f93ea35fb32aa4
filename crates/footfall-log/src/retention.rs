//! Retention: which whole segments may be deleted because they are too old or the topic is too
//! large. The segment being written is never deleted.

use std::time::{Duration, SystemTime};

/// How long and how much a topic keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delete a closed segment whose last write is older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest closed segments while the topic is larger than this.
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    /// Seven days, no size cap (Kafka's defaults).
    fn default() -> Self {
        Self { max_age: Some(Duration::from_secs(7 * 24 * 3600)), max_bytes: None }
    }
}

/// A segment as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Size in bytes.
    pub bytes: u64,
    /// Time of its last write.
    pub modified: SystemTime,
}

impl Retention {
    /// How many of the oldest segments to delete. `segments` are oldest first and the last one
    /// is the active segment, which is never counted.
    pub fn segments_to_delete(&self, segments: &[SegmentInfo], now: SystemTime) -> usize {
        let closed = segments.len().saturating_sub(1);
        let mut total: u64 = segments.iter().map(|s| s.bytes).sum();
        let mut delete = 0;
        while delete < closed {
            let s = segments[delete];
            let too_old = self.max_age.is_some_and(|age| now.duration_since(s.modified).unwrap_or_default() > age);
            let too_big = self.max_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            total -= s.bytes;
            delete += 1;
        }
        delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(bytes: u64, age_s: u64, now: SystemTime) -> SegmentInfo {
        SegmentInfo { bytes, modified: now - Duration::from_secs(age_s) }
    }

    #[test]
    fn deletes_old_and_excess_segments_but_never_the_active_one() {
        let now = SystemTime::now();
        let by_age = Retention { max_age: Some(Duration::from_secs(100)), max_bytes: None };
        let segs = [seg(10, 500, now), seg(10, 200, now), seg(10, 50, now), seg(10, 1000, now)];
        assert_eq!(by_age.segments_to_delete(&segs, now), 2);
        let by_size = Retention { max_age: None, max_bytes: Some(25) };
        assert_eq!(by_size.segments_to_delete(&segs, now), 2);
        let only_active = [seg(1_000, 10_000, now)];
        assert_eq!(by_age.segments_to_delete(&only_active, now), 0);
        assert_eq!(by_size.segments_to_delete(&only_active, now), 0);
    }
}
