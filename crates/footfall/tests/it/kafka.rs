//! footfall over a real Apache Kafka broker (`scripts/kafka.sh`: Kafka's own jars from Maven
//! Central, KRaft, one node on a free port, data under the test's temp dir): `footfall collect`
//! producing, `footfall process` members of a consumer group, a third-party producer (`kcat`),
//! a broker stopped mid-run.

use crate::lake::sql;
use crate::{client, footfall, KEY};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A broker of its own: data under `dir`, clients on `port`.
struct Broker {
    dir: PathBuf,
    port: u16,
}

impl Broker {
    fn start(dir: &Path) -> Self {
        let broker = Self { dir: dir.to_path_buf(), port: free_port() };
        broker.resume();
        broker
    }

    /// A broker with a SASL_PLAINTEXT listener (PLAIN, user footfall / footfall-secret) on
    /// `sasl_port` besides its plaintext one.
    fn start_with_sasl(dir: &Path, sasl_port: u16) -> Self {
        let broker = Self { dir: dir.to_path_buf(), port: free_port() };
        let status = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&broker.dir)
            .arg(broker.port.to_string())
            .env("FOOTFALL_KAFKA_SASL_PORT", sasl_port.to_string())
            .env("FOOTFALL_KAFKA_PARENT_PID", std::process::id().to_string())
            .status()
            .expect("run scripts/kafka.sh");
        assert!(status.success(), "the Kafka broker did not start");
        broker
    }

    /// Starts (again) over the same data and port.
    fn resume(&self) {
        let status = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .env("FOOTFALL_KAFKA_PARENT_PID", std::process::id().to_string())
            .status()
            .expect("run scripts/kafka.sh");
        assert!(status.success(), "the Kafka broker did not start");
    }

    fn pause(&self) {
        let status = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        assert!(status.expect("run scripts/kafka.sh").success());
    }

    fn topic(&self, name: &str, partitions: u32) {
        let status = Command::new("bash")
            .arg(script())
            .args(["topic"])
            .arg(&self.dir)
            .args([name, &partitions.to_string()])
            .status()
            .expect("run scripts/kafka.sh");
        assert!(status.success(), "creating topic {name}");
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.pause();
    }
}

/// One broker for the tests that do not stop it (each uses topics of its own).
fn shared_broker() -> &'static Broker {
    static BROKER: OnceLock<(tempfile::TempDir, Broker)> = OnceLock::new();
    let (_, broker) = BROKER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = Broker::start(&dir.path().join("kafka"));
        (dir, broker)
    });
    broker
}

/// A footfall.toml for `topic` (with its `.dlq`) and `group` on `broker`; members leave the
/// group 6 s after they die (the broker's minimum) so a takeover is quick.
fn config(dir: &Path, broker: &Broker, topic: &str, group: &str) -> PathBuf {
    broker.topic(topic, 1);
    broker.topic(&format!("{topic}.dlq"), 1);
    let path = dir.join(format!("{group}.toml"));
    let text = format!(
        "[log]\nbackend = \"kafka\"\n[kafka]\nbrokers = \"{}\"\ntopic = \"{topic}\"\ndlq_topic = \"{topic}.dlq\"\n\
         group = \"{group}\"\n[kafka.consumer]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        broker.brokers()
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// A footfall process (collector or processor) that is killed when dropped.
struct Role {
    child: Child,
    log: PathBuf,
}

impl Role {
    fn spawn(config: &Path, args: &[&str], log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = footfall()
            .arg("--config")
            .arg(config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn footfall");
        Self { child, log }
    }

    /// `footfall collect` on a free port; returns it with its URL once it answers.
    fn collector(config: &Path, dir: &Path) -> (Self, String) {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let role = Self::spawn(
            config,
            &["collect", "--listen", &listen, "--write-key", KEY],
            dir.join(format!("collect-{port}.log")),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the collector did not listen: {}", role.output());
            std::thread::sleep(Duration::from_millis(50));
        }
        (role, format!("http://{listen}"))
    }

    /// A `footfall process` member over `data`, committing often and checkpointing every second.
    fn processor(config: &Path, data: &Path, name: &str) -> Self {
        let args =
            ["process", "--data", data.to_str().expect("utf8"), "--checkpoint-seconds", "1", "--commit-seconds", "0.2"];
        Self::spawn(config, &args, data.with_file_name(format!("{name}.log")))
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The partitions this member owns now, from its log of assignments and revocations.
    fn partitions(&self) -> BTreeSet<u32> {
        let mut owned = BTreeSet::new();
        for line in self.output().lines() {
            let Some(partition) = line.split("partition=").nth(1).and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|digits| digits.parse().ok())
            }) else {
                continue;
            };
            if line.contains("partition assigned") {
                owned.insert(partition);
            } else if line.contains("partition revoked") {
                owned.remove(&partition);
            }
        }
        owned
    }

    /// SIGTERM, and a clean exit.
    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "footfall exited with {status}: {}", self.output());
    }

    /// `kill -9`.
    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `footfall process --once` over `data`: one member that stops when caught up.
