//! Errors of the InfluxDB sink.

use thiserror::Error;

/// A failure writing to InfluxDB.
#[derive(Debug, Error)]
pub enum InfluxError {
    /// The configuration cannot work (bad URL, missing database or bucket).
    #[error("InfluxDB configuration: {0}")]
    Config(String),
    /// InfluxDB could not be reached or did not answer in time.
    #[error("InfluxDB unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// InfluxDB answered with an error status.
    #[error("InfluxDB answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its message.
        body: String,
    },
    /// Reading the windows from the lake failed.
    #[error(transparent)]
    Lake(#[from] footfall_lake::LakeError),
    /// The sink's cursor file could not be read or written.
    #[error("InfluxDB sink cursor {path}: {source}")]
    Cursor {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl InfluxError {
    /// Whether retrying later can succeed: network failures, overload and server errors, and
    /// also authorization and missing-database answers (someone can fix the server while the
    /// lake keeps the points). A 400 (points InfluxDB refuses) cannot.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) | Self::Lake(_) | Self::Cursor { .. } => true,
            Self::Status { status, .. } => *status != 400 && *status != 413,
            Self::Config(_) => false,
        }
    }
}
