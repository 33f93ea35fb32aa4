use crate::write_simulated_log;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;
use footfall_lake::{sql, Lake, Loader};
use footfall_log::{EmbeddedLog, EventSink, LogConfig};
use std::collections::HashMap;

async fn count(lake: &Lake, table: &str) -> i64 {
    let batches = sql::query(lake, &format!("SELECT count(*) AS n FROM {table}")).await.expect("count");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logged_message_lands_once_with_its_values_and_a_reload_adds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (events_log, stored) = write_simulated_log(&dir.path().join("events"), 3_000).await;
    let dead_log = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("dead log");
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let mut loader = Loader::open(&lake).await.expect("open lake");
    let events_from = |offset| events_log.reader(offset);
    let dead_from = |offset| dead_log.reader(offset);
    let report = loader.load_available(&events_from, &dead_from).await.expect("load");
    assert_eq!((report.events, report.dead_letters, report.skipped), (3_000, 0, 0));
    assert_eq!(count(&lake, "raw_events").await, 3_000);

    // Loading again finds nothing new: the table knows how far it got.
    let again = loader.load_available(&events_from, &dead_from).await.expect("reload");
    assert_eq!((again.events, again.commits), (0, 0));
    // A new loader (a restart) agrees.
    let mut restarted = Loader::open(&lake).await.expect("reopen lake");
    assert_eq!(restarted.load_available(&events_from, &dead_from).await.expect("load").events, 0);
    assert_eq!(count(&lake, "raw_events").await, 3_000);

    // Values: every row against the JSON it came from.
    let rows = sql::query(
        &lake,
        "SELECT message_id, type, event, user_id, anonymous_id, page_path, utm_source, properties FROM raw_events",
    )
    .await
    .expect("select");
    let by_id: HashMap<&str, &serde_json::Value> =
        stored.iter().map(|m| (m["messageId"].as_str().expect("id"), m)).collect();
    let mut seen = 0;
    for batch in rows {
        // DataFusion may hand strings back as views; compare as plain strings.
        let text = |i: usize| {
            let plain = deltalake::arrow::compute::cast(batch.column(i), &deltalake::arrow::datatypes::DataType::Utf8)
                .expect("cast to string");
            plain.as_string::<i32>().clone()
        };
        let (ids, types, events, users, anons, paths, sources, props) =
            (text(0), text(1), text(2), text(3), text(4), text(5), text(6), text(7));
        for row in 0..batch.num_rows() {
            let m = by_id[ids.value(row)];
            let opt = |a: &deltalake::arrow::array::StringArray| (!a.is_null(row)).then(|| a.value(row).to_owned());
            assert_eq!(types.value(row), m["type"]);
            assert_eq!(opt(&events), m["event"].as_str().map(str::to_owned));
            assert_eq!(opt(&users), m["userId"].as_str().map(str::to_owned));
            assert_eq!(opt(&anons), m["anonymousId"].as_str().map(str::to_owned));
            assert_eq!(opt(&paths), m["context"]["page"]["path"].as_str().map(str::to_owned));
            assert_eq!(opt(&sources), m["context"]["campaign"]["source"].as_str().map(str::to_owned));
            let p: Option<serde_json::Value> = opt(&props).map(|t| serde_json::from_str(&t).expect("properties JSON"));
            assert_eq!(p.as_ref(), m.get("properties"));
            seen += 1;
        }
    }
    assert_eq!(seen, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_of_a_batch_that_never_committed_are_not_counted() {
    // A crash between writing a batch's data files and its commit leaves files no commit
    // references; the table must ignore them and the next load must add the batch once.
    let dir = tempfile::tempdir().expect("tempdir");
    let (events_log, _) = write_simulated_log(&dir.path().join("events"), 500).await;
    let dead_log = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("dead log");
    let lake_dir = dir.path().join("lake");
    let lake = Lake::local(&lake_dir).expect("lake");
    let other = dir.path().join("other-lake");
    // Write the same batch into another table, then copy its data files (not its commit) over.
    let mut elsewhere = Loader::open(&Lake::local(&other).expect("lake")).await.expect("open");
    elsewhere.load_available(&|o| events_log.reader(o), &|o| dead_log.reader(o)).await.expect("load");
    let mut loader = Loader::open(&lake).await.expect("open lake");
    let mut copied = 0;
    for entry in walk(&other.join("raw_events")) {
        if entry.extension().is_some_and(|e| e == "parquet") {
            let relative = entry.strip_prefix(other.join("raw_events")).expect("inside");
            let target = lake_dir.join("raw_events").join(relative);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&entry, &target).expect("copy");
            copied += 1;
        }
    }
    assert!(copied > 0);
    assert_eq!(count(&lake, "raw_events").await, 0, "uncommitted files are invisible");
    let report = loader.load_available(&|o| events_log.reader(o), &|o| dead_log.reader(o)).await.expect("load");
    assert_eq!(report.events, 500);
    assert_eq!(count(&lake, "raw_events").await, 500);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_loaded_becomes_a_dead_letter_once_and_loading_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (events_log, _) = write_simulated_log(&dir.path().join("events"), 100).await;
    let garbage = [b"\xff not JSON".to_vec(), br#"{"type":"track","event":"No id","userId":"u"}"#.to_vec()];
    let records = garbage
        .iter()
        .map(|value| footfall_log::Record { key: Vec::new(), value: value.clone(), timestamp_ms: 1_790_000_000_000 })
        .collect();
    events_log.append(records).expect("queued").await.expect("durable");
    crate::append_messages(&events_log, &crate::simulated_messages(4, 10, "2026-11-02T00:00:00Z", 50)).await;
    let dead_log = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("dead log");
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let events_from = |offset| events_log.reader(offset);
    let dead_from = |offset| dead_log.reader(offset);
    let report = Loader::open(&lake).await.expect("open").load_available(&events_from, &dead_from).await.expect("load");
    assert_eq!((report.events, report.skipped), (150, 2));
    assert_eq!(count(&lake, "raw_events").await, 150);
    let letters = sql::query(
        &lake,
        "SELECT endpoint, reason_code, reason FROM dead_letters WHERE reason_code = 'unloadable_record' ORDER BY endpoint",
    )
    .await
    .expect("letters");
    let rows: Vec<(String, String)> = letters
        .iter()
        .flat_map(|batch| {
            let text = |i: usize| {
                deltalake::arrow::compute::cast(batch.column(i), &deltalake::arrow::datatypes::DataType::Utf8)
                    .expect("cast")
                    .as_string::<i32>()
                    .clone()
            };
            let (endpoints, reasons) = (text(0), text(2));
            (0..batch.num_rows()).map(move |r| (endpoints.value(r).to_owned(), reasons.value(r).to_owned()))
        })
        .collect();
    assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["log://events/100", "log://events/101"]);
    assert!(rows[1].1.contains("messageId"), "{rows:?}");
    // A restarted loader with nothing new writes no letter again.
    let again =
        Loader::open(&lake).await.expect("reopen").load_available(&events_from, &dead_from).await.expect("load");
    assert_eq!((again.events, again.skipped), (0, 0));
    assert_eq!(count(&lake, "dead_letters").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ip_policy_applies_to_every_stored_copy_not_only_to_events() {
    use footfall_processor::enrich::IpPolicy;
    let dir = tempfile::tempdir().expect("tempdir");
    let events = EmbeddedLog::open(&dir.path().join("events"), LogConfig::default()).expect("log");
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    let sent = serde_json::json!({"type": "track", "event": "E", "userId": "u", "messageId": "m1",
        "timestamp": "2026-11-20T10:00:00Z", "context": {"ip": "203.0.113.77", "locale": "en"}});
    crate::append_messages(&events, &[crate::normalized(&sent, "2026-11-20T10:00:01Z", 0)]).await;
    let letter = serde_json::json!({"receivedAt": "2026-11-20T10:00:01Z", "reason": "track needs event",
        "reasonCode": "missing_field", "endpoint": "/v1/track",
        "payload": serde_json::json!({"type": "track", "context": {"ip": "203.0.113.77"}}).to_string()});
    let record = footfall_log::Record { key: Vec::new(), value: letter.to_string().into_bytes(), timestamp_ms: 0 };
    dead.append(vec![record]).expect("queued").await.expect("durable");
    let stored = async |policy: IpPolicy, name: &str| {
        let lake = Lake::local(&dir.path().join(name)).expect("lake");
        let mut loader = Loader::open(&lake).await.expect("open").with_ip_policy(policy);
        loader.load_available(&|o| events.reader(o), &|o| dead.reader(o)).await.expect("load");
        let rows = |q: &'static str| {
            let lake = lake.clone();
            async move { crate::transform::rows(&sql::query(&lake, q).await.expect(q)) }
        };
        let raw = rows("SELECT coalesce(ip, '-'), context FROM raw_events").await;
        let letters = rows("SELECT payload FROM dead_letters").await;
        (raw[0].clone(), letters[0][0].clone())
    };
    let (raw, letter) = stored(IpPolicy::Keep, "kept").await;
    assert_eq!(raw[0], "203.0.113.77");
    assert!(raw[1].contains("203.0.113.77") && letter.contains("203.0.113.77"));
    let (raw, letter) = stored(IpPolicy::Truncate, "truncated").await;
    assert_eq!(raw[0], "203.0.113.0");
    assert!(raw[1].contains(r#""ip":"203.0.113.0""#) && !raw[1].contains(".77"), "{raw:?}");
    assert!(letter.contains("203.0.113.0") && !letter.contains(".77"), "{letter}");
    let (raw, letter) = stored(IpPolicy::Drop, "dropped").await;
    assert_eq!(raw[0], "-");
    assert!(!raw[1].contains("203.0.113") && !letter.contains("203.0.113"), "{raw:?} {letter}");
}
