//! Stored dead letters → `dead_letters` rows.

use crate::error::LakeError;
use crate::rows::TableRows;
use crate::schema;
use deltalake::arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use deltalake::arrow::record_batch::RecordBatch;
use footfall_log::StoredRecord;
use footfall_processor::enrich::IpPolicy;
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
    ip_policy: IpPolicy,
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
            ip_policy: IpPolicy::default(),
        }
    }
}

impl TableRows for DeadLettersBuilder {
    fn with_ip_policy(ip_policy: IpPolicy) -> Self {
        Self { ip_policy, ..Self::default() }
    }

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
        let [message_id, payload, payload_base64] = &mut self.optional;
        message_id.append_option(text("messageId"));
        payload.append_option(text("payload").map(|p| masked_ips(p, self.ip_policy)));
        payload_base64.append_option(text("payloadBase64"));
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

/// A dead letter's payload with the IP policy applied to the `context.ip` of the message, or
/// of each message of a batch, when it is JSON; other text is kept as it is (a refused body
/// that is not JSON cannot be read for addresses).
fn masked_ips(payload: String, policy: IpPolicy) -> String {
    if policy == IpPolicy::Keep || !payload.contains("\"ip\"") {
        return payload;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(&payload) else { return payload };
    let mask = |message: &mut Value| -> bool {
        let Some(context) = message.get_mut("context").and_then(Value::as_object_mut) else { return false };
        let Some(ip) = context.get("ip").and_then(Value::as_str) else { return false };
        match crate::raw_events::stored_ip(ip, policy) {
            Some(stored) if stored == ip => false,
            Some(stored) => {
                context.insert("ip".into(), Value::from(stored));
                true
            }
            None => {
                context.remove("ip");
                true
            }
        }
    };
    let mut changed = mask(&mut value);
    if let Some(batch) = value.get_mut("batch").and_then(Value::as_array_mut) {
        for message in batch {
            changed |= mask(message);
        }
    }
    if changed {
        value.to_string()
    } else {
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_json_payloads_follow_the_ip_policy() {
        let one = r#"{"type":"track","context":{"ip":"203.0.113.77"}}"#.to_owned();
        assert_eq!(masked_ips(one.clone(), IpPolicy::Keep), one);
        assert_eq!(masked_ips(one.clone(), IpPolicy::Truncate), r#"{"context":{"ip":"203.0.113.0"},"type":"track"}"#);
        assert_eq!(masked_ips(one, IpPolicy::Drop), r#"{"context":{},"type":"track"}"#);
        let batch = r#"{"batch":[{"context":{"ip":"198.51.100.9"}},{"type":"page"}]}"#.to_owned();
        assert!(!masked_ips(batch, IpPolicy::Drop).contains("198.51.100"));
        let text = "not json, \"ip\": 203.0.113.77".to_owned();
        assert_eq!(masked_ips(text.clone(), IpPolicy::Drop), text, "unreadable text is kept");
    }
}
