use crate::{block_on, open_small, record};
use footfall_log::{EmbeddedLog, EventSink, EventSource, LogConfig, LogReader};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn appended_records_read_back_in_order_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_small(dir.path());
    for chunk in 0..50u64 {
        let records: Vec<_> = (chunk * 10..chunk * 10 + 10).map(record).collect();
        let ack = block_on(log.append(records).expect("queued")).expect("durable");
        assert_eq!((ack.first_offset, ack.count), (chunk * 10, 10));
    }
    let segments = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log")));
    assert!(segments.count() > 3, "small segments roll over");
    let all = log.read_all(0).expect("read");
    assert_eq!(all.len(), 500);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
        assert_eq!(r.value, record(i as u64).value);
        assert_eq!(r.key, record(i as u64).key);
    }
    // Reading from the middle starts exactly there, in any segment.
    assert_eq!(log.read_all(337).expect("read")[0].offset, 337);
    // Another process's view (a snapshot reader) sees the same.
    let mut snapshot = LogReader::snapshot(dir.path(), 0);
    assert_eq!(snapshot.read_batch(10_000).expect("snapshot").len(), 500);
}

#[test]
fn concurrent_appends_share_fsyncs_and_get_dense_distinct_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(EmbeddedLog::open(dir.path(), LogConfig::default()).expect("open"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let acks = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..20u64 {
                    let records = vec![record(t * 1000 + i); 3];
                    acks.push(log.append(records).expect("queued").await.expect("durable"));
                }
                acks
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("task"));
        }
        all
    });
    let mut firsts: Vec<u64> = acks.iter().map(|a| a.first_offset).collect();
    firsts.sort_unstable();
    let expected: Vec<u64> = (0..64 * 20).map(|i| i * 3).collect();
    assert_eq!(firsts, expected, "each append got its own dense range");
    assert_eq!(log.end_offset(), 64 * 20 * 3);
}

#[test]
fn a_full_queue_refuses_instead_of_buffering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { max_pending_bytes: 1024, ..LogConfig::default() };
    let log = EmbeddedLog::open(dir.path(), config).expect("open");
    let big = footfall_log::Record { key: vec![], value: vec![b'x'; 800], timestamp_ms: 0 };
    // Queue appends faster than the disk takes them; at least one must be refused as Busy,
    // and every accepted one must become durable.
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        match log.append(vec![big.clone()]) {
            Ok(ack) => accepted.push(ack),
            Err(footfall_log::AppendError::Busy { limit, .. }) => {
                assert_eq!(limit, 1024);
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(refused > 0, "a bounded queue refuses");
    let n = accepted.len();
    block_on(async {
        for ack in accepted {
            ack.await.expect("durable");
        }
    });
    assert_eq!(log.read_all(0).expect("read").len(), n);
}

#[test]
fn a_consumer_resumes_from_its_committed_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open_small(dir.path());
        block_on(log.append((0..100).map(record).collect()).expect("queued")).expect("durable");
        let mut consumer = log.consumer("loader").expect("consumer");
        let first = consumer.poll(30, Duration::from_millis(10)).expect("poll");
        assert_eq!(first.len(), 30);
        consumer.commit().expect("commit");
        // Read more without committing: a restart must re-deliver these.
        assert_eq!(consumer.poll(30, Duration::from_millis(10)).expect("poll").len(), 30);
    }
    let log = open_small(dir.path());
    let mut consumer = log.consumer("loader").expect("consumer");
    let batch = consumer.poll(1000, Duration::from_millis(10)).expect("poll");
    assert_eq!(batch.first().map(|r| r.offset), Some(30));
    assert_eq!(batch.len(), 70);
    let mut other = log.consumer("processor").expect("consumer");
    assert_eq!(other.poll(1, Duration::from_millis(10)).expect("poll")[0].offset, 0, "groups are independent");
}

#[test]
fn a_tailing_consumer_wakes_up_for_new_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open_small(dir.path()));
    let mut consumer = log.consumer("live").expect("consumer");
    let writer = Arc::clone(&log);
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        block_on(writer.append(vec![record(1)]).expect("queued")).expect("durable");
    });
    let batch = consumer.poll(10, Duration::from_secs(5)).expect("poll");
    handle.join().expect("writer");
    assert_eq!(batch.len(), 1);
}

#[test]
fn retention_by_size_drops_old_segments_but_keeps_reading_from_the_oldest_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 2048,
        retention: footfall_log::Retention { max_age: None, max_bytes: Some(8192) },
        ..LogConfig::default()
    };
    let log = EmbeddedLog::open(dir.path(), config).expect("open");
    for i in 0..400 {
        block_on(log.append(vec![record(i)]).expect("queued")).expect("durable");
    }
    let left = log.read_all(0).expect("read");
    assert!(!left.is_empty() && left.len() < 400, "old segments deleted, {} left", left.len());
    assert_eq!(left.last().map(|r| r.offset), Some(399));
    assert!(left.windows(2).all(|w| w[1].offset == w[0].offset + 1));
}

#[test]
fn segments_close_by_age_even_without_writes_so_retention_bounds_how_long_records_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_max_age: Some(Duration::from_millis(300)),
        retention: footfall_log::Retention { max_age: Some(Duration::from_millis(300)), max_bytes: None },
        ..LogConfig::default()
    };
    let log = EmbeddedLog::open(dir.path(), config).expect("open");
    for i in 0..3 {
        block_on(log.append(vec![record(i)]).expect("queued")).expect("durable");
    }
    let segments = || {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .count()
    };
    assert_eq!(log.read_all(0).expect("read").len(), 3);
    // No more writes: the segment closes by age, then retention deletes it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !log.read_all(0).expect("read").is_empty() {
        assert!(std::time::Instant::now() < deadline, "records still there after 10 s ({} segments)", segments());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Writing goes on at the next offset.
    block_on(log.append(vec![record(3)]).expect("queued")).expect("durable");
    assert_eq!(log.read_all(0).expect("read").iter().map(|r| r.offset).collect::<Vec<_>>(), [3]);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = open_small(dir.path());
    match EmbeddedLog::open(dir.path(), LogConfig::default()) {
        Err(footfall_log::LogError::Locked(_)) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_tailing_reader_keeps_up_with_many_small_commits() {
    // Reads interleaved with commits: the reader's read-ahead must never turn stale bytes
    // (a commit in progress, or padding later overwritten) into a false corruption.
    let dir = tempfile::tempdir().expect("tempdir");
    let log =
        EmbeddedLog::open(dir.path(), LogConfig { segment_bytes: 64 * 1024, ..LogConfig::default() }).expect("open");
    let mut consumer = log.consumer("tail").expect("consumer");
    let mut next = 0u64;
    for round in 0..300u64 {
        let records: Vec<_> = (0..1 + round % 5).map(|i| record(round * 10 + i)).collect();
        let n = records.len();
        block_on(log.append(records).expect("queued")).expect("durable");
        let got = consumer.poll(100, Duration::from_millis(100)).expect("poll");
        assert_eq!(got.len(), n, "round {round}");
        for r in got {
            assert_eq!(r.offset, next);
            next += 1;
        }
    }
}
