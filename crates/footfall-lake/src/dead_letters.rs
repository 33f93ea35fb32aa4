//! Stored dead letters → `dead_letters` rows.

use crate::error::LakeError;
use crate::rows::TableRows;
use crate::schema;
use deltalake::arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use deltalake::arrow::record_batch::RecordBatch;
use footfall_log::StoredRecord;
use serde_json::Value;
use std::sync::Arc;

/// Accumulates `dead_letters` rows; [`DeadLettersBuilder::finish`] makes a record batch.
#[derive(Debug)]
pub struct DeadLettersBuilder {
    log_offset: Int64Builder,
    received_at: TimestampMicrosecondBuilder,
    texts: [StringBuilder; 3],
    batch_index: Int64Builder,
    optional: [StringBuilder; 3],
    rows: usize,
}

impl Default for DeadLettersBuilder {
    fn default() -> Self {
        Self {
            log_offset: Int64Builder::new(),
            received_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            texts: std::array::from_fn(|_| StringBuilder::new()),
            batch_index: Int64Builder::new(),
            optional: std::array::from_fn(|_| StringBuilder::new()),
            rows: 0,
        }
    }
}

impl TableRows for DeadLettersBuilder {
    fn len(&self) -> usize {
        self.rows
    }

    /// Adds the row of one stored dead letter (as the collector writes them).
    fn push(&mut self, record: &StoredRecord) -> Result<(), LakeError> {
        let bad = |reason: String| LakeError::BadRecord { offset: record.offset, reason };
        let value: Value = serde_json::from_slice(&record.value).map_err(|e| bad(e.to_string()))?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let received_at = text("receivedAt")
            .and_then(|t| footfall_event::parse_timestamp(&t))
            .ok_or_else(|| bad("no receivedAt".into()))?;
        let required = [text("reason"), text("reasonCode"), text("endpoint")];
        if required.iter().any(Option::is_none) {
            return Err(bad("a dead letter needs reason, reasonCode and endpoint".into()));
        }
        self.log_offset.append_value(record.offset as i64);
        self.received_at.append_value(received_at.timestamp_micros());
        for (builder, value) in self.texts.iter_mut().zip(required) {
            builder.append_option(value);
        }
        self.batch_index.append_option(value.get("index").and_then(Value::as_i64));
        for (builder, key) in self.optional.iter_mut().zip(["messageId", "payload", "payloadBase64"]) {
            builder.append_option(text(key));
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows added so far as a batch of [`schema::dead_letters`]; the builder starts empty.
    fn finish(&mut self) -> Result<RecordBatch, LakeError> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.log_offset.finish()), Arc::new(self.received_at.finish())];
        columns.extend(self.texts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.push(Arc::new(self.batch_index.finish()));
        columns.extend(self.optional.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        self.rows = 0;
        Ok(RecordBatch::try_new(schema::dead_letters(), columns)?)
    }
}
