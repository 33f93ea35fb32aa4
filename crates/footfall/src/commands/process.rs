//! `footfall process`: the stream processor alone, over the data directory's event log.

use crate::cli::ProcessArgs;
use crate::config::FootfallConfig;
use anyhow::Context;
use footfall_log::LogReader;

pub async fn run(args: ProcessArgs, config: &FootfallConfig) -> anyhow::Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let lake = config.lake(&data)?;
    anyhow::ensure!(args.checkpoint_seconds >= 0.0, "--checkpoint-seconds must be 0 or more");
    let every = std::time::Duration::from_secs_f64(args.checkpoint_seconds);
    let options = config.processor.options()?;
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
             ({} duplicates, {} late, {} bots)",
            report.records,
            report.events,
            report.sessions,
            report.identities,
            report.metrics,
            counters.duplicates,
            counters.late,
            counters.bots
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
