//! The lake against its own reference: logs written with known messages, loaded, and read
//! back with SQL.

mod disk_full;
mod load;
mod maintenance;
mod processing;
mod sql_guard;
mod transform;

use chrono::{DateTime, Utc};
use footfall_event::{format_timestamp, Message, Stamp};
use footfall_log::{EmbeddedLog, EventSink, LogConfig, Record};
use footfall_sim::{SimConfig, Simulator};
use serde_json::Value;

/// `n` simulated messages of `users` shoppers from `start`, normalized as the collector stores
/// them (received 40 days after `start`).
pub fn simulated_messages(seed: u64, users: u32, start: &str, n: usize) -> Vec<Value> {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start).expect("time").with_timezone(&Utc);
    let received = format_timestamp(start + chrono::Duration::days(40));
    let mut stored = Vec::new();
    for event in Simulator::new(SimConfig::new(seed, users, start)).take(n) {
        let time = event.time;
        let text = event.into_message(time).to_string();
        let message = Message::parse(&text).expect("simulated message parses");
        let valid = message.validate(None).expect("simulated message is valid");
        let stamp = Stamp { received_at: &received, ..Stamp::default() };
        let normalized = message.normalize(&valid, &stamp, || "unused".into());
        stored.push(serde_json::from_slice(&normalized.json).expect("json"));
    }
    stored
}

/// `message` (as a client sends it) normalized as the collector stores it, received at
/// `received`; its `messageId` filled in as `fallback-N` when missing.
pub fn normalized(message: &Value, received: &str, n: usize) -> Value {
    let text = message.to_string();
    let parsed = Message::parse(&text).expect("message parses");
    let valid = parsed.validate(None).expect("message is valid");
    let stamp = Stamp { received_at: received, ..Stamp::default() };
    let stored = parsed.normalize(&valid, &stamp, || format!("fallback-{n}"));
    serde_json::from_slice(&stored.json).expect("json")
}

/// Appends stored messages to `log`, as the collector would.
pub async fn append_messages(log: &EmbeddedLog, messages: &[Value]) {
    let records: Vec<Record> = messages
        .iter()
        .map(|m| {
            let key = m["userId"].as_str().or(m["anonymousId"].as_str()).unwrap_or_default();
            Record { key: key.as_bytes().to_vec(), value: serde_json::to_vec(m).expect("json"), timestamp_ms: 0 }
        })
        .collect();
    for chunk in records.chunks(500) {
        log.append(chunk.to_vec()).expect("queued").await.expect("durable");
    }
}

/// Writes `n` simulated, normalized messages to a new log in `dir`; returns them as JSON.
pub async fn write_simulated_log(dir: &std::path::Path, n: usize) -> (EmbeddedLog, Vec<Value>) {
    let log = EmbeddedLog::open(dir, LogConfig::default()).expect("open log");
    let stored = simulated_messages(3, 300, "2026-11-01T00:00:00Z", n);
    append_messages(&log, &stored).await;
    (log, stored)
}

/// Gives lake `to` the secret of lake `from` (made if it has none), as a restored copy of a
/// lake has: person hashes in their sketches are then the same.
pub async fn share_secret(from: &footfall_lake::Lake, to: &footfall_lake::Lake) {
    footfall_lake::secret::lake_secret(from).await.expect("secret");
    let (from, to) = (from.local_dir().expect("local"), to.local_dir().expect("local"));
    let dir = to.join(footfall_lake::secret::FOOTFALL_DIR);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(from.join(footfall_lake::secret::FOOTFALL_DIR).join("secret"), dir.join("secret")).expect("copy");
}
