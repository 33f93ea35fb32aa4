//! What a table's row builder does, so one loader loop serves every table.

use crate::error::LakeError;
use deltalake::arrow::record_batch::RecordBatch;
use footfall_log::StoredRecord;
use footfall_processor::enrich::IpPolicy;

/// Rows of one table, built from log records.
pub trait TableRows: Send + Sized {
    /// No rows yet; IP addresses in the records are stored as `ip_policy` says.
    fn with_ip_policy(ip_policy: IpPolicy) -> Self;
    /// Adds the row of one record, or refuses the record (leaving the rows as they were).
    fn push(&mut self, record: &StoredRecord) -> Result<(), LakeError>;
    /// Rows added since the last batch.
    fn len(&self) -> usize;
    /// Whether no row was added since the last batch.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The rows so far as one record batch; starts over empty.
    fn finish(&mut self) -> Result<RecordBatch, LakeError>;
}
