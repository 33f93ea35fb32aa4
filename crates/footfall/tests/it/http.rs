use crate::{client, dump, Server, KEY};
use serde_json::{json, Value};
use std::io::Write;

async fn post(server: &Server, path: &str, key: Option<&str>, body: Vec<u8>, gzip: bool) -> (u16, Value) {
    let mut request = client().post(format!("{}{path}", server.url)).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.basic_auth(key, Some(""));
    }
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.body(body).send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("error bodies are JSON: {text}")))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_the_right_status_and_dead_letters_keep_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let big_message =
        json!({"type":"track","userId":"u","event":"Big","messageId":"big-1","properties":{"blob":"x".repeat(33_000)}});
    let batch = json!({"batch": [
        {"type":"track","userId":"u1","event":"Product Viewed","messageId":"good-1","properties":{"price":9.5}},
        {"type":"track","userId":"u1","messageId":"no-event"},
        {"type":"track","event":"Orphan","messageId":"no-id"},
        {"type":"teleport","userId":"u1","messageId":"unknown-type"},
        {"type":"identify","userId":{"nested":true},"messageId":"wrong-type"},
        {"type":"page","userId":"u1","messageId":"bad-time","timestamp":"last tuesday"},
        big_message,
        {"type":"identify","anonymousId":"anon-7","traits":{"plan":"pro"},"messageId":"good-2"},
    ]});
    let (status, body) = post(&server, "/v1/batch", Some(KEY), batch.to_string().into_bytes(), false).await;
    assert_eq!(status, 200, "{body}");
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .expect("rejected list")
        .iter()
        .map(|r| (r["index"].as_u64().expect("index"), r["code"].as_str().expect("code").to_owned()))
        .collect();
    let expected: Vec<(u64, String)> = [
        (1, "missing_field"),
        (2, "missing_identity"),
        (3, "unknown_type"),
        (4, "wrong_type"),
        (5, "bad_timestamp"),
        (6, "message_too_large"),
    ]
    .iter()
    .map(|(i, c)| (*i, c.to_string()))
    .collect();
    assert_eq!(rejected, expected);

    // Single calls: each failure with its status and a JSON reason.
    // (path, write key, body, gzipped, expected status, expected words in the message)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, bool, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("/v1/track", Some(KEY), b"{\"userId\":\"u\",\"event\":".to_vec(), false, 400, "invalid JSON"),
        ("/v1/track", Some(KEY), b"{\"userId\":\"u\"}".to_vec(), false, 400, "track message requires `event`"),
        ("/v1/identify", Some(KEY), b"{\"traits\":{}}".to_vec(), false, 400, "missing identity"),
        (
            "/v1/page",
            Some(KEY),
            b"{\"userId\":\"u\",\"properties\":[1]}".to_vec(),
            false,
            400,
            "`properties` must be an object, got array",
        ),
        ("/v1/track", Some(KEY), b"\x1f\x8b\x08garbage".to_vec(), true, 400, "invalid gzip body"),
        (
            "/v1/track",
            Some("wrong-key"),
            b"{\"userId\":\"u\",\"event\":\"e\"}".to_vec(),
            false,
            401,
            "invalid write key",
        ),
        ("/v1/track", None, b"{\"userId\":\"u\",\"event\":\"e\"}".to_vec(), false, 401, "missing write key"),
        ("/v1/teleport", Some(KEY), b"{\"userId\":\"u\"}".to_vec(), false, 400, "unknown endpoint /v1/teleport"),
        ("/v1/track", Some(KEY), big_message_text(), false, 413, "limit is 32 KB"),
        ("/v1/batch", Some(KEY), vec![b' '; 600 * 1024], false, 413, "larger than the limit"),
        ("/v1/batch", Some(KEY), gzip(&vec![b' '; 4 * 1024 * 1024]), true, 413, "decompressed body is larger"),
        ("/v1/batch", Some(KEY), too_many_messages(), false, 413, "limit is 2500"),
        ("/v1/batch", Some(KEY), b"{\"batch\":\"nope\"}".to_vec(), false, 400, "`batch` must be an array"),
    ];
    for (path, key, body, gz, want_status, want_text) in cases {
        let (status, answer) = post(&server, path, key, body, gz).await;
        assert_eq!(status, want_status, "{path} {want_text}: {answer}");
        assert_eq!(answer["success"], false);
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains(want_text), "{path}: {message:?} should mention {want_text:?}");
    }

    // Good messages, gzip and body write key work.
    let gz_batch =
        json!({"writeKey": KEY, "batch": [{"type":"page","anonymousId":"a9","name":"Home","messageId":"good-3"}]});
    let (status, _) = post(&server, "/v1/batch", None, gzip(gz_batch.to_string().as_bytes()), true).await;
    assert_eq!(status, 200);

    let events = dump(&server.data, false);
    let ids: Vec<&str> = events.iter().map(|e| e["messageId"].as_str().expect("id")).collect();
    assert_eq!(ids, ["good-1", "good-2", "good-3"], "exactly the good messages, in order");
    assert_eq!(events[0]["properties"], json!({"price": 9.5}));
    assert!(events.iter().all(|e| e.get("writeKey").is_none() && e["receivedAt"].is_string()));

    let dead = dump(&server.data, true);
    let reasons: Vec<&str> = dead.iter().map(|d| d["reasonCode"].as_str().expect("code")).collect();
    // Batch rejects (6), then the single-call failures whose sender was authenticated: not the
    // two 401s, not the unknown endpoint, not the body too large to even read.
    assert_eq!(
        reasons,
        [
            "missing_field",
            "missing_identity",
            "unknown_type",
            "wrong_type",
            "bad_timestamp",
            "message_too_large",
            "invalid_json",
            "missing_field",
            "missing_identity",
            "wrong_type",
            "bad_gzip",
            "message_too_large",
            "body_too_large",
            "too_many_messages",
            "wrong_type",
        ]
    );
    let no_event = &dead[0];
    assert_eq!(no_event["messageId"], "no-event");
    assert_eq!(no_event["index"], 1);
    assert_eq!(no_event["reason"], "track message requires `event`");
    assert_eq!(
        serde_json::from_str::<Value>(no_event["payload"].as_str().expect("payload")).expect("raw"),
        json!({"type":"track","userId":"u1","messageId":"no-event"})
    );
    assert!(
        dead.iter().find(|d| d["reasonCode"] == "bad_gzip").expect("gzip dead letter")["payloadBase64"].is_string(),
        "binary payloads kept as base64"
    );

    let metrics =
        client().get(format!("{}/metrics", server.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("footfall_collector_events_accepted_total{type=\"track\"} 1"), "{metrics}");
    assert!(metrics.contains("footfall_collector_events_rejected_total{reason=\"unauthorized\"} 2"), "{metrics}");
    assert!(metrics.contains("footfall_collector_request_duration_seconds_bucket"));
}

