//! `[kafka]`: brokers, topics, the consumer group, and librdkafka properties passed through
//! (security settings such as `security.protocol`, `sasl.mechanism`, `sasl.username`,
//! `ssl.ca.location` go here).

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the collector keys records by; a key's records share a partition, in order.
///
/// Each partition is processed with its own state, so the key must keep together what the
/// state is kept per: sessions are per device (`anonymousId`), and a device's `identify`
/// links its anonymous id to the user. Keyed by device, 6 partitions give exactly the
/// embedded log's events, sessions and identities; keyed by person, a visit that logs in
/// midway has its anonymous part in another partition than the rest, and its session is cut
/// in two (+31% sessions on the simulated shop).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKey {
    /// `anonymousId`, else `userId`: one device's events together, in order (the default).
    /// A person on two devices spans partitions; analyses stitch them through `identities`.
    #[default]
    Device,
    /// `userId`, else `anonymousId`: one identified person's events together, in order.
    Person,
}

/// Where and how footfall talks to Kafka.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated (`host:port,host:port`).
    pub brokers: String,
    /// The events topic the collector produces to and the processor consumes.
    pub topic: String,
    /// The dead-letter topic: refused payloads with the reason.
    pub dlq_topic: String,
    /// The processors' consumer group.
    pub group: String,
    /// What records are keyed (partitioned) by.
    pub key: PartitionKey,
    /// librdkafka properties for both producer and consumer (they win over footfall's own).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the producer only.
    pub producer: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only.
    pub consumer: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic: "footfall.events".into(),
            dlq_topic: "footfall.dlq".into(),
            group: "footfall-processor".into(),
            key: PartitionKey::Device,
            properties: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The producer's settings: idempotent, `acks=all`, keys partitioned by murmur2 as the
    /// Java client does (so other producers put a person in the same partition), then the
    /// configured properties.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("client.id", "footfall-collector");
        self.overlay(&mut config, &self.producer);
        config
    }

    /// The consumer's settings: no automatic commits or offset stores (offsets are committed
    /// with checkpoints), read from the earliest offset when a partition has none, then the
    /// configured properties.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("client.id", "footfall-processor");
        self.overlay(&mut config, &self.consumer);
        // Offsets are committed with checkpoints, never by librdkafka on its own.
        config.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
        config
    }

    fn overlay(&self, config: &mut ClientConfig, role: &BTreeMap<String, String>) {
        for (key, value) in self.properties.iter().chain(role) {
            config.set(key, value);
        }
    }

    /// Checks what librdkafka cannot: non-empty names, and a rebalance protocol the processor
    /// supports (eager: a revocation hands back every partition, after their checkpoints).
    pub fn validate(&self) -> Result<(), crate::KafkaLogError> {
        for (name, value) in [("brokers", &self.brokers), ("topic", &self.topic), ("group", &self.group)] {
            if value.trim().is_empty() {
                return Err(crate::KafkaLogError::Config(format!("`{name}` is empty")));
            }
        }
        let consumer = self.consumer_config();
        if consumer.get("partition.assignment.strategy").is_some_and(|s| s.contains("cooperative")) {
            return Err(crate::KafkaLogError::Config(
                "partition.assignment.strategy: the processor needs an eager assignor (range, roundrobin)".into(),
            ));
        }
        if consumer.get("group.protocol").is_some_and(|p| p != "classic") {
            return Err(crate::KafkaLogError::Config(
                "group.protocol: the processor needs the classic protocol".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_properties_win_over_footfalls_own() {
        let mut kafka = KafkaConfig::default();
        kafka.properties.insert("security.protocol".into(), "SASL_SSL".into());
        kafka.producer.insert("linger.ms".into(), "50".into());
        kafka.consumer.insert("session.timeout.ms".into(), "6000".into());
        let producer = kafka.producer_config();
        assert_eq!(producer.get("acks"), Some("all"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("linger.ms"), Some("50"));
        assert_eq!(producer.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        let consumer = kafka.consumer_config();
        assert_eq!(consumer.get("group.id"), Some("footfall-processor"));
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(consumer.get("linger.ms"), None);
    }

    #[test]
    fn auto_commits_stay_off_and_cooperative_rebalancing_is_refused() {
        let mut kafka = KafkaConfig::default();
        kafka.consumer.insert("enable.auto.commit".into(), "true".into());
        assert_eq!(kafka.consumer_config().get("enable.auto.commit"), Some("false"));
        kafka.consumer.insert("partition.assignment.strategy".into(), "cooperative-sticky".into());
        let error = kafka.validate().expect_err("cooperative");
        assert!(error.to_string().contains("eager"), "{error}");
    }

    #[test]
    fn empty_names_are_refused() {
        let kafka = KafkaConfig { topic: " ".into(), ..KafkaConfig::default() };
        let error = kafka.validate().expect_err("empty topic");
        assert!(error.to_string().contains("`topic` is empty"), "{error}");
    }
}
