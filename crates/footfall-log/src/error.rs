//! Errors of the event log.

use std::path::PathBuf;
use thiserror::Error;

/// A failure of the log itself: I/O, corruption, or a log already in use.
#[derive(Debug, Error)]
pub enum LogError {
    /// An I/O operation on a log file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("open", "fsync", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process holds the log's writer lock.
    #[error("the log at {0} is in use by another process (its lock file is held)")]
    Locked(PathBuf),
    /// A record in the middle of the log (not at its tail) is damaged.
    #[error("corrupt record in {path} at byte {position}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the damaged record.
        position: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A group commit failed to reach the disk; its appends are not acknowledged.
    #[error("the log write failed: {0}")]
    WriteFailed(String),
    /// The writer stopped (after an earlier I/O error, or at shutdown).
    #[error("the log writer has stopped")]
    WriterStopped,
}

/// Why an append was not even queued. The caller answers its own client with "retry later".
#[derive(Debug, Error)]
pub enum AppendError {
    /// More bytes are waiting for the disk than the log's bound allows.
    #[error("the event log is busy: {pending_bytes} bytes are waiting to be written (limit {limit})")]
    Busy {
        /// Bytes queued right now.
        pending_bytes: usize,
        /// The configured bound.
        limit: usize,
    },
    /// The log's client cannot take more now (a Kafka producer's full queue).
    #[error("the event log is busy: {0}")]
    Backpressure(String),
    /// One record is larger than the log accepts.
    #[error("record of {0} bytes is larger than the log's limit of {1} bytes")]
    RecordTooLarge(usize, usize),
    /// The log has failed or is shutting down.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl LogError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}
