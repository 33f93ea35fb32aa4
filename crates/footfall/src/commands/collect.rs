//! `footfall collect`: the Segment API alone, writing to the embedded log or to Kafka.

use crate::cli::CollectArgs;
use crate::config::{FootfallConfig, LogBackend};
use crate::event_log::EventLog;
use anyhow::Context;
use footfall_collector::{router, Collector};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn run(args: CollectArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let mut collector_config = config.collector.clone();
    if !args.server.write_keys.is_empty() {
        collector_config.write_keys = args.server.write_keys.clone();
    }
    if collector_config.write_keys.is_empty() {
        let key = crate::server::generate_write_key();
        eprintln!("no write key configured; this run accepts the generated key {key}");
        collector_config.write_keys.push(key);
    }
    collector_config.check().map_err(anyhow::Error::msg)?;
    let listen = match args.server.listen.or(config.listen) {
        Some(addr) => addr,
        None => crate::commands::serve::DEFAULT_LISTEN.parse::<SocketAddr>()?,
    };
    let kafka = (config.log.backend == LogBackend::Kafka).then_some(&config.kafka);
    let data = config.data_dir(args.server.data.as_deref());
    let log = EventLog::open(kafka, &data.join("log"), config.log.to_log_config()).await?;
    match kafka {
        Some(kafka) => {
            eprintln!("collector → Kafka {} (topic {}, dead letters {})", kafka.brokers, kafka.topic, kafka.dlq_topic)
        }
        None => eprintln!("collector → the embedded log in {}", data.join("log").display()),
    }
    collector_config.key_by_device = log.key_by_device();
    let limits = collector_config.connection_limits();
    let (events, dead_letters) = log.sinks();
    let collector = Arc::new(Collector::new(collector_config, events, dead_letters));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    eprintln!("footfall collector listening on http://{addr} (Segment API at /v1/)");
    footfall_collector::serve(listener, router(collector), limits, crate::server::shutdown_signal())
        .await
        .context("collector")?;
    tokio::task::spawn_blocking(move || log.close()).await.context("closing the log")?;
    Ok(())
}
