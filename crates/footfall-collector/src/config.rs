//! Collector settings.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the collector behaves; every field has a default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    /// Write keys accepted (Segment's source keys). Must not be empty.
    pub write_keys: Vec<String>,
    /// Requests processed at once; more are answered 503 (load shedding, bounded memory).
    pub max_concurrent_requests: usize,
    /// Seconds a client is told to wait in `Retry-After` when the collector is overloaded.
    pub retry_after_secs: u64,
    /// Longest wait for the log to make a request durable before answering 503.
    #[serde(with = "secs")]
    pub ack_timeout: Duration,
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection stays open: slow or idle clients cannot hold connections for ever.
    #[serde(with = "secs")]
    pub header_timeout: Duration,
    /// Longest a client may take to send a tracking call's body (answered 408 after it), so a
    /// slow sender cannot hold one of the `max_concurrent_requests` slots.
    #[serde(with = "secs")]
    pub body_timeout: Duration,
    /// Connections open at once; further ones wait to be accepted until one closes.
    pub max_connections: usize,
    /// Key records by device (`anonymousId`, else `userId`) rather than by person: set from
    /// `[kafka] key`, not read from `[collector]`.
    #[serde(skip)]
    pub key_by_device: bool,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            write_keys: Vec::new(),
            max_concurrent_requests: 512,
            retry_after_secs: 1,
            ack_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            key_by_device: false,
        }
    }
}

impl CollectorConfig {
    /// Refuses settings a collector must not start with: no write key at all, or an empty one
    /// (it would accept any request whose Basic user name is empty).
    pub fn check(&self) -> Result<(), String> {
        if self.write_keys.is_empty() {
            return Err("no write key: set [collector] write_keys or --write-key".into());
        }
        if self.write_keys.iter().any(|k| k.trim().is_empty()) {
            return Err("an empty write key would let anyone send events: remove it from [collector] write_keys".into());
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err("[collector] header_timeout and body_timeout must be more than 0 seconds".into());
        }
        Ok(())
    }

    /// The limits the HTTP server applies to every connection.
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            header_timeout: self.header_timeout,
            max_connections: self.max_connections.max(1),
            ..crate::serve::ConnectionLimits::default()
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(d)?;
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| serde::de::Error::custom(format!("{seconds} is not a number of seconds")))
    }
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
