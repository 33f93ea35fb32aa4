//! The interface between the pipeline's stages and whatever carries events between them: the
//! embedded log here, Apache Kafka for scale-out. The collector writes to an [`EventSink`]; the
//! processor and loaders read from an [`EventSource`].

use crate::error::{AppendError, LogError};
use crate::record::{Record, StoredRecord};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Acknowledgement that appended records are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// How many records were appended.
    pub count: usize,
    /// Offset of the first one (partition 0 of the embedded log; the lowest for Kafka).
    pub first_offset: u64,
}

/// An append in flight: resolves once the records are durable (fsynced, or acked by the broker).
pub type PendingAppend = Pin<Box<dyn Future<Output = Result<AppendAck, LogError>> + Send>>;

/// Where the collector puts events.
pub trait EventSink: Send + Sync {
    /// Queues `records` for a durable append and returns at once. Fails without queueing when
    /// the log cannot keep up ([`AppendError::Busy`]), so the caller can tell its client to
    /// retry instead of buffering without bound.
    fn append(&self, records: Vec<Record>) -> Result<PendingAppend, AppendError>;

    /// Whether appends can currently succeed (for health checks).
    fn is_healthy(&self) -> bool {
        self.problem().is_none()
    }

    /// Why appends cannot succeed now, if they cannot (shown by `/healthz`).
    fn problem(&self) -> Option<String> {
        None
    }
}

/// Where the processor reads events from, as a member of a consumer group.
pub trait EventSource: Send {
    /// Up to `max_records` records after the last ones returned, waiting up to `timeout` for
    /// the first. An empty batch means nothing new arrived in time.
    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Vec<StoredRecord>, LogError>;

    /// Durably records that every record returned so far has been processed.
    fn commit(&mut self) -> Result<(), LogError>;
}
