//! footfall's InfluxDB sink. The one-minute windows of the lake's `metrics_1m` table go to
//! InfluxDB (v1, v2 or v3) as line protocol, so existing InfluxDB and Grafana dashboards see
//! footfall's metrics.
//!
//! [`line`] writes points (escaping included), [`client`] posts them (gzip, the three write
//! APIs), [`sink`] follows `metrics_1m` with a durable cursor: the lake itself is the on-disk
//! buffer while InfluxDB is unreachable, and a point sent twice overwrites itself (same
//! series, same timestamp), so retries never change a sum.

pub mod client;
pub mod error;
pub mod line;
pub mod sink;

pub use client::{InfluxApi, InfluxClient, InfluxTarget};
pub use error::InfluxError;
pub use sink::{InfluxSink, SinkReport, MEASUREMENT};