fn process_once(config: &Path, data: &Path) {
    let output = footfall()
        .arg("--config")
        .arg(config)
        .args(["process", "--once", "--idle-seconds", "2", "--data"])
        .arg(data)
        .output()
        .expect("run process");
    assert!(output.status.success(), "process --once failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn simulate(url: &str, seed: &str, users: &str, days: &str) {
    let status = footfall()
        .args(["simulate", "--seed", seed, "--users", users, "--days", days, "--end", "2026-11-20T00:00:00Z"])
        .args(["--to", url, "--write-key", KEY])
        .stdout(Stdio::null())
        .status()
        .expect("simulate");
    assert!(status.success());
}

/// Every row of the processor's tables, in a stable order, without `skip` columns.
fn tables(data: &Path, skip: &[&str]) -> BTreeMap<&'static str, Vec<Value>> {
    let mut all = BTreeMap::new();
    for (table, order) in [
        ("events", "message_id"),
        ("sessions", "session_id"),
        ("identities", "id, person_id, trigger_offset"),
        ("metrics_1m", "window_start, event, device_type, channel, trigger_offset, events, persons_sketch"),
    ] {
        let mut rows = sql(data, &format!("SELECT * FROM {table} ORDER BY {order}"));
        for row in &mut rows {
            if let Some(object) = row.as_object_mut() {
                for column in skip {
                    object.remove(*column);
                }
            }
        }
        all.insert(table, rows);
    }
    all
}

fn count(data: &Path, query: &str) -> u64 {
    let rows = sql(data, query);
    rows.first().and_then(|row| row.get("n")).and_then(Value::as_u64).unwrap_or(0)
}

/// [`count`], or 0 while the table does not exist yet.
fn count_if_any(data: &Path, query: &str) -> u64 {
    let output = footfall().args(["sql", query, "--format", "json", "--data"]).arg(data).output().expect("run sql");
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    rows.first().and_then(|row| row.get("n")).and_then(Value::as_u64).unwrap_or(0)
}

