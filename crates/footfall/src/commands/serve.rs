//! `footfall serve`: every role in one process until Ctrl-C or SIGTERM.

use crate::cli::ServeArgs;
use crate::config::FootfallConfig;
use crate::server::{generate_write_key, shutdown_signal, start, ServerOptions};
use std::net::SocketAddr;

/// Default listen address (loopback: exposing the collector is a deliberate choice).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub async fn run(args: ServeArgs, config: FootfallConfig) -> anyhow::Result<()> {
    let mut collector = config.collector.clone();
    if !args.server.write_keys.is_empty() {
        collector.write_keys = args.server.write_keys.clone();
    }
    if collector.write_keys.is_empty() {
        let key = generate_write_key();
        eprintln!("no write key configured; this run accepts the generated key {key}");
        collector.write_keys.push(key);
    }
    let listen = match args.server.listen.or(config.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse::<SocketAddr>()?,
    };
    let data = config.data_dir(args.server.data.as_deref());
    let lake = config.lake(&data)?;
    let api_token = config.api_token();
    let server = start(ServerOptions {
        data: data.clone(),
        listen,
        fallback_to_free_port: false,
        collector,
        log: config.log.to_log_config(),
        kafka: (config.log.backend == crate::config::LogBackend::Kafka).then(|| config.kafka.clone()),
        lake: lake.clone(),
        api_token,
        sql: config.sql.clone(),
        processor: config.processor.options()?,
        influx: config.influxdb.options()?,
    })
    .await?;
    tracing::info!(addr = %server.addr, data = %data.display(), "footfall serving; Segment API at /v1/");
    eprintln!("footfall listening on http://{}", server.addr);
    eprintln!("  lake: {}", lake.root());
    match config.api_token() {
        Some(_) => eprintln!("  query API: http://{}/api/v1/ (bearer token from [api] token)", server.addr),
        None => eprintln!("  query API: http://{}/api/v1/ (no token set: loopback clients only)", server.addr),
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests, flushing the log");
    server.shutdown().await
}
