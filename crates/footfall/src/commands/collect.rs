//! `footfall collect`: the Segment API alone, writing to the embedded log or to Kafka.

use crate::cli::CollectArgs;
use crate::config::{FootfallConfig, LogBackend};
use anyhow::Context;
use footfall_collector::{router, Collector};
use footfall_log::{EmbeddedLog, EventSink};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What releases the sinks at stop (flushes the producer, or closes the embedded logs).
type Close = Box<dyn FnOnce() + Send>;

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
    let listen = match args.server.listen.or(config.listen) {
        Some(addr) => addr,
        None => crate::commands::serve::DEFAULT_LISTEN.parse::<SocketAddr>()?,
    };
    // The sinks, and what closes them at the end.
    let (events, dead_letters, close): (Arc<dyn EventSink>, Arc<dyn EventSink>, Close) = match config.log.backend {
        LogBackend::Kafka => {
            let kafka = &config.kafka;
            collector_config.key_by_device = kafka.key == footfall_kafka::PartitionKey::Device;
            let events = footfall_kafka::KafkaSink::new(kafka, &kafka.topic).context("creating the Kafka producer")?;
            let dead = events.to_topic(&kafka.dlq_topic);
            for sink in [events.clone(), dead.clone()] {
                let brokers = kafka.brokers.clone();
                tokio::task::spawn_blocking(move || sink.check_topic(&brokers, Duration::from_secs(10)))
                    .await
                    .context("checking the topics")??;
            }
            eprintln!("collector → Kafka {} (topic {}, dead letters {})", kafka.brokers, kafka.topic, kafka.dlq_topic);
            let flushing = events.clone();
            let close = Box::new(move || {
                if let Err(e) = flushing.flush(std::time::Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "records still unacknowledged at stop");
                }
            });
            (Arc::new(events), Arc::new(dead), close)
        }
        LogBackend::Embedded => {
            let data = config.data_dir(args.server.data.as_deref());
            let log_dir = data.join("log");
            let log_config = config.log.to_log_config();
            let events =
                Arc::new(EmbeddedLog::open(&log_dir.join("events"), log_config).context("opening the event log")?);
            let dead = Arc::new(
                EmbeddedLog::open(&log_dir.join("dead-letters"), log_config).context("opening the dead-letter log")?,
            );
            eprintln!("collector → the embedded log in {}", log_dir.display());
            let (e, d) = (Arc::clone(&events), Arc::clone(&dead));
            let close = Box::new(move || {
                e.close();
                d.close();
            });
            (events, dead, close)
        }
    };
    let collector = Arc::new(Collector::new(collector_config, events, dead_letters));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    eprintln!("footfall collector listening on http://{addr} (Segment API at /v1/)");
    let app = router(collector).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(crate::server::shutdown_signal()).await.context("collector")?;
    tokio::task::spawn_blocking(close).await.context("closing the log")?;
    Ok(())
}
