//! `footfall.toml`: typed settings with defaults in one place. Every key can also be set by
//! an environment variable, `FOOTFALL_` + its path in capitals (`[log] segment_mib` is
//! `FOOTFALL_LOG_SEGMENT_MIB`; lists take commas); variables override the file, and
//! command-line flags override both.

use anyhow::Context;
use footfall_collector::CollectorConfig;
use footfall_log::{LogConfig, Retention};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FootfallConfig {
    /// Data directory.
    pub data: Option<PathBuf>,
    /// Listen address.
    pub listen: Option<std::net::SocketAddr>,
    /// The collector.
    pub collector: CollectorConfig,
    /// The embedded event log.
    pub log: LogSettings,
    /// The lakehouse.
    pub lake: LakeSettings,
    /// The query API.
    pub api: ApiSettings,
    /// What SQL queries may use.
    pub sql: SqlSettings,
    /// The stream processor.
    pub processor: ProcessorSettings,
    /// The InfluxDB sink (off unless `url` is set).
    pub influxdb: InfluxSettings,
    /// Apache Kafka, when `[log] backend = "kafka"`.
    pub kafka: footfall_kafka::KafkaConfig,
}

/// Which event log carries events from collectors to processors.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogBackend {
    /// The embedded durable log in the data directory (one machine).
    #[default]
    Embedded,
    /// Apache Kafka (`[kafka]`): many collectors and processors.
    Kafka,
}

/// `[influxdb]`: write the one-minute windows to an InfluxDB too.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InfluxSettings {
    /// Base URL, e.g. `http://127.0.0.1:8086`. Empty: no sink.
    pub url: String,
    /// Write API: `v1`, `v2` or `v3`.
    pub api: footfall_influx::InfluxApi,
    /// Database (v1, v3).
    pub database: String,
    /// Organization (v2).
    pub org: String,
    /// Bucket (v2).
    pub bucket: String,
    /// Token (v2; v3 and v1 if the server requires one).
    pub token: String,
    /// Points per request at most.
    pub batch_points: usize,
    /// Requests in flight at once.
    pub requests_in_flight: usize,
    /// Compress request bodies.
    pub gzip: bool,
    /// How often to send new windows, in seconds.
    pub flush_seconds: f64,
}

impl Default for InfluxSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            api: footfall_influx::InfluxApi::V1,
            database: "footfall".into(),
            org: String::new(),
            bucket: String::new(),
            token: String::new(),
            batch_points: footfall_influx::sink::BATCH_POINTS,
            requests_in_flight: footfall_influx::sink::IN_FLIGHT,
            gzip: true,
            flush_seconds: 1.0,
        }
    }
}

impl InfluxSettings {
    /// The sink's options, if a URL is set.
    pub fn options(&self) -> anyhow::Result<Option<crate::server::InfluxOptions>> {
        if self.url.is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(self.flush_seconds > 0.0, "[influxdb] flush_seconds must be positive");
        let target = footfall_influx::InfluxTarget {
            url: self.url.clone(),
            api: self.api,
            database: self.database.clone(),
            org: self.org.clone(),
            bucket: self.bucket.clone(),
            token: (!self.token.is_empty()).then(|| self.token.clone()),
        };
        Ok(Some(crate::server::InfluxOptions {
            client: footfall_influx::InfluxClient::new(target)?.with_gzip(self.gzip),
            batch_points: self.batch_points,
            requests_in_flight: self.requests_in_flight,
            every: Duration::from_secs_f64(self.flush_seconds),
        }))
    }
}

