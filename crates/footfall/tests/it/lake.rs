use crate::{client, dump, footfall, Server, KEY};
use footfall_lake::arrow::compute::concat_batches;
use footfall_lake::arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_api_needs_the_token_and_answers_as_the_cli_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("footfall.toml");
    std::fs::write(&config, "[api]\ntoken = \"s3cret\"\n").expect("config");
    let config_arg = format!("--config={}", config.display());
    let mut server = Server::start(&dir.path().join("data"), &[&config_arg]);
    simulate_into(&server, "1", "30");
    let data = dir.path().join("data");
    // Wait for the loader (about once a second) to have everything.
    let logged = dump(&data, false).len() as u64;
    let query = "SELECT type, count(*) AS n FROM raw_events GROUP BY type ORDER BY type";
    let endpoint = format!("{}/api/v1/sql", server.url);
    let post = |token: Option<&str>, body: Value| {
        let mut request = client().post(&endpoint).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer: Value = post(Some("s3cret"), json!({"query": "SELECT count(*) AS n FROM raw_events"}))
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        if answer["rows"][0]["n"].as_u64() == Some(logged) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the loader never caught up: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for (token, why) in [(None, "missing"), (Some("wrong"), "wrong")] {
        let response = post(token, json!({"query": query})).await.expect("send");
        assert_eq!(response.status(), 401, "{why} token");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.expect("json");
        assert!(body["error"].as_str().expect("message").contains(why), "{body}");
    }
    let response = post(Some("s3cret"), json!({"query": query})).await.expect("send");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["rows"], Value::Array(sql(&data, query)), "the API and the CLI agree");
    assert_eq!(body["columns"], json!([{"name": "type", "type": "string"}, {"name": "n", "type": "integer"}]));
    assert_eq!(body["row_count"], body["rows"].as_array().expect("rows").len());

    for (body, expected) in [
        (json!({"query": "DROP TABLE raw_events"}), "not supported"),
        (json!({"query": "SELECT nope FROM raw_events"}), "nope"),
        (json!({"sql": "SELECT 1"}), "query"),
    ] {
        let response = post(Some("s3cret"), body.clone()).await.expect("send");
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert!(answer["error"].as_str().expect("message").contains(expected), "{body}: {answer}");
    }
    let limited: Value = post(Some("s3cret"), json!({"query": "SELECT message_id FROM raw_events", "max_rows": 5}))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!((limited["row_count"].as_u64(), limited["truncated"].as_bool()), (Some(5), Some(true)));
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn jobs_forget_optimize_vacuum_and_parquet_output_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut server = Server::start(dir.path(), &[]);
        simulate_into(&server, "3", "60");
        assert_eq!(server.stop().code(), Some(0));
    }
    let logged = dump(dir.path(), false);
    let run = |args: &[&str]| {
        let output = footfall().args(args).arg("--data").arg(dir.path()).output().expect("run footfall");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    // Gold: orders per day equal the distinct Order Completed messages of the log.
    run(&["jobs", "run", "daily_revenue"]);
    let orders: std::collections::HashSet<&str> = logged
        .iter()
        .filter(|m| m["event"] == "Order Completed")
        .map(|m| m["messageId"].as_str().expect("id"))
        .collect();
    assert!(!orders.is_empty());
    assert_eq!(sql(dir.path(), "SELECT sum(orders) AS n FROM daily_revenue")[0]["n"], orders.len());
    assert!(run(&["jobs", "run", "daily_revenue"]).contains("up to date"));

    // Parquet out, read back.
    let file = dir.path().join("per-type.parquet");
    let query = "SELECT type, count(*) AS n FROM raw_events GROUP BY type ORDER BY type";
    run(&["sql", query, "--format", "parquet", "--output", file.to_str().expect("utf-8")]);
    let reader = footfall_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).expect("parquet file"),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, sql(dir.path(), query).len());

    // Compaction keeps every answer.
    let answer = "SELECT event_date, count(*) AS n, sum(log_offset) AS s FROM raw_events GROUP BY event_date ORDER BY event_date";
    let before = sql(dir.path(), answer);
    run(&["lake", "optimize"]);
    assert_eq!(sql(dir.path(), answer), before);

    // Forget one user: gone from every query; everyone else's rows stay.
    let user = logged.iter().find_map(|m| m["userId"].as_str()).expect("a user").to_owned();
    let theirs = logged.iter().filter(|m| m["userId"] == user.as_str()).count();
    assert!(theirs > 0);
    let total = sql(dir.path(), "SELECT count(*) AS n FROM raw_events")[0]["n"].as_u64().expect("n") as usize;
    let stderr = run(&["forget", "--user", &user]);
    assert!(stderr.contains("raw_events"), "{stderr}");
    let who = format!("SELECT count(*) AS n FROM raw_events WHERE user_id = '{user}'");
    assert_eq!(sql(dir.path(), &who)[0]["n"], 0);
    let left = sql(dir.path(), "SELECT count(*) AS n FROM raw_events")[0]["n"].as_u64().expect("n") as usize;
    assert!(left <= total - theirs, "{left} rows left of {total}, {theirs} theirs");
    assert!(run(&["lake", "vacuum", "--retain-hours", "0"]).contains("raw_events: deleted"));
    assert_eq!(sql(dir.path(), &who)[0]["n"], 0);
}

