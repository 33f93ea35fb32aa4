//! The stream processor's tables: silver `events`, `sessions`, `identities` and gold
//! `metrics_1m`, their schemas and their rows as Arrow batches. Every row keeps the log offset
//! that produced it (`log_offset` for events, `trigger_offset` for the rest), which is what
//! makes replays after a crash idempotent.

use crate::error::LakeError;
use crate::schema::timestamp_type;
use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use footfall_processor::identity::Link;
use footfall_processor::pipeline::{EventRow, MetricRow, RefusalRow, SessionRow};
use footfall_processor::MINUTE;
use std::sync::Arc;

/// Silver: each event once, enriched, with its person and session.
pub const EVENTS: &str = "events";
/// Silver: closed sessions.
pub const SESSIONS: &str = "sessions";
/// Silver: ids linked to persons (anonymous ids, aliases), for attributing earlier events.
pub const IDENTITIES: &str = "identities";
/// Gold: closed one-minute windows per event, device type and channel.
pub const METRICS_1M: &str = "metrics_1m";

/// The processor's tables, in the order they are committed.
pub const PROCESSED_TABLES: [&str; 4] = [EVENTS, SESSIONS, IDENTITIES, METRICS_1M];

/// The partition column of `events`.
pub const EVENTS_PARTITION: &str = "event_date";

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn required(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

/// `events`.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        required("log_offset", DataType::Int64),
        required("message_id", DataType::Utf8),
        required("type", DataType::Utf8),
        required("event", DataType::Utf8),
        required("person_id", DataType::Utf8),
        text("user_id"),
        text("anonymous_id"),
        text("session_id"),
        required("event_time", timestamp_type()),
        required("received_at", timestamp_type()),
        required("late", DataType::Boolean),
        required("is_bot", DataType::Boolean),
        text("browser"),
        text("os"),
        required("device_type", DataType::Utf8),
        required("channel", DataType::Utf8),
        text("host"),
        text("path"),
        text("referrer_host"),
        text("utm_source"),
        text("utm_medium"),
        text("utm_campaign"),
        Field::new("revenue", DataType::Float64, true),
        text("currency"),
        text("country"),
        text("city"),
        text("ip"),
        text("properties"),
        text("traits"),
        required(EVENTS_PARTITION, DataType::Date32),
    ]))
}

/// `sessions`.
pub fn sessions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        required("session_id", DataType::Utf8),
        required("person_id", DataType::Utf8),
        required("start_time", timestamp_type()),
        required("end_time", timestamp_type()),
        required("duration_seconds", DataType::Float64),
        required("events", DataType::Int64),
        required("page_views", DataType::Int64),
        text("landing_page"),
        text("exit_page"),
        required("channel", DataType::Utf8),
        required("device_type", DataType::Utf8),
        text("campaign"),
        required("bounced", DataType::Boolean),
        required("converted", DataType::Boolean),
        required("revenue", DataType::Float64),
        required("trigger_offset", DataType::Int64),
    ]))
}

/// `identities`.
pub fn identities_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        required("id", DataType::Utf8),
        required("person_id", DataType::Utf8),
        required("linked_at", timestamp_type()),
        required("trigger_offset", DataType::Int64),
    ]))
}

