//! Compaction, vacuum and erasure, checked against the data files themselves.

use crate::transform::rows;
use crate::{append_messages, normalized, simulated_messages};
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

/// A dead letter of a body that was not UTF-8 (stored as base64).
fn binary_dead_letter(payload: &[u8], message_id: &str) -> Record {
    use base64::Engine;
    let value = json!({
        "receivedAt": "2026-11-20T00:00:00.000Z", "reason": "not UTF-8", "reasonCode": "invalid_utf8",
        "endpoint": "batch", "messageId": message_id,
        "payloadBase64": base64::engine::general_purpose::STANDARD.encode(payload),
    });
    Record { key: Vec::new(), value: serde_json::to_vec(&value).expect("json"), timestamp_ms: 0 }
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
        .find(|(u, a)| {
            anonymous_only.contains(a)
                && messages
                    .iter()
                    .filter(|m| m["anonymousId"] == *a)
                    .all(|m| m["userId"].is_null() || m["userId"] == *u)
        })
        .expect("a user with an anonymous past");
    // Without `identities` (raw events only), the anonymous ids seen with this user and no other.
    let users_of = |a: &str| -> std::collections::HashSet<&str> {
        messages.iter().filter(|m| m["anonymousId"] == a).filter_map(|m| m["userId"].as_str()).collect()
    };
    let my_anonymous: std::collections::HashSet<&str> = messages
        .iter()
        .filter(|m| m["userId"] == user)
        .filter_map(|m| m["anonymousId"].as_str())
        .filter(|a| users_of(a).len() == 1)
        .collect();
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
        binary_dead_letter(&[b"\xff\xfe{\"userId\":\"", user.as_bytes(), b"\"}"].concat(), "dead-mine-binary"),
        binary_dead_letter(b"\xff\xfe{\"userId\":\"someone-else\"}", "dead-other-binary"),
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

    let report = maintenance::forget(&lake, user, "test").await.expect("forget");
    let deleted: BTreeMap<String, usize> = report.deleted.iter().cloned().collect();
    assert_eq!(deleted["raw_events"], my_rows);
    assert_eq!(deleted["dead_letters"], 4, "base64 payloads searched too");
    assert!(!deleted.contains_key("daily_event_counts"), "aggregates hold no person");

    let remaining = query(&lake, "SELECT message_id FROM raw_events").await;
    let remaining: BTreeMap<String, usize> = remaining.into_iter().fold(BTreeMap::new(), |mut acc, r| {
        *acc.entry(r[0].clone()).or_default() += 1;
        acc
    });
    assert_eq!(remaining, others, "every other row untouched");
    assert_eq!(
        query(&lake, "SELECT message_id FROM dead_letters ORDER BY 1").await,
        [["dead-other"], ["dead-other-binary"]]
    );
    // The erasure log names the request, not the user.
    let logged =
        query(&lake, "SELECT request_id, requested_by, subject_hash, table_name, rows_deleted FROM forget_requests")
            .await;
    assert!(logged.iter().all(|r| r[0] == report.request_id && r[1] == "test" && !r[2].contains(user)), "{logged:?}");
    assert!(logged.contains(&vec![
        report.request_id.clone(),
        "test".into(),
        logged[0][2].clone(),
        "raw_events".into(),
        my_rows.to_string()
    ]));
    assert_eq!(query(&lake, "SELECT * FROM daily_event_counts ORDER BY date, event").await, gold_before);

    // The old files still hold the rows until vacuum removes them.
    let raw_dir = lake_dir.join("raw_events");
    assert!(rows_in_files(&raw_dir, "user_id", &[user]) > 0);
    for table in ["raw_events", "dead_letters"] {
        assert!(maintenance::vacuum(&lake, table, Duration::ZERO).await.expect("vacuum") > 0, "{table}");
    }
    assert_eq!(rows_in_files(&raw_dir, "user_id", &[user]), 0);
    assert_eq!(rows_in_files(&raw_dir, "anonymous_id", &[anon]), 0);
    assert_eq!(
        rows_in_files(
            &lake_dir.join("dead_letters"),
            "message_id",
            &["dead-mine", "dead-mine-unparsed", "dead-mine-binary"]
        ),
        0
    );
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

/// `sent` as stored: message `n` has id `{prefix}{n}`, happened at minute `first + n` of
/// 2026-11-20 10:00 and was received at minute `received`.
fn stamped(sent: &[Value], prefix: &str, first: u32, received: u32) -> Vec<Value> {
    let at = |minute: u32| format!("2026-11-20T10:{minute:02}:00.000Z");
    sent.iter()
        .enumerate()
        .map(|(n, m)| {
            let mut m = m.clone();
            m["timestamp"] = Value::from(at(first + n as u32));
            m["messageId"] = Value::from(format!("{prefix}{n}"));
            normalized(&m, &at(received), n)
        })
        .collect()
}

/// Rows of `table` per user id (`NULL` as `-`), and per anonymous id for rows without one.
async fn rows_per_id(lake: &Lake, table: &str) -> BTreeMap<String, usize> {
    query(lake, &format!("SELECT coalesce(user_id, anonymous_id, '-'), count(*) FROM {table} GROUP BY 1"))
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("count")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_cannot_merge_two_users_nor_make_one_users_erasure_delete_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = EmbeddedLog::open(&dir.path().join("events"), LogConfig::default()).expect("log");
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    let sent = [
        // victim browses, logs in, buys.
        json!({"type": "page", "anonymousId": "anon-victim", "name": "Home"}),
        json!({"type": "identify", "userId": "victim", "anonymousId": "anon-victim"}),
        json!({"type": "track", "event": "Order Completed", "userId": "victim", "anonymousId": "anon-victim"}),
        // attacker, identified too, asks to merge victim into themselves: refused.
        json!({"type": "track", "event": "Signed Up", "userId": "attacker", "anonymousId": "anon-attacker"}),
        json!({"type": "alias", "userId": "attacker", "previousId": "victim", "anonymousId": "anon-attacker"}),
        json!({"type": "page", "anonymousId": "anon-attacker", "name": "Home"}),
        // mallory, a new id, takes victim's id (the rules let an identified user take a new one).
        json!({"type": "alias", "userId": "mallory", "previousId": "victim"}),
        json!({"type": "track", "event": "Signed Up", "userId": "mallory"}),
    ];
    let messages = stamped(&sent, "m", 0, 30);
    append_messages(&events, &messages).await;
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    Loader::open(&lake)
        .await
        .expect("lake")
        .load_available(&|o| events.reader(o), &|o| dead.reader(o))
        .await
        .expect("load");
    let mut job = footfall_lake::ProcessingJob::open(
        &lake,
        &dir.path().join("checkpoints"),
        footfall_processor::ProcessorConfig::default(),
    )
    .await
    .expect("open");
    let report = job.run_available(&|o| events.reader(o)).await.expect("process");
    assert_eq!(report.refused_merges, 1);
    job.finish().await.expect("finish");

    // The refusal is a dead letter; the alias itself is kept as an event.
    assert_eq!(
        query(&lake, "SELECT reason_code, endpoint, json_get_str(payload, 'previousId') FROM dead_letters").await,
        [["merge_of_identified_users", "log://events/4", "victim"]]
    );
    assert_eq!(query(&lake, "SELECT count(*) FROM events WHERE type = 'alias'").await, [["2"]]);
    let persons =
        |rows: Vec<Vec<String>>| rows.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect::<BTreeMap<_, _>>();
    let roots = persons(query(&lake, "SELECT id, person_id FROM identity_roots").await);
    assert_eq!(roots.get("anon-victim").map(String::as_str), Some("mallory"), "chains resolve to their end");
    assert_eq!(roots.get("victim").map(String::as_str), Some("mallory"));
    assert_eq!(roots.get("anon-attacker").map(String::as_str), Some("attacker"));

    let victims_rows = [("anon-victim".to_owned(), 1), ("victim".to_owned(), 2)];
    let forgotten = maintenance::forget(&lake, "attacker", "test").await.expect("forget");
    assert_eq!(forgotten.ids, ["attacker", "anon-attacker"]);
    let deleted: BTreeMap<String, usize> = forgotten.deleted.into_iter().collect();
    assert_eq!((deleted["raw_events"], deleted["events"], deleted["dead_letters"]), (3, 3, 1));
    let raw = rows_per_id(&lake, "raw_events").await;
    assert_eq!(raw, BTreeMap::from([victims_rows[0].clone(), victims_rows[1].clone(), ("mallory".into(), 2)]));
    assert_eq!(rows_per_id(&lake, "events").await, raw);

    // mallory took victim's id, but victim is another identified user: their rows stay, and
    // their link to mallory (which names mallory) goes.
    let forgotten = maintenance::forget(&lake, "mallory", "test").await.expect("forget");
    assert_eq!(forgotten.ids, ["mallory"]);
    assert_eq!(rows_per_id(&lake, "raw_events").await, BTreeMap::from(victims_rows.clone()));
    assert_eq!(rows_per_id(&lake, "events").await, BTreeMap::from(victims_rows.clone()));
    let roots = persons(query(&lake, "SELECT id, person_id FROM identity_roots").await);
    assert_eq!(roots, BTreeMap::from([("anon-victim".to_owned(), "victim".to_owned())]));

    // victim's own erasure takes their anonymous past too, and a second run finds nothing.
    let forgotten = maintenance::forget(&lake, "victim", "test").await.expect("forget");
    assert_eq!(forgotten.ids, ["victim", "anon-victim"]);
    assert_eq!(query(&lake, "SELECT count(*) FROM raw_events").await, [["0"]]);
    assert_eq!(query(&lake, "SELECT count(*) FROM events").await, [["0"]]);
    assert_eq!(query(&lake, "SELECT count(*) FROM identities").await, [["0"]]);
    let again = maintenance::forget(&lake, "victim", "test").await.expect("forget");
    assert!(again.deleted.iter().all(|(_, n)| *n == 0), "{again:?}");
    assert_eq!(query(&lake, "SELECT count(DISTINCT request_id) FROM forget_requests").await, [["4"]]);

    // The processor's checkpoint forgets victim too: their device, seen again, is nobody's yet,
    // and may be linked to the next user who logs in on it (else it would stay victim's).
    let checkpoints = dir.path().join("checkpoints");
    let erased = footfall_lake::processing::forget_in_checkpoints(&checkpoints, &forgotten.ids).expect("checkpoints");
    assert!(erased.rewritten >= 1 && erased.entries >= 2, "{erased:?}");
    let later = [
        json!({"type": "page", "anonymousId": "anon-victim", "name": "Home"}),
        json!({"type": "identify", "userId": "newcomer", "anonymousId": "anon-victim"}),
    ];
    let later = stamped(&later, "later", 40, 50);
    append_messages(&events, &later).await;
    let config = footfall_processor::ProcessorConfig::default();
    let mut job = footfall_lake::ProcessingJob::open(&lake, &checkpoints, config).await.expect("open");
    let report = job.run_available(&|o| events.reader(o)).await.expect("process");
    job.finish().await.expect("finish");
    assert_eq!(report.refused_merges, 0, "anon-victim is no longer an identified person's");
    assert_eq!(
        query(&lake, "SELECT message_id, person_id FROM events ORDER BY 1").await,
        [["later0", "anon-victim"], ["later1", "newcomer"]]
    );
}
