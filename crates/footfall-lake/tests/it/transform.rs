//! Gold transforms against a reference computed in Rust from the messages themselves.

use crate::{append_messages, simulated_messages};
use chrono::NaiveDate;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use footfall_event::Message;
use footfall_lake::{sql, Interval, Lake, Loader, Transform};
use footfall_log::{EmbeddedLog, LogConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Every row of a result as display strings.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("format")).collect();
        for row in 0..batch.num_rows() {
            out.push(formatters.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    out
}

/// The UTC day of a stored message, as the collector's event-time rule gives it.
fn day_of(message: &Value) -> NaiveDate {
    let text = message.to_string();
    let parsed = Message::parse(&text).expect("parses");
    let valid = parsed.validate(None).expect("valid");
    valid.event_time(parsed.received_at().expect("receivedAt"), true).date_naive()
}

type Counts = BTreeMap<(String, String), (u64, u64)>;
type Revenue = BTreeMap<String, (u64, f64, u64)>;

/// daily_event_counts and daily_revenue recomputed from the messages, each messageId once.
fn reference(messages: &[Value]) -> (Counts, Revenue) {
    let mut seen = HashSet::new();
    let mut counts: BTreeMap<(String, String), (u64, BTreeSet<String>)> = BTreeMap::new();
    let mut revenue: BTreeMap<String, (u64, f64, BTreeSet<String>)> = BTreeMap::new();
    for m in messages {
        if !seen.insert(m["messageId"].as_str().expect("id").to_owned()) {
            continue;
        }
        let day = day_of(m).to_string();
        let person = m["userId"].as_str().or(m["anonymousId"].as_str()).expect("person").to_owned();
        let event = m["event"].as_str().or(m["type"].as_str()).expect("event").to_owned();
        let entry = counts.entry((day.clone(), event.clone())).or_default();
        entry.0 += 1;
        entry.1.insert(person.clone());
        if m["type"] == "track" && event == "Order Completed" {
            let p = &m["properties"];
            let amount = p["revenue"].as_f64().or(p["total"].as_f64()).unwrap_or(0.0);
            let entry = revenue.entry(day).or_default();
            entry.0 += 1;
            entry.1 += amount;
            entry.2.insert(person);
        }
    }
    (
        counts.into_iter().map(|(k, (n, people))| (k, (n, people.len() as u64))).collect(),
        revenue.into_iter().map(|(k, (n, sum, buyers))| (k, (n, sum, buyers.len() as u64))).collect(),
    )
}

async fn table_rows(lake: &Lake, query: &str) -> Vec<Vec<String>> {
    rows(&sql::query(lake, query).await.expect(query))
}

async fn assert_matches_reference(lake: &Lake, messages: &[Value]) {
    let (counts, revenue) = reference(messages);
    let got: Counts = table_rows(lake, "SELECT date, event, events, users FROM daily_event_counts")
        .await
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), (r[2].parse().expect("n"), r[3].parse().expect("n"))))
        .collect();
    assert_eq!(got, counts);
    let got = table_rows(lake, "SELECT date, orders, revenue, buyers FROM daily_revenue ORDER BY date").await;
    assert_eq!(got.len(), revenue.len(), "one row per day with orders");
    for (row, (day, (orders, sum, buyers))) in got.iter().zip(&revenue) {
        assert_eq!(&row[0], day);
        assert_eq!(row[1].parse::<u64>().expect("orders"), *orders, "{day}");
        assert!((row[2].parse::<f64>().expect("revenue") - sum).abs() < 0.005, "{day}: {} vs {sum}", row[2]);
        assert_eq!(row[3].parse::<u64>().expect("buyers"), *buyers, "{day}");
    }
}

async fn run_all(lake: &Lake, interval: Interval) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    for transform in Transform::builtin().into_iter().filter(|t| t.layer == "gold") {
        let report = transform.run(lake, interval).await.expect("job runs");
        days = report.days;
    }
    days
}