/// `metrics_1m`.
pub fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        required("window_start", timestamp_type()),
        required("window_seconds", DataType::Int64),
        required("event", DataType::Utf8),
        required("device_type", DataType::Utf8),
        required("channel", DataType::Utf8),
        required("events", DataType::Int64),
        required("uniques", DataType::Int64),
        required("persons_sketch", DataType::Binary),
        required("revenue", DataType::Float64),
        required("orders", DataType::Int64),
        required("trigger_offset", DataType::Int64),
    ]))
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, LakeError> {
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `events` rows as a batch.
pub fn events_batch(rows: &[&EventRow]) -> Result<RecordBatch, LakeError> {
    let mut offset = Int64Builder::new();
    let mut strings: Vec<StringBuilder> = (0..21).map(|_| StringBuilder::new()).collect();
    let (mut event_time, mut received_at) = (timestamps(), timestamps());
    let (mut late, mut bot) = (BooleanBuilder::new(), BooleanBuilder::new());
    let mut revenue = Float64Builder::new();
    let mut date = Date32Builder::new();
    let (mut properties, mut traits) = (StringBuilder::new(), StringBuilder::new());
    for row in rows {
        let e = &row.input;
        let x = &row.enriched;
        offset.append_value(e.offset as i64);
        let values: [Option<&str>; 21] = [
            Some(&e.message_id),
            Some(&e.kind),
            Some(e.event_name()),
            Some(&row.person_id),
            e.user_id.as_deref(),
            e.anonymous_id.as_deref(),
            row.session_id.as_deref(),
            Some(&x.agent.browser),
            Some(&x.agent.os),
            Some(x.agent.device_type),
            Some(x.channel),
            x.host.as_deref(),
            x.path.as_deref(),
            x.referrer_host.as_deref(),
            e.utm_source.as_deref(),
            e.utm_medium.as_deref(),
            e.utm_campaign.as_deref(),
            x.currency.as_deref(),
            x.country.as_deref(),
            x.city.as_deref(),
            x.ip.as_deref(),
        ];
        for (builder, value) in strings.iter_mut().zip(values) {
            builder.append_option(value);
        }
        event_time.append_value(e.event_time);
        received_at.append_value(e.received_at);
        late.append_value(row.late);
        bot.append_value(x.agent.is_bot);
        revenue.append_option(x.revenue);
        date.append_value(e.event_time.div_euclid(24 * 60 * MINUTE) as i32);
        properties.append_option(e.properties.as_deref());
        traits.append_option(e.traits.as_deref());
    }
    // Strings in builder order (see `values`): 0-6 before the times, 7-16 after the flags,
    // 17-20 after revenue.
    let s: Vec<ArrayRef> = strings.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(offset.finish())];
    columns.extend(s[0..7].iter().cloned());
    columns.extend([
        Arc::new(event_time.finish()) as ArrayRef,
        Arc::new(received_at.finish()),
        Arc::new(late.finish()),
        Arc::new(bot.finish()),
    ]);
    columns.extend(s[7..17].iter().cloned());
    columns.push(Arc::new(revenue.finish()));
    columns.extend(s[17..21].iter().cloned());
    columns.extend([Arc::new(properties.finish()) as ArrayRef, Arc::new(traits.finish()), Arc::new(date.finish())]);
    batch(events_schema(), columns)
}

/// `sessions` rows as a batch.
pub fn sessions_batch(rows: &[&SessionRow]) -> Result<RecordBatch, LakeError> {
    let (mut start, mut end) = (timestamps(), timestamps());
    let mut strings: Vec<StringBuilder> = (0..7).map(|_| StringBuilder::new()).collect();
    let (mut duration, mut revenue) = (Float64Builder::new(), Float64Builder::new());
    let (mut events, mut views, mut trigger) = (Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let (mut bounced, mut converted) = (BooleanBuilder::new(), BooleanBuilder::new());
    for row in rows {
        let s = &row.session;
        let values = [
            Some(s.session_id.as_str()),
            Some(s.person_id.as_str()),
            s.landing_page.as_deref(),
            s.exit_page.as_deref(),
            Some(s.channel.as_str()),
            Some(s.device_type.as_str()),
            s.campaign.as_deref(),
        ];
        for (builder, value) in strings.iter_mut().zip(values) {
            builder.append_option(value);
        }
        start.append_value(s.start);
        end.append_value(s.end);
        duration.append_value(s.duration_seconds());
        events.append_value(s.events as i64);
        views.append_value(s.page_views as i64);
        bounced.append_value(s.bounced());
        converted.append_value(s.converted);
        revenue.append_value(s.revenue);
        trigger.append_value(row.trigger_offset as i64);
    }
    // Strings in builder order: id, person, landing, exit, channel, device, campaign.
    let s: Vec<ArrayRef> = strings.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::clone(&s[0]),
        Arc::clone(&s[1]),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(duration.finish()),
        Arc::new(events.finish()),
        Arc::new(views.finish()),
        Arc::clone(&s[2]),
        Arc::clone(&s[3]),
        Arc::clone(&s[4]),
        Arc::clone(&s[5]),
        Arc::clone(&s[6]),
        Arc::new(bounced.finish()),
        Arc::new(converted.finish()),
        Arc::new(revenue.finish()),
        Arc::new(trigger.finish()),
    ];
    batch(sessions_schema(), columns)
}

