//! Errors of the analyses.

use thiserror::Error;

/// A failed analysis.
#[derive(Debug, Error)]
pub enum AnalyticsError {
    /// The request cannot be answered as asked (names the parameter and why).
    #[error("{0}")]
    BadRequest(String),
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] footfall_lake::LakeError),
}
