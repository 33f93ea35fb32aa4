//! A full disk: appends fail and `problem()` says why; once space is freed the log takes
//! writes again without a restart, and after a restart it holds exactly the acknowledged
//! records (nothing of a refused commit comes back). Runs on a 256 KiB tmpfs, so it needs the
//! right to mount (root); outside CI it is skipped where that is refused.

use crate::{block_on, record};
use footfall_log::{EmbeddedLog, EventSink, LogConfig, Record};
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
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn big_record(i: u64) -> Record {
    let mut r = record(i);
    r.value = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(8_000)).into_bytes();
    r
}

#[test]
fn a_full_disk_refuses_appends_then_heals_once_space_is_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "256k") else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; 160 * 1024]).expect("filler");
    let log_dir = disk.0.join("events");
    let log = EmbeddedLog::open(&log_dir, LogConfig::default()).expect("open");
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        match block_on(log.append(vec![big_record(i)]).expect("queued")) {
            Ok(_) => acknowledged.push(i),
            Err(e) => {
                refused += 1;
                assert!(e.to_string().contains("space"), "{e}");
            }
        }
    }
    assert!(refused > 0 && !acknowledged.is_empty(), "acknowledged {acknowledged:?}");
    let problem = log.problem().expect("unhealthy while it cannot write");
    assert!(problem.contains("cannot write") && problem.contains("space"), "{problem}");

    std::fs::remove_file(&filler).expect("free space");
    for i in 100..105 {
        block_on(log.append(vec![big_record(i)]).expect("queued")).expect("writes again once space is freed");
        acknowledged.push(i);
    }
    assert_eq!(log.problem(), None, "healthy again");
    drop(log);

    let log = EmbeddedLog::open(&log_dir, LogConfig::default()).expect("reopen");
    let stored = log.reader(0).read_batch(usize::MAX).expect("read");
    let numbers: Vec<u64> = stored
        .iter()
        .map(|r| {
            let text = std::str::from_utf8(&r.value).expect("utf8");
            let digits: String = text["{\"n\":".len()..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("n")
        })
        .collect();
    assert_eq!(numbers, acknowledged, "exactly the acknowledged records, in order");
    assert_eq!(stored.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..numbers.len() as u64).collect::<Vec<_>>());
}
