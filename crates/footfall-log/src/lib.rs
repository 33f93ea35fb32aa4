//! footfall's event log: the interface between the collector and the processor
//! ([`EventSink`], [`EventSource`]), and the embedded durable log that implements it by default.
//! (Apache Kafka implements the same interface for scale-out.)
//!
//! The embedded log is a directory per topic of append-only segment files, each named by the
//! offset of its first record. Every record carries a CRC-32 of its bytes and its offset; offsets
//! grow by one per record without gaps. A single writer thread appends and batches the `fsync`
//! of all the requests that arrived while the previous one ran (group commit); an append is
//! acknowledged only after that `fsync`. On open, a torn tail left by a crash is detected by
//! length, CRC and offset sequence, and cut off, so every acknowledged record is there exactly
//! once.

mod active;
pub mod cursor;
pub mod embedded;
pub mod error;
pub mod reader;
pub mod record;
pub mod retention;
pub mod segment;
pub mod sink;

pub use cursor::CursorStore;
pub use embedded::{EmbeddedLog, LogConfig};
pub use error::{AppendError, LogError};
pub use reader::LogReader;
pub use record::{Record, StoredRecord};
pub use retention::Retention;
pub use sink::{AppendAck, EventSink, EventSource, PendingAppend};