/// `[processor]`: the stream processor.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Dedup horizon: a `messageId` that arrives again within this many hours of its first
    /// arrival (`receivedAt`, whatever its event time) is dropped.
    pub dedup_hours: f64,
    /// Message ids dedup remembers at most (about 40 bytes each); when full, the earliest
    /// arrivals are forgotten first.
    pub dedup_max_ids: usize,
    /// Allowed lateness: windows close this many seconds behind the latest event time.
    pub lateness_seconds: f64,
    /// Distinct devices whose latest event times the watermark follows: it is the n-th latest
    /// of them, so fewer than n devices with clocks far ahead cannot close everyone's windows.
    pub watermark_quorum: usize,
    /// A device that has sent nothing for this many seconds (by arrival) stops counting for
    /// the watermark, so a quiet site's windows still close.
    pub watermark_idle_seconds: f64,
    /// A session ends after this many minutes without events.
    pub session_gap_minutes: f64,
    /// What to keep of IP addresses: `keep`, `truncate` (/24, /48) or `drop`.
    pub ip: footfall_processor::enrich::IpPolicy,
    /// A MaxMind database (`GeoLite2-City.mmdb` or alike) to place IPs in a country and city.
    pub geoip: Option<PathBuf>,
    /// Anonymous ids linked to users (and, apart, aliases) kept in memory at most; past it, the
    /// least recently seen are forgotten (their links stay in the `identities` table).
    pub identity_max_ids: usize,
    /// Distinct event names kept per metrics window and per live bucket; events of further
    /// names are counted under `(other)`.
    pub max_event_names: usize,
    /// Active persons the live view counts at most (those seen longest ago are forgotten first).
    pub live_max_persons: usize,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        let d = footfall_processor::ProcessorConfig::default();
        let (hour, second, minute) = (3600e6, 1e6, 60e6);
        Self {
            dedup_hours: d.dedup_horizon as f64 / hour,
            dedup_max_ids: d.dedup_max_ids,
            lateness_seconds: d.lateness as f64 / second,
            watermark_quorum: d.watermark_quorum,
            watermark_idle_seconds: d.watermark_idle as f64 / second,
            session_gap_minutes: d.session_gap as f64 / minute,
            ip: d.ip_policy,
            geoip: None,
            identity_max_ids: d.identity_max_ids,
            max_event_names: d.max_event_names,
            live_max_persons: d.live_max_persons,
        }
    }
}

impl ProcessorSettings {
    /// The processor's own configuration.
    pub fn to_config(&self) -> footfall_processor::ProcessorConfig {
        let micros = |x: f64, unit: f64| (x.max(0.0) * unit) as i64;
        footfall_processor::ProcessorConfig {
            dedup_horizon: micros(self.dedup_hours, 3600e6),
            dedup_max_ids: self.dedup_max_ids.max(1),
            lateness: micros(self.lateness_seconds, 1e6),
            watermark_quorum: self.watermark_quorum.max(1),
            watermark_idle: micros(self.watermark_idle_seconds, 1e6),
            session_gap: micros(self.session_gap_minutes, 60e6).max(1),
            ip_policy: self.ip,
            identity_max_ids: self.identity_max_ids.max(2),
            max_event_names: self.max_event_names.max(1),
            live_max_persons: self.live_max_persons.max(1),
            ..footfall_processor::ProcessorConfig::default()
        }
    }

    /// The configuration plus the opened MaxMind database, if one is set.
    pub fn options(&self) -> anyhow::Result<crate::server::ProcessorOptions> {
        let geo = match &self.geoip {
            Some(path) => Some(Arc::new(footfall_processor::geo::GeoDb::open(path)?)),
            None => None,
        };
        Ok(crate::server::ProcessorOptions { config: self.to_config(), geo })
    }
}

/// `[lake]`: where the Delta tables live and where user transforms are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeSettings {
    /// A directory or object-store URL (`s3://bucket/prefix`, `gs://…`, `az://…`); empty for
    /// `lake` under the data directory.
    pub location: String,
    /// A folder of `LAYER/NAME.sql` transforms besides the built-in ones; empty for none.
    pub transforms: String,
    /// The lake's secret (32 hex digits) that keys person hashes in sketches and the erasure
    /// log; empty: the lake's own, made at random once and kept in `_footfall/secret` beside
    /// the tables. Set it to give a copy of a lake, or a new lake replacing one, the same hashes.
    pub secret: String,
}

/// `[api]`: the query API under `/api/v1/`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer token every API request must carry. Empty: the API answers loopback clients only.
    pub token: String,
}

/// `[sql]`: bounds on each SQL query (`POST /api/v1/sql`, `footfall sql`) and the threads
/// queries and analyses run on in a server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SqlSettings {
    /// MiB of DataFusion's memory pool per query; past it a query fails ("Resources exhausted").
    pub memory_mib: u64,
    /// Seconds a query may run; then it is cancelled.
    pub timeout_seconds: f64,
    /// Rows an API answer holds at most (the query stops producing beyond them).
    pub max_rows: usize,
    /// Threads a server runs queries and analyses on, apart from the collector's.
    pub threads: usize,
}

impl Default for SqlSettings {
    fn default() -> Self {
        let d = footfall_lake::sql::QueryLimits::default();
        Self {
            memory_mib: (d.memory_bytes >> 20) as u64,
            timeout_seconds: d.timeout.as_secs_f64(),
            max_rows: d.max_rows,
            threads: 1,
        }
    }
}

