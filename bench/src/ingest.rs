//! Collector ingest benchmark: Segment `/v1/batch` requests of simulated events against a real
//! `footfall serve` (durable acks on) from a load generator on loopback, beside the machine's
//! own limit: parsing the same payloads with serde_json and nothing else.
//!
//! ```text
//! cargo build --release -p footfall -p footfall-bench
//! target/release/ingest-bench --footfall target/release/footfall
//! ```

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::{Duration as ChronoDuration, Utc};
use clap::Parser;
use footfall_sim::{SimConfig, Simulator};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::IgnoredAny;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of the benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// The footfall binary to measure (a release build).
    #[arg(long, default_value = "target/release/footfall")]
    footfall: String,
    /// Events per batch request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Distinct batch bodies to cycle through.
    #[arg(long, default_value_t = 1_000)]
    bodies: usize,
    /// Concurrent connections of the throughput phase.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of the throughput phase.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Events per second of the latency phase.
    #[arg(long, default_value_t = 50_000.0)]
    latency_rate: f64,
    /// Data directory for the server (default: a temporary directory).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Measure `footfall collect` (the collector alone) instead of `footfall serve`.
    #[arg(long)]
    collect: bool,
    /// A footfall.toml for the server (e.g. `[log] backend = "kafka"`).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Skip the serde_json parse-only baselines.
    #[arg(long)]
    no_baseline: bool,
}

/// The least a Segment collector must read, deserialized by serde_json with nothing copied:
/// the baseline "parse only" of the payloads.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // read by the parser only
struct TypedBatch<'a> {
    #[serde(borrow)]
    batch: Vec<TypedMessage<'a>>,
    #[serde(borrow, rename = "sentAt")]
    sent_at: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)] // read by the parser only
#[serde(rename_all = "camelCase")]
struct TypedMessage<'a> {
    #[serde(borrow, rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    message_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    anonymous_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    properties: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    traits: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    context: Option<&'a serde_json::value::RawValue>,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bodies = make_bodies(args.bodies, args.batch)?;
    let total_bytes: usize = bodies.iter().map(Bytes::len).sum();
    println!(
        "payloads: {} batch bodies of {} events, {:.0} bytes per event",
        bodies.len(),
        args.batch,
        total_bytes as f64 / (bodies.len() * args.batch) as f64
    );

    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if args.no_baseline {
        return measure_server(&args, &bodies, None);
    }
    let parse_ignored =
        parse_throughput(&bodies, args.batch, threads, |b| serde_json::from_slice::<IgnoredAny>(b).is_ok());
    let parse_typed =
        parse_throughput(&bodies, args.batch, threads, |b| serde_json::from_slice::<TypedBatch<'_>>(b).is_ok());
    let parse_value =
        parse_throughput(&bodies, args.batch, threads, |b| serde_json::from_slice::<serde_json::Value>(b).is_ok());
    println!("physical limit, serde_json on {threads} threads, parse only:");
    println!("  syntax check (IgnoredAny): {:>10.0} events/s", parse_ignored);
    println!("  typed, borrowed (serde):   {:>10.0} events/s", parse_typed);
    println!("  full tree (Value):         {:>10.0} events/s", parse_value);
    measure_server(&args, &bodies, Some([parse_typed, parse_ignored, parse_value]))
}

/// The throughput and latency phases against a server started for them; `baselines` are the
/// parse-only rates (typed, syntax, tree) to print the server's fraction of.
fn measure_server(args: &Args, bodies: &[Bytes], baselines: Option<[f64; 3]>) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let data = args.data.clone().unwrap_or_else(|| temp.path().join("data"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = start_server(args, &data, port)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}/v1/batch");
        let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build_http();
        wait_healthy(&client, port).await?;
        // Warm up connections and the server's allocator.
        closed_loop(&client, &url, bodies, args.connections, 2.0, args.batch).await?;
        let throughput = closed_loop(&client, &url, bodies, args.connections, args.seconds, args.batch).await?;
        let latency = open_loop(&client, &url, bodies, args.latency_rate / args.batch as f64, 10.0, args.batch).await?;
        anyhow::Ok((throughput, latency))
    });
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    let (throughput, latency) = result?;
    let role = if args.collect { "collect" } else { "serve" };
    println!("footfall {role}, /v1/batch, durable acks, {} connections, {:.0} s:", args.connections, args.seconds);
    println!(
        "  throughput: {:>10.0} events/s ({:.0} requests/s); latency p50 {:.1} ms, p99 {:.1} ms",
        throughput.events_per_sec, throughput.requests_per_sec, throughput.p50_ms, throughput.p99_ms
    );
    if let Some([parse_typed, parse_ignored, parse_value]) = baselines {
        println!(
            "  fraction of the parse-only limit: {:.0}% of typed borrowed parse, {:.0}% of syntax check, {:.0}% of full tree",
            100.0 * throughput.events_per_sec / parse_typed,
            100.0 * throughput.events_per_sec / parse_ignored,
            100.0 * throughput.events_per_sec / parse_value
        );
    }
    println!(
        "open loop at {:.0} events/s for 10 s: achieved {:.0} events/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} non-200",
        args.latency_rate, latency.events_per_sec, latency.p50_ms, latency.p99_ms, latency.max_ms, latency.errors
    );
    Ok(())
}

