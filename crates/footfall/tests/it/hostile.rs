//! Hostile input against a real `footfall serve`: messages any holder of a (public, browser)
//! write key can send, and requests any web page can make. Each class is sent, then ordinary
//! traffic; the ordinary traffic must be in `raw_events`, `events`, `metrics_1m` and the live
//! view exactly, and each hostile message either refused with a 4xx (and a dead letter) or
//! loaded — before and after a restart.

use crate::{client, Server, KEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads what the server sends until it closes the connection (within 10 s).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was left open");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The write key as HTTP Basic credentials.
fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
}

/// `POST /api/v1/sql` with `query`, and one extra header if given.
async fn post_sql(server: &Server, query: &str, header: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = client().post(format!("{}/api/v1/sql", server.url)).json(&json!({ "query": query }));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.expect("send")
}

/// Rows of a SQL query through the API.
async fn sql(server: &Server, query: &str) -> Vec<Value> {
    let answer: Value = post_sql(server, query, None).await.json().await.expect("JSON");
    answer["rows"].as_array().unwrap_or_else(|| panic!("{query}: {answer}")).clone()
}

async fn count(server: &Server, query: &str) -> u64 {
    sql(server, query).await.first().and_then(|r| r["n"].as_u64()).unwrap_or(0)
}

