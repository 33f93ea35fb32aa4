use crate::{client, dump, footfall, Server, KEY};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Runs `footfall sql QUERY --format json` and returns its rows.
pub fn sql(data: &Path, query: &str) -> Vec<Value> {
    let output = footfall().args(["sql", query, "--format", "json", "--data"]).arg(data).output().expect("run sql");
    assert!(output.status.success(), "{query}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<Value>(&output.stdout).expect("one JSON document").as_array().expect("rows").clone()
}

fn simulate_into(server: &Server, days: &str, users: &str) {
    let status = footfall()
        .args(["simulate", "--seed", "9", "--users", users, "--days", days, "--end", "2026-11-20T00:00:00Z"])
        .args(["--to", &server.url, "--write-key", KEY])
        .status()
        .expect("simulate");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loads_every_acknowledged_event_and_dead_letter_into_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    simulate_into(&server, "2", "80");
    let bad = client()
        .post(format!("{}/v1/batch", server.url))
        .basic_auth(KEY, Some(""))
        .json(&json!({"batch": [{"type": "track", "userId": "u", "messageId": "no-event"}]}))
        .send()
        .await
        .expect("send");
    assert!(bad.status().is_success());
    assert_eq!(server.stop().code(), Some(0));

    let logged = dump(dir.path(), false);
    let rows = sql(dir.path(), "SELECT count(*) AS n, count(DISTINCT log_offset) AS offsets, count(DISTINCT message_id) AS ids FROM raw_events");
    assert_eq!(rows[0]["n"], logged.len(), "every logged event, once");
    assert_eq!(rows[0]["offsets"], logged.len());
    let per_type = sql(dir.path(), "SELECT type, count(*) AS n FROM raw_events GROUP BY type ORDER BY type");
    for row in per_type {
        let kind = row["type"].as_str().expect("type");
        let expected = logged.iter().filter(|e| e["type"] == kind).count();
        assert_eq!(row["n"], expected, "{kind}");
    }
    let dead = sql(dir.path(), "SELECT reason_code, message_id FROM dead_letters");
    assert_eq!(dead, vec![json!({"reason_code": "missing_field", "message_id": "no-event"})]);
}

#[test]
fn kill_9_during_loading_then_reloading_gives_every_event_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut server = Server::start(dir.path(), &[]);
        simulate_into(&server, "20", "300");
        // A server stopped right away has its loader's last pass to finish; take the lake away
        // afterwards so that `lake load` below does all of the loading.
        assert_eq!(server.stop().code(), Some(0));
    }
    std::fs::remove_dir_all(dir.path().join("lake")).expect("remove lake");
    let logged = dump(dir.path(), false).len();
    assert!(logged > 5_000, "{logged} events");
    // Small micro-batches: the kills land before, during and between commits. Count how many
    // kills left the load unfinished (the machine's speed decides where each one lands).
    let mut interrupted = 0;
    for kill_after_ms in [100u64, 300, 50, 500, 200, 700, 150, 400] {
        let mut child = footfall()
            .args(["lake", "load", "--batch-rows", "300", "--data"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn lake load");
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
        let loaded = sql(dir.path(), "SELECT count(*) AS n, count(DISTINCT log_offset) AS offsets FROM raw_events");
        assert_eq!(loaded[0]["n"], loaded[0]["offsets"], "no offset twice, even mid-way");
        if loaded[0]["n"].as_u64() < Some(logged as u64) {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 2, "only {interrupted} kills interrupted the load");
    let status =
        footfall().args(["lake", "load", "--batch-rows", "300", "--data"]).arg(dir.path()).status().expect("lake load");
    assert!(status.success());
    let rows = sql(dir.path(), "SELECT count(*) AS n, count(DISTINCT log_offset) AS offsets, min(log_offset) AS first, max(log_offset) AS last FROM raw_events");
    assert_eq!(rows[0]["n"], logged, "every logged event");
    assert_eq!(rows[0]["offsets"], logged, "none twice");
    assert_eq!((rows[0]["first"].as_u64(), rows[0]["last"].as_u64()), (Some(0), Some(logged as u64 - 1)));
    // And again: nothing more.
    assert!(footfall().args(["lake", "load", "--data"]).arg(dir.path()).status().expect("reload").success());
    assert_eq!(sql(dir.path(), "SELECT count(*) AS n FROM raw_events")[0]["n"], logged);
}

#[test]
fn sql_refuses_writes_and_reports_bad_queries_without_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Loading an empty data directory creates the (empty) tables.
    assert!(footfall().args(["lake", "load", "--data"]).arg(dir.path()).status().expect("create lake").success());
    assert_eq!(sql(dir.path(), "SELECT count(*) AS n FROM raw_events")[0]["n"], 0);
    for query in ["DROP TABLE raw_events", "INSERT INTO raw_events (message_id) VALUES ('x')", "SELECT FROM WHERE"] {
        let output = footfall().args(["sql", query, "--data"]).arg(dir.path()).output().expect("run sql");
        assert_eq!(output.status.code(), Some(1), "{query}");
        assert!(output.stdout.is_empty(), "nothing on stdout for {query}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error:") && !stderr.contains("panicked"), "{query}: {stderr}");
    }
}
