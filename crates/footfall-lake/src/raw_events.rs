//! Stored log records → `raw_events` rows, column by column.

use crate::error::LakeError;
use crate::rows::TableRows;
use crate::schema;
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{ArrayRef, Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use deltalake::arrow::record_batch::RecordBatch;
use footfall_event::stored::{StoredRow, CONTEXT_COLUMNS};
use footfall_log::StoredRecord;
use footfall_processor::enrich::{privacy, IpPolicy};
use std::sync::Arc;

/// Accumulates `raw_events` rows; [`RawEventsBuilder::finish`] makes a record batch.
pub struct RawEventsBuilder {
    log_offset: Int64Builder,
    ids: [StringBuilder; 8],
    event_time: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    sent_at: TimestampMicrosecondBuilder,
    original_timestamp: TimestampMicrosecondBuilder,
    context_fields: Vec<StringBuilder>,
    objects: [StringBuilder; 3],
    event_date: Date32Builder,
    rows: usize,
    ip_policy: IpPolicy,
}

impl std::fmt::Debug for RawEventsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEventsBuilder").field("rows", &self.rows).finish()
    }
}

/// An IP address as `policy` stores it: as received, truncated or not at all (text that is
/// no address is kept only as received).
pub fn stored_ip(ip: &str, policy: IpPolicy) -> Option<String> {
    match policy {
        IpPolicy::Keep => Some(ip.to_owned()),
        _ => privacy(ip, policy),
    }
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn epoch_day(t: DateTime<Utc>) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (t.date_naive() - epoch).num_days() as i32
}

impl Default for RawEventsBuilder {
    fn default() -> Self {
        Self {
            log_offset: Int64Builder::new(),
            ids: std::array::from_fn(|_| StringBuilder::new()),
            event_time: timestamps(),
            received_at: timestamps(),
            sent_at: timestamps(),
            original_timestamp: timestamps(),
            context_fields: CONTEXT_COLUMNS.iter().map(|_| StringBuilder::new()).collect(),
            objects: std::array::from_fn(|_| StringBuilder::new()),
            event_date: Date32Builder::new(),
            rows: 0,
            ip_policy: IpPolicy::default(),
        }
    }
}

impl TableRows for RawEventsBuilder {
    fn with_ip_policy(ip_policy: IpPolicy) -> Self {
        Self { ip_policy, ..Self::default() }
    }

    fn len(&self) -> usize {
        self.rows
    }

    /// Adds the row of one stored record. A record that is not a valid stored Segment message
    /// (possible only when something other than the collector wrote the log) is refused whole,
    /// leaving the builder as it was.
    fn push(&mut self, record: &StoredRecord) -> Result<(), LakeError> {
        let bad = |reason: String| LakeError::BadRecord { offset: record.offset, reason };
        let text = std::str::from_utf8(&record.value).map_err(|e| bad(e.to_string()))?;
        let policy = self.ip_policy;
        let row = StoredRow::read_with_ip(text, record.timestamp_ms, &|ip| stored_ip(ip, policy)).map_err(bad)?;
        self.log_offset.append_value(record.offset as i64);
        for (builder, value) in self.ids.iter_mut().zip(&row.ids) {
            builder.append_option(value.as_deref());
        }
        self.event_time.append_value(row.event_time.timestamp_micros());
        self.received_at.append_value(row.received_at.timestamp_micros());
        self.sent_at.append_option(row.sent_at.map(|t| t.timestamp_micros()));
        self.original_timestamp.append_option(row.original_timestamp.map(|t| t.timestamp_micros()));
        for (builder, value) in self.context_fields.iter_mut().zip(&row.context) {
            builder.append_option(value.as_deref());
        }
        for (builder, value) in self.objects.iter_mut().zip(&row.objects) {
            builder.append_option(value.as_deref());
        }
        let event_time = row.event_time;
        self.event_date.append_value(epoch_day(event_time));
        self.rows += 1;
        Ok(())
    }

    /// The rows added so far as a batch of [`schema::raw_events`]; the builder starts empty.
    fn finish(&mut self) -> Result<RecordBatch, LakeError> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.log_offset.finish())];
        columns.extend(self.ids.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        for builder in [&mut self.event_time, &mut self.received_at, &mut self.sent_at, &mut self.original_timestamp] {
            columns.push(Arc::new(builder.finish()));
        }
        columns.extend(self.context_fields.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend(self.objects.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.push(Arc::new(self.event_date.finish()));
        self.rows = 0;
        Ok(RecordBatch::try_new(schema::raw_events(), columns)?)
    }
}