impl SqlSettings {
    /// The limits of one query.
    pub fn limits(&self) -> anyhow::Result<footfall_lake::sql::QueryLimits> {
        let timeout =
            Duration::try_from_secs_f64(self.timeout_seconds).ok().filter(|t| !t.is_zero()).with_context(|| {
                format!("[sql] timeout_seconds must be a positive number, not {}", self.timeout_seconds)
            })?;
        let memory_bytes = usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        anyhow::ensure!(memory_bytes > 0, "[sql] memory_mib must be positive");
        Ok(footfall_lake::sql::QueryLimits { memory_bytes, timeout, max_rows: self.max_rows.max(1) })
    }
}

/// `[log]`: the event log: which one, and the embedded log's settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `embedded` (default) or `kafka`.
    pub backend: LogBackend,
    /// Size at which a new segment file starts, in MiB.
    pub segment_mib: u64,
    /// Age at which a new segment file starts, in hours (0: by size only). Retention deletes
    /// closed segments, so a record is kept at most this plus `retention_hours`.
    pub segment_hours: f64,
    /// Delete closed segments older than this many hours (0: keep forever).
    pub retention_hours: f64,
    /// Delete the oldest closed segments beyond this many MiB per topic (0: no cap).
    pub retention_mib: u64,
    /// Bytes waiting for the disk beyond which the collector answers 503, in MiB.
    pub max_pending_mib: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        let d = LogConfig::default();
        Self {
            backend: LogBackend::Embedded,
            segment_mib: d.segment_bytes >> 20,
            segment_hours: d.segment_max_age.map_or(0.0, |a| a.as_secs_f64() / 3600.0),
            retention_hours: d.retention.max_age.map_or(0.0, |a| a.as_secs_f64() / 3600.0),
            retention_mib: d.retention.max_bytes.map_or(0, |b| b >> 20),
            max_pending_mib: (d.max_pending_bytes >> 20) as u64,
        }
    }
}

impl LogSettings {
    /// The log's own configuration.
    pub fn to_log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_mib.max(1) << 20,
            segment_max_age: (self.segment_hours > 0.0)
                .then(|| Duration::from_secs_f64(self.segment_hours.min(1e6) * 3600.0)),
            retention: Retention {
                max_age: (self.retention_hours > 0.0).then(|| Duration::from_secs_f64(self.retention_hours * 3600.0)),
                max_bytes: (self.retention_mib > 0).then_some(self.retention_mib << 20),
            },
            max_pending_bytes: (self.max_pending_mib.max(1) << 20) as usize,
            ..LogConfig::default()
        }
    }
}

/// The data directory when neither a flag nor the file names one.
pub const DEFAULT_DATA_DIR: &str = "./footfall-data";

impl FootfallConfig {
    /// The data directory: the flag's, else the file's, else [`DEFAULT_DATA_DIR`].
    pub fn data_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf).or_else(|| self.data.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The lake: `[lake] location` when set, else `lake` under `data`.
    pub fn lake(&self, data: &Path) -> anyhow::Result<footfall_lake::Lake> {
        let lake = if self.lake.location.is_empty() {
            footfall_lake::Lake::local(&data.join("lake"))
        } else {
            footfall_lake::Lake::at(&self.lake.location)
        };
        let lake = lake.context("opening the lake location")?;
        if self.lake.secret.is_empty() {
            return Ok(lake);
        }
        let secret = footfall_lake::secret::LakeSecret::from_hex(&self.lake.secret)
            .context("[lake] secret (FOOTFALL_LAKE_SECRET) must be 32 hex digits")?;
        Ok(lake.with_secret(secret))
    }

    /// The folder of user transforms, if one is configured.
    pub fn transforms_dir(&self) -> Option<PathBuf> {
        (!self.lake.transforms.is_empty()).then(|| PathBuf::from(&self.lake.transforms))
    }

    /// The API token, if one is configured.
    pub fn api_token(&self) -> Option<String> {
        (!self.api.token.is_empty()).then(|| self.api.token.clone())
    }

    /// Reads `path`, or `./footfall.toml` when no path is given and it exists, else defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let default_path = Path::new("footfall.toml");
        let path = match path {
            Some(p) => Some(p),
            None if default_path.exists() => Some(default_path),
            None => None,
        };
        let (table, source) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let table: toml::Table =
                    toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "the environment".to_owned()),
        };
        Self::from_table_and_env(table, &|name| std::env::var(name).ok())
            .with_context(|| format!("invalid configuration in {source} or FOOTFALL_* variables"))
    }

    /// The configuration from a parsed file, with `FOOTFALL_*` variables (read by `var`) on top.
    fn from_table_and_env(mut table: toml::Table, var: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let defaults = toml::Table::try_from(Self::default()).context("listing the configuration keys")?;
        overlay_env(&mut table, &defaults, "FOOTFALL", var);
        Ok(toml::Value::Table(table).try_into()?)
    }
}