fn days_of(messages: &[Value]) -> Vec<NaiveDate> {
    messages.iter().map(day_of).collect::<BTreeSet<_>>().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_rebuild_only_new_days_match_the_reference_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = EmbeddedLog::open(&dir.path().join("events"), LogConfig::default()).expect("log");
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let mut loader = Loader::open(&lake).await.expect("open lake");
    let mut load = async || loader.load_available(&|o| events.reader(o), &|o| dead.reader(o)).await.expect("load");

    // First part, with 150 messages delivered twice (bronze keeps both).
    let mut all = simulated_messages(5, 200, "2026-11-01T00:00:00Z", 4_000);
    all.extend(all[..150].to_vec());
    append_messages(&events, &all).await;
    load().await;
    let first_days = run_all(&lake, Interval::New).await;
    assert_eq!(first_days, days_of(&all));
    assert!(first_days.len() >= 2, "{first_days:?}");
    assert_matches_reference(&lake, &all).await;

    // Second part: later days, plus one order that arrives late for the first day.
    let mut second = simulated_messages(6, 200, "2026-11-20T00:00:00Z", 2_000);
    let mut late = all.iter().find(|m| m["event"] == "Order Completed").expect("an order").clone();
    late["messageId"] = Value::from("late-order");
    second.push(late.clone());
    append_messages(&events, &second).await;
    load().await;
    let second_days = run_all(&lake, Interval::New).await;
    let expected: BTreeSet<NaiveDate> = days_of(&second).into_iter().collect();
    assert_eq!(second_days, expected.into_iter().collect::<Vec<_>>(), "only the days with new rows");
    let old_days: Vec<&NaiveDate> = second_days.iter().filter(|d| first_days.contains(d)).collect();
    assert_eq!(old_days, [&day_of(&late)], "of the first part's days, only the late order's");
    all.extend(second);
    assert_matches_reference(&lake, &all).await;

    // Nothing new: nothing to do.
    assert!(run_all(&lake, Interval::New).await.is_empty());

    // Re-running every day gives the same tables.
    let snapshot = |lake: Lake| async move {
        (
            table_rows(&lake, "SELECT * FROM daily_event_counts ORDER BY date, event").await,
            table_rows(&lake, "SELECT * FROM daily_revenue ORDER BY date").await,
        )
    };
    let before = snapshot(lake.clone()).await;
    let (from, to) = (*first_days.first().expect("day"), *second_days.last().expect("day"));
    let rebuilt = run_all(&lake, Interval::Days { from, to }).await;
    assert_eq!(rebuilt.len() as i64, (to - from).num_days() + 1);
    assert_eq!(snapshot(lake.clone()).await, before);
    // A rerun of an interval does not move the job's mark: new data is still picked up once.
    assert!(run_all(&lake, Interval::New).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_bronze_or_with_a_bad_result_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::local(dir.path()).expect("lake");
    let job = Transform::find("daily_revenue", None).expect("built in");
    let error = job.run(&lake, Interval::New).await.expect_err("no raw_events yet");
    assert!(error.to_string().contains("raw_events"), "{error}");
    Loader::open(&lake).await.expect("create tables");
    let (events, _) = crate::write_simulated_log(&dir.path().join("events"), 200).await;
    let dead = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("log");
    Loader::open(&lake)
        .await
        .expect("open")
        .load_available(&|o| events.reader(o), &|o| dead.reader(o))
        .await
        .expect("load");
    let text_date = Transform {
        name: "text_date".into(),
        layer: "gold".into(),
        sql: "SELECT 'today' AS date, count(*) AS n FROM raw_events".into(),
    };
    let error = text_date.run(&lake, Interval::New).await.expect_err("date must be a DATE");
    assert!(error.to_string().contains("`date` column must be of type DATE"), "{error}");
    // Without a `date` column the table is built whole.
    let whole =
        Transform { name: "whole".into(), layer: "gold".into(), sql: "SELECT count(*) AS n FROM raw_events".into() };
    whole.run(&lake, Interval::New).await.expect("whole-table job");
    assert_eq!(table_rows(&lake, "SELECT n FROM whole").await, [["200"]]);
    assert!(whole.run(&lake, Interval::New).await.expect("again").days.is_empty(), "nothing new");
    assert!(matches!(Transform::find("nope", None), Err(footfall_lake::LakeError::UnknownTransform(_))));
}
