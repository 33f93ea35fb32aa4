//! The exactly-once loader: event log → bronze tables, in micro-batches.
//!
//! Each micro-batch is one Delta commit whose `txn` action records the log offset the next
//! batch starts at. On start, and after any failure, the loader asks the table where it stands
//! and reads the log from there; a crash before the commit leaves only unreferenced data files
//! (removed by vacuum), a crash after it leaves the batch committed exactly once.

use crate::dead_letters::DeadLettersBuilder;
use crate::error::LakeError;
use crate::location::Lake;
use crate::raw_events::RawEventsBuilder;
use crate::rows::TableRows;
use crate::schema;
use crate::table::LakeTable;
use deltalake::arrow::record_batch::RecordBatch;
use footfall_log::{LogReader, StoredRecord};
use footfall_processor::enrich::IpPolicy;

/// The application id of the loader's `txn` actions.
pub const LOADER_APP_ID: &str = "footfall-loader";

/// The application id of the `txn` actions with which the loader writes, to `dead_letters`,
/// the event-log records it could not turn into `raw_events` rows: their version is the event
/// log offset after the micro-batch they were in, so a replay writes each letter once.
pub const UNLOADABLE_APP_ID: &str = "footfall-loader/unloadable";

/// The reason code of a dead letter for an event-log record that could not be loaded.
pub const UNLOADABLE: &str = "unloadable_record";

/// Rows in one micro-batch at most, by default.
pub const MAX_BATCH_ROWS: usize = 100_000;

/// How one load went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Rows added to `raw_events`.
    pub events: usize,
    /// Rows added to `dead_letters`.
    pub dead_letters: usize,
    /// Log records that were not stored Segment messages: left out of their table (for the
    /// event log: written to `dead_letters` instead, with the reason).
    pub skipped: usize,
    /// Delta commits made.
    pub commits: usize,
}

/// The bronze tables of one lake.
#[derive(Debug)]
pub struct Loader {
    raw_events: LakeTable,
    dead_letters: LakeTable,
    max_batch_rows: usize,
    ip_policy: IpPolicy,
}

impl Loader {
    /// Opens (creating) `raw_events` and `dead_letters` in `lake`.
    pub async fn open(lake: &Lake) -> Result<Self, LakeError> {
        let raw_events =
            LakeTable::open(lake, schema::RAW_EVENTS, schema::raw_events(), &[schema::RAW_EVENTS_PARTITION]).await?;
        let dead_letters = LakeTable::open(lake, schema::DEAD_LETTERS, schema::dead_letters(), &[]).await?;
        Ok(Self { raw_events, dead_letters, max_batch_rows: MAX_BATCH_ROWS, ip_policy: IpPolicy::default() })
    }

    /// Commits at most `rows` log records per micro-batch (smaller batches: more, smaller
    /// commits and files, each sooner visible).
    pub fn with_max_batch_rows(mut self, rows: usize) -> Self {
        self.max_batch_rows = rows.max(1);
        self
    }

    /// Stores IP addresses (`raw_events.ip`, the `context` JSON, dead letters' payloads) as
    /// `policy` says: the processor's `[processor] ip`, so that no stored copy keeps more than
    /// `events` does. Default: truncated.
    pub fn with_ip_policy(mut self, policy: IpPolicy) -> Self {
        self.ip_policy = policy;
        self
    }

    /// Loads every record available in the two logs past what the tables already hold.
    /// `events_from` and `dead_letters_from` give a reader of each log from an offset.
    pub async fn load_available(
        &mut self,
        events_from: &(dyn Fn(u64) -> LogReader + Sync),
        dead_letters_from: &(dyn Fn(u64) -> LogReader + Sync),
    ) -> Result<LoadReport, LakeError> {
        let mut report = LoadReport::default();
        let (max, ip) = (self.max_batch_rows, self.ip_policy);
        let letters = Some(&mut self.dead_letters);
        let events =
            load_topic::<RawEventsBuilder>(&mut self.raw_events, letters, events_from, max, ip, &mut report).await?;
        report.events = events;
        let dead =
            load_topic::<DeadLettersBuilder>(&mut self.dead_letters, None, dead_letters_from, max, ip, &mut report)
                .await?;
        report.dead_letters = dead;
        Ok(report)
    }

    /// The tables, for queries.
    pub fn tables(&self) -> [&LakeTable; 2] {
        [&self.raw_events, &self.dead_letters]
    }
}

/// One micro-batch, built: its Arrow batches, the offset after it, rows and records left out
/// (each with the dead letter that says why).
struct Built {
    batches: Vec<RecordBatch>,
    version: i64,
    rows: usize,
    skipped: Vec<(LakeError, StoredRecord)>,
}

