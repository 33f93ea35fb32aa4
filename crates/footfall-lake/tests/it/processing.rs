//! The processor into the lake: exact counts against a brute force over the same messages,
//! duplicates and injected late events, and a restart that resumes without a difference.

use crate::transform::rows;
use crate::{append_messages, simulated_messages};
use footfall_lake::{sql, Lake, ProcessingJob};
use footfall_log::{EmbeddedLog, LogConfig};
use footfall_processor::enrich::{Enricher, IpPolicy};
use footfall_processor::{InputEvent, ProcessorConfig, MINUTE};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Messages with 200 repeats and 30 events an hour older than their neighbours.
fn input() -> (Vec<Value>, usize) {
    // Every 25th message is delivered again ten messages later (a client's retry).
    let simulated = simulated_messages(21, 150, "2026-11-01T00:00:00Z", 5_000);
    let mut messages = Vec::new();
    for (i, m) in simulated.iter().enumerate() {
        messages.push(m.clone());
        if i >= 10 && (i - 10) % 25 == 0 {
            messages.push(simulated[i - 10].clone());
        }
    }
    assert_eq!(messages.len(), 5_200);
    let mut late = Vec::new();
    for (i, m) in messages.iter().enumerate().skip(1_000).step_by(100).take(30) {
        let mut old = m.clone();
        let time = chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().expect("timestamp")).expect("time");
        old["timestamp"] = Value::from((time - chrono::Duration::hours(1)).to_rfc3339());
        old["messageId"] = Value::from(format!("late-{i}"));
        late.push((i + 1, old));
    }
    let injected = late.len();
    for (at, message) in late.into_iter().rev() {
        messages.insert(at, message);
    }
    (messages, injected)
}

