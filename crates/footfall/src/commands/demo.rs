//! `footfall demo`: a server on a fresh data directory, fed by live simulated shoppers, with a
//! running count of what arrived.

use crate::cli::DemoArgs;
use crate::commands::simulate::{live, BatchSender, Output};
use crate::config::FootfallConfig;
use crate::server::{generate_write_key, shutdown_signal, start, ServerOptions};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;

pub async fn run(args: DemoArgs, config: FootfallConfig) -> anyhow::Result<()> {
    let temp;
    let data = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("footfall-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let write_key = generate_write_key();
    let mut collector = config.collector.clone();
    collector.write_keys.push(write_key.clone());
    let listen = args.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let server = start(ServerOptions {
        data: data.clone(),
        listen,
        fallback_to_free_port: args.listen.is_none(),
        collector,
        log: config.log.to_log_config(),
        kafka: None,
        lake: config.lake(&data)?,
        api_token: config.api_token(),
        sql: config.sql.clone(),
        processor: config.processor.options()?,
        influx: config.influxdb.options()?,
    })
    .await?;
    let url = format!("http://{}", server.addr);
    println!("footfall demo running at {url}");
    println!("  dashboard:      {url}/  (live page; demo shop with a real Segment browser tracker at {url}/shop)");
    println!("  data directory: {}", data.display());
    println!("  write key:      {write_key}  (point a Segment SDK at {url} with this key)");
    println!(
        "  query the lake: footfall sql \"SELECT event, count(*) AS n FROM raw_events GROUP BY event\" --data {}",
        data.display()
    );
    match config.api_token() {
        Some(_) => println!("  query API:      {url}/api/v1/sql (bearer token from [api] token)"),
        None => println!("  query API:      {url}/api/v1/sql (open to this machine only; no token set)"),
    }
    println!("  live view:      {url}/api/v1/live (Server-Sent Events, every 100 ms)");
    println!("  metrics:        {url}/api/v1/metrics?step=1m&by=event (events per minute, last 24 h)");
    println!("  simulating {} events/s; Ctrl-C to stop", args.rate);

    let sender = BatchSender::new(&url, &write_key)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut stop_sim = stop_rx.clone();
    let simulation = tokio::spawn(live(args.seed, args.rate, None, 100, Output::Http(sender), async move {
        let _ = stop_sim.wait_for(|s| *s).await;
    }));
    let metrics = server.collector.clone();
    let tty = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    let deadline = async {
        match args.duration {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = &mut deadline => break,
            _ = ticker.tick() => {
                let counts: Vec<String> = metrics.metrics().accepted_by_type().iter().map(|(t, n)| format!("{} {n}", t.as_str())).collect();
                let line = format!("events: {} | rejected {}", counts.join(" · "), metrics.metrics().rejected_total());
                let mut out = std::io::stdout();
                if tty {
                    let _ = write!(out, "\r{line}   ");
                } else {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
            }
        }
    }
    println!();
    let _ = stop_tx.send(true);
    drop(stop_rx);
    match simulation.await {
        Ok(Ok(sent)) => eprintln!("simulator sent {sent} events"),
        Ok(Err(e)) => eprintln!("simulator stopped: {e:#}"),
        Err(e) => eprintln!("simulator task failed: {e}"),
    }
    server.shutdown().await
}
