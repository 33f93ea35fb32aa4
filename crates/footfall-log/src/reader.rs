//! Reading a topic in offset order, from any offset.
//!
//! A *tailing* reader belongs to a process that has the log open: it never reads past the
//! durable end, so it cannot see a record that a crash could still take back, and it can wait
//! for new records. A *snapshot* reader (`footfall log dump`, another process) reads the files
//! as they are and stops at the first incomplete or damaged record.

use crate::embedded::Shared;
use crate::error::LogError;
use crate::record::{decode, Decoded, StoredRecord, HEADER_BYTES};
use crate::segment::list_segments;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Reads records of one topic in offset order.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    shared: Option<Arc<Shared>>,
    next: u64,
    open: Option<OpenSegment>,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct OpenSegment {
    base: u64,
    file: BufReader<File>,
    position: u64,
}

impl LogReader {
    pub(crate) fn tailing(shared: Arc<Shared>, offset: u64) -> Self {
        Self { dir: shared.dir.clone(), shared: Some(shared), next: offset, open: None, buf: Vec::new() }
    }

    /// A reader of the files in `dir` as they are now, from `offset`.
    pub fn snapshot(dir: &Path, offset: u64) -> Self {
        Self { dir: dir.to_path_buf(), shared: None, next: offset, open: None, buf: Vec::new() }
    }

    /// The offset of the next record this reader will return.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Waits up to `timeout` for a record at or after the next offset to become durable.
    pub fn wait(&self, timeout: Duration) {
        match &self.shared {
            Some(shared) => {
                shared.wait_past(self.next, timeout);
            }
            None => std::thread::sleep(timeout),
        }
    }

    /// Up to `max` next records; empty when there are none (yet).
    pub fn read_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let limit = self.shared.as_ref().map(|s| s.durable_end()).unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while out.len() < max && self.next < limit {
            match self.read_one()? {
                Some(record) => {
                    self.next = record.offset + 1;
                    out.push(record);
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// The record at `self.next`, or `None` if it is not (yet) there.
    fn read_one(&mut self) -> Result<Option<StoredRecord>, LogError> {
        let mut retried = false;
        loop {
            if self.open.is_none() && !self.open_segment_for_next()? {
                return Ok(None);
            }
            let Some(segment) = self.open.as_mut() else { return Ok(None) };
            match read_record(&mut segment.file, &mut self.buf) {
                Ok(ReadOutcome::Record(record, used)) => {
                    segment.position += used as u64;
                    if record.offset < self.next {
                        continue; // skipping forward to the requested offset
                    }
                    return Ok(Some(record));
                }
                Ok(ReadOutcome::End) => {
                    // Rewind over a partial record so a later call sees it whole.
                    let position = segment.position;
                    segment.file.seek(SeekFrom::Start(position)).map_err(LogError::io("seek", &self.dir))?;
                    let next_segment_starts_here =
                        list_segments(&self.dir)?.iter().any(|(base, _)| *base == self.next && *base > segment.base);
                    if next_segment_starts_here {
                        self.open = None;
                        continue;
                    }
                    return Ok(None);
                }
                Ok(ReadOutcome::Corrupt(reason)) => {
                    // A tailing reader may have read ahead, into bytes the writer had not
                    // finished (or padding it has since overwritten): read them again, once.
                    if self.shared.is_some() && !retried {
                        retried = true;
                        let position = segment.position;
                        segment.file.seek(SeekFrom::Start(position)).map_err(LogError::io("seek", &self.dir))?;
                        continue;
                    }
                    if self.shared.is_some() {
                        return Err(LogError::Corrupt { path: self.dir.clone(), position: segment.position, reason });
                    }
                    // A snapshot may race with a writer or find a torn tail: stop there.
                    return Ok(None);
                }
                Err(e) => return Err(LogError::io("read", &self.dir)(e)),
            }
        }
    }

    /// Opens the segment holding `self.next` (or the oldest one, if retention deleted it).
    fn open_segment_for_next(&mut self) -> Result<bool, LogError> {
        // Retention may delete the segment between the listing and the open: list again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let segments = list_segments(&self.dir)?;
            let Some((base, path)) =
                segments.iter().rev().find(|(base, _)| *base <= self.next).or_else(|| segments.first())
            else {
                return Ok(false);
            };
            let file = match File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => continue,
                Err(e) => return Err(LogError::io("open", path)(e)),
            };
            if *base > self.next {
                tracing::warn!(
                    from = self.next,
                    to = *base,
                    "records before the oldest segment were deleted by retention"
                );
                self.next = *base;
            }
            self.open = Some(OpenSegment { base: *base, file: BufReader::with_capacity(1 << 20, file), position: 0 });
            return Ok(true);
        }
    }
}

enum ReadOutcome {
    Record(StoredRecord, usize),
    End,
    Corrupt(String),
}

fn read_record(file: &mut BufReader<File>, buf: &mut Vec<u8>) -> std::io::Result<ReadOutcome> {
    buf.clear();
    buf.resize(HEADER_BYTES, 0);
    if !read_fully(file, &mut buf[..])? {
        return Ok(ReadOutcome::End);
    }
    let body_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if body_len > crate::record::MAX_BODY_BYTES {
        return Ok(ReadOutcome::Corrupt(format!("impossible record length {body_len}")));
    }
    buf.resize(HEADER_BYTES + body_len, 0);
    if !read_fully(file, &mut buf[HEADER_BYTES..])? {
        return Ok(ReadOutcome::End);
    }
    Ok(match decode(buf) {
        Decoded::Record(record, used) => ReadOutcome::Record(record, used),
        Decoded::Incomplete => ReadOutcome::End,
        Decoded::Corrupt(reason) => ReadOutcome::Corrupt(reason),
    })
}

/// Fills `out` completely, or returns false at end of file.
fn read_fully(file: &mut BufReader<File>, out: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < out.len() {
        match file.read(&mut out[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
