//! The embedded log of one topic: open and recover, append with group commit, retention.

use crate::active::ActiveSegment;
use crate::cursor::CursorStore;
use crate::error::{AppendError, LogError};
use crate::reader::LogReader;
use crate::record::{encode, Record, StoredRecord, MAX_BODY_BYTES};
use crate::retention::{Retention, SegmentInfo};
use crate::segment::{list_segments, scan_segment, segment_path, sync_dir};
use crate::sink::{AppendAck, EventSink, EventSource, PendingAppend};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// Settings of an embedded log topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Start a new segment once the current one reaches this size.
    pub segment_bytes: u64,
    /// Start a new segment once the current one is this old, written to or not, so that
    /// retention (which deletes closed segments only) bounds how long any record is kept:
    /// at most this plus `retention.max_age`.
    pub segment_max_age: Option<Duration>,
    /// What old data to delete.
    pub retention: Retention,
    /// Bound on bytes queued for the writer; beyond it appends fail with `Busy`.
    pub max_pending_bytes: usize,
    /// Most bytes written per fsync (one group commit).
    pub max_commit_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 128 * 1024 * 1024,
            segment_max_age: Some(Duration::from_secs(24 * 3600)),
            retention: Retention::default(),
            max_pending_bytes: 64 * 1024 * 1024,
            max_commit_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What opening the log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut from the tail of the last segment (a write torn by a crash).
    pub truncated_bytes: u64,
    /// Why the tail was invalid, when something was cut.
    pub reason: Option<String>,
    /// Segments deleted by retention.
    pub deleted_segments: usize,
}

/// State shared by the log handle, its writer thread and in-process readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    /// Offset one past the last durable record; readers never go beyond it.
    pub(crate) durable_end: Mutex<u64>,
    pub(crate) advanced: Condvar,
    pending_bytes: AtomicUsize,
    stopped: AtomicBool,
    /// The error of the last commit, while writes fail (disk full, I/O error); cleared by the
    /// next commit that succeeds.
    failure: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn durable_end(&self) -> u64 {
        *self.durable_end.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the durable end passes `offset` or `timeout` elapses; returns the end.
    pub(crate) fn wait_past(&self, offset: u64, timeout: Duration) -> u64 {
        let guard = self.durable_end.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) =
            self.advanced.wait_timeout_while(guard, timeout, |end| *end <= offset).unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

struct AppendRequest {
    records: Vec<Record>,
    bytes: usize,
    reply: oneshot::Sender<Result<AppendAck, LogError>>,
}

/// An open topic of the embedded log. Cheap to share behind an `Arc`; dropping the last handle
/// lets the writer finish what is queued and stop.
pub struct EmbeddedLog {
    shared: Arc<Shared>,
    config: LogConfig,
    requests: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    recovery: Recovery,
    _lock: File,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog").field("dir", &self.shared.dir).finish()
    }
}

