//! The live view over Server-Sent Events: what the collector acknowledges shows up in it.

use crate::{client, Server, KEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Reads `live` events from an open SSE response until `wanted` accepts one (or `limit`).
async fn next_matching(
    response: &mut reqwest::Response,
    limit: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + limit;
    let mut buffer = String::new();
    while Instant::now() < deadline {
        let chunk = tokio::time::timeout(deadline - Instant::now(), response.chunk()).await.ok()?.ok()??;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
            if let Ok(view) = serde_json::from_str::<Value>(&data) {
                if wanted(&view) {
                    return Some(view);
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_event_reaches_the_live_stream_within_two_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    let mut stream = client().get(format!("{}/api/v1/live", server.url)).send().await.expect("connect");
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    for round in 0..3 {
        let name = format!("Live Probe {round}");
        let sent = Instant::now();
        let ack = client()
            .post(format!("{}/v1/track", server.url))
            .basic_auth(KEY, Some(""))
            .json(&json!({"userId": "probe", "event": name, "properties": {"round": round}}))
            .send()
            .await
            .expect("send");
        assert!(ack.status().is_success());
        let view = next_matching(&mut stream, Duration::from_secs(2), |v| {
            v["recent"].as_array().is_some_and(|r| r.iter().any(|e| e["event"] == name.as_str()))
        })
        .await
        .unwrap_or_else(|| panic!("{name} not in the live view within 2 s"));
        assert!(sent.elapsed() < Duration::from_secs(2));
        assert_eq!(view["active_persons"].as_u64(), Some(1), "{view}");
        assert_eq!(view["events_seen"].as_u64(), Some(round + 1));
    }
    assert_eq!(server.stop().code(), Some(0));
}
