//! footfall's collector: Segment's HTTP Tracking API on axum.
//!
//! A request is authenticated by write key, decompressed within Segment's limits, split into
//! messages that are validated one by one; good messages go to the event log and bad ones, with
//! their reason and raw payload, to the dead-letter log. The answer (`200 {"success":true}`) is
//! sent only once both appends are durable. When the log cannot keep up, the collector answers
//! `503` with `Retry-After` instead of buffering: Segment SDKs retry.

pub mod auth;
pub mod body;
pub mod config;
pub mod dead_letter;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod routes;
pub mod serve;

pub use config::CollectorConfig;
pub use dead_letter::DeadLetter;
pub use metrics::CollectorMetrics;
pub use routes::{router, Collector};
pub use serve::{serve, ConnectionLimits};
