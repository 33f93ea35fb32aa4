use crate::{block_on, open_small, record};
use footfall_log::record::encode;
use footfall_log::EventSink;
use std::io::Write;

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

fn write_then_damage(damage: impl FnOnce(&std::path::Path)) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_small(dir.path());
    block_on(log.append((0..57).map(record).collect()).expect("queued")).expect("durable");
    drop(log);
    damage(&last_segment(dir.path()));
    (dir, 57)
}

fn assert_recovers(dir: &std::path::Path, acknowledged: u64, expect_cut: bool) {
    let log = open_small(dir);
    assert_eq!(log.recovery().truncated_bytes > 0, expect_cut, "{:?}", log.recovery());
    let all = log.read_all(0).expect("read");
    assert_eq!(all.len() as u64, acknowledged, "every acknowledged record, once");
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.value, record(i as u64).value);
    }
    // Appending continues at the next offset, and survives another reopen.
    let ack = block_on(log.append(vec![record(acknowledged)]).expect("queued")).expect("durable");
    assert_eq!(ack.first_offset, acknowledged);
    drop(log);
    let log = open_small(dir);
    assert_eq!(log.read_all(0).expect("read").len() as u64, acknowledged + 1);
    assert_eq!(log.recovery().truncated_bytes, 0);
}

#[test]
fn a_half_written_record_at_the_tail_is_cut() {
    let (dir, acked) = write_then_damage(|segment| {
        let mut bytes = Vec::new();
        encode(&record(999), 57, &mut bytes);
        let mut f = std::fs::OpenOptions::new().append(true).open(segment).expect("open");
        f.write_all(&bytes[..bytes.len() / 2]).expect("write");
    });
    assert_recovers(dir.path(), acked, true);
}

#[test]
fn a_whole_but_corrupted_record_at_the_tail_is_cut() {
    let (dir, acked) = write_then_damage(|segment| {
        let mut bytes = Vec::new();
        encode(&record(999), 57, &mut bytes);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut f = std::fs::OpenOptions::new().append(true).open(segment).expect("open");
        f.write_all(&bytes).expect("write");
    });
    assert_recovers(dir.path(), acked, true);
}

#[test]
fn zeroes_at_the_tail_are_cut() {
    // A crash after the file grew but before the data reached the disk leaves zeroes.
    let (dir, acked) = write_then_damage(|segment| {
        let mut f = std::fs::OpenOptions::new().append(true).open(segment).expect("open");
        f.write_all(&[0u8; 300]).expect("write");
    });
    assert_recovers(dir.path(), acked, true);
}

#[test]
fn a_clean_log_is_left_alone() {
    let (dir, acked) = write_then_damage(|_| {});
    assert_recovers(dir.path(), acked, false);
}

#[test]
fn file_systems_without_direct_io_get_buffered_writes_that_recover_the_same() {
    // tmpfs refuses O_DIRECT; the log falls back to buffered writes there.
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        return; // not Linux with a tmpfs at /dev/shm; the direct-I/O path is tested above
    }
    let dir = tempfile::tempdir_in(shm).expect("tempdir in tmpfs");
    let log = open_small(dir.path());
    block_on(log.append((0..57).map(record).collect()).expect("queued")).expect("durable");
    drop(log);
    let mut bytes = Vec::new();
    encode(&record(999), 57, &mut bytes);
    let mut f = std::fs::OpenOptions::new().append(true).open(last_segment(dir.path())).expect("open");
    f.write_all(&bytes[..10]).expect("write");
    assert_recovers(dir.path(), 57, true);
}