impl EmbeddedLog {
    /// Opens (creating if needed) the topic in `dir`, cuts any torn tail, applies retention and
    /// starts the writer. Fails with [`LogError::Locked`] if another process has it open.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir).map_err(LogError::io("create", dir))?;
        let lock_path = dir.join("writer.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(LogError::io("open", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(LogError::Locked(dir.to_path_buf()));
        }
        let mut recovery = Recovery::default();
        let mut segments = list_segments(dir)?;
        let (base, next_offset) = match segments.last() {
            Some((base, path)) => {
                let scan = scan_segment(path, *base)?;
                if scan.invalid_bytes > 0 {
                    tracing::warn!(
                        segment = %path.display(),
                        cut_bytes = scan.invalid_bytes,
                        reason = scan.stop_reason.as_deref().unwrap_or(""),
                        "cutting the torn tail of the event log"
                    );
                    let file = OpenOptions::new().write(true).open(path).map_err(LogError::io("open", path))?;
                    file.set_len(scan.valid_bytes)
                        .and_then(|_| file.sync_all())
                        .map_err(LogError::io("truncate", path))?;
                    recovery.truncated_bytes = scan.invalid_bytes;
                    recovery.reason = scan.stop_reason;
                }
                (*base, scan.next_offset)
            }
            None => {
                segments.push((0, segment_path(dir, 0)));
                (0, 0)
            }
        };
        let mut active = ActiveSegment::open(dir, base)?;
        recovery.deleted_segments = active.enforce_retention(&config.retention)?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable_end: Mutex::new(next_offset),
            advanced: Condvar::new(),
            pending_bytes: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name(format!("log-writer-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("topic")))
            .spawn(move || run_writer(rx, &mut active, next_offset, &writer_shared, config))
            .map_err(LogError::io("spawn writer for", dir))?;
        Ok(Self {
            shared,
            config,
            requests: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            recovery,
            _lock: lock,
        })
    }

    /// What opening found and repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The topic directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Offset one past the last durable record.
    pub fn end_offset(&self) -> u64 {
        self.shared.durable_end()
    }

    /// Bytes queued for the writer right now.
    pub fn pending_bytes(&self) -> usize {
        self.shared.pending_bytes.load(Ordering::Relaxed)
    }

    /// A reader from `offset` that sees only durable records and can wait for new ones.
    pub fn reader(&self, offset: u64) -> LogReader {
        LogReader::tailing(Arc::clone(&self.shared), offset)
    }

    /// A consumer in `group`, starting where the group last committed (or at the beginning).
    pub fn consumer(&self, group: &str) -> Result<EmbeddedConsumer, LogError> {
        let cursors = CursorStore::new(&self.shared.dir);
        let start = cursors.load(group)?.unwrap_or(0);
        Ok(EmbeddedConsumer { reader: self.reader(start), cursors, group: group.to_owned() })
    }

    /// Lets the writer finish what is queued, then stops it. Later appends fail.
    pub fn close(&self) {
        drop(self.requests.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }

    /// Reads every durable record from `offset` on (for tests and tools).
    pub fn read_all(&self, offset: u64) -> Result<Vec<StoredRecord>, LogError> {
        let mut reader = self.reader(offset);
        let mut out = Vec::new();
        loop {
            let batch = reader.read_batch(10_000)?;
            if batch.is_empty() {
                return Ok(out);
            }
            out.extend(batch);
        }
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl EventSink for EmbeddedLog {
    fn append(&self, records: Vec<Record>) -> Result<PendingAppend, AppendError> {
        if let Some(big) = records.iter().map(Record::encoded_len).find(|&n| n > MAX_BODY_BYTES) {
            return Err(AppendError::RecordTooLarge(big, MAX_BODY_BYTES));
        }
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(LogError::WriterStopped.into());
        }
        let bytes: usize = records.iter().map(Record::encoded_len).sum();
        let limit = self.config.max_pending_bytes;
        let before = self.shared.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        // An empty queue always takes one request, however large, so nothing is refused forever.
        if before > 0 && before + bytes > limit {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(AppendError::Busy { pending_bytes: before, limit });
        }
        let (reply, ack) = oneshot::channel();
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(AppendRequest { records, bytes, reply }).is_ok());
        if sent != Some(true) {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(LogError::WriterStopped.into());
        }
        Ok(Box::pin(async move { ack.await.map_err(|_| LogError::WriterStopped)? }))
    }

    fn problem(&self) -> Option<String> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Some("the event log's writer has stopped".into());
        }
        self.shared.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A consumer of the embedded log whose position is a persisted cursor.
#[derive(Debug)]
pub struct EmbeddedConsumer {
    reader: LogReader,
    cursors: CursorStore,
    group: String,
}

impl EventSource for EmbeddedConsumer {
    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let batch = self.reader.read_batch(max_records)?;
        if !batch.is_empty() {
            return Ok(batch);
        }
        self.reader.wait(timeout);
        self.reader.read_batch(max_records)
    }

    fn commit(&mut self) -> Result<(), LogError> {
        self.cursors.commit(&self.group, self.reader.next_offset())
    }
}

impl ActiveSegment {
    /// Deletes whole closed segments per `retention`; returns how many.
    fn enforce_retention(&self, retention: &Retention) -> Result<usize, LogError> {
        let segments = list_segments(&self.dir)?;
        let infos: Vec<SegmentInfo> = segments
            .iter()
            .map(|(_, path)| {
                let meta = std::fs::metadata(path).map_err(LogError::io("stat", path))?;
                Ok(SegmentInfo { bytes: meta.len(), modified: meta.modified().unwrap_or(SystemTime::now()) })
            })
            .collect::<Result<_, LogError>>()?;
        let delete = retention.segments_to_delete(&infos, SystemTime::now());
        for (base, path) in segments.iter().take(delete) {
            if *base == self.base {
                break;
            }
            std::fs::remove_file(path).map_err(LogError::io("delete", path))?;
            tracing::info!(segment = %path.display(), "retention deleted a segment");
        }
        if delete > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(delete)
    }
}

const RETENTION_CHECK_EVERY: Duration = Duration::from_secs(60);

/// The writer thread: takes every request queued since the last commit, writes them in one
/// go, fsyncs once, then acknowledges them all (group commit).
fn run_writer(
    requests: mpsc::Receiver<AppendRequest>,
    active: &mut ActiveSegment,
    mut next_offset: u64,
    shared: &Shared,
    config: LogConfig,
) {
    let mut buf = Vec::with_capacity(config.max_commit_bytes.min(4 << 20));
    let mut batch: Vec<AppendRequest> = Vec::new();
    let mut last_retention = Instant::now();
    let check_every = check_interval(&config);
    loop {
        let first = match requests.recv_timeout(check_every) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // No writes: the segment may still be due to close (and old ones to go).
                if let Err(e) = roll_if_due(active, next_offset, config, &mut last_retention, false) {
                    tracing::error!(error = %e, "closing an old segment failed; retrying later");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut bytes = first.bytes;
        batch.push(first);
        while bytes < config.max_commit_bytes {
            match requests.try_recv() {
                Ok(more) => {
                    bytes += more.bytes;
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let result = commit(active, &mut batch, &mut buf, next_offset, config, &mut last_retention, shared);
        shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
        match result {
            Ok(new_end) => {
                next_offset = new_end;
                if let Some(reason) = shared.failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    tracing::info!(%reason, "event log writes succeed again");
                }
            }
            Err(e) => {
                // Refuse this commit's requests (their clients retry), cut what it may have
                // written in part, and try the next commit: a full disk that gets space back,
                // or a transient I/O error, heals without a restart.
                let reason = e.to_string();
                let problem = Some(format!("event log cannot write: {reason}"));
                if std::mem::replace(&mut *shared.failure.lock().unwrap_or_else(|e| e.into_inner()), problem).is_none()
                {
                    tracing::error!(error = %reason, "event log write failed; appends are refused until a write succeeds");
                }
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(LogError::WriteFailed(reason.clone())));
                }
                if let Err(cut) = active.discard_unwritten() {
                    tracing::error!(error = %cut, "cutting a failed write; the next commit retries");
                }
            }
        }
    }
    if let Err(e) = active.close() {
        tracing::error!(error = %e, "closing the active segment failed; the next start will repair it");
    }
}

/// Starts a new segment at `next_offset` when the active one is full or too old (and holds
/// records), then applies retention when a segment closed or a while has passed; `writing`
/// says a commit follows (a full segment only matters then).
fn roll_if_due(
    active: &mut ActiveSegment,
    next_offset: u64,
    config: LogConfig,
    last_retention: &mut Instant,
    writing: bool,
) -> Result<(), LogError> {
    let age = SystemTime::now().duration_since(active.started).unwrap_or_default();
    let old = config.segment_max_age.is_some_and(|max| age >= max) && active.size > 0;
    if (writing && active.size >= config.segment_bytes) || old {
        active.close()?;
        *active = ActiveSegment::open(&active.dir, next_offset)?;
        active.enforce_retention(&config.retention)?;
        *last_retention = Instant::now();
    } else if last_retention.elapsed() > check_interval(&config) {
        active.enforce_retention(&config.retention)?;
        *last_retention = Instant::now();
    }
    Ok(())
}

/// How often the writer looks for segments to close or delete: every minute, or more often
/// when a segment age or the retention is shorter.
fn check_interval(config: &LogConfig) -> Duration {
    [config.segment_max_age, config.retention.max_age]
        .into_iter()
        .flatten()
        .map(|age| (age / 2).max(Duration::from_millis(10)))
        .fold(RETENTION_CHECK_EVERY, Duration::min)
}

/// Writes one group commit; on success publishes the new durable end to readers, then
/// acknowledges its requests (in that order, so an acknowledged record is always readable).
fn commit(
    active: &mut ActiveSegment,
    batch: &mut Vec<AppendRequest>,
    buf: &mut Vec<u8>,
    mut next_offset: u64,
    config: LogConfig,
    last_retention: &mut Instant,
    shared: &Shared,
) -> Result<u64, LogError> {
    roll_if_due(active, next_offset, config, last_retention, true)?;
    let bytes = batch.iter().map(|r| r.bytes).sum();
    let origin = active.begin(buf, bytes);
    let mut acks = Vec::with_capacity(batch.len());
    for request in batch.iter() {
        acks.push(AppendAck { count: request.records.len(), first_offset: next_offset });
        for record in &request.records {
            encode(record, next_offset, buf);
            next_offset += 1;
        }
    }
    active.write_durably(buf, origin)?;
    *shared.durable_end.lock().unwrap_or_else(|e| e.into_inner()) = next_offset;
    shared.advanced.notify_all();
    for (request, ack) in batch.drain(..).zip(acks) {
        let _ = request.reply.send(Ok(ack));
    }
    Ok(next_offset)
}
