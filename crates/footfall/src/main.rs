//! The `footfall` binary: command-line parsing and wiring of the library crates. Thin on
//! purpose: behaviour lives in the crates, so it is tested there.

mod analysis;
mod api;
mod cli;
mod commands;
mod config;
mod event_log;
mod metrics;
mod output;
mod server;
mod web;

use clap::Parser;

/// mimalloc: the collector allocates many small, short-lived buffers per message; this
/// allocator handles that pattern with less CPU than glibc's (measured in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout is for results); `RUST_LOG` overrides the level.
fn init_tracing(verbose: u8) {
    // footfall's own crates at the chosen level; libraries (Delta kernel, DataFusion, hyper)
    // only speak up for warnings unless -vv.
    const OURS: [&str; 7] = [
        "footfall",
        "footfall_event",
        "footfall_log",
        "footfall_collector",
        "footfall_lake",
        "footfall_sim",
        "footfall_kafka",
    ];
    let (ours, others) = match verbose {
        0 => ("info", "warn"),
        1 => ("debug", "warn"),
        _ => ("trace", "info"),
    };
    // delta-rs warns on every commit of a table with a binary column (metrics_1m's sketches)
    // that it keeps no statistics for it: expected, not worth a line per second.
    let default = std::iter::once(others.to_owned())
        .chain(std::iter::once("deltalake_core::writer::stats=error".to_owned()))
        // Kafka partitions are streams committing to the same tables; delta-rs notes each
        // commit that had to be rebased over another's, which is how it is meant to work.
        .chain(std::iter::once("deltalake_core::kernel::transaction=error".to_owned()))
        .chain(OURS.iter().map(|c| format!("{c}={ours}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