/// The dead letter of a log record that could not be loaded: its reason, where it is in the
/// log, and its bytes.
fn unloadable_letter(record: &StoredRecord, error: &LakeError) -> StoredRecord {
    let received_at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(record.timestamp_ms)
        .filter(|t| t.timestamp() > 0)
        .unwrap_or_else(chrono::Utc::now);
    let payload = String::from_utf8_lossy(&record.value);
    let letter = serde_json::json!({
        "reason": error.to_string(),
        "reasonCode": UNLOADABLE,
        "endpoint": format!("log://events/{}", record.offset),
        "receivedAt": footfall_event::format_timestamp(received_at),
        "payload": payload,
    });
    StoredRecord {
        partition: record.partition,
        offset: record.offset,
        key: Vec::new(),
        value: letter.to_string().into_bytes(),
        timestamp_ms: received_at.timestamp_millis(),
    }
}

/// Writes the dead letters of a micro-batch's unloadable records, unless a commit before a
/// crash already did (its `txn` version is this batch's).
async fn write_unloadable(letters: &mut LakeTable, built: &Built, ip: IpPolicy) -> Result<(), LakeError> {
    let done = letters.committed_version(UNLOADABLE_APP_ID).await?.unwrap_or(-1);
    if built.version <= done {
        return Ok(());
    }
    let mut rows = DeadLettersBuilder::with_ip_policy(ip);
    for (_, letter) in &built.skipped {
        rows.push(letter)?;
    }
    letters.append_batches(vec![rows.finish()?], UNLOADABLE_APP_ID, built.version).await
}

/// Loads one log into one table from where the table says it stands; returns rows added.
///
/// Pipelined: while micro-batch n is written and committed, micro-batch n+1 is read from the
/// log and turned into Arrow columns on a blocking thread (two threads, half the records
/// each). Commits stay in log order, each recording the offset after its batch.
async fn load_topic<R: TableRows + 'static>(
    table: &mut LakeTable,
    mut letters: Option<&mut LakeTable>,
    reader_from: &(dyn Fn(u64) -> LogReader + Sync),
    max_batch_rows: usize,
    ip: IpPolicy,
    report: &mut LoadReport,
) -> Result<usize, LakeError> {
    let start = table.committed_version(LOADER_APP_ID).await?.map_or(0, |v| v.max(0) as u64);
    let mut reader = Some(reader_from(start));
    let mut pending: Option<Built> = None;
    let mut added = 0;
    loop {
        let Some(mut log) = reader.take() else { return Err(LakeError::Worker("the log reader was lost".into())) };
        let next = tokio::task::spawn_blocking(move || {
            let built =
                log.read_batch(max_batch_rows).map_err(LakeError::from).and_then(|records| build::<R>(&records, ip));
            (log, built)
        });
        if let Some(built) = pending.take() {
            for (error, _) in &built.skipped {
                tracing::warn!(table = table.name(), %error, "left a log record out of its table");
            }
            report.skipped += built.skipped.len();
            if let Some(letters) = letters.as_deref_mut().filter(|_| !built.skipped.is_empty()) {
                write_unloadable(letters, &built, ip).await?;
            }
            table.append_batches(built.batches, LOADER_APP_ID, built.version).await?;
            report.commits += 1;
            added += built.rows;
        }
        let (log, built) = next.await.map_err(|e| LakeError::Worker(e.to_string()))?;
        reader = Some(log);
        match built? {
            Some(built) => pending = Some(built),
            None => return Ok(added),
        }
    }
}

/// Builds the rows of `records` on two threads; `None` when there are no records.
fn build<R: TableRows>(records: &[StoredRecord], ip: IpPolicy) -> Result<Option<Built>, LakeError> {
    let Some(last) = records.last().map(|r| r.offset) else { return Ok(None) };
    type Part = (RecordBatch, usize, Vec<(LakeError, StoredRecord)>);
    let part = |records: &[StoredRecord]| -> Result<Part, LakeError> {
        let mut rows = R::with_ip_policy(ip);
        let mut skipped = Vec::new();
        for record in records {
            if let Err(error) = rows.push(record) {
                let letter = unloadable_letter(record, &error);
                skipped.push((error, letter));
            }
        }
        let n = rows.len();
        Ok((rows.finish()?, n, skipped))
    };
    let (first, second) = records.split_at(records.len() / 2);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| part(second));
        let mine = part(first);
        (mine, other.join())
    });
    let b = b.map_err(|_| LakeError::Worker("a build thread panicked".into()))?;
    let (mut built, (batch_b, rows_b, skipped_b)) = (a?, b?);
    built.2.extend(skipped_b);
    Ok(Some(Built {
        batches: vec![built.0, batch_b],
        version: last as i64 + 1,
        rows: built.1 + rows_b,
        skipped: built.2,
    }))
}
