//! `footfall simulate`: backfill past days as fast as possible, or send live at a rate; to a
//! collector over HTTP (Segment batch requests) or to an NDJSON file.

use crate::cli::SimulateArgs;
use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use footfall_sim::{SimConfig, Simulator};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let sender = match (&args.to, &args.out) {
        (Some(url), None) => Output::Http(BatchSender::new(url, args.write_key.as_deref().unwrap_or_default())?),
        (None, Some(path)) if path.as_os_str() == "-" => {
            Output::File(Box::new(std::io::BufWriter::new(std::io::stdout())))
        }
        (None, Some(path)) => Output::File(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ))),
        _ => bail!("say where the events go: --to URL --write-key KEY, or --out FILE"),
    };
    let started = Instant::now();
    let sent = match (args.days, args.rate) {
        (Some(days), None) => backfill(&args, days, sender).await?,
        (None, Some(rate)) => {
            let stop = async {
                match args.duration {
                    Some(secs) => tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await,
                    None => crate::server::shutdown_signal().await,
                }
            };
            live(args.seed, rate, args.limit, args.batch_size, sender, stop).await?
        }
        _ => bail!("choose a mode: --days D (backfill as fast as possible) or --rate R (live events per second)"),
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!("simulated {sent} events in {secs:.1} s ({:.0} events/s)", sent as f64 / secs.max(1e-9));
    Ok(())
}

/// Where simulated events go.
pub enum Output {
    /// A collector.
    Http(BatchSender),
    /// NDJSON lines.
    File(Box<dyn Write + Send>),
}

async fn backfill(args: &SimulateArgs, days: f64, output: Output) -> anyhow::Result<u64> {
    let end = match &args.end {
        Some(text) => {
            footfall_event::parse_timestamp(text).with_context(|| format!("--end {text:?} is not an RFC 3339 time"))?
        }
        None => Utc::now(),
    };
    let start = end - Duration::milliseconds((days * 86_400_000.0) as i64);
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut config = SimConfig::new(args.seed, args.users, start);
    if let Some(days) = args.churn_within_days {
        config.churn_within_days = days;
    }
    let events = Simulator::new(config).take_while(move |e| e.time < end).take(limit as usize).map(|mut e| {
        // A backfill carries no `sentAt` (its timestamps must stay in the past), so a
        // device's wrong clock could never be corrected: historical data is stamped with
        // true times. Live mode keeps the skew, with the `sentAt` that corrects it.
        e.clock_skew_ms = 0;
        let time = e.time;
        e.into_message(time)
    });
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {human_pos} events ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut sent = 0u64;
    match output {
        Output::File(mut out) => {
            for message in events {
                serde_json::to_writer(&mut out, &message)?;
                out.write_all(b"\n")?;
                sent += 1;
                if sent.is_multiple_of(10_000) {
                    progress.set_position(sent);
                }
            }
            out.flush()?;
        }
        Output::Http(sender) => {
            // Backfilled messages carry no `sentAt`, so the collector keeps their timestamps as
            // they are (no clock-skew correction applies to them).
            let sender = Arc::new(sender);
            let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
            let mut tasks = tokio::task::JoinSet::new();
            let mut batch = Vec::with_capacity(args.batch_size);
            let mut events = events.peekable();
            while events.peek().is_some() {
                batch.extend(events.by_ref().take(args.batch_size.max(1)));
                let body = serde_json::to_vec(&json!({ "batch": std::mem::take(&mut batch) }))?;
                let permit = Arc::clone(&permits).acquire_owned().await?;
                let sender = Arc::clone(&sender);
                tasks.spawn(async move {
                    let result = sender.post("batch", body).await;
                    drop(permit);
                    result
                });
                while let Some(done) = tasks.try_join_next() {
                    sent += done??;
                }
                progress.set_position(sent);
            }
            while let Some(done) = tasks.join_next().await {
                sent += done??;
            }
        }
    }
    progress.finish_and_clear();
    Ok(sent)
}

/// Sends live events at `rate` per second, stamped with the current time, until `stop`.
pub async fn live(
    seed: u64,
    rate: f64,
    limit: Option<u64>,
    batch_size: usize,
    mut output: Output,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u64> {
    if !(rate > 0.0 && rate.is_finite()) {
        bail!("--rate must be a positive number of events per second");
    }
    let mut sim = Simulator::new(SimConfig::live(seed, rate, Utc::now()));
    let started = Instant::now();
    let mut sent: u64 = 0;
    let limit = limit.unwrap_or(u64::MAX);
    // Flush at least ten times a second so events reach the dashboard quickly.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tokio::pin!(stop);
    while sent < limit {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(limit);
        let now = Utc::now();
        let mut batch = Vec::new();
        while sent + (batch.len() as u64) < due {
            let Some(event) = sim.next() else { break };
            let skew = Duration::milliseconds(event.clock_skew_ms);
            let mut message = event.into_message(now);
            if let Value::Object(m) = &mut message {
                m.insert("sentAt".into(), format_time(now + skew).into());
            }
            batch.push(message);
        }
        for chunk in batch.chunks(batch_size.max(1)) {
            match &mut output {
                Output::Http(sender) => {
                    let body = serde_json::to_vec(&json!({ "batch": chunk }))?;
                    sent += sender.post("batch", body).await?;
                }
                Output::File(out) => {
                    for message in chunk {
                        serde_json::to_writer(&mut *out, message)?;
                        out.write_all(b"\n")?;
                    }
                    out.flush()?;
                    sent += chunk.len() as u64;
                }
            }
        }
    }
    Ok(sent)
}

fn format_time(t: DateTime<Utc>) -> String {
    footfall_event::format_timestamp(t)
}

/// Posts Segment batch requests, retrying when the collector says so (503/429) or is
/// unreachable for a moment.
pub struct BatchSender {
    client: reqwest::Client,
    base: String,
    write_key: String,
}

impl BatchSender {
    /// A sender to the collector at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, write_key: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned(), write_key: write_key.to_owned() })
    }

    /// Posts one batch body to `/v1/{endpoint}`; returns how many messages were accepted.
    pub async fn post(&self, endpoint: &str, body: Vec<u8>) -> anyhow::Result<u64> {
        let url = format!("{}/v1/{endpoint}", self.base);
        let mut delay = std::time::Duration::from_millis(100);
        for attempt in 1..=20 {
            let response = self
                .client
                .post(&url)
                .basic_auth(&self.write_key, Some(""))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => {
                    let answer: Value = r.json().await.unwrap_or(Value::Null);
                    let rejected = answer.get("rejected").and_then(Value::as_array).map_or(0, Vec::len);
                    let total = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|b| b.get("batch").and_then(Value::as_array).map(Vec::len))
                        .unwrap_or(0);
                    return Ok((total - rejected.min(total)) as u64);
                }
                Ok(r) if r.status().as_u16() == 503 || r.status().as_u16() == 429 => {
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok())
                        .map(std::time::Duration::from_secs_f64)
                        .unwrap_or(delay);
                    tracing::debug!(attempt, ?wait, "collector busy; retrying");
                    tokio::time::sleep(wait.min(delay)).await;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    bail!("the collector refused a batch: {status} {text}");
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "collector unreachable; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(5));
        }
        bail!("gave up posting to {url} after 20 attempts")
    }
}
