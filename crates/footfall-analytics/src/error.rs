//! Errors of the analyses.

use thiserror::Error;

/// A failed analysis.
#[derive(Debug, Error)]
pub enum AnalyticsError {
    /// The request cannot be answered as asked (names the parameter and why).
    #[error("{0}")]
    BadRequest(String),
    /// A model could not be trained, stored or read (says why).
    #[error("{0}")]
    Model(String),
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] footfall_lake::LakeError),
}
