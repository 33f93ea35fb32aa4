//! The dead-letter topic's partitions loaded into the lake's `dead_letters` table (what the
//! dashboard's data-quality page and `footfall sql` read), exactly once: each commit records
//! the partition's next offset as a Delta `txn` (`footfall-loader/kafka/TOPIC/PARTITION`), and
//! a partition resumes from there. The letters the processor writes for unreadable records
//! come again when a partition is replayed (after a crash or a rebalance); they name the record
//! they are about (`kafka://TOPIC/PARTITION/OFFSET`), and one already in the table is skipped.

use footfall_lake::{schema, DeadLettersBuilder, Lake, LakeError, LakeTable, TableRows};
use footfall_log::StoredRecord;
use std::collections::HashSet;

/// The reason code of the processor's own dead letters.
pub(crate) const UNREADABLE: &str = "unreadable_record";

/// One dead-letter partition on its way into `dead_letters`.
#[derive(Debug)]
pub(crate) struct LetterStream {
    table: LakeTable,
    app_id: String,
    /// The offset the table holds every record before.
    committed: u64,
    pending: Vec<StoredRecord>,
    /// The records the processor's letters in the table are about.
    lettered: HashSet<String>,
    /// How addresses in the letters' payloads are stored (`[processor] ip`).
    ip_policy: footfall_processor::enrich::IpPolicy,
}

impl LetterStream {
    /// Opens `dead_letters` (creating it) and reads how far this partition is loaded.
    pub(crate) async fn open(
        lake: &Lake,
        topic: &str,
        partition: i32,
        ip_policy: footfall_processor::enrich::IpPolicy,
    ) -> Result<Self, LakeError> {
        let table = LakeTable::open(lake, schema::DEAD_LETTERS, schema::dead_letters(), &[]).await?;
        let app_id = format!("footfall-loader/kafka/{topic}/{partition}");
        let committed = table.committed_version(&app_id).await?.map_or(0, |v| v.max(0) as u64);
        let query = format!("SELECT endpoint FROM {} WHERE reason_code = '{UNREADABLE}'", schema::DEAD_LETTERS);
        let mut lettered = HashSet::new();
        for batch in footfall_lake::sql::query_if_exists(lake, schema::DEAD_LETTERS, &query).await?.unwrap_or_default()
        {
            // Strings may come back as views; cast them to plain strings to read them.
            let column =
                footfall_lake::arrow::compute::cast(batch.column(0), &footfall_lake::arrow::datatypes::DataType::Utf8)
                    .map_err(|e| LakeError::Worker(format!("reading dead-letter endpoints: {e}")))?;
            if let Some(endpoints) = column.as_any().downcast_ref::<footfall_lake::arrow::array::StringArray>() {
                lettered.extend(endpoints.iter().flatten().map(str::to_owned));
            }
        }
        tracing::debug!(partition, known = lettered.len(), "dead-letter stream open");
        Ok(Self { table, app_id, committed, pending: Vec::new(), lettered, ip_policy })
    }

    /// The next offset to read: after what is loaded and what is pending.
    pub(crate) fn next_offset(&self) -> u64 {
        self.pending.last().map_or(self.committed, |r| r.offset + 1)
    }

    /// The offset every record before which is in the table.
    pub(crate) fn committed_offset(&self) -> u64 {
        self.committed
    }

    /// Queues records (those already loaded or queued are skipped).
    pub(crate) fn push(&mut self, records: Vec<StoredRecord>) {
        let next = self.next_offset();
        self.pending.extend(records.into_iter().filter(|r| r.offset >= next));
    }

    /// Appends what is queued in one commit; returns rows written. A record that is not a
    /// dead letter is left out (and logged): the topic keeps it.
    pub(crate) async fn flush(&mut self) -> Result<usize, LakeError> {
        let Some(end) = self.pending.last().map(|r| r.offset + 1) else { return Ok(0) };
        let mut rows = DeadLettersBuilder::with_ip_policy(self.ip_policy);
        for record in &self.pending {
            if let Some(about) = processor_letter(&record.value) {
                if !self.lettered.insert(about) {
                    continue; // written again by a replay
                }
            }
            if let Err(error) = rows.push(record) {
                tracing::warn!(offset = record.offset, %error, "left a dead-letter record out of the lake");
            }
        }
        let written = rows.len();
        self.table.append(rows.finish()?, &self.app_id, end as i64).await?;
        self.committed = end;
        self.pending.clear();
        Ok(written)
    }
}

/// The record a processor's dead letter is about, if `value` is one.
fn processor_letter(value: &[u8]) -> Option<String> {
    let letter: footfall_collector::DeadLetter = serde_json::from_slice(value).ok()?;
    (letter.reason_code == UNREADABLE).then_some(letter.endpoint)
}
