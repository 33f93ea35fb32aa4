//! Integration tests of the embedded log: appends, reads, group commit, recovery, cursors,
//! retention. One test binary for the crate keeps link times down.

mod append;
mod disk_full;
mod recovery;

use footfall_log::{EmbeddedLog, LogConfig, Record};

/// A record whose value says which it is.
pub fn record(i: u64) -> Record {
    Record {
        key: format!("user-{}", i % 7).into_bytes(),
        value: format!("{{\"n\":{i}}}").into_bytes(),
        timestamp_ms: i as i64,
    }
}

/// Opens a log with small segments so tests cross segment boundaries.
pub fn open_small(dir: &std::path::Path) -> EmbeddedLog {
    EmbeddedLog::open(dir, LogConfig { segment_bytes: 4096, ..LogConfig::default() }).expect("open log")
}

/// Runs a future to completion on a small runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}