/// Polls `done` every 500 ms for `seconds` at most.
fn wait_until(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn assert_same_tables(left: &BTreeMap<&str, Vec<Value>>, right: &BTreeMap<&str, Vec<Value>>, what: &str) {
    for (table, rows) in left {
        let other = &right[table];
        assert_eq!(rows.len(), other.len(), "{what}: {table} row counts differ");
        for (a, b) in rows.iter().zip(other) {
            if a != b {
                let differing: Vec<String> = a
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                    .map(|(k, v)| format!("{k}: {v} vs {}", b.get(k.as_str()).unwrap_or(&Value::Null)))
                    .collect();
                panic!("{what}: {table} rows differ in {differing:?}\n{a}\n{b}");
            }
        }
    }
}

#[test]
fn the_same_input_through_kafka_and_the_embedded_log_gives_identical_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    // Embedded: every role in one process.
    let embedded = dir.path().join("embedded");
    let mut server = crate::Server::start(&embedded, &[]);
    simulate(&server.url, "7", "120", "2");
    server.stop();
    // Kafka: a collector producing, then a processor consuming (one partition: Kafka's order
    // is then the log's, so offsets match too).
    let config = config(dir.path(), broker, "same-input", "same-input");
    let (mut collector, url) = Role::collector(&config, dir.path());
    simulate(&url, "7", "120", "2");
    collector.stop();
    let kafka = dir.path().join("kafka");
    process_once(&config, &kafka);
    // The collector stamps receipt times: those differ between the two runs, nothing else.
    let (a, b) = (tables(&embedded, &["received_at"]), tables(&kafka, &["received_at"]));
    assert!(a["events"].len() > 1000, "the simulation produced {} events", a["events"].len());
    assert!(!a["sessions"].is_empty() && !a["metrics_1m"].is_empty());
    assert_same_tables(&a, &b, "embedded vs Kafka");
    // The role commands over the embedded log: `footfall collect`, then `footfall process`.
    let roles = dir.path().join("roles");
    let embedded_config = dir.path().join("embedded.toml");
    std::fs::write(&embedded_config, "[log]\nbackend = \"embedded\"\n").expect("config");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut collector = Role::spawn(
        &embedded_config,
        &["collect", "--data", roles.to_str().expect("utf8"), "--listen", &listen, "--write-key", KEY],
        dir.path().join("collect-embedded.log"),
    );
    wait_until(30, "the embedded collector to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    simulate(&format!("http://{listen}"), "7", "120", "2");
    collector.stop();
    let output = footfall().args(["process", "--once", "--data"]).arg(&roles).output().expect("process");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_same_tables(&a, &tables(&roles, &["received_at"]), "serve vs collect + process");
}

#[test]
fn two_processors_split_six_partitions_and_one_takes_over_when_the_other_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    let topic = "split";
    broker.topic(topic, 6);
    let config = config(dir.path(), broker, topic, "pair");
    let reference_config = config_with_group(dir.path(), &config, "single");
    // Two collectors producing to the same topic.
    let (mut collector, url) = Role::collector(&config, dir.path());
    let (mut other_collector, other_url) = Role::collector(&config, dir.path());
    simulate(&url, "11", "300", "2");

    // Two members over one lake and checkpoint directory: each gets partitions.
    let shared = dir.path().join("shared");
    let mut first = Role::processor(&config, &shared, "first");
    wait_until(60, "the first member to own every partition", || first.partitions().len() == 6);
    std::thread::sleep(Duration::from_secs(1));
    let second = Role::processor(&config, &shared, "second");
    wait_until(60, "both members to own partitions", || {
        let (a, b) = (first.partitions(), second.partitions());
        !a.is_empty() && !b.is_empty() && a.len() + b.len() == 6 && a.is_disjoint(&b)
    });
    let before_kill = count(&shared, "SELECT count(*) AS n FROM events");
    // More traffic, then the first member dies mid-run.
    simulate(&other_url, "12", "300", "1");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = first.partitions();
    first.kill_hard();
    wait_until(60, "the second member to take over every partition", || second.partitions().len() == 6);
    collector.stop();
    other_collector.stop();

    // The reference: one member, its own group and lake, everything in one go.
    let single = dir.path().join("single");
    process_once(&reference_config, &single);
    let expected = count(&single, "SELECT count(*) AS n FROM events");
    wait_until(90, "the survivor to process every event", || {
        count(&shared, "SELECT count(*) AS n FROM events") >= expected
    });
    let mut second = second;
    second.stop();
    assert!(before_kill > 0, "the pair processed nothing before the kill");
    assert!(!killed.is_empty());
    // The first member had all six partitions alone, then handed some over when the second
    // joined: committed and checkpointed before the handover.
    assert!(first.output().contains("partition revoked; checkpointed"), "{}", first.output());
    let takeover = second.output();
    for partition in &killed {
        assert!(
            takeover.contains(&format!("partition={partition} "))
                || takeover.contains(&format!("partition={partition}\n")),
            "the survivor never took partition {partition}"
        );
    }
    assert_same_tables(&tables(&single, &[]), &tables(&shared, &[]), "one member vs two with a kill");
    // Offsets committed to Kafka equal what the checkpoints resume from.
    let described = kafka_tool(&[
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        &broker.brokers(),
        "--describe",
        "--group",
        "pair",
    ]);
    let lag: u64 = described
        .lines()
        .filter(|line| line.contains(topic))
        .filter_map(|line| line.split_whitespace().nth(5).and_then(|lag| lag.parse::<u64>().ok()))
        .sum();
    assert_eq!(lag, 0, "the group's committed offsets lag behind: {described}");
}

