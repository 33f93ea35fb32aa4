//! The bronze tables' schemas. Column names are snake_case; times are UTC timestamps in
//! microseconds (`timestamp` in Delta); JSON objects are kept whole as text.

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// Arrow type of every timestamp column: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The bronze table of every message as received.
pub const RAW_EVENTS: &str = "raw_events";

/// The bronze table of what the collector refused.
pub const DEAD_LETTERS: &str = "dead_letters";

/// The bronze tables, loaded from the event log.
pub const BRONZE_TABLES: &[&str] = &[RAW_EVENTS, DEAD_LETTERS];

/// The partition column of `raw_events`: the event's UTC date.
pub const RAW_EVENTS_PARTITION: &str = "event_date";

/// `raw_events`: every message of the event log as received (duplicates included).
pub fn raw_events() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("log_offset", DataType::Int64, false),
        text("message_id", false),
        text("type", false),
        text("event", true),
        text("name", true),
        text("user_id", true),
        text("anonymous_id", true),
        text("group_id", true),
        text("previous_id", true),
        Field::new("event_time", timestamp_type(), false),
        Field::new("received_at", timestamp_type(), false),
        Field::new("sent_at", timestamp_type(), true),
        Field::new("original_timestamp", timestamp_type(), true),
        text("ip", true),
        text("user_agent", true),
        text("page_url", true),
        text("page_path", true),
        text("page_referrer", true),
        text("page_title", true),
        text("utm_source", true),
        text("utm_medium", true),
        text("utm_campaign", true),
        text("utm_term", true),
        text("utm_content", true),
        text("library_name", true),
        text("library_version", true),
        text("properties", true),
        text("traits", true),
        text("context", true),
        Field::new(RAW_EVENTS_PARTITION, DataType::Date32, false),
    ]))
}

/// `dead_letters`: what the collector refused, why, and the raw payload.
pub fn dead_letters() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("log_offset", DataType::Int64, false),
        Field::new("received_at", timestamp_type(), false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("reason_code", DataType::Utf8, false),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("batch_index", DataType::Int64, true),
        Field::new("message_id", DataType::Utf8, true),
        Field::new("payload", DataType::Utf8, true),
        Field::new("payload_base64", DataType::Utf8, true),
    ]))
}