/// `identities` rows as a batch.
pub fn identities_batch(rows: &[&Link]) -> Result<RecordBatch, LakeError> {
    let (mut id, mut person) = (StringBuilder::new(), StringBuilder::new());
    let mut linked = timestamps();
    let mut trigger = Int64Builder::new();
    for link in rows {
        id.append_value(&link.id);
        person.append_value(&link.person_id);
        linked.append_value(link.linked_at);
        trigger.append_value(link.offset as i64);
    }
    batch(
        identities_schema(),
        vec![Arc::new(id.finish()), Arc::new(person.finish()), Arc::new(linked.finish()), Arc::new(trigger.finish())],
    )
}

/// `metrics_1m` rows as a batch.
pub fn metrics_batch(rows: &[&MetricRow]) -> Result<RecordBatch, LakeError> {
    let mut start = timestamps();
    let (mut seconds, mut events, mut uniques, mut orders, mut trigger) =
        (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let (mut event, mut device, mut channel) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut sketch = BinaryBuilder::new();
    let mut revenue = Float64Builder::new();
    for row in rows {
        start.append_value(row.key.start);
        seconds.append_value(row.window_seconds);
        event.append_value(&row.key.event);
        device.append_value(&row.key.device_type);
        channel.append_value(&row.key.channel);
        events.append_value(row.events as i64);
        uniques.append_value(row.uniques as i64);
        sketch.append_value(&row.persons_sketch);
        revenue.append_value(row.revenue);
        orders.append_value(row.orders as i64);
        trigger.append_value(row.trigger_offset as i64);
    }
    batch(
        metrics_schema(),
        vec![
            Arc::new(start.finish()),
            Arc::new(seconds.finish()),
            Arc::new(event.finish()),
            Arc::new(device.finish()),
            Arc::new(channel.finish()),
            Arc::new(events.finish()),
            Arc::new(uniques.finish()),
            Arc::new(sketch.finish()),
            Arc::new(revenue.finish()),
            Arc::new(orders.finish()),
            Arc::new(trigger.finish()),
        ],
    )
}

/// Refused merges as `dead_letters` rows; `source` names the stream in `endpoint`
/// (`log://events/OFFSET`).
pub fn refusals_batch(rows: &[&RefusalRow], source: &str) -> Result<RecordBatch, LakeError> {
    let (mut offset, mut received) = (Int64Builder::new(), timestamps());
    let (mut reason, mut code, mut endpoint) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut index = Int64Builder::new();
    let (mut message_id, mut payload, mut base64) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for row in rows {
        offset.append_value(row.offset as i64);
        received.append_value(row.received_at);
        reason.append_value(&row.reason);
        code.append_value(row.reason_code);
        endpoint.append_value(format!("{source}/{}", row.offset));
        index.append_null();
        message_id.append_value(&row.message_id);
        payload.append_value(&row.payload);
        base64.append_null();
    }
    batch(
        crate::schema::dead_letters(),
        vec![
            Arc::new(offset.finish()),
            Arc::new(received.finish()),
            Arc::new(reason.finish()),
            Arc::new(code.finish()),
            Arc::new(endpoint.finish()),
            Arc::new(index.finish()),
            Arc::new(message_id.finish()),
            Arc::new(payload.finish()),
            Arc::new(base64.finish()),
        ],
    )
}