/// A copy of `config` with another consumer group.
fn config_with_group(dir: &Path, config: &Path, group: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).expect("config");
    let text = text
        .lines()
        .map(|line| if line.starts_with("group = ") { format!("group = \"{group}\"") } else { line.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(&path, text).expect("config");
    path
}

fn kafka_tool(args: &[&str]) -> String {
    let output = Command::new("bash").arg(script()).arg("tool").args(args).output().expect("kafka tool");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_for_twenty_seconds_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(&dir.path().join("kafka"));
    let config = config(dir.path(), &broker, "outage", "outage");
    let (_collector, url) = Role::collector(&config, dir.path());
    let data = dir.path().join("lake");
    let mut processor = Role::processor(&config, &data, "outage-processor");
    // The processor is running (it owns the partition) before the outage: it must resume.
    wait_until(60, "the processor to own the partition", || !processor.partitions().is_empty());
    // The messages, from the simulator, sent in batches of 50; each batch is retried until
    // the collector acknowledges it.
    let messages = dir.path().join("messages.ndjson");
    let status = footfall()
        .args(["simulate", "--seed", "5", "--users", "100", "--days", "1", "--end", "2026-11-20T00:00:00Z", "--out"])
        .arg(&messages)
        .status()
        .expect("simulate");
    assert!(status.success());
    let lines: Vec<Value> = std::fs::read_to_string(&messages)
        .expect("messages")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let http = client();
    let mut acknowledged = BTreeSet::new();
    let (mut refused, mut slowest) = (0, Duration::ZERO);
    let outage_at = lines.len() / 3;
    let mut outage: Option<std::thread::JoinHandle<()>> = None;
    for (i, batch) in lines.chunks(50).enumerate() {
        if i * 50 >= outage_at && outage.is_none() {
            // Stop the broker for 20 s while sending goes on.
            broker.pause();
            let (dir, port) = (broker.dir.clone(), broker.port);
            outage = Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(20));
                let again = Broker { dir, port };
                again.resume();
                std::mem::forget(again); // the test's own handle stops it
            }));
        }
        let body = serde_json::json!({ "batch": batch });
        loop {
            let started = Instant::now();
            let answer = http.post(format!("{url}/v1/batch")).basic_auth(KEY, Some("")).json(&body).send().await;
            slowest = slowest.max(started.elapsed());
            match answer {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => {
                    assert_eq!(response.status().as_u16(), 503, "only 'retry later' is expected");
                    refused += 1;
                }
                Err(_) => refused += 1,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for message in batch {
            acknowledged.insert(message["messageId"].as_str().expect("messageId").to_owned());
        }
    }
    if let Some(outage) = outage {
        outage.join().expect("outage thread");
    }
    assert!(refused > 0 || slowest > Duration::from_secs(5), "the outage was not felt (slowest ack {slowest:?})");
    let expected = acknowledged.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_if_any(&data, "SELECT count(*) AS n FROM events") < expected {
        assert!(Instant::now() < deadline, "not every acknowledged event reached the lake: {}", processor.output());
        std::thread::sleep(Duration::from_millis(500));
    }
    processor.stop();
    let stored: BTreeSet<String> = sql(&data, "SELECT message_id FROM events")
        .iter()
        .map(|row| row["message_id"].as_str().expect("message_id").to_owned())
        .collect();
    assert_eq!(count(&data, "SELECT count(*) AS n FROM events"), expected, "an event is stored twice");
    assert_eq!(stored, acknowledged, "every acknowledged event, and only those");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_json_produced_by_kcat_is_processed_like_collector_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    // The same messages: through the collector into one topic, with kcat into another.
    let messages = dir.path().join("messages.ndjson");
    let status = footfall()
        .args(["simulate", "--seed", "3", "--users", "40", "--days", "1", "--end", "2026-11-20T00:00:00Z", "--out"])
        .arg(&messages)
        .status()
        .expect("simulate");
    assert!(status.success());
    let text = std::fs::read_to_string(&messages).expect("messages");
    let via_collector = config(dir.path(), broker, "via-collector", "via-collector");
    let (mut collector, url) = Role::collector(&via_collector, dir.path());
    simulate(&url, "3", "40", "1");
    // One message the collector refuses (no userId or anonymousId): a dead letter with its reason.
    let refused = client()
        .post(format!("{url}/v1/track"))
        .basic_auth(KEY, Some(""))
        .json(&serde_json::json!({"event": "Anonymous nobody"}))
        .send()
        .await
        .expect("track");
    assert_eq!(refused.status().as_u16(), 400);
    collector.stop();
    let via_kcat = config(dir.path(), broker, "via-kcat", "via-kcat");
    // key<TAB>value lines: the person key as the collector keys them, then a record that is
    // not a Segment message at all.
    let mut input = String::new();
    for line in text.lines() {
        let message: Value = serde_json::from_str(line).expect("json");
        let key = message["userId"].as_str().or(message["anonymousId"].as_str()).unwrap_or_default();
        input.push_str(&format!("{key}\t{line}\n"));
    }
    input.push_str("bad\t{\"type\":\"track\",\"event\":\"No identity\"}\n");
    let mut kcat = Command::new("kcat")
        .args(["-P", "-b", &broker.brokers(), "-t", "via-kcat", "-K", "\t"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat (apt-get install kcat)");
    {
        use std::io::Write;
        kcat.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write to kcat");
    }
    assert!(kcat.wait().expect("kcat").success());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    process_once(&via_collector, &a);
    process_once(&via_kcat, &b);
    let lines = text.lines().count() as u64;
    assert_eq!(count(&b, "SELECT count(*) AS n FROM events"), lines);
    let refused = sql(&a, "SELECT reason_code, payload FROM dead_letters");
    assert_eq!(refused.len(), 1, "the collector's dead letter reaches the lake: {refused:?}");
    assert!(refused[0]["payload"].as_str().is_some_and(|p| p.contains("Anonymous nobody")), "{refused:?}");
    // Receipt times differ (the collector stamps its own; kcat's records carry kcat's).
    assert_same_tables(&tables(&a, &["received_at"]), &tables(&b, &["received_at"]), "collector vs kcat");
    // The bad record is dead-lettered with its reason, not dropped.
    let output = Command::new("kcat")
        .args(["-C", "-b", &broker.brokers(), "-t", "via-kcat.dlq", "-e", "-q"])
        .output()
        .expect("kcat");
    let letters: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("dead letter json"))
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["reasonCode"], "unreadable_record");
    assert!(letters[0]["payload"].as_str().is_some_and(|p| p.contains("No identity")), "{letters:?}");
    assert!(letters[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    // … and loaded from the dead-letter topic into the lake, like the collector's.
    let stored = sql(&b, "SELECT reason_code, endpoint, payload FROM dead_letters");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["reason_code"], "unreadable_record");
    assert!(stored[0]["endpoint"].as_str().is_some_and(|e| e.starts_with("kafka://via-kcat/")), "{stored:?}");
    // A lost checkpoint: the partition is replayed from its start. The tables skip what they
    // hold, and the bad record's dead letter, written to the topic again, is not loaded twice.
    std::fs::remove_dir_all(b.join("processor").join("kafka").join("via-kcat-0")).expect("remove the checkpoint");
    process_once(&via_kcat, &b);
    assert_eq!(count(&b, "SELECT count(*) AS n FROM events"), lines, "a replay adds no event");
    assert_eq!(count(&b, "SELECT count(*) AS n FROM dead_letters"), 1, "a replay adds no dead letter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_sink_and_source_keep_keys_order_and_committed_positions() {
    use footfall_log::{EventSink, EventSource, Record};
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    let path = config(dir.path(), broker, "interface", "interface");
    let kafka = footfall_kafka::KafkaConfig {
        brokers: broker.brokers(),
        topic: "interface".into(),
        group: "interface".into(),
        ..footfall_kafka::KafkaConfig::default()
    };
    drop(path);
    let sink = footfall_kafka::KafkaSink::new(&kafka, "interface").expect("producer");
    let records: Vec<Record> = (0..500)
        .map(|i| Record {
            key: format!("person-{}", i % 7).into_bytes(),
            value: format!("{i}").into_bytes(),
            timestamp_ms: 1_700_000_000_000 + i,
        })
        .collect();
    let ack = sink.append(records[..250].to_vec()).expect("queued").await.expect("acked");
    assert_eq!((ack.count, ack.first_offset), (250, 0));
    let ack = sink.append(records[250..].to_vec()).expect("queued").await.expect("acked");
    assert_eq!((ack.count, ack.first_offset), (250, 250), "one partition: offsets follow on");
    // Read back through the EventSource interface: everything, in order, keys and times kept.
    let read_all = move |kafka: footfall_kafka::KafkaConfig, limit: usize, commit: bool| {
        std::thread::spawn(move || {
            let mut source = footfall_kafka::KafkaSource::subscribe(&kafka).expect("consumer");
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while got.len() < limit && Instant::now() < deadline {
                got.extend(source.poll(limit - got.len(), Duration::from_millis(500)).expect("poll"));
            }
            if commit {
                source.commit().expect("commit");
            }
            got
        })
        .join()
        .expect("reader thread")
    };
    let first = read_all(kafka.clone(), 300, true);
    assert_eq!(first.len(), 300);
    for (got, sent) in first.iter().zip(&records) {
        assert_eq!((&got.key, &got.value, got.timestamp_ms), (&sent.key, &sent.value, sent.timestamp_ms));
    }
    assert!(first.windows(2).all(|w| w[1].offset == w[0].offset + 1));
    // The group resumes after what was committed.
    let rest = read_all(kafka.clone(), 200, false);
    assert_eq!(rest.first().map(|r| r.offset), Some(300));
    assert_eq!(rest.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_kafka_collects_processes_and_shows_the_live_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    broker.topic("served", 3);
    let config = config(dir.path(), broker, "served", "served");
    let data = dir.path().join("data");
    let mut server = crate::Server::start(&data, &["--config", config.to_str().expect("utf8")]);
    let output = footfall()
        .args(["simulate", "--seed", "21", "--users", "60", "--days", "1", "--end", "2026-11-20T00:00:00Z"])
        .args(["--to", &server.url, "--write-key", KEY])
        .output()
        .expect("simulate");
    assert!(output.status.success());
    let report = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    let sent: u64 = report
        .split("simulated ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {report}"));
    // The live view: the processor (a group member in this process) has seen every event.
    let http = client();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < sent {
        assert!(Instant::now() < deadline, "the live view saw {seen} of {sent} events");
        let mut response = http.get(format!("{}/api/v1/live", server.url)).send().await.expect("live");
        assert!(response.status().is_success());
        let mut text = String::new();
        while !text.contains("\n\n") {
            match response.chunk().await.expect("chunk") {
                Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                None => break,
            }
        }
        let json = text.lines().find_map(|line| line.strip_prefix("data:")).expect("a data line");
        let snapshot: Value = serde_json::from_str(json.trim()).expect("live JSON");
        seen = snapshot["events_seen"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(seen, sent, "no bots in the simulation: every event is in the live view once");
    let status = server.stop();
    assert!(status.success());
    assert_eq!(count(&data, "SELECT count(*) AS n FROM events"), sent);
    let partitions = sql(&data, "SELECT count(DISTINCT person_id) AS n FROM events");
    assert!(partitions[0]["n"].as_u64().unwrap_or(0) > 10);
}

#[test]
fn a_missing_topic_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    let config = dir.path().join("missing.toml");
    let text =
        format!("[log]\nbackend = \"kafka\"\n[kafka]\nbrokers = \"{}\"\ntopic = \"no-such-topic\"\n", broker.brokers());
    std::fs::write(&config, text).expect("config");
    for args in [&["collect", "--listen", "127.0.0.1:0", "--write-key", KEY][..], &["process", "--once"][..]] {
        let output = footfall()
            .arg("--config")
            .arg(&config)
            .args(args)
            .arg("--data")
            .arg(dir.path().join("data"))
            .output()
            .expect("run footfall");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started without its topic");
        assert!(stderr.contains("topic `no-such-topic` does not exist"), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_settings_pass_through_to_a_secured_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sasl_port = free_port();
    let broker = Broker::start_with_sasl(&dir.path().join("kafka"), sasl_port);
    broker.topic("secured", 2);
    broker.topic("secured.dlq", 1);
    let config_with = |password: &str| {
        let path = dir.path().join(format!("sasl-{password}.toml"));
        let text = format!(
            "[log]\nbackend = \"kafka\"\n[kafka]\nbrokers = \"127.0.0.1:{sasl_port}\"\ntopic = \"secured\"\n\
             dlq_topic = \"secured.dlq\"\ngroup = \"secured\"\n[kafka.properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\
             \"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"footfall\"\n\"sasl.password\" = \"{password}\"\n"
        );
        std::fs::write(&path, text).expect("config");
        path
    };
    // The right password: events go through the secured listener both ways.
    let good = config_with("footfall-secret");
    let (mut collector, url) = Role::collector(&good, dir.path());
    simulate(&url, "4", "30", "1");
    collector.stop();
    let data = dir.path().join("data");
    process_once(&good, &data);
    let messages = footfall()
        .args([
            "simulate",
            "--seed",
            "4",
            "--users",
            "30",
            "--days",
            "1",
            "--end",
            "2026-11-20T00:00:00Z",
            "--out",
            "-",
        ])
        .output()
        .expect("simulate");
    let sent = String::from_utf8_lossy(&messages.stdout).lines().count() as u64;
    assert!(sent > 50);
    assert_eq!(count(&data, "SELECT count(*) AS n FROM events"), sent);
    // A wrong password is refused at start, with the broker's reason.
    let bad = config_with("wrong");
    let mut refused =
        Role::spawn(&bad, &["collect", "--listen", "127.0.0.1:0", "--write-key", KEY], dir.path().join("refused.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "a collector with a wrong password kept running: {}", refused.output());
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = refused.output();
    assert!(!status.success(), "a collector started with a wrong password");
    assert!(stderr.contains("refused the connection") && stderr.contains("uthentication"), "{stderr}");
}

#[test]
fn six_partitions_give_the_embedded_logs_events_sessions_and_minute_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    let embedded = dir.path().join("embedded");
    let mut server = crate::Server::start(&embedded, &[]);
    simulate(&server.url, "8", "150", "2");
    move_every_clock_on(&server.url);
    server.stop();
    // Offsets are per partition, and rows say which record closed them: leave those out.
    let skip = ["received_at", "log_offset", "trigger_offset"];
    let reference = tables(&embedded, &skip);
    let totals = "SELECT window_start, event, device_type, channel, sum(events) AS events, sum(orders) AS orders, \
                  round(sum(revenue), 6) AS revenue FROM metrics_1m GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
    let reference_totals = sql(&embedded, totals);
    let mut split_sessions = 0;
    for key in ["device", "person"] {
        let topic = format!("six-{key}");
        broker.topic(&topic, 6);
        let config = config(dir.path(), broker, &topic, &topic);
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, text.replace("[kafka]\n", &format!("[kafka]\nkey = \"{key}\"\n"))).expect("config");
        let (mut collector, url) = Role::collector(&config, dir.path());
        simulate(&url, "8", "150", "2");
        move_every_clock_on(&url);
        collector.stop();
        let kafka = dir.path().join(&topic);
        process_once(&config, &kafka);
        // Each partition closes its own windows (its own event-time clock): per minute, event,
        // device and channel the totals are the embedded log's.
        let got_totals = sql(&kafka, totals);
        if got_totals != reference_totals {
            let a: BTreeSet<String> = reference_totals.iter().map(|v| v.to_string()).collect();
            let b: BTreeSet<String> = got_totals.iter().map(|v| v.to_string()).collect();
            let only_a: Vec<_> = a.difference(&b).take(5).collect();
            let only_b: Vec<_> = b.difference(&a).take(5).collect();
            panic!("{key}: {} vs {} rows; only embedded {only_a:?} only kafka {only_b:?}", a.len(), b.len());
        }
        let got = tables(&kafka, &skip);
        // Unique persons per hour, from the partitions' sketches merged by the metrics query.
        assert_eq!(uniques(&kafka), uniques(&embedded), "{key} key: hourly unique persons differ");
        if key == "device" {
            // A device's events in one partition: sessions (per device) and identity links whole.
            // (`metrics_1m` has a row per partition and window; its totals are compared above.)
            let mut got = got;
            let mut reference = reference.clone();
            got.remove("metrics_1m");
            reference.remove("metrics_1m");
            assert_same_tables(&reference, &got, "embedded vs 6 partitions keyed by device");
        } else {
            // Keyed by person, a visit that logs in midway is split between two partitions:
            // same events, persons and links, but such sessions are cut in two.
            let without_sessions = |t: &BTreeMap<&'static str, Vec<Value>>| {
                let mut events = t["events"].clone();
                for row in &mut events {
                    row.as_object_mut().map(|o| o.remove("session_id"));
                }
                BTreeMap::from([("events", events), ("identities", t["identities"].clone())])
            };
            assert_same_tables(&without_sessions(&reference), &without_sessions(&got), "embedded vs keyed by person");
            split_sessions = got["sessions"].len() as i64 - reference["sessions"].len() as i64;
            assert!(split_sessions >= 0, "keyed by person there are never fewer sessions");
        }
    }
    eprintln!(
        "keyed by person: {split_sessions} more sessions than the embedded log's {} (visits that logged in midway)",
        reference["sessions"].len()
    );
}

/// An hour after the simulation, one event from each of 60 visitors: enough keys for every
/// partition, so each partition's event time passes the simulated period and closes its
/// windows and sessions (a partition's clock only moves with its own events).
fn move_every_clock_on(url: &str) {
    let batch: Vec<Value> = (0..60)
        .map(|i| {
            serde_json::json!({
                "type": "track", "event": "Heartbeat", "anonymousId": format!("clock-{i}"),
                "messageId": format!("clock-{i}"), "timestamp": "2026-11-20T01:00:00Z"
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let status = runtime.block_on(async {
        let body = serde_json::json!({ "batch": batch });
        let response = client().post(format!("{url}/v1/batch")).basic_auth(KEY, Some("")).json(&body).send().await;
        response.expect("post").status().as_u16()
    });
    assert_eq!(status, 200);
}

/// `footfall metrics --metric uniques` per hour over the simulated period, as JSON.
fn uniques(data: &Path) -> Value {
    let output = footfall()
        .args(["metrics", "--metric", "uniques", "--step", "1h", "--from", "2026-11-18T00:00:00Z"])
        .args(["--to", "2026-11-20T02:00:00Z", "--json", "--data"])
        .arg(data)
        .output()
        .expect("metrics");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("metrics JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_in_kafka_mode_leaves_no_trace_in_the_lake_or_the_partitions_checkpoints() {
    use crate::forget::files_naming;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = shared_broker();
    let config = config(dir.path(), broker, "forget-events", "forget-group");
    let (mut collector, url) = Role::collector(&config, dir.path());
    let (victim, device, keeper, keeper_device) = ("victim-k4f2a1", "device-k8e3b0", "keeper-k1c9d2", "device-k6a0f7");
    crate::forget::send_two_users(&url, victim, device, keeper, keeper_device).await;
    simulate(&url, "5", "40", "1");
    collector.stop();
    let data = dir.path().join("kafka");
    process_once(&config, &data);
    let mine = format!("SELECT count(*) AS n FROM events WHERE user_id = '{victim}' OR anonymous_id = '{device}'");
    assert_eq!(count(&data, &mine), 4);
    assert!(!files_naming(&data, victim).is_empty(), "the search can find the id");

    let forget = footfall()
        .arg("--config")
        .arg(&config)
        .args(["forget", "--user", victim, "--data"])
        .arg(&data)
        .output()
        .expect("run forget");
    let said = String::from_utf8_lossy(&forget.stderr).into_owned();
    assert!(forget.status.success(), "{said}");
    assert!(said.contains("events: 4 rows deleted") && said.contains("dead_letters: 1 rows deleted"), "{said}");
    assert!(!said.contains("raw_events"), "Kafka mode loads no raw_events: {said}");
    assert_eq!(count(&data, &mine), 0);
    let vacuum = footfall()
        .arg("--config")
        .arg(&config)
        .args(["lake", "vacuum", "--retain-hours", "0", "--data"])
        .arg(&data)
        .output()
        .expect("run vacuum");
    assert!(vacuum.status.success(), "{}", String::from_utf8_lossy(&vacuum.stderr));
    assert_eq!(files_naming(&data, victim), Vec::<PathBuf>::new());
    assert_eq!(files_naming(&data, device), Vec::<PathBuf>::new());
    assert!(
        files_naming(&data, keeper).iter().any(|f| f.starts_with(data.join("processor").join("kafka"))),
        "the partitions' checkpoints were searched: they name the other user"
    );
}