async fn table(lake: &Lake, query: &str) -> Vec<Vec<String>> {
    rows(&sql::query(lake, query).await.expect(query))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_late_events_are_counted_and_a_restart_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(&dir.path().join("events"), LogConfig::default()).expect("log");
    let (messages, injected_late) = input();
    append_messages(&log, &messages).await;

    // Uninterrupted.
    let lake = Lake::local(&dir.path().join("lake")).expect("lake");
    let mut job = ProcessingJob::open(&lake, &dir.path().join("checkpoints"), ProcessorConfig::default())
        .await
        .expect("open")
        .with_max_batch_records(700);
    job.run_available(&|o| log.reader(o)).await.expect("process");
    let counters = job.counters();
    assert_eq!(counters.duplicates, 200);

    // Reference, by brute force in log order: each messageId once; an event is late when its
    // minute ended at or before (the latest event time before it − 2 minutes). Besides the
    // injected ones, devices with a wrong clock (the simulator skews 5% of them, and a backfill
    // has no `sentAt` to correct them) make some late events of their own.
    let mut seen = HashSet::new();
    let unique: Vec<&Value> = messages.iter().filter(|m| seen.insert(m["messageId"].as_str().expect("id"))).collect();
    // "The latest event time" is the quorum's: each device at its latest event time, the
    // third latest of them (the earliest while fewer than three were seen), never going back;
    // every message here arrived at once, so no device goes quiet.
    let quorum = ProcessorConfig::default().watermark_quorum;
    let mut enricher = Enricher::new(IpPolicy::Truncate);
    let mut latest: Option<i64> = None;
    let mut latest_of_device: BTreeMap<String, i64> = BTreeMap::new();
    let mut late_ids = BTreeSet::new();
    let mut parsed = Vec::new();
    for m in &unique {
        let input = InputEvent::parse(&m.to_string()).expect("parses");
        let enriched = enricher.enrich(&input);
        let end = (input.event_time.div_euclid(MINUTE) + 1) * MINUTE;
        if latest.is_some_and(|l| end <= l - 2 * MINUTE) && !enriched.agent.is_bot {
            late_ids.insert(input.message_id.clone());
        }
        let device = input.anonymous_id.clone().or(input.user_id.clone()).unwrap_or_default();
        let at = latest_of_device.entry(device).or_insert(input.event_time);
        *at = (*at).max(input.event_time);
        let mut times: Vec<i64> = latest_of_device.values().copied().collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let voted = times[(quorum - 1).min(times.len() - 1)];
        latest = Some(latest.map_or(voted, |l| l.max(voted)));
        parsed.push((input, enriched));
    }
    // An injected event is late unless fewer than three devices were active in the hour before
    // it (a backfill of a quiet stretch): then it is counted in its window, as it should be.
    let injected_found = (0..messages.len()).filter(|i| late_ids.contains(&format!("late-{i}"))).count();
    assert!(
        injected_found > injected_late / 2 && injected_found <= injected_late,
        "{injected_found} of {injected_late}"
    );
    assert_eq!(counters.late, late_ids.len() as u64, "the late counter");
    let flagged = table(&lake, "SELECT message_id FROM events WHERE late ORDER BY message_id").await;
    assert_eq!(flagged.into_iter().map(|r| r[0].clone()).collect::<BTreeSet<_>>(), late_ids);
    let events = table(&lake, "SELECT count(*), count(DISTINCT message_id) FROM events").await;
    assert_eq!(events, [[unique.len().to_string(), unique.len().to_string()]]);

    // metrics_1m against a brute force over the same events, for every window that has closed.
    let watermark = job.state().watermark().expect("a watermark");
    let mut expected: BTreeMap<(i64, String, String, String), u64> = BTreeMap::new();
    for (input, enriched) in &parsed {
        let start = input.event_time.div_euclid(MINUTE) * MINUTE;
        if enriched.agent.is_bot || late_ids.contains(&input.message_id) || start + MINUTE > watermark {
            continue;
        }
        let key =
            (start, input.event_name().to_owned(), enriched.agent.device_type.to_owned(), enriched.channel.to_owned());
        *expected.entry(key).or_default() += 1;
    }
    let got = table(
        &lake,
        "SELECT CAST(window_start AS BIGINT), event, device_type, channel, events FROM metrics_1m ORDER BY 1, 2, 3, 4",
    )
    .await;
    let got: BTreeMap<(i64, String, String, String), u64> = got
        .into_iter()
        .map(|r| ((r[0].parse().expect("start"), r[1].clone(), r[2].clone(), r[3].clone()), r[4].parse().expect("n")))
        .collect();
    assert_eq!(got, expected);

    // persons (a transform over events + identities): each event counted for the person its
    // ids resolve to at the end, pre-login anonymous events included.
    let mut identities = footfall_processor::identity::Identities::new();
    let mut links = Vec::new();
    for (input, _) in &parsed {
        identities.observe(input, &mut links);
    }
    let mut per_person: BTreeMap<String, u64> = BTreeMap::new();
    for (input, enriched) in &parsed {
        if !enriched.agent.is_bot {
            *per_person
                .entry(identities.resolve(input.user_id.as_deref(), input.anonymous_id.as_deref()))
                .or_default() += 1;
        }
    }
    footfall_lake::Transform::find("persons", None)
        .expect("built in")
        .run(&lake, footfall_lake::Interval::New)
        .await
        .expect("persons");
    let persons: BTreeMap<String, u64> = table(&lake, "SELECT person_id, events FROM persons")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("n")))
        .collect();
    assert_eq!(persons, per_person);
    let identified = table(
        &lake,
        "SELECT count(*) FROM persons WHERE user_id IS NOT NULL AND anonymous_ids > 0 AND traits IS NOT NULL",
    )
    .await;
    assert_ne!(identified, [["0"]], "identified persons carry their anonymous ids and traits");

    // Sessions hold every non-bot event of a closed session once.
    let in_sessions = table(&lake, "SELECT sum(events), count(*), count(DISTINCT session_id) FROM sessions").await;
    assert_eq!(in_sessions[0][1], in_sessions[0][2], "each session once");

    // A second run over a new lake, stopped half-way and restarted from its checkpoint, ends
    // with the same tables.
    let other = Lake::local(&dir.path().join("other-lake")).expect("lake");
    // Its sketches compare byte for byte with the first lake's only under the same secret.
    crate::share_secret(&lake, &other).await;
    let checkpoints = dir.path().join("other-checkpoints");
    let half = EmbeddedLog::open(&dir.path().join("half"), LogConfig::default()).expect("log");
    append_messages(&half, &messages[..messages.len() / 2]).await;
    let mut first = ProcessingJob::open(&other, &checkpoints, ProcessorConfig::default()).await.expect("open");
    first.run_available(&|o| half.reader(o)).await.expect("first half");
    first.checkpoint().expect("checkpoint");
    drop(first);
    append_messages(&half, &messages[messages.len() / 2..]).await;
    let mut second = ProcessingJob::open(&other, &checkpoints, ProcessorConfig::default())
        .await
        .expect("reopen")
        .with_max_batch_records(333);
    assert_eq!(second.next_offset() as usize, messages.len() / 2, "resumes at its checkpoint");
    second.run_available(&|o| half.reader(o)).await.expect("second half");

    // A third run that "crashes" after committing half without a checkpoint: the restart
    // replays from the start and each table keeps only the rows it lacks.
    let crashed = Lake::local(&dir.path().join("crashed-lake")).expect("lake");
    crate::share_secret(&lake, &crashed).await;
    let crashed_checkpoints = dir.path().join("crashed-checkpoints");
    let mut before = ProcessingJob::open(&crashed, &crashed_checkpoints, ProcessorConfig::default())
        .await
        .expect("open")
        .with_max_batch_records(1_000)
        .with_checkpoint_interval(std::time::Duration::from_secs(3600));
    let partial = EmbeddedLog::open(&dir.path().join("partial"), LogConfig::default()).expect("log");
    append_messages(&partial, &messages[..3_000]).await;
    before.run_available(&|o| partial.reader(o)).await.expect("partial run");
    drop(before);
    append_messages(&partial, &messages[3_000..]).await;
    let mut after =
        ProcessingJob::open(&crashed, &crashed_checkpoints, ProcessorConfig::default()).await.expect("reopen");
    assert_eq!(after.next_offset(), 0, "no checkpoint: replays from the start");
    let report = after.run_available(&|o| partial.reader(o)).await.expect("replay");
    assert!(report.events < unique.len(), "the committed half is not written again");

    // A fourth run fed as a Kafka member is: ranges fetched again after a revocation and
    // reassignment (within one call, and across calls) are processed once.
    let refetched = Lake::local(&dir.path().join("refetched-lake")).expect("lake");
    crate::share_secret(&lake, &refetched).await;
    let mut fed =
        ProcessingJob::open(&refetched, &dir.path().join("refetched-checkpoints"), ProcessorConfig::default())
            .await
            .expect("open");
    let all = log.reader(0).read_batch(usize::MAX).expect("read the log");
    let mut report = footfall_lake::ProcessReport::default();
    let mut repeated: Vec<_> = all[..1_000].to_vec();
    repeated.extend_from_slice(&all[500..2_000]);
    fed.process_records(&repeated, &mut report).await.expect("overlapping call");
    fed.process_records(&all[1_500..], &mut report).await.expect("overlapping calls");
    fed.finish().await.expect("finish");
    assert_eq!(fed.next_offset() as usize, all.len());
    assert_eq!(fed.counters(), counters, "the repeated ranges are not seen twice (not even as duplicates)");

    // A fifth run whose checkpoint is found corrupt on restart (a torn write, a disk error):
    // passed over with a warning, the log replayed from the start, the tables the same.
    let corrupt = Lake::local(&dir.path().join("corrupt-lake")).expect("lake");
    crate::share_secret(&lake, &corrupt).await;
    let corrupt_checkpoints = dir.path().join("corrupt-checkpoints");
    let part = EmbeddedLog::open(&dir.path().join("corrupt-log"), LogConfig::default()).expect("log");
    append_messages(&part, &messages[..2_500]).await;
    let mut first =
        ProcessingJob::open(&corrupt, &corrupt_checkpoints, ProcessorConfig::default()).await.expect("open");
    first.run_available(&|o| part.reader(o)).await.expect("first part");
    first.checkpoint().expect("checkpoint");
    drop(first);
    let written: Vec<_> = std::fs::read_dir(&corrupt_checkpoints).expect("dir").flatten().map(|e| e.path()).collect();
    assert_eq!(written.len(), 1, "{written:?}");
    std::fs::write(&written[0], b"not a checkpoint").expect("corrupt it");
    let mut again =
        ProcessingJob::open(&corrupt, &corrupt_checkpoints, ProcessorConfig::default()).await.expect("reopen");
    assert_eq!(again.next_offset(), 0, "the corrupt checkpoint is passed over");
    append_messages(&part, &messages[2_500..]).await;
    again.run_available(&|o| part.reader(o)).await.expect("replay");
    again.finish().await.expect("finish");

    for lake_under_test in [&other, &crashed, &refetched, &corrupt] {
        for q in [
            "SELECT * FROM events ORDER BY log_offset",
            "SELECT * FROM sessions ORDER BY session_id",
            "SELECT * FROM identities ORDER BY trigger_offset, id",
            "SELECT * FROM metrics_1m ORDER BY window_start, event, device_type, channel",
        ] {
            assert_eq!(table(lake_under_test, q).await, table(&lake, q).await, "{q}");
        }
    }
}
