//! Checking at start that the configured topics exist, so a typo or a missing topic is a clear
//! error instead of records waiting forever.

use crate::KafkaLogError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaRespErr;

/// What the brokers said about `topic` (from a metadata request's result): `Ok` if it exists or
/// the brokers could not be asked (librdkafka keeps retrying; a warning is logged), an error
/// naming the topic and how to create it if the brokers say it does not exist.
pub fn check(
    metadata: Result<Metadata, rdkafka::error::KafkaError>,
    topic: &str,
    brokers: &str,
) -> Result<(), KafkaLogError> {
    let metadata = match metadata {
        Ok(metadata) => metadata,
        Err(e) => {
            tracing::warn!(brokers, error = %e, "the Kafka brokers do not answer yet; carrying on (librdkafka retries)");
            return Ok(());
        }
    };
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    match found {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
        Some(t) if t.error().is_some_and(|e| e != RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            Err(KafkaLogError::Config(format!("topic `{topic}` on {brokers}: {:?}", t.error())))
        }
        _ => Err(KafkaLogError::Config(format!(
            "topic `{topic}` does not exist on {brokers}; create it, e.g. \
             kafka-topics.sh --bootstrap-server {brokers} --create --topic {topic} --partitions 6"
        ))),
    }
}