/// Puts `PREFIX_KEY` variables over `table`, for every key the defaults have.
fn overlay_env(table: &mut toml::Table, defaults: &toml::Table, prefix: &str, var: &dyn Fn(&str) -> Option<String>) {
    for (key, default) in defaults {
        let name = format!("{prefix}_{}", key.to_uppercase());
        if let toml::Value::Table(inner_defaults) = default {
            let entry = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                overlay_env(inner, inner_defaults, &name, var);
            }
        } else if let Some(text) = var(&name) {
            table.insert(key.clone(), env_value(&text, default));
        }
    }
}

/// Reads a variable's text as the TOML value it stands for: a number, boolean or array when it
/// parses as one, a comma-separated list where a list is expected, else a string.
fn env_value(text: &str, default: &toml::Value) -> toml::Value {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {text}")).ok().and_then(|mut t| t.remove("v"));
    match (parsed, default) {
        (Some(v @ toml::Value::Array(_)), _) => v,
        (_, toml::Value::Array(_)) => {
            toml::Value::Array(text.split(',').map(|s| toml::Value::String(s.trim().to_owned())).collect())
        }
        (Some(v), _) if !matches!(v, toml::Value::String(_)) || matches!(default, toml::Value::String(_)) => v,
        _ => toml::Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_and_names_an_unknown_key() {
        let config: FootfallConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\n[collector]\nwrite_keys = [\"k\"]\n[log]\nsegment_mib = 8\n")
                .expect("valid config");
        assert_eq!(config.collector.write_keys, ["k"]);
        assert_eq!(config.log.to_log_config().segment_bytes, 8 << 20);
        let error = toml::from_str::<FootfallConfig>("[log]\nsegment_mb = 8\n").expect_err("unknown key");
        assert!(error.to_string().contains("segment_mb"), "{error}");
    }

    #[test]
    fn kafka_settings_pass_librdkafka_properties_through() {
        let text = "[log]\nbackend = \"kafka\"\n[kafka]\nbrokers = \"b1:9092,b2:9092\"\n\
                    [kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"PLAIN\"\n";
        let file: toml::Table = toml::from_str(text).expect("toml");
        let env = |name: &str| (name == "FOOTFALL_KAFKA_TOPIC").then(|| "shop.events".to_owned());
        let config = FootfallConfig::from_table_and_env(file, &env).expect("valid");
        assert_eq!(config.log.backend, LogBackend::Kafka);
        assert_eq!(config.kafka.topic, "shop.events");
        assert_eq!(config.kafka.dlq_topic, "footfall.dlq");
        let producer = config.kafka.producer_config();
        assert_eq!(producer.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
        assert_eq!(producer.get("sasl.mechanism"), Some("PLAIN"));
        let error = toml::from_str::<FootfallConfig>("[log]\nbackend = \"kinesis\"\n").expect_err("unknown");
        assert!(error.to_string().contains("kinesis"), "{error}");
    }

    #[test]
    fn environment_variables_set_every_key_over_the_file() {
        let file: toml::Table = toml::from_str("[log]\nsegment_mib = 8\nretention_hours = 1.0\n").expect("toml");
        let env = |name: &str| match name {
            "FOOTFALL_LOG_SEGMENT_MIB" => Some("16".to_owned()),
            "FOOTFALL_COLLECTOR_WRITE_KEYS" => Some("a, b".to_owned()),
            "FOOTFALL_COLLECTOR_ACK_TIMEOUT" => Some("2.5".to_owned()),
            _ => None,
        };
        let config = FootfallConfig::from_table_and_env(file, &env).expect("valid");
        assert_eq!(config.log.segment_mib, 16, "the variable wins over the file");
        assert_eq!(config.log.retention_hours, 1.0, "the file wins over the default");
        assert_eq!(config.collector.write_keys, ["a", "b"]);
        assert_eq!(config.collector.ack_timeout, std::time::Duration::from_millis(2500));
        assert_eq!(config.log.backend, LogBackend::Embedded);
        let bad = |name: &str| (name == "FOOTFALL_LOG_SEGMENT_MIB").then(|| "lots".to_owned());
        let error = FootfallConfig::from_table_and_env(toml::Table::new(), &bad).expect_err("not a number");
        assert!(format!("{error:#}").contains("segment_mib"), "{error:#}");
    }
}
