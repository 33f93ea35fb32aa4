//! Errors of the lake.

use thiserror::Error;

/// A failure reading the log into, or writing, a lake table.
#[derive(Debug, Error)]
pub enum LakeError {
    /// Building an Arrow batch failed (a schema mismatch: a bug, not bad input).
    #[error("building an Arrow batch: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    /// A Delta Lake operation failed.
    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),
    /// A query failed in DataFusion (the engine's own message).
    #[error(transparent)]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    /// Reading the event log failed.
    #[error(transparent)]
    Log(#[from] footfall_log::LogError),
    /// A lake directory could not be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The lake location is not a usable URL.
    #[error("not a usable lake location: {0}")]
    BadLocation(String),
    /// A record in the event log is not a stored Segment message.
    #[error("log record at offset {offset} is not a stored Segment message: {reason}")]
    BadRecord {
        /// Its offset in the log.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A table the operation needs is not in the lake.
    #[error("the lake has no table `{0}` (load it first: `footfall lake load`)")]
    MissingTable(String),
    /// No transform has this name.
    #[error("no transform is called `{0}` (see `footfall jobs list`)")]
    UnknownTransform(String),
    /// A transform's query does not give what a job can write.
    #[error("transform `{name}`: {reason}")]
    BadTransform {
        /// The transform.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The processor's checkpoint could not be written or read back.
    #[error("processor checkpoint: {0}")]
    Checkpoint(String),
    /// A metrics query with a bad parameter.
    #[error("{0}")]
    BadMetricsQuery(String),
    /// A query ran past its time limit (`[sql] timeout_seconds`) and was cancelled.
    #[error("the query ran longer than its limit of {0:?} and was cancelled ([sql] timeout_seconds)")]
    QueryTimeout(std::time::Duration),
    /// The lake's secret could not be made or read.
    #[error("the lake's secret: {0}")]
    Secret(String),
    /// A worker thread of the loader failed (a bug, not bad input).
    #[error("loader worker: {0}")]
    Worker(String),
}
