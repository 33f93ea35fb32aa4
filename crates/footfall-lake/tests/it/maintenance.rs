//! Compaction, vacuum and erasure, checked against the data files themselves.

use crate::transform::rows;
use crate::{append_messages, simulated_messages};
use footfall_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use footfall_lake::{maintenance, sql, Interval, Lake, Loader, Transform};
use footfall_log::{EmbeddedLog, EventSink, LogConfig, Record};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}

/// Rows of every Parquet file under `dir` (referenced by the table or not) whose `column`
/// holds one of `values`.
fn rows_in_files(dir: &Path, column: &str, values: &[&str]) -> usize {
    let mut found = 0;
    for file in parquet_files(dir) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("open"))
            .expect("parquet")
            .build()
            .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let Ok(index) = batch.schema().index_of(column) else { continue };
            let single = deltalake::arrow::record_batch::RecordBatch::try_new(
                std::sync::Arc::new(deltalake::arrow::datatypes::Schema::new(vec![batch
                    .schema()
                    .field(index)
                    .clone()])),
                vec![batch.column(index).clone()],
            )
            .expect("column");
            found += rows(&[single]).iter().filter(|r| values.contains(&r[0].as_str())).count();
        }
    }
    found
}

async fn query(lake: &Lake, q: &str) -> Vec<Vec<String>> {
    rows(&sql::query(lake, q).await.expect(q))
}

fn dead_letter(payload: &str, message_id: &str) -> Record {
    let value = json!({
        "receivedAt": "2026-11-20T00:00:00.000Z", "reason": "track needs event", "reasonCode": "missing_field",
        "endpoint": "batch", "messageId": message_id, "payload": payload,
    });
    Record { key: Vec::new(), value: serde_json::to_vec(&value).expect("json"), timestamp_ms: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_erases_a_person_everywhere_and_vacuum_removes_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = EmbeddedLog::open(&dir.path().join("events"), LogConfig::default()).expect("log");
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    let messages = simulated_messages(3, 120, "2026-11-01T00:00:00Z", 3_000);
    append_messages(&events, &messages).await;

    // The person: a user who browsed anonymously before logging in.
    let anonymous_only: std::collections::HashSet<&str> =
        messages.iter().filter(|m| m["userId"].is_null()).filter_map(|m| m["anonymousId"].as_str()).collect();
    let (user, anon) = messages
        .iter()
        .filter_map(|m| Some((m["userId"].as_str()?, m["anonymousId"].as_str()?)))
        .find(|(_, a)| anonymous_only.contains(a))
        .expect("a user with an anonymous past");
    let my_anonymous: std::collections::HashSet<&str> =
        messages.iter().filter(|m| m["userId"] == user).filter_map(|m| m["anonymousId"].as_str()).collect();
    let mine = |m: &&Value| {
        m["userId"] == user
            || (m["userId"].is_null() && m["anonymousId"].as_str().is_some_and(|a| my_anonymous.contains(a)))
    };
    let my_rows = messages.iter().filter(mine).count();
    let others: BTreeMap<String, usize> = messages.iter().filter(|m| !mine(m)).fold(BTreeMap::new(), |mut acc, m| {
        *acc.entry(m["messageId"].as_str().expect("id").to_owned()).or_default() += 1;
        acc
    });
    dead.append(vec![
        dead_letter(&json!({"type": "track", "userId": user}).to_string(), "dead-mine"),
        dead_letter(&json!({"type": "track", "anonymousId": anon}).to_string(), "dead-mine-anonymous"),
        dead_letter(&format!("{{not json, but names \"{user}\""), "dead-mine-unparsed"),
        dead_letter(&json!({"type": "track", "userId": "someone-else"}).to_string(), "dead-other"),
    ])
    .expect("queued")
    .await
    .expect("durable");

    let lake_dir = dir.path().join("lake");
    let lake = Lake::local(&lake_dir).expect("lake");
    Loader::open(&lake)
        .await
        .expect("lake")
        .load_available(&|o| events.reader(o), &|o| dead.reader(o))
        .await
        .expect("load");
    Transform::find("daily_event_counts", None).expect("job").run(&lake, Interval::New).await.expect("job");
    let gold_before = query(&lake, "SELECT * FROM daily_event_counts ORDER BY date, event").await;

    let report = maintenance::forget(&lake, user).await.expect("forget");
    let deleted: BTreeMap<String, usize> = report.deleted.into_iter().collect();
    assert_eq!(deleted["raw_events"], my_rows);
    assert_eq!(deleted["dead_letters"], 3);
    assert!(!deleted.contains_key("daily_event_counts"), "aggregates hold no person");

    let remaining = query(&lake, "SELECT message_id FROM raw_events").await;
    let remaining: BTreeMap<String, usize> = remaining.into_iter().fold(BTreeMap::new(), |mut acc, r| {
        *acc.entry(r[0].clone()).or_default() += 1;
        acc
    });
    assert_eq!(remaining, others, "every other row untouched");
    assert_eq!(query(&lake, "SELECT message_id FROM dead_letters").await, [["dead-other"]]);
    assert_eq!(query(&lake, "SELECT * FROM daily_event_counts ORDER BY date, event").await, gold_before);

    // The old files still hold the rows until vacuum removes them.
    let raw_dir = lake_dir.join("raw_events");
    assert!(rows_in_files(&raw_dir, "user_id", &[user]) > 0);
    for table in ["raw_events", "dead_letters"] {
        assert!(maintenance::vacuum(&lake, table, Duration::ZERO).await.expect("vacuum") > 0, "{table}");
    }
    assert_eq!(rows_in_files(&raw_dir, "user_id", &[user]), 0);
    assert_eq!(rows_in_files(&raw_dir, "anonymous_id", &[anon]), 0);
    assert_eq!(rows_in_files(&lake_dir.join("dead_letters"), "message_id", &["dead-mine", "dead-mine-unparsed"]), 0);
    assert_eq!(query(&lake, "SELECT count(*) FROM raw_events").await, [[others.values().sum::<usize>().to_string()]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_small_files_and_every_answer_stays_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (events, _) = crate::write_simulated_log(&dir.path().join("events"), 3_000).await;
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let mut loader = Loader::open(&lake).await.expect("lake").with_max_batch_rows(150);
    let report = loader.load_available(&|o| events.reader(o), &|o| dead.reader(o)).await.expect("load");
    assert_eq!(report.commits, 20);
    let files = async |lake: &Lake| {
        lake.open_table("raw_events").await.expect("open").expect("table").get_file_uris().expect("files").count()
    };
    let before_files = files(&lake).await;
    let answer = "SELECT event_date, type, count(*), sum(log_offset), count(DISTINCT message_id) FROM raw_events GROUP BY 1, 2 ORDER BY 1, 2";
    let before = query(&lake, answer).await;
    let compacted = maintenance::optimize(&lake, "raw_events").await.expect("optimize");
    assert!(compacted.files_removed >= 20 && compacted.files_added < compacted.files_removed, "{compacted:?}");
    let after_files = files(&lake).await;
    assert_eq!(after_files as u64, before_files as u64 - compacted.files_removed + compacted.files_added);
    assert_eq!(query(&lake, answer).await, before);
    // The loader goes on where it was.
    append_messages(&events, &simulated_messages(8, 50, "2026-11-30T00:00:00Z", 300)).await;
    let more = loader.load_available(&|o| events.reader(o), &|o| dead.reader(o)).await.expect("load");
    assert_eq!(more.events, 300);
    assert_eq!(query(&lake, "SELECT count(*) FROM raw_events").await, [["3300"]]);
}
