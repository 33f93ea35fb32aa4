//! Errors of the processor.

use thiserror::Error;

/// A failure processing the event log.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// A log record is not a stored Segment message (only possible if something other than the
    /// collector wrote the log).
    #[error("log record at offset {offset} is not a stored Segment message: {reason}")]
    BadRecord {
        /// Its offset.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The MaxMind database cannot be read.
    #[error("cannot read the MaxMind database {path}: {reason}")]
    Geo {
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}
