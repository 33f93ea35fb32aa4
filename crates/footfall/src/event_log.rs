//! The event log a process writes to: the embedded logs under the data directory, or Kafka.
//! `serve` and `collect` open it the same way.

use anyhow::Context;
use footfall_kafka::{KafkaConfig, KafkaSink, PartitionKey};
use footfall_log::{EmbeddedLog, EventSink, LogConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Events and dead letters, where they go.
pub enum EventLog {
    /// The embedded logs (one machine).
    Embedded {
        /// The events topic.
        events: Arc<EmbeddedLog>,
        /// The dead-letter topic.
        dead_letters: Arc<EmbeddedLog>,
    },
    /// Kafka topics, on one producer.
    Kafka {
        /// The events topic.
        events: KafkaSink,
        /// The dead-letter topic.
        dead_letters: KafkaSink,
        /// What records are keyed by.
        key: PartitionKey,
    },
}

impl EventLog {
    /// Kafka's producer when `kafka` is set (its topics checked to exist), else the embedded
    /// logs under `dir`.
    pub async fn open(kafka: Option<&KafkaConfig>, dir: &Path, config: LogConfig) -> anyhow::Result<Self> {
        let Some(kafka) = kafka else { return open_embedded(dir, config) };
        let events = KafkaSink::new(kafka, &kafka.topic).context("creating the Kafka producer")?;
        let dead_letters = events.to_topic(&kafka.dlq_topic);
        for sink in [events.clone(), dead_letters.clone()] {
            let brokers = kafka.brokers.clone();
            tokio::task::spawn_blocking(move || sink.check_topic(&brokers, Duration::from_secs(10)))
                .await
                .context("checking the topics")??;
        }
        tracing::info!(brokers = %kafka.brokers, topic = %kafka.topic, dead_letters = %kafka.dlq_topic, "event log: Kafka");
        Ok(Self::Kafka { events, dead_letters, key: kafka.key })
    }

    /// Whether the collector keys records by device rather than by person.
    pub fn key_by_device(&self) -> bool {
        matches!(self, Self::Kafka { key: PartitionKey::Device, .. })
    }

    /// The collector's sinks: events, dead letters.
    pub fn sinks(&self) -> (Arc<dyn EventSink>, Arc<dyn EventSink>) {
        match self {
            Self::Embedded { events, dead_letters } => (Arc::clone(events) as _, Arc::clone(dead_letters) as _),
            Self::Kafka { events, dead_letters, .. } => {
                (Arc::new(events.clone()) as _, Arc::new(dead_letters.clone()) as _)
            }
        }
    }

    /// Closes the embedded logs, or waits (30 s at most) for Kafka to ack what is queued.
    /// Blocking.
    pub fn close(self) {
        match self {
            Self::Embedded { events, dead_letters } => {
                events.close();
                dead_letters.close();
            }
            Self::Kafka { events, .. } => {
                if let Err(e) = events.flush(Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "records still unacknowledged by Kafka at stop");
                }
            }
        }
    }
}

/// Opens the events and dead-letter topics of the embedded log under `dir`.
fn open_embedded(dir: &Path, config: LogConfig) -> anyhow::Result<EventLog> {
    let events = Arc::new(EmbeddedLog::open(&dir.join("events"), config).context("opening the event log")?);
    let dead_letters =
        Arc::new(EmbeddedLog::open(&dir.join("dead-letters"), config).context("opening the dead-letter log")?);
    for (name, log) in [("events", &events), ("dead-letters", &dead_letters)] {
        let recovery = log.recovery();
        if recovery.truncated_bytes > 0 {
            tracing::warn!(topic = name, bytes = recovery.truncated_bytes, reason = ?recovery.reason, "recovered from a torn write");
        }
        tracing::info!(topic = name, records = log.end_offset(), "event log open");
    }
    Ok(EventLog::Embedded { events, dead_letters })
}
