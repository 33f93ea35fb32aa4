//! A topic as an [`EventSource`]: a plain consumer-group member that returns records in each
//! partition's order and commits what it returned when asked (at-least-once). The processor
//! uses [`crate::group`] instead, which also keeps per-partition state across rebalances;
//! this is the interface's simple reader (tools, tests, other consumers).

use crate::{KafkaConfig, KafkaLogError};
use footfall_log::{EventSource, LogError, StoredRecord};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A member of `config`'s group reading `config.topic`.
pub struct KafkaSource {
    consumer: BaseConsumer,
    topic: String,
    /// Next offset per partition, of what was returned.
    next: BTreeMap<i32, i64>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource").field("topic", &self.topic).field("next", &self.next).finish()
    }
}

impl KafkaSource {
    /// Subscribes to `config.topic` in `config.group`.
    pub fn subscribe(config: &KafkaConfig) -> Result<Self, KafkaLogError> {
        config.validate()?;
        let consumer: BaseConsumer = config.consumer_config().create()?;
        consumer.subscribe(&[config.topic.as_str()])?;
        Ok(Self { consumer, topic: config.topic.clone(), next: BTreeMap::new() })
    }
}

/// A consumed message as the log's record (partition, offset, timestamp, key, value).
pub(crate) fn stored(message: &impl Message) -> StoredRecord {
    StoredRecord {
        partition: message.partition().max(0) as u32,
        offset: message.offset().max(0) as u64,
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
        key: message.key().unwrap_or_default().to_vec(),
        value: message.payload().unwrap_or_default().to_vec(),
    }
}

fn kafka_error(e: rdkafka::error::KafkaError) -> LogError {
    LogError::WriteFailed(format!("kafka: {e}"))
}

impl EventSource for KafkaSource {
    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < max_records {
            let wait = if out.is_empty() { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(message)) => {
                    self.next.insert(message.partition(), message.offset() + 1);
                    out.push(stored(&message));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error; librdkafka retries");
                    if out.is_empty() && Instant::now() < deadline {
                        continue;
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    fn commit(&mut self) -> Result<(), LogError> {
        if self.next.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in &self.next {
            tpl.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset)).map_err(kafka_error)?;
        }
        self.consumer.commit(&tpl, CommitMode::Sync).map_err(kafka_error)
    }
}