/// Batch bodies of simulated live traffic (messages as SDKs send them, `sentAt` included).
fn make_bodies(count: usize, batch: usize) -> anyhow::Result<Vec<Bytes>> {
    let now = Utc::now();
    let mut sim = Simulator::new(SimConfig::new(7, 20_000, now - ChronoDuration::days(30)));
    let mut bodies = Vec::with_capacity(count);
    for _ in 0..count {
        let mut messages = Vec::with_capacity(batch);
        for event in sim.by_ref().take(batch) {
            let time = event.time;
            messages.push(event.into_message(time));
        }
        if messages.len() < batch {
            bail!("the simulator ran dry");
        }
        let body = serde_json::json!({ "batch": messages, "sentAt": footfall_event::format_timestamp(now) });
        bodies.push(Bytes::from(serde_json::to_vec(&body)?));
    }
    Ok(bodies)
}

/// Events per second parsed by `threads` threads doing nothing but `parse`.
fn parse_throughput(bodies: &[Bytes], batch: usize, threads: usize, parse: fn(&[u8]) -> bool) -> f64 {
    let rounds = 3;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for _ in 0..rounds {
                    for body in bodies.iter().skip(t).step_by(threads) {
                        assert!(parse(body), "payload parses");
                    }
                }
            });
        }
    });
    (bodies.len() * batch * rounds) as f64 / started.elapsed().as_secs_f64()
}

fn start_server(args: &Args, data: &std::path::Path, port: u16) -> anyhow::Result<Child> {
    let binary = &args.footfall;
    let mut command = Command::new(binary);
    if let Some(config) = &args.config {
        command.arg("--config").arg(config);
    }
    command
        .args([if args.collect { "collect" } else { "serve" }, "--data"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--write-key", "bench"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {binary}"))
}

async fn wait_healthy(client: &HttpClient, port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        let request = hyper::Request::get(format!("http://127.0.0.1:{port}/healthz")).body(Full::new(Bytes::new()))?;
        if let Ok(r) = client.request(request).await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not become healthy")
}

fn request(url: &str, body: Bytes) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    Ok(hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", "Basic YmVuY2g6") // "bench:"
        .body(Full::new(body))?)
}

struct Measured {
    events_per_sec: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
}

fn summarize(mut latencies: Vec<f64>, ok: u64, errors: u64, batch: usize, secs: f64) -> Measured {
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Measured {
        events_per_sec: (ok as usize * batch) as f64 / secs,
        requests_per_sec: ok as f64 / secs,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        errors,
    }
}

/// `connections` clients each posting back to back for `secs`.
async fn closed_loop(
    client: &HttpClient,
    url: &str,
    bodies: &[Bytes],
    connections: usize,
    secs: f64,
    batch: usize,
) -> anyhow::Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, url, stop, errors) = (client.clone(), url.to_owned(), Arc::clone(&stop), Arc::clone(&errors));
        let bodies: Vec<Bytes> = bodies.iter().skip(c).step_by(connections).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for body in bodies.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = Instant::now();
                match client.request(request(&url, body.clone())?).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        response.into_body().collect().await?;
                        if ok {
                            latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let ok = latencies.len() as u64;
    Ok(summarize(latencies, ok, errors.load(Ordering::Relaxed), batch, elapsed))
}

/// Requests sent on a fixed schedule whatever the answers (no coordinated omission); latency
/// is measured from each request's scheduled time.
async fn open_loop(
    client: &HttpClient,
    url: &str,
    bodies: &[Bytes],
    per_sec: f64,
    secs: f64,
    batch: usize,
) -> anyhow::Result<Measured> {
    let total = (per_sec * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / per_sec);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let (client, url, body) = (client.clone(), url.to_owned(), bodies[i % bodies.len()].clone());
        tasks.push(tokio::spawn(async move {
            let response = client.request(request(&url, body)?).await?;
            let ok = response.status().is_success();
            response.into_body().collect().await?;
            anyhow::Ok((ok, due.elapsed().as_secs_f64() * 1e3))
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for task in tasks {
        match task.await? {
            Ok((true, ms)) => latencies.push(ms),
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = latencies.len() as u64;
    Ok(summarize(latencies, ok, errors, batch, elapsed))
}
