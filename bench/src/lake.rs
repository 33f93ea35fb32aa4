//! Lake benchmarks: loading the event log into `raw_events`, and SQL over the loaded table
//! (DataFusion, footfall's engine) for `bench/lake_query.py` to put beside DuckDB on the same
//! Parquet files.
//!
//! ```text
//! cargo build --release -p footfall-bench --bin lake-bench
//! target/release/lake-bench prepare --dir /tmp/lake-bench --events 5000000
//! target/release/lake-bench load --dir /tmp/lake-bench
//! target/release/lake-bench query --dir /tmp/lake-bench "SELECT count(*) FROM raw_events"
//! ```

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use footfall_event::{format_timestamp, Message, Stamp};
use footfall_lake::{Lake, Loader};
use footfall_log::{EmbeddedLog, EventSink, LogConfig, LogReader, Record};
use footfall_sim::{SimConfig, Simulator};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocator of the footfall binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write simulated messages, normalized as the collector stores them, to DIR/log/events.
    Prepare {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5_000_000)]
        events: usize,
        #[arg(long, default_value_t = 50_000)]
        users: u32,
    },
    /// Load DIR/log into a new lake at DIR/lake (removed first), timed; prints JSON.
    Load {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = footfall_lake::loader::MAX_BATCH_ROWS)]
        batch_rows: usize,
    },
    /// Run the stream processor over DIR/log into a new lake at DIR/processed (removed first),
    /// timed; prints JSON with events/s and the process's peak resident memory.
    Process {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The processor's state (and the live view's) for PERSONS persons active at once: each
    /// visits two pages within five minutes of event time, half of them log in. No log, no
    /// lake: outputs are dropped as they come. Prints JSON with the resident memory the state
    /// added and its checkpoint size.
    State {
        #[arg(long, default_value_t = 1_000_000)]
        persons: u32,
    },
    /// Run each query REPEAT times over DIR/lake in one session; prints JSON timings.
    Query {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        queries: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command {
        Command::Prepare { dir, events, users } => runtime.block_on(prepare(&dir, events, users)),
        Command::Load { dir, batch_rows } => runtime.block_on(load(&dir, batch_rows)),
        Command::Process { dir } => runtime.block_on(process(&dir)),
        Command::State { persons } => state(persons),
        Command::Query { dir, repeat, queries } => runtime.block_on(query(&dir, repeat, &queries)),
    }
}

async fn prepare(dir: &Path, events: usize, users: u32) -> anyhow::Result<()> {
    let log_dir = dir.join("log").join("events");
    if log_dir.exists() {
        std::fs::remove_dir_all(&log_dir).context("clearing the old log")?;
    }
    let log = EmbeddedLog::open(&log_dir, LogConfig::default())?;
    EmbeddedLog::open(&dir.join("log").join("dead-letters"), LogConfig::default())?.close();
    let start: DateTime<Utc> = "2026-09-01T00:00:00Z".parse()?;
    let received = format_timestamp(Utc::now());
    let began = Instant::now();
    let mut chunk = Vec::with_capacity(10_000);
    let mut pending = Vec::new();
    for mut event in Simulator::new(SimConfig::new(7, users, start)).take(events) {
        // As `footfall simulate --days`: a backfill has no `sentAt`, so no clock skew.
        event.clock_skew_ms = 0;
        let time = event.time;
        let text = event.into_message(time).to_string();
        let message = Message::parse(&text).context("simulated message")?;
        let valid = message.validate(None).context("simulated message")?;
        let stamp = Stamp { received_at: &received, ..Stamp::default() };
        let normalized = message.normalize(&valid, &stamp, || "unused".into());
        chunk.push(Record { key: normalized.key.into_bytes(), value: normalized.json, timestamp_ms: 0 });
        if chunk.len() == 10_000 {
            pending.push(log.append(std::mem::take(&mut chunk))?);
            if pending.len() >= 2 {
                pending.remove(0).await?;
            }
        }
    }
    if !chunk.is_empty() {
        pending.push(log.append(chunk)?);
    }
    for p in pending {
        p.await?;
    }
    let written = log.end_offset();
    log.close();
    eprintln!("wrote {written} messages in {:.1}s", began.elapsed().as_secs_f64());
    Ok(())
}

async fn load(dir: &Path, batch_rows: usize) -> anyhow::Result<()> {
    let lake_dir = dir.join("lake");
    if lake_dir.exists() {
        std::fs::remove_dir_all(&lake_dir).context("clearing the old lake")?;
    }
    let lake = Lake::local(&lake_dir)?;
    let mut loader = Loader::open(&lake).await?.with_max_batch_rows(batch_rows);
    let log = dir.join("log");
    let events = |offset| LogReader::snapshot(&log.join("events"), offset);
    let dead = |offset| LogReader::snapshot(&log.join("dead-letters"), offset);
    let began = Instant::now();
    let report = loader.load_available(&events, &dead).await?;
    let seconds = began.elapsed().as_secs_f64();
    let line = serde_json::json!({
        "events": report.events, "commits": report.commits, "seconds": seconds,
        "events_per_second": report.events as f64 / seconds,
    });
    println!("{line}");
    Ok(())
}

