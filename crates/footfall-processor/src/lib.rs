//! footfall's stream processor: the event log's raw messages → clean, enriched, sessionized
//! events and windowed metrics, in event time.
//!
//! Each operator is a unit with its own state and tests: [`dedup::Dedup`] (by `messageId`
//! within a horizon), [`identity::Identities`] (anonymous ids and aliases → one person, never two identified
//! users; [`stitch::Stitching`] resolves the links it writes, for every reader),
//! [`enrich::Enricher`] (user agent, bots, channel, URL, revenue, country and city from a
//! MaxMind database ([`geo::GeoDb`]), privacy of the IP),
//! [`sessions::Sessions`] (inactivity gap or new campaign), [`windows::Windows`] (tumbling
//! windows per event and dimension, unique persons by sketch). [`watermark::Watermark`] is
//! event time's clock: the latest event time seen minus the allowed lateness. Every operator
//! is deterministic (no wall clock, no random seeds), so replaying the same input from a
//! checkpoint gives the same output.

pub mod bounded;
pub mod dedup;
pub mod enrich;
pub mod error;
pub mod geo;
pub mod identity;
pub mod input;
pub mod live;
pub mod pipeline;
pub mod sessions;
pub mod sketch;
pub mod stitch;
pub mod watermark;
pub mod windows;

pub use error::ProcessError;
pub use input::InputEvent;
pub use pipeline::{Outputs, Processor, ProcessorConfig, ProcessorState};

/// Microseconds since the Unix epoch, UTC: every time in the processor.
pub type Micros = i64;

/// Microseconds in a second.
pub const SECOND: Micros = 1_000_000;

/// Microseconds in a minute.
pub const MINUTE: Micros = 60 * SECOND;

/// The secret key of the person hashes inside stored sketches (`metrics_1m.persons_sketch`):
/// SipHash-1-3, a keyed hash, so that without the lake's key a known person id cannot be
/// tested against a stored sketch. The same key for every stream of a lake, so their sketches
/// merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SketchKey(pub [u64; 2]);

impl SketchKey {
    /// The keyed hash of `person`.
    pub fn hash(&self, person: &str) -> u64 {
        use std::hash::Hasher;
        let mut hasher = siphasher::sip::SipHasher13::new_with_keys(self.0[0], self.0[1]);
        hasher.write(person.as_bytes());
        hasher.finish()
    }
}

/// A stable 64-bit hash (xxh3) of `text`: the same in every process and version, so it can be
/// checkpointed and stored.
pub fn stable_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}
