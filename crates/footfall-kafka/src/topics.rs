//! Checking at start that the configured topics exist, so a typo or a missing topic is a clear
//! error instead of records waiting forever.

use crate::KafkaLogError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use std::sync::{Arc, Mutex};

/// Remembers the last authentication or TLS failure librdkafka reported (it reports them as
/// global errors and keeps retrying; a metadata request then only times out).
#[derive(Debug, Clone, Default)]
pub struct RefusedConnections(Arc<Mutex<Option<String>>>);

impl RefusedConnections {
    /// Notes `error` if it is one that retrying will not fix.
    pub fn observe(&self, error: &KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed | RDKafkaErrorCode::SSL)
        ) {
            *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(format!("{error}: {reason}"));
        }
    }

    /// The last such failure, if any.
    pub fn last(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// What the brokers said about `topic` (from a metadata request's result): `Ok` if it exists or
/// the brokers could not be asked (librdkafka keeps retrying; a warning is logged), an error
/// naming the topic and how to create it if the brokers say it does not exist, or the reason
/// the brokers refused the connection (wrong credentials, TLS).
pub fn check(
    metadata: Result<Metadata, KafkaError>,
    refused: &RefusedConnections,
    topic: &str,
    brokers: &str,
) -> Result<(), KafkaLogError> {
    if metadata.is_err() {
        if let Some(reason) = refused.last() {
            return Err(KafkaLogError::Config(format!("the brokers {brokers} refused the connection: {reason}")));
        }
    }
    let metadata = match metadata {
        Ok(metadata) => metadata,
        // Wrong credentials or TLS settings will not fix themselves: say so now.
        Err(e)
            if matches!(
                e.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::Authentication
                        | RDKafkaErrorCode::SaslAuthenticationFailed
                        | RDKafkaErrorCode::SSL
                )
            ) =>
        {
            return Err(KafkaLogError::Config(format!("the brokers {brokers} refused the connection: {e}")));
        }
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

/// A client context that logs librdkafka's global errors and remembers refused connections.
#[derive(Debug, Clone, Default)]
pub struct WatchingContext {
    /// Authentication and TLS failures seen.
    pub refused: RefusedConnections,
}

impl ClientContext for WatchingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.refused.observe(&error, reason);
        tracing::error!(%error, reason, "librdkafka");
    }
}