async fn process(dir: &Path) -> anyhow::Result<()> {
    let out = dir.join("processed");
    if out.exists() {
        std::fs::remove_dir_all(&out).context("clearing the old output")?;
    }
    let lake = Lake::local(&out.join("lake"))?;
    let config = footfall_processor::ProcessorConfig::default();
    let mut job = footfall_lake::ProcessingJob::open(&lake, &out.join("checkpoints"), config).await?;
    let log = dir.join("log").join("events");
    let began = Instant::now();
    let report = job.run_available(&|offset| LogReader::snapshot(&log, offset)).await?;
    job.finish().await?;
    let seconds = began.elapsed().as_secs_f64();
    let counters = job.counters();
    let line = serde_json::json!({
        "records": report.records, "events": report.events, "sessions": report.sessions,
        "metric_rows": report.metrics, "duplicates": counters.duplicates, "late": counters.late,
        "seconds": seconds, "events_per_second": report.records as f64 / seconds,
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{line}");
    Ok(())
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// A memory figure of /proc/self/status, in MiB.
fn proc_status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn state(persons: u32) -> anyhow::Result<()> {
    use footfall_processor::live::LiveView;
    use footfall_processor::{InputEvent, Outputs, Processor, ProcessorConfig, ProcessorState, MINUTE, SECOND};
    const AGENTS: [&str; 4] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
    ];
    let before = proc_status_mib("VmRSS:").unwrap_or(0.0);
    let config = ProcessorConfig::default();
    let mut processor = Processor::new(&config, ProcessorState::new(&config));
    let mut live = LiveView::new();
    let start = 1_790_000_000 * SECOND;
    let mut offset = 0u64;
    let began = Instant::now();
    for round in 0..2u32 {
        let mut out = Outputs::default();
        for person in 0..persons {
            // Every person within five minutes: spread over 4 minutes of event time per round.
            let t = start + i64::from(round) * 4 * MINUTE + i64::from(person) * 4 * MINUTE / i64::from(persons);
            let path = if round == 0 { "/" } else { "/products/sku-1001" };
            let input = InputEvent {
                offset,
                message_id: format!("msg-{round}-{person}"),
                kind: "page".into(),
                name: Some(if round == 0 { "Home" } else { "Product" }.into()),
                user_id: (round == 1 && person % 2 == 0).then(|| format!("user-{person:08}")),
                anonymous_id: Some(format!("anon-{person:08}-4b1d-9c2e-0f6a7d3e{:04}", person % 10_000)),
                event_time: t,
                received_at: t,
                ip: Some(format!("203.0.113.{}", person % 250)),
                user_agent: Some(AGENTS[person as usize % AGENTS.len()].into()),
                page_url: Some(format!("https://shop.example{path}")),
                page_path: Some(path.into()),
                ..InputEvent::default()
            };
            processor.process_parsed(offset, Some(input), &mut out);
            offset += 1;
            if out.events.len() >= 10_000 {
                out.events.iter().for_each(|row| live.observe(row));
                out = Outputs::default();
            }
        }
        out.events.iter().for_each(|row| live.observe(row));
    }
    let seconds = began.elapsed().as_secs_f64();
    let snapshot = live.snapshot(processor.state().watermark(), offset);
    let after = proc_status_mib("VmRSS:").unwrap_or(0.0);
    let checkpoint = postcard::to_stdvec(processor.state()).context("serializing the state")?;
    let line = serde_json::json!({
        "persons": persons, "events": offset, "active_persons": snapshot.active_persons,
        "state_rss_mib": after - before, "rss_mib": after, "checkpoint_mib": checkpoint.len() as f64 / 1048576.0,
        "events_per_second": offset as f64 / seconds,
    });
    println!("{line}");
    Ok(())
}

async fn query(dir: &Path, repeat: usize, queries: &[String]) -> anyhow::Result<()> {
    let lake = Lake::local(&dir.join("lake"))?;
    let opened = Instant::now();
    let ctx = footfall_lake::sql::session(&lake).await?;
    let open_seconds = opened.elapsed().as_secs_f64();
    let mut results = Vec::new();
    for sql in queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..repeat.max(1) {
            let began = Instant::now();
            let batches = ctx.sql_with_options(sql, footfall_lake::sql::read_only()).await?.collect().await?;
            times.push(began.elapsed().as_secs_f64());
            rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        times.sort_by(f64::total_cmp);
        results.push(
            serde_json::json!({ "query": sql, "rows": rows, "best": times[0], "median": times[times.len() / 2] }),
        );
    }
    println!("{}", serde_json::json!({ "open_seconds": open_seconds, "queries": results }));
    Ok(())
}
