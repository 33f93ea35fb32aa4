//! `footfall.toml`: typed settings with defaults in one place. Command-line flags and
//! `FOOTFALL_*` variables override the file.

use anyhow::Context;
use footfall_collector::CollectorConfig;
use footfall_log::{LogConfig, Retention};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
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
}

/// `[log]`: the embedded event log.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Size at which a new segment file starts, in MiB.
    pub segment_mib: u64,
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
            segment_mib: d.segment_bytes >> 20,
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
            retention: Retention {
                max_age: (self.retention_hours > 0.0).then(|| Duration::from_secs_f64(self.retention_hours * 3600.0)),
                max_bytes: (self.retention_mib > 0).then_some(self.retention_mib << 20),
            },
            max_pending_bytes: (self.max_pending_mib.max(1) << 20) as usize,
            ..LogConfig::default()
        }
    }
}

impl FootfallConfig {
    /// Reads `path`, or `./footfall.toml` when no path is given and it exists, else defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let default_path = Path::new("footfall.toml");
        let path = match path {
            Some(p) => p,
            None if default_path.exists() => default_path,
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))
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
}
