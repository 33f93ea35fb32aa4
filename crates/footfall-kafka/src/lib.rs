//! Apache Kafka as footfall's event log, for running collectors and processors on many
//! machines, behind the log's interface ([`KafkaSink`] is an `EventSink`, [`KafkaSource`] an
//! `EventSource`): the collector's [`KafkaSink`] (an idempotent producer whose HTTP acknowledgement
//! waits for the brokers' `acks=all`) and the processor's [`group::run`] (a member of a
//! consumer group that keeps one processing state per assigned partition, and commits its
//! offsets only together with that state's checkpoint).
//!
//! Records are keyed by the person key (`userId`, else `anonymousId`), so one person's events
//! stay in order in one partition; each partition is processed independently, so N processors
//! in a group split the partitions and together write what one would.

pub mod config;
pub mod error;
pub mod group;
mod letters;
pub mod sink;
pub mod source;
pub mod topics;

pub use config::{KafkaConfig, PartitionKey};
pub use error::KafkaLogError;
pub use group::{GroupOptions, GroupReport};
pub use sink::KafkaSink;
pub use source::KafkaSource;