/// Waits until `query`'s `n` equals `expected` (the loader and processor run every second).
async fn wait_for_count(server: &Server, query: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    while Instant::now() < deadline {
        last = count(server, query).await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{query}: {last}, expected {expected}");
}

async fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let answer =
        client().post(format!("{}{path}", server.url)).basic_auth(KEY, Some("")).json(body).send().await.expect("send");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// `n` ordinary track events of ten users, stamped now by the client (with `sentAt`).
async fn ordinary_traffic(server: &Server, round: &str, n: usize) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let batch: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "track", "userId": format!("ordinary-{}", i % 10), "event": "Product Viewed",
                   "messageId": format!("{round}-{i}"), "timestamp": now, "properties": {"i": i}})
        })
        .collect();
    let (status, answer) = post(server, "/v1/batch", &json!({"batch": batch, "sentAt": now})).await;
    assert_eq!((status, answer.get("rejected")), (200, None), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_refused_or_loaded_and_ordinary_traffic_is_counted_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("footfall.toml");
    let settings = "[sql]\ntimeout_seconds = 3\nmax_rows = 50\n[collector]\nheader_timeout = 1\nbody_timeout = 1\n";
    std::fs::write(&config, settings).expect("config");
    let config_arg = format!("--config={}", config.display());
    let mut server = Server::start(&dir.path().join("data"), &[&config_arg]);
    let start = chrono::Utc::now();

    // 1. Six-digit years far apart: refused as not a timestamp (the skew correction would overflow).
    let (status, answer) = post(
        &server,
        "/v1/track",
        &json!({"userId": "h", "event": "E", "timestamp": "+275760-09-13T00:00:00Z", "sentAt": "-262143-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("timestamp")), "{answer}");
    // The widest four-digit years: accepted, and the event time is when it was received.
    let (status, _) = post(
        &server,
        "/v1/track",
        &json!({"userId": "h", "event": "Edge", "messageId": "edge", "timestamp": "0000-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(status, 200);
    // 2. A timestamp in 2099 and no sentAt: accepted, dated at receipt (it must not move the watermark).
    let (status, _) = post(
        &server,
        "/v1/track",
        &json!({"userId": "h", "event": "Future", "messageId": "future", "timestamp": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200);
    // 3. A message just under 32 KB that grows past 32 KB when stored (messageId, receivedAt,
    //    context.ip and the batch's context merged in): acknowledged, so it must load.
    let padding = "x".repeat(32 * 1024 - 200);
    let big = json!({"type": "track", "userId": "h", "event": "Big", "properties": {"p": padding}});
    assert!(big.to_string().len() < 32 * 1024);
    let context = json!({"library": {"name": "hostile", "version": "1"}, "note": "y".repeat(2000)});
    let (status, answer) = post(&server, "/v1/batch", &json!({"batch": [big], "context": context})).await;
    assert_eq!((status, answer.get("rejected")), (200, None), "{answer}");
    // ... and one whose stored form would pass 64 KB: refused in the batch, with its reason.
    let huge_context = json!({"note": "z".repeat(40 * 1024)});
    let small =
        json!({"type": "track", "userId": "h", "event": "Amplified", "properties": {"p": "x".repeat(30 * 1024)}});
    let (status, answer) = post(&server, "/v1/batch", &json!({"batch": [small], "context": huge_context})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rejected"][0]["code"], "message_too_large", "{answer}");
    // 4. A retry, 30 hours of event time behind the newest event: still a duplicate (dedup is by arrival).
    let old = (chrono::Utc::now() - chrono::Duration::hours(30)).to_rfc3339();
    for _ in 0..2 {
        let body = json!({"userId": "h", "event": "Offline", "messageId": "offline-1", "timestamp": old});
        assert_eq!(post(&server, "/v1/track", &body).await.0, 200);
        let newer = json!({"userId": "h", "event": "Newer", "timestamp": chrono::Utc::now().to_rfc3339()});
        assert_eq!(post(&server, "/v1/track", &newer).await.0, 200);
    }
    // 5. Query parameters at the edge of the integers: refused, not allocated.
    let metrics = client()
        .get(format!("{}/api/v1/metrics?from=-9223372036854775808&to=9223372036854775807&step=1m", server.url))
        .send()
        .await
        .expect("send");
    assert_eq!(metrics.status(), 400);
    // 6. SQL that never ends is cancelled; one with endless rows stops at max_rows.
    let endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
    let began = Instant::now();
    let answer = post_sql(&server, endless, None).await;
    assert_eq!(answer.status(), 400);
    let message: Value = answer.json().await.expect("JSON");
    assert!(message["error"].as_str().is_some_and(|e| e.contains("limit")), "{message}");
    assert!(began.elapsed() < Duration::from_secs(30), "cancelled at its timeout");
    let many = "SELECT value FROM generate_series(1, 10000000000)";
    let many: Value = post_sql(&server, many, None).await.json().await.expect("JSON");
    assert_eq!((many["row_count"].as_u64(), many["truncated"].as_bool()), (Some(50), Some(true)), "{many}");
    // 7. DNS rebinding: a page of another site that resolves to 127.0.0.1 is refused.
    for (name, value) in [("host", "rebind.example:8080"), ("origin", "http://rebind.example")] {
        let answer = post_sql(&server, "SELECT 1", Some((name, value))).await;
        assert_eq!(answer.status(), 403, "{name}: {value}");
    }

    // 8. Slow clients cannot hold connections or request slots: a request line that never
    //    ends is cut off, a body that never completes is answered 408.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slowloris = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    slowloris.write_all(b"POST /v1/tr").await.expect("write");
    assert_eq!(read_until_closed(&mut slowloris).await, "", "cut off without an answer");
    let mut slow_body = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/track HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {}\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{{\"userId\"",
        base64_key()
    );
    slow_body.write_all(head.as_bytes()).await.expect("write");
    let answer = read_until_closed(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // 9. Without a valid key a body is not ingested: refused 401 whatever it holds.
    for body in [
        json!({"writeKey": "not-the-key", "batch": [{"type": "track", "userId": "x", "event": "Unauthorized"}]}),
        json!({"batch": [{"type": "track", "userId": "x", "event": "Unauthorized"}]}),
    ] {
        let answer = client().post(format!("{}/v1/batch", server.url)).json(&body).send().await.expect("send");
        assert_eq!(answer.status(), 401);
    }

    ordinary_traffic(&server, "a", 200).await;
    // Loaded: every acknowledged message in bronze (the retry twice), each messageId once in silver.
    let hostile_accepted = 1 + 1 + 1 + 4;
    wait_for_count(&server, "SELECT count(*) AS n FROM raw_events", 200 + hostile_accepted).await;
    wait_for_count(&server, "SELECT count(*) AS n FROM events", 200 + hostile_accepted - 1).await;
    assert_eq!(count(&server, "SELECT count(*) AS n FROM events WHERE message_id = 'offline-1'").await, 1);
    assert_eq!(count(&server, "SELECT count(*) AS n FROM events WHERE late AND user_id LIKE 'ordinary-%'").await, 0);
    let big_loaded = "SELECT count(*) AS n FROM events WHERE event = 'Big' AND length(properties) > 32000";
    assert_eq!(count(&server, big_loaded).await, 1);
    // Event times within a minute of receipt, whatever the client claimed.
    let bounded = "SELECT count(*) AS n FROM raw_events WHERE message_id IN ('edge', 'future') \
                   AND event_time <= received_at + INTERVAL '60 seconds' AND event_time >= received_at - INTERVAL '1 second'";
    assert_eq!(count(&server, bounded).await, 2);

    // metrics_1m (with the windows still in memory) counts every event that is not late.
    let on_time = count(&server, "SELECT count(*) AS n FROM events WHERE NOT late").await;
    let from = (start - chrono::Duration::minutes(2)).timestamp();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(3)).timestamp();
    let series = crate::get_json(&format!("{}/api/v1/metrics?from={from}&to={to}&step=1m", server.url)).await;
    let total: f64 = series["series"][0]["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{series}"))
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .sum();
    assert_eq!(total as u64, on_time, "{series}");
    assert_eq!(on_time, 200 + hostile_accepted - 2, "only the 30-hour-old event is late");

    // The refused messages are dead letters with their reasons.
    let letters = crate::dump(&server.data, true);
    let reasons: Vec<&str> = letters.iter().filter_map(|l| l["reasonCode"].as_str()).collect();
    assert!(reasons.contains(&"bad_timestamp") && reasons.contains(&"message_too_large"), "{reasons:?}");

    // After a restart the pipeline goes on: nothing hostile is stuck at the head of the log.
    assert_eq!(server.stop().code(), Some(0));
    server.restart();
    ordinary_traffic(&server, "b", 100).await;
    wait_for_count(&server, "SELECT count(*) AS n FROM events WHERE user_id LIKE 'ordinary-%'", 300).await;
    assert_eq!(count(&server, "SELECT count(*) AS n FROM events WHERE late AND user_id LIKE 'ordinary-%'").await, 0);
    assert_eq!(server.stop().code(), Some(0));
}
