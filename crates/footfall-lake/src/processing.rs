//! Exactly-once stream processing into the lake: the processor reads the event log in
//! micro-batches and commits its rows to `events`, `sessions`, `identities` and `metrics_1m`,
//! and the merges its identity rules refused to `dead_letters`.
//!
//! Each table's commits record, as a Delta `txn` (app id [`PROCESSOR_APP_ID`]), the log offset
//! up to which it holds every row the processor produces; every row knows the offset that
//! produced it. The processor's state is checkpointed to a file after the tables are
//! committed (atomically: temporary file, fsync, rename). After a crash the processor resumes
//! from its last checkpoint, replays the log deterministically, and each table keeps only the
//! replayed rows it does not hold yet — so the tables end identical to an uninterrupted run,
//! whatever the batch boundaries or where the crash happened.

use crate::error::LakeError;
use crate::location::Lake;
use crate::metrics::{RecentWindows, WindowRecord};
use crate::processed::{self, EVENTS, EVENTS_PARTITION, IDENTITIES, METRICS_1M, SESSIONS};
use crate::schema::DEAD_LETTERS;
use crate::table::LakeTable;
use footfall_log::LogReader;
use footfall_processor::geo::GeoDb;
use footfall_processor::live::{LiveSnapshot, LiveView};
use footfall_processor::pipeline::Counters;
use footfall_processor::{Outputs, Processor, ProcessorConfig, ProcessorState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The application id of the processor's `txn` actions.
pub const PROCESSOR_APP_ID: &str = "footfall-processor";

/// What the embedded event log is called in a dead letter's `endpoint` (`log://events/OFFSET`).
pub const DEFAULT_SOURCE: &str = "log://events";

/// Log records per micro-batch at most, by default.
pub const MAX_BATCH_RECORDS: usize = 100_000;

/// Checkpoints kept on disk (the newest few; older ones are removed).
const CHECKPOINTS_KEPT: usize = 2;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProcessReport {
    /// Log records read.
    pub records: usize,
    /// Rows committed to `events`.
    pub events: usize,
    /// Rows committed to `sessions`.
    pub sessions: usize,
    /// Rows committed to `identities`.
    pub identities: usize,
    /// Rows committed to `metrics_1m`.
    pub metrics: usize,
    /// Refused merges committed to `dead_letters`.
    pub refused_merges: usize,
    /// Delta commits made.
    pub commits: usize,
}

impl ProcessReport {
    /// Adds `other`'s rows and commits to these (a total over runs or streams).
    pub fn add(&mut self, other: &ProcessReport) {
        self.records += other.records;
        self.events += other.events;
        self.sessions += other.sessions;
        self.refused_merges += other.refused_merges;
        self.identities += other.identities;
        self.metrics += other.metrics;
        self.commits += other.commits;
    }
}

/// One output table and how far it is committed.
#[derive(Debug)]
struct Output {
    table: LakeTable,
    committed: u64,
}

impl Output {
    /// Appends the rows produced at or after the offset the table is complete up to (a replay
    /// skips the rest), in one commit marking it complete up to `end`; returns rows written.
    async fn append_new<T>(
        &mut self,
        app_id: &str,
        rows: &[T],
        produced_at: impl Fn(&T) -> u64,
        to_batch: impl Fn(&[&T]) -> Result<deltalake::arrow::record_batch::RecordBatch, LakeError>,
        end: u64,
    ) -> Result<usize, LakeError> {
        let new: Vec<&T> = rows.iter().filter(|r| produced_at(r) >= self.committed).collect();
        if !new.is_empty() {
            self.table.append(to_batch(&new)?, app_id, end as i64).await?;
        }
        self.committed = self.committed.max(end);
        Ok(new.len())
    }
}

/// The processor bound to its lake tables and checkpoint directory.
#[derive(Debug)]
pub struct ProcessingJob {
    app_id: String,
    processor: Processor,
    outputs: [Output; 5],
    /// What the stream is called in a dead letter's `endpoint` (`log://events`).
    source: String,
    checkpoints: PathBuf,
    max_batch_records: usize,
    checkpoint_every: Duration,
    last_checkpoint: Instant,
    checkpointed_offset: u64,
    commit_every: Duration,
    last_commit: Instant,
    pending: Outputs,
    live: LiveView,
    /// Records that were not Segment messages, with the reason, when kept (see
    /// [`ProcessingJob::keeping_unreadable`]).
    unreadable: Option<Vec<(u64, String)>>,
    /// Set when a commit failed: the rows it held are gone from memory, so this state must
    /// never be checkpointed; the job is to be reopened from its last checkpoint.
    failed: bool,
}

impl ProcessingJob {
    /// Opens (creating) the output tables in `lake` and resumes from the newest checkpoint in
    /// `checkpoints` (or from the start of the log).
    pub async fn open(lake: &Lake, checkpoints: &Path, config: ProcessorConfig) -> Result<Self, LakeError> {
        Self::open_stream(lake, checkpoints, config, PROCESSOR_APP_ID).await
    }

    /// Like [`Self::open`], for one of several streams (a Kafka partition) feeding the same
    /// tables: its progress is recorded under `app_id`, its state checkpointed in `checkpoints`.
    /// Streams are independent: each has its own offsets, state and `txn` marker.
    pub async fn open_stream(
        lake: &Lake,
        checkpoints: &Path,
        config: ProcessorConfig,
        app_id: &str,
    ) -> Result<Self, LakeError> {
        std::fs::create_dir_all(checkpoints)
            .map_err(|e| LakeError::Io { path: checkpoints.to_path_buf(), source: e })?;
        let mut config = config;
        config.sketch_key = crate::secret::lake_secret(lake).await?.sketch_key();
        let mut outputs = Vec::new();
        for (name, schema, partitions) in [
            (EVENTS, processed::events_schema(), &[EVENTS_PARTITION][..]),
            (SESSIONS, processed::sessions_schema(), &[][..]),
            (IDENTITIES, processed::identities_schema(), &[][..]),
            (METRICS_1M, processed::metrics_schema(), &[][..]),
            (DEAD_LETTERS, crate::schema::dead_letters(), &[][..]),
        ] {
            let table = LakeTable::open(lake, name, schema, partitions).await?;
            let committed = table.committed_version(app_id).await?.map_or(0, |v| v.max(0) as u64);
            outputs.push(Output { table, committed });
        }
        let outputs: [Output; 5] =
            outputs.try_into().map_err(|_| LakeError::Checkpoint("expected five output tables".into()))?;
        let state = newest_readable_checkpoint(checkpoints)?.unwrap_or_else(|| ProcessorState::new(&config));
        let checkpointed_offset = state.next_offset;
        Ok(Self {
            app_id: app_id.to_owned(),
            processor: Processor::new(&config, state),
            outputs,
            source: DEFAULT_SOURCE.to_owned(),
            checkpoints: checkpoints.to_path_buf(),
            max_batch_records: MAX_BATCH_RECORDS,
            checkpoint_every: Duration::from_secs(30),
            last_checkpoint: Instant::now(),
            checkpointed_offset,
            commit_every: Duration::ZERO,
            last_commit: Instant::now(),
            pending: Outputs::default(),
            live: LiveView::with_limits(config.max_event_names, config.live_max_persons),
            unreadable: None,
            failed: false,
        })
    }

    /// The windows `metrics_1m` does not hold yet: closed but not committed, and open.
    pub fn recent_windows(&self) -> RecentWindows {
        let mut windows: Vec<WindowRecord> = self.pending.metrics.iter().map(WindowRecord::from_row).collect();
        windows.extend(self.processor.state().windows().open().map(|(key, figures)| WindowRecord::open(key, figures)));
        let [.., metrics] = &self.outputs;
        RecentWindows { committed: metrics.committed, windows }
    }

    /// Places IPs (country, city) with `geo`.
    pub fn with_geo(self, geo: Arc<GeoDb>) -> Self {
        Self { processor: self.processor.with_geo(geo), ..self }
    }

    /// Names the stream in its dead letters' `endpoint` (`kafka://TOPIC/PARTITION`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Reads at most `records` log records per micro-batch.
    pub fn with_max_batch_records(mut self, records: usize) -> Self {
        self.max_batch_records = records.max(1);
        self
    }

    /// Checkpoints the state at most this often while running (and always at [`Self::checkpoint`]).
    pub fn with_checkpoint_interval(mut self, every: Duration) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// Commits processed rows at most this often (default: after every micro-batch). Processing
    /// more often than committing keeps the live view fresh without a Delta commit per pass.
    pub fn with_commit_interval(mut self, every: Duration) -> Self {
        self.commit_every = every;
        self
    }

    /// The live view now.
    pub fn live_snapshot(&mut self) -> LiveSnapshot {
        let (watermark, next) = (self.processor.state().watermark(), self.next_offset());
        self.live.snapshot(watermark, next)
    }

    /// The next log offset to process.
    pub fn next_offset(&self) -> u64 {
        self.processor.state().next_offset
    }

    /// What the processor has counted.
    pub fn counters(&self) -> Counters {
        self.processor.state().counters
    }

    /// The processor's state (open windows and the watermark, for live views).
    pub fn state(&self) -> &ProcessorState {
        self.processor.state()
    }

    /// Processes every record available in the log; `reader_from` gives a reader from an
    /// offset. Rows are committed per micro-batch, or when the commit interval has passed.
    pub async fn run_available(
        &mut self,
        reader_from: &(dyn Fn(u64) -> LogReader + Sync),
    ) -> Result<ProcessReport, LakeError> {
        let mut report = ProcessReport::default();
        let mut reader = reader_from(self.next_offset());
        loop {
            let records = reader.read_batch(self.max_batch_records)?;
            if records.is_empty() {
                // Caught up: what waited for the commit interval goes out once it has passed,
                // even when no more records come.
                self.flush_if_due(&mut report).await?;
                return Ok(report);
            }
            self.process_records(&records, &mut report).await?;
        }
    }

    /// Processes `records` (of this job's stream, in offset order; those before
    /// [`Self::next_offset`] were processed already and are skipped), committing when a
    /// micro-batch is full or the commit interval has passed.
    pub async fn process_records(
        &mut self,
        records: &[footfall_log::StoredRecord],
        report: &mut ProcessReport,
    ) -> Result<(), LakeError> {
        // A range fetched again (Kafka: a partition revoked and reassigned within one poll)
        // starts a new run of rising offsets; each run skips what was processed already.
        let mut rest = records;
        while !rest.is_empty() {
            let rising = 1 + rest.windows(2).take_while(|w| w[0].offset < w[1].offset).count();
            let (run, after) = rest.split_at(rising);
            self.process_run(run, report).await?;
            rest = after;
        }
        Ok(())
    }

    /// Processes records of rising offsets, skipping those before [`Self::next_offset`] (a
    /// replay's leading run).
    async fn process_run(
        &mut self,
        records: &[footfall_log::StoredRecord],
        report: &mut ProcessReport,
    ) -> Result<(), LakeError> {
        let next = self.next_offset();
        let records = &records[records.iter().take_while(|r| r.offset < next).count()..];
        if records.is_empty() {
            return Ok(());
        }
        report.records += records.len();
        let first_new = self.pending.events.len();
        for (offset, input) in parse_in_parallel(records) {
            let input = match (input, self.unreadable.as_mut()) {
                (Ok(input), _) => Some(input),
                (Err(reason), Some(unreadable)) => {
                    unreadable.push((offset, reason));
                    None
                }
                (Err(_), None) => None,
            };
            self.processor.process_parsed(offset, input, &mut self.pending);
        }
        for row in &self.pending.events[first_new..] {
            self.live.observe(row);
        }
        if self.last_commit.elapsed() >= self.commit_every || self.pending.events.len() >= self.max_batch_records {
            self.flush(report).await?;
        }
        Ok(())
    }

    /// Commits what is pending if the commit interval has passed, and checkpoints if that
    /// interval has (for a caught-up stream, whose last rows would otherwise wait).
    pub async fn flush_if_due(&mut self, report: &mut ProcessReport) -> Result<(), LakeError> {
        if !self.pending.is_empty() && self.last_commit.elapsed() >= self.commit_every {
            self.flush(report).await?;
        } else if self.pending.is_empty() && self.last_checkpoint.elapsed() >= self.checkpoint_every {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Keeps the offsets of records that are not Segment messages, with the reason, until
    /// [`Self::take_unreadable`] (for a source that other producers write to, whose bad
    /// records should be dead-lettered; the collector's own log holds only valid ones).
    pub fn keeping_unreadable(mut self) -> Self {
        self.unreadable = Some(Vec::new());
        self
    }

    /// The unreadable records seen since the last call: offset and reason.
    pub fn take_unreadable(&mut self) -> Vec<(u64, String)> {
        self.unreadable.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The offset the newest checkpoint resumes from: every record before it is committed to
    /// the tables and covered by the saved state.
    pub fn checkpointed_offset(&self) -> u64 {
        self.checkpointed_offset
    }

    /// Commits every processed row not committed yet, then checkpoints if it is time.
    pub async fn flush(&mut self, report: &mut ProcessReport) -> Result<(), LakeError> {
        let out = std::mem::take(&mut self.pending);
        self.last_commit = Instant::now();
        if !out.is_empty() {
            self.commit(out, report).await?;
        }
        if self.last_checkpoint.elapsed() >= self.checkpoint_every {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Commits what is pending and checkpoints: what a clean stop does.
    pub async fn finish(&mut self) -> Result<ProcessReport, LakeError> {
        let mut report = ProcessReport::default();
        let out = std::mem::take(&mut self.pending);
        if !out.is_empty() {
            self.commit(out, &mut report).await?;
        }
        self.checkpoint()?;
        Ok(report)
    }

    /// Commits each table's new rows, tagged with the offset processed up to.
    async fn commit(&mut self, out: Outputs, report: &mut ProcessReport) -> Result<(), LakeError> {
        // Poisoned until it succeeds: a failure part-way leaves rows neither here nor committed.
        self.failed = true;
        let end = self.next_offset();
        let app = self.app_id.as_str();
        let [events, sessions, identities, metrics, letters] = &mut self.outputs;
        let source = self.source.as_str();
        let written = [
            events.append_new(app, &out.events, |r| r.input.offset, processed::events_batch, end).await?,
            sessions.append_new(app, &out.sessions, |r| r.trigger_offset, processed::sessions_batch, end).await?,
            identities.append_new(app, &out.identities, |r| r.offset, processed::identities_batch, end).await?,
            metrics.append_new(app, &out.metrics, |r| r.trigger_offset, processed::metrics_batch, end).await?,
            letters
                .append_new(app, &out.refused, |r| r.offset, |rows| processed::refusals_batch(rows, source), end)
                .await?,
        ];
        report.events += written[0];
        report.sessions += written[1];
        report.identities += written[2];
        report.metrics += written[3];
        report.refused_merges += written[4];
        report.commits += written.iter().filter(|n| **n > 0).count();
        self.failed = false;
        Ok(())
    }

    /// Forgets an erased user's own `ids` while the job runs: commits what is pending first
    /// (the erasure of the tables that follows then deletes it too), then drops them from the
    /// state, the live view and every checkpoint kept, so their next event starts a new,
    /// unlinked person. Returns the state entries removed.
    pub async fn forget(&mut self, ids: &[String], report: &mut ProcessReport) -> Result<usize, LakeError> {
        self.flush(report).await?;
        let entries = self.processor.forget(ids);
        self.live.forget(ids);
        forget_in_checkpoints(&self.checkpoints, ids)?;
        Ok(entries)
    }

    /// Writes the state as a checkpoint (if it moved since the last one and every row it
    /// covers is committed) and removes older checkpoints.
    pub fn checkpoint(&mut self) -> Result<(), LakeError> {
        if self.failed {
            return Err(LakeError::Checkpoint(
                "a commit of this job failed; reopen it from its last checkpoint instead".into(),
            ));
        }
        let offset = self.next_offset();
        if offset == self.checkpointed_offset || !self.pending.is_empty() {
            return Ok(());
        }
        self.last_checkpoint = Instant::now();
        let path = self.checkpoints.join(format!("state-{offset:020}.bin"));
        write_checkpoint(&path, self.processor.state())?;
        self.checkpointed_offset = offset;
        let mut all = checkpoints_in(&self.checkpoints)?;
        all.sort();
        for (_, old) in all.iter().rev().skip(CHECKPOINTS_KEPT) {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}

/// A record parsed, or why it is not a Segment message.
type Parsed = (u64, Result<footfall_processor::InputEvent, String>);

/// The records parsed on two threads (half each), in log order.
fn parse_in_parallel(records: &[footfall_log::StoredRecord]) -> Vec<Parsed> {
    let parse = |part: &[footfall_log::StoredRecord]| {
        part.iter()
            .map(|r| (r.offset, footfall_processor::InputEvent::from_record(r).map_err(|e| e.to_string())))
            .collect::<Vec<_>>()
    };
    let (first, second) = records.split_at(records.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| parse(second));
        let mut parsed = parse(first);
        match other.join() {
            Ok(rest) => parsed.extend(rest),
            // A panic while parsing is a bug; parse that half again here to surface it.
            Err(_) => parsed.extend(parse(second)),
        }
        parsed
    })
}

/// Checkpoint files in `dir` with their offsets.
fn checkpoints_in(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LakeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LakeError::Io { path: dir.to_path_buf(), source: e })?;
    Ok(entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let offset = name.strip_prefix("state-")?.strip_suffix(".bin")?.parse().ok()?;
            Some((offset, entry.path()))
        })
        .collect())
}

/// The state of the newest checkpoint in `dir` that can be read. One that is corrupt, torn or
/// of another format version is passed over with a warning for the one before it; with none
/// left the processor replays the log from its start, and each table's `txn` mark keeps it
/// from writing again what it holds.
fn newest_readable_checkpoint(dir: &Path) -> Result<Option<ProcessorState>, LakeError> {
    let mut all = checkpoints_in(dir)?;
    all.sort();
    let found = !all.is_empty();
    for (offset, path) in all.into_iter().rev() {
        match read_checkpoint(&path) {
            Ok(state) if state.next_offset == offset => return Ok(Some(state)),
            Ok(state) => tracing::warn!(
                path = %path.display(), at = state.next_offset,
                "checkpoint holds the state of another offset than its name says; trying an older one"
            ),
            Err(error) => tracing::warn!(%error, "checkpoint passed over; trying an older one"),
        }
    }
    if found {
        tracing::warn!(
            dir = %dir.display(),
            "no readable checkpoint: replaying the log from its start (rows the tables hold are skipped)"
        );
    }
    Ok(None)
}

/// What every checkpoint file starts with: a magic number and the format version of the state
/// that follows. Bump the version whenever [`ProcessorState`]'s serialized form changes.
const CHECKPOINT_HEADER: &[u8; 6] = b"FFCK\x04\x00";

/// Writes `state` to `path` whole or not at all (a temporary file, synced, then renamed).
fn write_checkpoint(path: &Path, state: &ProcessorState) -> Result<(), LakeError> {
    let io = |path: &Path, source| LakeError::Io { path: path.to_path_buf(), source };
    let mut bytes = CHECKPOINT_HEADER.to_vec();
    postcard::to_io(state, &mut bytes)
        .map_err(|e| LakeError::Checkpoint(format!("serializing the state at offset {}: {e}", state.next_offset)))?;
    let temporary = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary).map_err(|e| io(&temporary, e))?;
        file.write_all(&bytes).map_err(|e| io(&temporary, e))?;
        file.sync_all().map_err(|e| io(&temporary, e))?;
    }
    std::fs::rename(&temporary, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent().and_then(|dir| std::fs::File::open(dir).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// What erasing ids from the checkpoints did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointErasure {
    /// Checkpoint files rewritten without the ids.
    pub rewritten: usize,
    /// Checkpoint files removed because this build cannot read them (nor would resume from
    /// them), so they cannot be cleaned.
    pub removed: usize,
    /// State entries removed (identity links, identified users, open sessions), over all files.
    pub entries: usize,
}

/// Erases an erased user's own `ids` from every processor checkpoint under `dir` (the
/// embedded stream's and each Kafka partition's, in subfolders), so that the person does not
/// come back on their next event. Only for checkpoints no running processor owns: a running one
/// forgets through [`ProcessingJob::forget`].
pub fn forget_in_checkpoints(dir: &Path, ids: &[String]) -> Result<CheckpointErasure, LakeError> {
    let mut erasure = CheckpointErasure::default();
    if !dir.is_dir() {
        return Ok(erasure);
    }
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| LakeError::Io { path: folder.clone(), source: e })?;
        folders.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        for (_, path) in checkpoints_in(&folder)? {
            match read_checkpoint(&path) {
                Ok(mut state) => {
                    erasure.entries += state.forget(ids);
                    write_checkpoint(&path, &state)?;
                    erasure.rewritten += 1;
                }
                Err(error) => {
                    tracing::warn!(%error, "removing a checkpoint this build cannot read, so cannot erase from");
                    std::fs::remove_file(&path).map_err(|e| LakeError::Io { path: path.clone(), source: e })?;
                    erasure.removed += 1;
                }
            }
        }
    }
    Ok(erasure)
}

fn read_checkpoint(path: &Path) -> Result<ProcessorState, LakeError> {
    let bytes = std::fs::read(path).map_err(|e| LakeError::Io { path: path.to_path_buf(), source: e })?;
    let Some(state) = bytes.strip_prefix(CHECKPOINT_HEADER.as_slice()) else {
        let version = match bytes.get(..4) {
            Some(b"FFCK") => format!("format version {:?}", bytes.get(4..6)),
            _ => "an older format (no header)".to_owned(),
        };
        return Err(LakeError::Checkpoint(format!(
            "{} is of {version}, this build reads version {}",
            path.display(),
            CHECKPOINT_HEADER[4]
        )));
    };
    postcard::from_bytes(state).map_err(|e| LakeError::Checkpoint(format!("{} is unreadable: {e}", path.display())))
}
