//! Following `metrics_1m` into InfluxDB. A cursor (the log offset that closed the next window
//! to send) is kept in a small file and moved only after InfluxDB acknowledged the points, so
//! the lake is the buffer: while InfluxDB is away the windows wait in the lake, and a restart
//! resends from the cursor. Each window is written at its window start with its tags, so a
//! point sent twice overwrites itself and sums do not change.

use crate::client::InfluxClient;
use crate::error::InfluxError;
use crate::line::{write_point, FieldValue, Point};
use footfall_lake::metrics::{windows_closed_since, WindowRecord};
use footfall_lake::Lake;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// The measurement of the one-minute windows: tags `event`, `device_type`, `channel`; fields
/// `events`, `uniques`, `orders` (integers) and `revenue` (float); time = window start.
pub const MEASUREMENT: &str = "footfall_events";

/// Points per request, by default (InfluxDB's own advice is 5,000 to 10,000).
pub const BATCH_POINTS: usize = 10_000;

/// Requests in flight at once, by default.
pub const IN_FLIGHT: usize = 2;

/// What a pass sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkReport {
    /// Points written.
    pub points: usize,
    /// Points in batches InfluxDB refused outright (400: logged and skipped).
    pub refused: usize,
    /// Requests made.
    pub requests: usize,
}

/// The sink.
#[derive(Debug)]
pub struct InfluxSink {
    lake: Lake,
    client: InfluxClient,
    cursor_path: PathBuf,
    cursor: u64,
    batch_points: usize,
    in_flight: usize,
}

impl InfluxSink {
    /// A sink from `lake` to `client`, resuming from the cursor in `cursor_path` (or the start).
    pub fn open(lake: Lake, client: InfluxClient, cursor_path: &Path) -> Result<Self, InfluxError> {
        let cursor = match std::fs::read_to_string(cursor_path) {
            Ok(text) => text.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(InfluxError::Cursor { path: cursor_path.to_path_buf(), source }),
        };
        Ok(Self {
            lake,
            client,
            cursor_path: cursor_path.to_path_buf(),
            cursor,
            batch_points: BATCH_POINTS,
            in_flight: IN_FLIGHT,
        })
    }

    /// Sends at most `points` per request.
    pub fn with_batch_points(mut self, points: usize) -> Self {
        self.batch_points = points.max(1);
        self
    }

    /// Keeps at most `requests` writes in flight (InfluxDB parses each on its own core).
    pub fn with_requests_in_flight(mut self, requests: usize) -> Self {
        self.in_flight = requests.max(1);
        self
    }

    /// The log offset of the first window not acknowledged yet.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Sends every window committed since the cursor, a batch per request, moving the cursor
    /// after each acknowledged batch. A batch InfluxDB refuses outright (400) is logged and
    /// skipped; any other failure stops the pass with the cursor before the batch.
    pub async fn send_new(&mut self) -> Result<SinkReport, InfluxError> {
        let windows = windows_closed_since(&self.lake, self.cursor).await?;
        let mut report = SinkReport::default();
        let chunks: Vec<&[WindowRecord]> = windows.chunks(self.batch_points).collect();
        let mut sent = 0;
        for group in chunks.chunks(self.in_flight) {
            let bodies: Vec<String> = group
                .iter()
                .map(|chunk| {
                    let mut lines = String::with_capacity(chunk.len() * 128);
                    chunk.iter().for_each(|w| write_window(&mut lines, w));
                    lines
                })
                .collect();
            let results = futures::future::join_all(bodies.iter().map(|b| self.client.write(b))).await;
            // In order: the cursor stops before the first batch that failed (later batches of
            // the group that did land are sent again, overwriting themselves).
            for (chunk, result) in group.iter().zip(results) {
                match result {
                    Ok(()) => report.points += chunk.len(),
                    Err(e) if !e.is_retryable() => {
                        tracing::error!(error = %e, points = chunk.len(), "InfluxDB refused a batch; skipping it");
                        report.refused += chunk.len();
                    }
                    Err(e) => {
                        if let Some(first) = chunk.first() {
                            self.save_cursor(first.trigger_offset)?;
                        }
                        return Err(e);
                    }
                }
                report.requests += 1;
                sent += chunk.len();
            }
            // The first window not sent yet; windows of the same closing offset already sent
            // are sent again (overwriting themselves) if the sink stops before the next.
            let next = windows
                .get(sent)
                .map_or_else(|| windows.last().map_or(self.cursor, |w| w.trigger_offset + 1), |w| w.trigger_offset);
            self.save_cursor(next)?;
        }
        Ok(report)
    }

    fn save_cursor(&mut self, cursor: u64) -> Result<(), InfluxError> {
        if cursor == self.cursor {
            return Ok(());
        }
        let error = |source| InfluxError::Cursor { path: self.cursor_path.clone(), source };
        let temporary = self.cursor_path.with_extension("tmp");
        std::fs::write(&temporary, cursor.to_string()).map_err(error)?;
        std::fs::rename(&temporary, &self.cursor_path).map_err(error)?;
        self.cursor = cursor;
        Ok(())
    }

    /// Sends new windows every `every` until `stop`; on failure waits with exponential backoff
    /// (0.5 s doubling to 30 s, with jitter) and tries again. Sends what is left once more at
    /// stop.
    pub async fn run(mut self, every: Duration, mut stop: watch::Receiver<bool>) {
        if let Err(e) = self.client.ensure_database().await {
            tracing::warn!(error = %e, "could not create the InfluxDB database; writing anyway");
        }
        let mut backoff = Duration::ZERO;
        loop {
            let wait = every.max(backoff);
            let stopping = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = stop.wait_for(|s| *s) => true,
            };
            match self.send_new().await {
                Ok(report) => {
                    if report.points > 0 {
                        tracing::debug!(points = report.points, cursor = self.cursor, "sent windows to InfluxDB");
                    }
                    backoff = Duration::ZERO;
                }
                Err(e) => {
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "InfluxDB write failed; windows wait in the lake");
                }
            }
            if stopping {
                return;
            }
        }
    }
}

/// The next wait after a failure: doubling from 0.5 s up to 30 s, ±25% jitter.
pub fn next_backoff(previous: Duration) -> Duration {
    let base =
        if previous.is_zero() { Duration::from_millis(500) } else { (previous * 2).min(Duration::from_secs(30)) };
    base.mul_f64(rand::rng().random_range(0.75..1.25))
}

/// One window as a point of [`MEASUREMENT`].
pub fn write_window(out: &mut String, w: &WindowRecord) {
    let count = |n: u64| FieldValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    write_point(
        out,
        &Point {
            measurement: MEASUREMENT,
            tags: vec![("channel", &w.channel), ("device_type", &w.device_type), ("event", &w.event)],
            fields: vec![
                ("events", count(w.events)),
                ("uniques", count(w.uniques)),
                ("orders", count(w.orders)),
                ("revenue", FieldValue::Float(w.revenue)),
            ],
            timestamp_ns: w.start.saturating_mul(1_000),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds_with_jitter() {
        let mut wait = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..12 {
            wait = next_backoff(wait);
            waits.push(wait);
        }
        assert!(waits[0] >= Duration::from_millis(375) && waits[0] <= Duration::from_millis(625));
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(37_500)));
        assert!(waits[11] >= Duration::from_millis(22_500), "reaches the cap: {waits:?}");
    }
}
