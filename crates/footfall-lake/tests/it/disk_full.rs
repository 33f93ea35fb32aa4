//! A full disk under the lake: loading and processing stop with an error (no panic, nothing
//! half-committed), and once space is freed the loader goes on without a restart, a reopened
//! processing job resumes from its checkpoint, and the tables hold exactly what a run on an
//! ample disk holds. Runs on a small tmpfs, so it needs the right to mount (root); outside CI
//! it is skipped where that is refused.

use crate::write_simulated_log;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use footfall_lake::{sql, Lake, Loader, ProcessingJob};
use footfall_log::{EmbeddedLog, LogConfig};
use footfall_processor::ProcessorConfig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test's lifetime.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at).status();
        match status {
            Ok(s) if s.success() => Some(Self(at.to_path_buf())),
            _ if std::env::var_os("CI").is_some() => panic!("CI must be able to mount a tmpfs (run as root)"),
            _ => None,
        }
    }

    /// Fills the disk to the last byte; returns the file holding the space.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

async fn count(lake: &Lake, query: &str) -> i64 {
    let batches = sql::query(lake, query).await.expect(query);
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_lake_with_an_error_and_it_resumes_exactly_once_space_is_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (events_log, _) = write_simulated_log(&dir.path().join("events"), 3_000).await;
    let dead_log = EmbeddedLog::open(&dir.path().join("dead"), LogConfig::default()).expect("dead log");
    let events_from = |offset| events_log.reader(offset);
    let dead_from = |offset| dead_log.reader(offset);

    // The reference: the same log on an ample disk.
    let ample = Lake::local(&dir.path().join("ample")).expect("lake");
    Loader::open(&ample).await.expect("open").load_available(&events_from, &dead_from).await.expect("load");
    let mut job = ProcessingJob::open(&ample, &dir.path().join("ample-checkpoints"), ProcessorConfig::default())
        .await
        .expect("open");
    job.run_available(&events_from).await.expect("process");
    job.finish().await.expect("finish");

    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "16m") else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let lake = Lake::local(&disk.0.join("lake")).expect("lake");
    let checkpoints = disk.0.join("checkpoints");
    let mut loader = Loader::open(&lake).await.expect("open");
    let mut job = ProcessingJob::open(&lake, &checkpoints, ProcessorConfig::default())
        .await
        .expect("open")
        .with_max_batch_records(500);
    let filler = disk.fill();
    let refused = loader.load_available(&events_from, &dead_from).await;
    assert!(refused.is_err(), "loading onto a full disk must fail, not pretend");
    let refused = job.run_available(&events_from).await;
    assert!(refused.is_err(), "processing onto a full disk must fail, not pretend");

    std::fs::remove_file(&filler).expect("free the space");
    let report = loader.load_available(&events_from, &dead_from).await.expect("load once space is free");
    assert_eq!(report.events, 3_000, "the loader goes on without a restart");
    drop(job);
    let mut job = ProcessingJob::open(&lake, &checkpoints, ProcessorConfig::default()).await.expect("reopen");
    job.run_available(&events_from).await.expect("process once space is free");
    job.finish().await.expect("finish");

    for query in [
        "SELECT count(*) FROM raw_events",
        "SELECT count(DISTINCT message_id) FROM raw_events",
        "SELECT count(*) FROM events",
        "SELECT count(DISTINCT message_id) FROM events",
        "SELECT count(*) FROM sessions",
        "SELECT CAST(sum(events) AS BIGINT) FROM metrics_1m",
        "SELECT count(*) FROM metrics_1m",
        "SELECT count(*) FROM identities",
    ] {
        assert_eq!(count(&lake, query).await, count(&ample, query).await, "{query}");
    }
    assert_eq!(count(&lake, "SELECT count(*) FROM raw_events").await, 3_000);
}
