//! Errors of the Kafka log.

use thiserror::Error;

/// A failure talking to Kafka or writing what was consumed.
#[derive(Debug, Error)]
pub enum KafkaLogError {
    /// librdkafka refused a setting or an operation.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The lake (tables or checkpoints) failed.
    #[error(transparent)]
    Lake(#[from] footfall_lake::LakeError),
    /// The settings are inconsistent.
    #[error("invalid [kafka] settings: {0}")]
    Config(String),
    /// A rebalance could not open or close a partition's processing (the member stops; a
    /// restart resumes every partition from its checkpoint).
    #[error("the consumer group member failed during a rebalance: {0}")]
    Rebalance(String),
}
