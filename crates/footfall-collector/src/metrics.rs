//! The collector's Prometheus metrics, served at `GET /metrics`.

use footfall_event::MessageType;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// Counters and histograms of the collector. Cheap to update from many requests at once.
#[derive(Debug, Clone)]
pub struct CollectorMetrics {
    registry: Registry,
    accepted: [IntCounter; 6],
    rejected: IntCounterVec,
    rejected_total: IntCounter,
    requests: IntCounterVec,
    body_bytes: IntCounter,
    latency: Histogram,
}

impl Default for CollectorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CollectorMetrics {
    /// Creates and registers the collector's metrics in a registry of their own.
    pub fn new() -> Self {
        let registry = Registry::new();
        // Metric names and labels are constants, so creating and registering them cannot fail;
        // the `expect`s below guard only against a programming error in these literals.
        let accepted_vec = IntCounterVec::new(
            Opts::new("footfall_collector_events_accepted_total", "Messages accepted into the event log, by type"),
            &["type"],
        )
        .expect("valid metric");
        let rejected = IntCounterVec::new(
            Opts::new("footfall_collector_events_rejected_total", "Messages or requests refused, by reason"),
            &["reason"],
        )
        .expect("valid metric");
        let rejected_total =
            IntCounter::new("footfall_collector_rejected_total", "Messages or requests refused, all reasons")
                .expect("valid metric");
        let requests = IntCounterVec::new(
            Opts::new("footfall_collector_requests_total", "HTTP requests to the tracking API, by endpoint and status"),
            &["endpoint", "status"],
        )
        .expect("valid metric");
        let body_bytes = IntCounter::new(
            "footfall_collector_received_bytes_total",
            "Request body bytes received (as sent, before decompression)",
        )
        .expect("valid metric");
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "footfall_collector_request_duration_seconds",
                "Time from request to durable acknowledgement",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .expect("valid metric");
        for collector in [
            Box::new(accepted_vec.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rejected.clone()),
            Box::new(rejected_total.clone()),
            Box::new(requests.clone()),
            Box::new(body_bytes.clone()),
            Box::new(latency.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        let accepted = MessageType::ALL.map(|t| accepted_vec.with_label_values(&[t.as_str()]));
        Self { registry, accepted, rejected, rejected_total, requests, body_bytes, latency }
    }

    /// Counts accepted messages, per type, indexed like [`MessageType::ALL`].
    pub fn add_accepted(&self, by_type: &[u64; 6]) {
        for (counter, n) in self.accepted.iter().zip(by_type) {
            if *n > 0 {
                counter.inc_by(*n);
            }
        }
    }

    /// Counts one refused message or request.
    pub fn add_rejected(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
        self.rejected_total.inc();
    }

    /// Records a finished request.
    pub fn observe_request(&self, endpoint: &str, status: u16, body_bytes: usize, seconds: f64) {
        self.requests.with_label_values(&[endpoint, &status.to_string()]).inc();
        self.body_bytes.inc_by(body_bytes as u64);
        self.latency.observe(seconds);
    }

    /// Accepted messages so far, per type.
    pub fn accepted_by_type(&self) -> Vec<(MessageType, u64)> {
        MessageType::ALL.into_iter().zip(self.accepted.iter().map(IntCounter::get)).collect()
    }

    /// Refused messages and requests so far, all reasons together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_total.get()
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on metric families that cannot exist here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
