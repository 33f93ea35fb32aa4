//! The time-series layer: `/api/v1/metrics` against a recomputation from `events`, and the
//! InfluxDB sink against a real InfluxDB 1.x (Debian's `influxdb`, started by
//! `scripts/influxdb.sh` on a free port with its data under the test's temp dir).

use crate::lake::sql;
use crate::{client, footfall, Server, KEY};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A real InfluxDB, stopped when dropped.
struct Influx {
    dir: PathBuf,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/influxdb.sh")
}

impl Influx {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let influx = Self { dir: dir.to_path_buf(), port };
        influx.resume();
        influx
    }

    fn resume(&self) {
        let status = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .status()
            .expect("run scripts/influxdb.sh");
        assert!(status.success(), "InfluxDB did not start (see {}/influxd.log)", self.dir.display());
    }

    fn pause(&self) {
        let status = std::process::Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        assert!(status.expect("run scripts/influxdb.sh").success());
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs InfluxQL on database `footfall`; the first statement's series.
    async fn query(&self, q: &str) -> Vec<Value> {
        let answer: Value = client()
            .get(format!("{}/query", self.url()))
            .query(&[("db", "footfall"), ("q", q)])
            .send()
            .await
            .expect("InfluxQL")
            .json()
            .await
            .expect("JSON");
        answer["results"][0]["series"].as_array().cloned().unwrap_or_default()
    }

    /// `(event, hour) → value` for a `GROUP BY time(1h), "event"` query.
    async fn by_event_and_hour(&self, q: &str) -> BTreeMap<(String, String), f64> {
        let mut cells = BTreeMap::new();
        for series in self.query(q).await {
            let event = series["tags"]["event"].as_str().unwrap_or_default().to_owned();
            for row in series["values"].as_array().into_iter().flatten() {
                let value = row[1].as_f64().unwrap_or(0.0);
                if value != 0.0 {
                    cells.insert((event.clone(), row[0].as_str().unwrap_or_default().to_owned()), value);
                }
            }
        }
        cells
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        self.pause();
    }
}

/// The same cells from `/api/v1/metrics?by=event&step=1h`.
async fn api_by_event_and_hour(server: &Server, metric: &str, from: &str, to: &str) -> BTreeMap<(String, String), f64> {
    let answer: Value = client()
        .get(format!("{}/api/v1/metrics", server.url))
        .query(&[("metric", metric), ("from", from), ("to", to), ("step", "1h"), ("by", "event")])
        .send()
        .await
        .expect("metrics API")
        .json()
        .await
        .expect("JSON");
    let mut cells = BTreeMap::new();
    for series in answer["series"].as_array().expect("series") {
        let event = series["event"].as_str().expect("by event").to_owned();
        for point in series["points"].as_array().expect("points") {
            let value = point["value"].as_f64().expect("number");
            if value != 0.0 {
                cells.insert((event.clone(), point["time"].as_str().expect("time").to_owned()), value);
            }
        }
    }
    cells
}

/// Events InfluxDB holds for 17–19 November.
async fn total_sent(influx: &Influx) -> f64 {
    let q = "SELECT sum(events) FROM footfall_events WHERE time >= '2026-11-17T00:00:00Z' AND time < '2026-11-19T23:00:00Z'";
    let series = influx.query(q).await;
    series.first().and_then(|s| s["values"][0][1].as_f64()).unwrap_or(0.0)
}

/// Events the API counts for 17–19 November.
async fn api_total(server: &Server) -> f64 {
    let answer: Value = client()
        .get(format!("{}/api/v1/metrics", server.url))
        .query(&[("from", "2026-11-17T00:00:00Z"), ("to", "2026-11-19T23:00:00Z"), ("step", "1d")])
        .send()
        .await
        .expect("metrics API")
        .json()
        .await
        .expect("JSON");
    answer["series"][0]["points"].as_array().expect("points").iter().map(|p| p["value"].as_f64().unwrap_or(0.0)).sum()
}

fn config_for(dir: &Path, influx: &Influx) -> PathBuf {
    let path = dir.join("footfall.toml");
    let text = format!("[influxdb]\nurl = \"{}\"\ndatabase = \"footfall\"\nflush_seconds = 0.2\n", influx.url());
    std::fs::write(&path, text).expect("config");
    path
}

fn simulate(server: &Server, seed: &str, days: &str, end: &str) {
    let status = footfall()
        .args(["simulate", "--seed", seed, "--users", "150", "--days", days, "--end", end])
        .args(["--to", &server.url, "--write-key", KEY])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("simulate");
    assert!(status.success());
}