/// The processor tables, each sorted by its key, in one batch per table.
async fn processor_tables(data: &Path) -> Vec<(&'static str, RecordBatch)> {
    let lake = footfall_lake::Lake::local(&data.join("lake")).expect("lake");
    let mut tables = Vec::new();
    for (name, query) in [
        ("events", "SELECT * FROM events ORDER BY log_offset"),
        ("sessions", "SELECT * FROM sessions ORDER BY session_id"),
        ("identities", "SELECT * FROM identities ORDER BY trigger_offset, id"),
        ("metrics_1m", "SELECT * FROM metrics_1m ORDER BY window_start, event, device_type, channel"),
    ] {
        let batches = footfall_lake::sql::query(&lake, query).await.expect(query);
        let schema = batches.first().map(|b| b.schema()).expect("rows");
        tables.push((name, concat_batches(&schema, &batches).expect("one batch")));
    }
    tables
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A million simulated events through the collector into a log at `source`.
fn million_event_log(source: &Path) {
    let mut server = Server::start(source, &[]);
    let status = footfall()
        .args(["simulate", "--seed", "9", "--users", "5000", "--days", "60", "--limit", "1000000"])
        .args(["--end", "2026-11-20T00:00:00Z", "--to", &server.url, "--write-key", KEY, "--concurrency", "4"])
        .status()
        .expect("simulate");
    assert!(status.success());
    assert_eq!(server.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_of_a_million_event_run_leaves_the_tables_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    million_event_log(&source);
    // Two copies of the same log, without the lake and processor state serve made.
    let (calm, crashing) = (dir.path().join("calm"), dir.path().join("crashing"));
    for copy in [&calm, &crashing] {
        copy_dir(&source.join("log"), &copy.join("log"));
    }
    let process = |data: &Path, extra: &[&str]| {
        let mut command = footfall();
        command.args(["process", "--once", "--data"]).arg(data).args(extra);
        command
    };
    assert!(process(&calm, &[]).status().expect("process").success());

    // Smaller batches and a checkpoint after each, killed at random moments: kills land between
    // commits, between a commit and its checkpoint, and inside both.
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    eprintln!("kill points from seed {seed}");
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let mut interrupted = 0;
    for _ in 0..6 {
        let mut child = process(&crashing, &["--batch-records", "20000", "--checkpoint-seconds", "0"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn process");
        std::thread::sleep(Duration::from_millis(random.random_range(500..4_000)));
        if child.try_wait().expect("poll").is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(interrupted >= 4, "only {interrupted} kills interrupted the processor (seed {seed})");
    assert!(process(&crashing, &[]).status().expect("process").success());

    let (expected, got) = (processor_tables(&calm).await, processor_tables(&crashing).await);
    assert_eq!(expected[0].1.num_rows(), 1_000_000, "every event in silver events");
    for ((name, want), (_, have)) in expected.iter().zip(&got) {
        assert!(want.num_rows() > 0, "{name}: empty");
        assert_eq!(want.num_rows(), have.num_rows(), "{name}: row count (seed {seed})");
        assert!(want == have, "{name}: rows differ (seed {seed})");
    }
}

#[test]
fn process_places_ips_with_a_maxmind_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut server = Server::start(dir.path(), &[]);
        simulate_into(&server, "2", "100");
        assert_eq!(server.stop().code(), Some(0));
    }
    let data = dir.path().join("geo");
    copy_dir(&dir.path().join("log"), &data.join("log"));
    let database = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/geo/test-city.mmdb");
    let config = dir.path().join("footfall.toml");
    std::fs::write(&config, format!("[processor]\nip = \"keep\"\ngeoip = {:?}\n", database.display().to_string()))
        .expect("config");
    let status = footfall().arg("--config").arg(&config).args(["process", "--once", "--data"]).arg(&data).status();
    assert!(status.expect("process").success());
    // The test database: 203.0.113.0/25 is Berlin, 203.0.113.128/25 New York (the simulator's
    // shoppers all come from 203.0.113.0/24).
    let rows = sql(&data, "SELECT ip, country, city FROM events");
    assert!(rows.len() > 100, "{} events", rows.len());
    for row in &rows {
        let ip = row["ip"].as_str().expect("ip kept");
        let last: u8 = ip.rsplit('.').next().and_then(|o| o.parse().ok()).expect("IPv4");
        let (country, city) = if last < 128 { ("DE", "Berlin") } else { ("US", "New York") };
        assert_eq!((row["country"].as_str(), row["city"].as_str()), (Some(country), Some(city)), "{ip}");
    }

    let missing = dir.path().join("missing.toml");
    std::fs::write(&missing, "[processor]\ngeoip = \"/nonexistent/GeoLite2-City.mmdb\"\n").expect("config");
    let output = footfall().arg("--config").arg(&missing).args(["process", "--once", "--data"]).arg(&data).output();
    let output = output.expect("process");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read the MaxMind database /nonexistent/GeoLite2-City.mmdb"), "{stderr}");
}
