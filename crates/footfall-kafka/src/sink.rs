//! The collector's side: records produced to a topic, keyed by the person key; an append is
//! acknowledged once the brokers acknowledge every record of it (`acks=all`).

use crate::topics::{RefusedConnections, WatchingContext};
use footfall_log::{AppendAck, AppendError, EventSink, LogError, PendingAppend, Record};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// A topic as an [`EventSink`].
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer<WatchingContext>,
    refused: RefusedConnections,
    topic: String,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").field("topic", &self.topic).finish()
    }
}

impl KafkaSink {
    /// A producer with `config`'s producer settings, writing to `topic`. Sinks of other topics
    /// can share its producer through [`Self::to_topic`].
    pub fn new(config: &crate::KafkaConfig, topic: &str) -> Result<Self, crate::KafkaLogError> {
        config.validate()?;
        let refused = RefusedConnections::default();
        let context = WatchingContext { refused: refused.clone() };
        let producer: FutureProducer<WatchingContext> = config.producer_config().create_with_context(context)?;
        Ok(Self { producer, refused, topic: topic.to_owned() })
    }

    /// A sink of `topic` on the same producer.
    pub fn to_topic(&self, topic: &str) -> Self {
        Self { producer: self.producer.clone(), refused: self.refused.clone(), topic: topic.to_owned() }
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Checks that this sink's topic exists (asking the brokers for up to `timeout`).
    pub fn check_topic(&self, brokers: &str, timeout: Duration) -> Result<(), crate::KafkaLogError> {
        let metadata = self.producer.client().fetch_metadata(Some(&self.topic), timeout);
        crate::topics::check(metadata, &self.refused, &self.topic, brokers)
    }

    /// Waits up to `timeout` for every queued record to be acknowledged (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), crate::KafkaLogError> {
        Ok(self.producer.flush(timeout)?)
    }
}

impl EventSink for KafkaSink {
    /// Unhealthy once the idempotent producer has hit a fatal error: it then refuses every
    /// record, and only a restart (a new producer id) helps; `/healthz` tells the orchestrator.
    fn is_healthy(&self) -> bool {
        self.producer.client().fatal_error().is_none()
    }

    fn problem(&self) -> Option<String> {
        let (code, reason) = self.producer.client().fatal_error()?;
        Some(format!("the Kafka producer hit a fatal error ({code:?}: {reason}); restart this collector"))
    }

    fn append(&self, records: Vec<Record>) -> Result<PendingAppend, AppendError> {
        let count = records.len();
        let mut deliveries = Vec::with_capacity(count);
        for record in &records {
            let mut produce = FutureRecord::to(&self.topic).payload(&record.value).timestamp(record.timestamp_ms);
            if !record.key.is_empty() {
                produce = produce.key(&record.key);
            }
            match self.producer.send_result(produce) {
                Ok(delivery) => deliveries.push(delivery),
                // Records queued before this one are still delivered; the client retries the
                // whole request and dedup by messageId drops the repeats.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(AppendError::Backpressure(format!(
                        "the Kafka producer's queue is full ({} records waiting)",
                        self.producer.in_flight_count()
                    )))
                }
                Err((e, _)) => return Err(AppendError::Log(LogError::WriteFailed(format!("kafka: {e}")))),
            }
        }
        Ok(Box::pin(async move {
            let mut first_offset = u64::MAX;
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(delivered)) => first_offset = first_offset.min(delivered.offset.max(0) as u64),
                    Ok(Err((e, _))) => return Err(LogError::WriteFailed(format!("kafka: {e}"))),
                    Err(_) => return Err(LogError::WriterStopped),
                }
            }
            Ok(AppendAck { count, first_offset: if count == 0 { 0 } else { first_offset } })
        }))
    }
}
