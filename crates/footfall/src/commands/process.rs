//! `footfall process`: the stream processor alone, over the data directory's event log.

use crate::cli::ProcessArgs;
use crate::config::{FootfallConfig, LogBackend};
use anyhow::Context;
use footfall_log::LogReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub async fn run(args: ProcessArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    anyhow::ensure!(args.checkpoint_seconds >= 0.0, "--checkpoint-seconds must be 0 or more");
    let every = std::time::Duration::from_secs_f64(args.checkpoint_seconds);
    let options = config.processor.options()?;
    if config.log.backend == LogBackend::Kafka {
        return run_group_member(args, config, lake, data.join("processor").join("kafka"), options, every).await;
    }
    let open = || async {
        let job = options
            .open_job(&lake, &data.join("processor"))
            .await
            .context("opening the processor's tables and checkpoint")?;
        anyhow::Ok(job.with_max_batch_records(args.batch_records).with_checkpoint_interval(every))
    };
    let mut job = open().await?;
    let log = data.join("log").join("events");
    // A snapshot reader per pass: safe beside a running collector.
    let reader = |offset| LogReader::snapshot(&log, offset);
    let started = job.next_offset();
    if args.once {
        let report = job.run_available(&reader).await?;
        job.finish().await?;
        let counters = job.counters();
        eprintln!(
            "processed {} records from offset {started}: {} events, {} sessions, {} identities, {} metric rows \
             ({} duplicates, {} late, {} bots, {} merges refused)",
            report.records,
            report.events,
            report.sessions,
            report.identities,
            report.metrics,
            counters.duplicates,
            counters.late,
            counters.bots,
            counters.refused_merges
        );
        return Ok(());
    }
    eprintln!("processing from offset {started}; Ctrl-C to stop");
    let stop = crate::server::shutdown_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                if let Err(e) = job.run_available(&reader).await {
                    tracing::warn!(error = %e, "processing failed; retrying from the last commit");
                    job = open().await?;
                }
            }
        }
    }
    job.finish().await?;
    eprintln!("stopped at offset {}", job.next_offset());
    Ok(())
}

/// `footfall process` with Kafka: one member of the consumer group, on a thread of its own
/// (librdkafka's rebalance callbacks run on the polling thread), until Ctrl-C, SIGTERM, or
/// with `--once` until idle.
async fn run_group_member(
    args: ProcessArgs,
    config: &FootfallConfig,
    lake: footfall_lake::Lake,
    checkpoints: std::path::PathBuf,
    processor: crate::server::ProcessorOptions,
    checkpoint_every: Duration,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.commit_seconds >= 0.0, "--commit-seconds must be 0 or more");
    anyhow::ensure!(args.idle_seconds > 0.0, "--idle-seconds must be positive");
    let mut options = processor.group_options(config.kafka.clone(), checkpoints);
    options.commit_every = Duration::from_secs_f64(args.commit_seconds);
    options.checkpoint_every = checkpoint_every;
    options.max_batch_records = args.batch_records;
    options.stop_when_idle = args.once.then(|| Duration::from_secs_f64(args.idle_seconds));
    eprintln!(
        "processing Kafka topic {} on {} as a member of group {}; Ctrl-C to stop",
        config.kafka.topic, config.kafka.brokers, config.kafka.group
    );
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let member = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("kafka-group".into())
            .spawn(move || footfall_kafka::group::run(lake, options, runtime, stop))
            .context("starting the consumer thread")?
    };
    let finished = tokio::task::spawn_blocking(move || member.join());
    tokio::pin!(finished);
    let signal = crate::server::shutdown_signal();
    tokio::pin!(signal);
    let joined = tokio::select! {
        joined = &mut finished => joined,
        _ = &mut signal => {
            stop.store(true, Ordering::Relaxed);
            finished.await
        }
    };
    let report = joined
        .context("waiting for the consumer thread")?
        .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?
        .context("the consumer group member failed")?;
    let mut partitions = report.partitions_seen.clone();
    partitions.sort_unstable();
    eprintln!(
        "stopped: {} records from partitions {:?}: {} events, {} sessions, {} identities, {} metric rows",
        report.processed.records,
        partitions,
        report.processed.events,
        report.processed.sessions,
        report.processed.identities,
        report.processed.metrics
    );
    Ok(())
}