/// Polls every 300 ms for 30 s at most; panics with `what` if time runs out.
struct Deadline(Instant, &'static str);

impl Deadline {
    fn new(what: &'static str) -> Self {
        Self(Instant::now() + Duration::from_secs(30), what)
    }

    async fn wait(&self) {
        assert!(Instant::now() < self.0, "{}", self.1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const FROM: &str = "2026-11-18T00:00:00Z";
const TO: &str = "2026-11-19T23:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxql_sums_equal_the_metrics_api_and_the_api_equals_a_recount_of_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let influx = Influx::start(&dir.path().join("influxdb"));
    let config = config_for(dir.path(), &influx);
    let mut server = Server::start(&dir.path().join("data"), &["--config", config.to_str().expect("utf8")]);
    simulate(&server, "5", "2", "2026-11-20T00:00:00Z");

    // Every window of the range is closed (the backfill runs to midnight, the range stops an
    // hour before): the API, the lake and InfluxDB must agree exactly.
    let query = format!(
        "SELECT sum(events) FROM footfall_events WHERE time >= '{FROM}' AND time < '{TO}' GROUP BY time(1h), \"event\""
    );
    let deadline = Deadline::new("InfluxDB's hourly sums never matched the API's");
    let api = loop {
        let api = api_by_event_and_hour(&server, "events", FROM, TO).await;
        if !api.is_empty() && influx.by_event_and_hour(&query).await == api {
            break api;
        }
        deadline.wait().await;
    };
    assert!(api.values().sum::<f64>() > 1_000.0, "a real run: {} events", api.values().sum::<f64>());
    for metric in ["orders", "revenue"] {
        let q = format!(
            "SELECT sum({metric}) FROM footfall_events WHERE time >= '{FROM}' AND time < '{TO}' GROUP BY time(1h), \"event\""
        );
        let (theirs, ours) =
            (influx.by_event_and_hour(&q).await, api_by_event_and_hour(&server, metric, FROM, TO).await);
        assert_eq!(theirs.len(), ours.len(), "{metric}");
        for (cell, value) in &ours {
            assert!((theirs[cell] - value).abs() < 1e-6, "{metric} {cell:?}: {} vs {value}", theirs[cell]);
        }
    }

    // The API against a brute-force recount of silver `events` (bots and late events are not
    // in the windows); uniques are exact at this size.
    let data = dir.path().join("data");
    let recount = sql(
        &data,
        &format!(
            "SELECT event, date_trunc('hour', event_time) AS hour, count(*) AS events, count(DISTINCT person_id) AS persons \
             FROM events WHERE NOT late AND NOT is_bot AND event_time >= TIMESTAMP '{FROM}' AND event_time < TIMESTAMP '{TO}' \
             GROUP BY 1, 2"
        ),
    );
    let hour =
        |row: &Value| row["hour"].as_str().expect("hour").replace(' ', "T").trim_end_matches('Z').to_owned() + "Z";
    let expected: BTreeMap<(String, String), f64> = recount
        .iter()
        .map(|r| ((r["event"].as_str().expect("event").to_owned(), hour(r)), r["events"].as_f64().expect("n")))
        .collect();
    assert_eq!(api, expected, "hourly events per event: API vs recount");
    let uniques = api_by_event_and_hour(&server, "uniques", FROM, TO).await;
    let expected: BTreeMap<(String, String), f64> = recount
        .iter()
        .map(|r| ((r["event"].as_str().expect("event").to_owned(), hour(r)), r["persons"].as_f64().expect("n")))
        .collect();
    assert_eq!(uniques, expected, "hourly unique persons per event: merged sketches vs count(DISTINCT)");

    // The Grafana dashboard's queries run on this InfluxDB and find data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/footfall-influxdb.json"),
        )
        .expect("dashboard"),
    )
    .expect("dashboard JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        let q = panel["targets"][0]["query"].as_str().expect("query");
        let q = q
            .replace("$timeFilter", &format!("time >= '{FROM}' AND time < '{TO}'"))
            .replace("/^$device$/", "/.*/")
            .replace("/^$channel$/", "/.*/");
        let answer: Value = client()
            .get(format!("{}/query", influx.url()))
            .query(&[("db", "footfall"), ("q", q.as_str())])
            .send()
            .await
            .expect("InfluxQL")
            .json()
            .await
            .expect("JSON");
        assert!(answer["results"][0]["error"].is_null(), "{}: {answer}", panel["title"]);
        assert!(
            answer["results"][0]["series"].as_array().is_some_and(|s| !s.is_empty()),
            "{}: no data",
            panel["title"]
        );
    }

    // Bad parameters are refused with a message.
    for (query, message) in [("metric=visits", "metric must be"), ("step=7s", "step must be"), ("by=os", "by must be")]
    {
        let answer = client().get(format!("{}/api/v1/metrics?{query}", server.url)).send().await.expect("send");
        assert_eq!(answer.status(), 400, "{query}");
        let body: Value = answer.json().await.expect("JSON error");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(message)), "{query}: {body}");
    }
    assert_eq!(server.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_down_for_thirty_seconds_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let influx = Influx::start(&dir.path().join("influxdb"));
    let config = config_for(dir.path(), &influx);
    // The backfills' last windows close when later traffic arrives and the backfill's devices
    // have gone quiet (by arrival): one second here, so the event sent after the outage does it.
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("[processor]\nwatermark_idle_seconds = 1\n");
    std::fs::write(&config, text).expect("config");
    let mut server = Server::start(&dir.path().join("data"), &["--config", config.to_str().expect("utf8")]);
    simulate(&server, "5", "1", "2026-11-19T00:00:00Z");
    let deadline = Deadline::new("nothing reached InfluxDB");
    while total_sent(&influx).await == 0.0 {
        deadline.wait().await;
    }

    influx.pause();
    let down = Instant::now();
    simulate(&server, "6", "1", "2026-11-20T00:00:00Z");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    influx.resume();
    let now = chrono::Utc::now().to_rfc3339();
    let live = client()
        .post(format!("{}/v1/track", server.url))
        .basic_auth(KEY, Some(""))
        .json(&serde_json::json!({"userId": "after-the-outage", "event": "Live", "timestamp": now, "sentAt": now}))
        .send()
        .await
        .expect("send");
    assert_eq!(live.status(), 200);
    let deadline = Deadline::new("the backfill's windows never closed");
    while !sql(&dir.path().join("data"), "SELECT count(*) AS n FROM events WHERE user_id = 'after-the-outage'")[0]["n"]
        .as_f64()
        .is_some_and(|n| n == 1.0)
    {
        deadline.wait().await;
    }

    let expected = api_total(&server).await;
    let deadline = Deadline::new("InfluxDB never held every event after the outage");
    while total_sent(&influx).await != expected {
        deadline.wait().await;
    }
    // Points resent after the outage overwrote themselves: one point per stored window.
    let windows = sql(
        &dir.path().join("data"),
        "SELECT count(*) AS n FROM metrics_1m WHERE window_start >= TIMESTAMP '2026-11-17T00:00:00Z' \
         AND window_start < TIMESTAMP '2026-11-19T23:00:00Z'",
    )[0]["n"]
        .as_f64()
        .expect("count");
    let points = influx
        .query("SELECT count(events) FROM footfall_events WHERE time >= '2026-11-17T00:00:00Z' AND time < '2026-11-19T23:00:00Z'")
        .await[0]["values"][0][1]
        .as_f64()
        .expect("count");
    assert_eq!(points, windows, "one InfluxDB point per window");
    assert_eq!(server.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tag_values_round_trip_through_a_real_influxdb() {
    use footfall_influx::line::{write_point, FieldValue, Point};
    let dir = tempfile::tempdir().expect("tempdir");
    let influx = Influx::start(&dir.path().join("influxdb"));
    let target = footfall_influx::InfluxTarget {
        url: influx.url(),
        api: footfall_influx::InfluxApi::V1,
        database: "footfall".into(),
        org: String::new(),
        bucket: String::new(),
        token: None,
    };
    let writer = footfall_influx::InfluxClient::new(target).expect("client");
    writer.ensure_database().await.expect("CREATE DATABASE");
    // Each value, and the tag InfluxDB must give back: exact, except that a point is one line
    // (newlines become spaces) and a backslash before an escaped character or at the end of a
    // tag becomes a slash (InfluxDB 1.x has no spelling for it there).
    let cases = [
        ("Order Completed", "Order Completed"),
        ("a,b", "a,b"),
        ("x=y", "x=y"),
        ("say \"hi\"", "say \"hi\""),
        ("back\\slash", "back\\slash"),
        ("trailing\\", "trailing/"),
        ("slash\\ space\\,comma\\=equals", "slash/ space/,comma/=equals"),
        ("ünïcødé 🛒", "ünïcødé 🛒"),
        ("tab\there", "tab\there"),
        ("two\nlines\r", "two lines "),
    ];
    let hostile: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let mut lines = String::new();
    for (i, value) in hostile.iter().enumerate() {
        let point = Point {
            measurement: "hostile measurement,1",
            tags: vec![("event name", value)],
            fields: vec![("n", FieldValue::Integer(i as i64)), ("text", FieldValue::Text((*value).into()))],
            timestamp_ns: 1_790_000_000_000_000_000 + i as i64,
        };
        write_point(&mut lines, &point);
    }
    assert_eq!(lines.lines().count(), hostile.len(), "one line per point");
    writer.write(&lines).await.expect("InfluxDB accepts every line");

    let series = influx.query("SELECT \"n\", \"text\", \"event name\" FROM \"hostile measurement,1\"").await;
    let rows = series[0]["values"].as_array().expect("rows");
    assert_eq!(rows.len(), hostile.len());
    for row in rows {
        let i = row[1].as_u64().expect("n") as usize;
        let text = hostile[i].replace(['\n', '\r'], " ");
        assert_eq!(row[2].as_str(), Some(text.as_str()), "string field {i}");
        assert_eq!(row[3].as_str(), Some(cases[i].1), "tag {i}");
    }
}