fn big_message_text() -> Vec<u8> {
    json!({"userId":"u","event":"Big","properties":{"blob":"x".repeat(33_000)}}).to_string().into_bytes()
}

fn too_many_messages() -> Vec<u8> {
    let one = json!({"type":"track","userId":"u","event":"e"});
    json!({"batch": vec![one; 2501]}).to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_cors_and_every_single_endpoint_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/batch", server.url))
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://shop.example.com");
    let calls = [
        ("track", json!({"userId":"u","event":"Signed Up","messageId":"s1"})),
        ("identify", json!({"userId":"u","traits":{"email":"u@example.com"},"messageId":"s2"})),
        ("page", json!({"anonymousId":"a","name":"Home","messageId":"s3"})),
        ("screen", json!({"userId":"u","name":"Cart","messageId":"s4"})),
        ("group", json!({"userId":"u","groupId":"acme","messageId":"s5"})),
        ("alias", json!({"userId":"u","previousId":"a","messageId":"s6"})),
        (
            "import",
            json!({"batch":[{"type":"track","userId":"u","event":"Old","timestamp":"2020-01-01T00:00:00Z","messageId":"s7"}]}),
        ),
        // analytics.js's short paths, the write key in the body as it sends it.
        ("t", json!({"userId":"u","event":"Clicked","messageId":"s8","writeKey":KEY})),
        ("p", json!({"anonymousId":"a","name":"Shop","messageId":"s9","writeKey":KEY})),
        ("i", json!({"userId":"u","messageId":"s10","writeKey":KEY})),
    ];
    for (endpoint, body) in calls {
        let key = if endpoint.len() == 1 { None } else { Some(KEY) };
        let (status, answer) =
            post(&server, &format!("/v1/{endpoint}"), key, body.to_string().into_bytes(), false).await;
        assert_eq!((status, answer), (200, json!({"success": true})), "{endpoint}");
    }
    let events = dump(&server.data, false);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(kinds, ["track", "identify", "page", "screen", "group", "alias", "track", "track", "page", "identify"]);
    let (status, _) = post(&server, "/v1/x", Some(KEY), b"{}".to_vec(), false).await;
    assert_eq!(status, 400, "unknown one-letter endpoint");
    assert!(events.iter().all(|e| e["context"]["ip"] == "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("footfall.toml");
    std::fs::write(&config, "[collector]\nmax_concurrent_requests = 1\nretry_after_secs = 2\n").expect("config");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", config.to_str().expect("path")]);
    let mut tasks = Vec::new();
    for t in 0..16 {
        let url = format!("{}/v1/batch", server.url);
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut overloaded = 0;
            for i in 0..20 {
                let batch: Vec<Value> = (0..50).map(|j| json!({"type":"track","userId":format!("u{t}"),"event":"e","messageId":format!("m-{t}-{i}-{j}")})).collect();
                let response = client().post(&url).basic_auth(KEY, Some("")).json(&json!({"batch": batch})).send().await.expect("send");
                match response.status().as_u16() {
                    200 => acked.extend(batch.iter().map(|m| m["messageId"].as_str().expect("id").to_owned())),
                    503 => {
                        assert_eq!(response.headers()["retry-after"], "2");
                        overloaded += 1;
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
            (acked, overloaded)
        }));
    }
    let mut acked = Vec::new();
    let mut overloaded = 0;
    for task in tasks {
        let (a, o) = task.await.expect("task");
        acked.extend(a);
        overloaded += o;
    }
    assert!(overloaded > 0, "with one request at a time, concurrent clients are told to retry");
    assert!(!acked.is_empty());
    let mut stored: Vec<String> =
        dump(&server.data, false).iter().map(|e| e["messageId"].as_str().expect("id").to_owned()).collect();
    stored.sort();
    acked.sort();
    assert_eq!(stored, acked, "exactly the acknowledged messages are stored");
    let metrics =
        client().get(format!("{}/metrics", server.url)).send().await.expect("metrics").text().await.expect("text");
    let line = format!("footfall_collector_events_rejected_total{{reason=\"overloaded\"}} {overloaded}");
    assert!(metrics.contains(&line), "every 503 is counted once: {line}\n{metrics}");
}
