//! The lake against its own reference: logs written with known messages, loaded, and read
//! back with SQL.

mod load;
mod sql_guard;

use chrono::{DateTime, Utc};
use footfall_event::{format_timestamp, Message, Stamp};
use footfall_log::{EmbeddedLog, EventSink, LogConfig, Record};
use footfall_sim::{SimConfig, Simulator};
use serde_json::Value;

/// Writes `n` simulated, normalized messages to a new log in `dir`; returns them as JSON.
pub async fn write_simulated_log(dir: &std::path::Path, n: usize) -> (EmbeddedLog, Vec<Value>) {
    let log = EmbeddedLog::open(dir, LogConfig::default()).expect("open log");
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("time").with_timezone(&Utc);
    let received = format_timestamp(start + chrono::Duration::days(40));
    let mut stored = Vec::new();
    let mut records = Vec::new();
    for event in Simulator::new(SimConfig::new(3, 300, start)).take(n) {
        let time = event.time;
        let text = event.into_message(time).to_string();
        let message = Message::parse(&text).expect("simulated message parses");
        let valid = message.validate(None).expect("simulated message is valid");
        let stamp = Stamp { received_at: &received, ..Stamp::default() };
        let normalized = message.normalize(&valid, &stamp, || "unused".into());
        stored.push(serde_json::from_slice(&normalized.json).expect("json"));
        records.push(Record { key: normalized.key.into_bytes(), value: normalized.json, timestamp_ms: 0 });
    }
    for chunk in records.chunks(500) {
        log.append(chunk.to_vec()).expect("queued").await.expect("durable");
    }
    (log, stored)
}
