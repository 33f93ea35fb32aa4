//! A stored message, parsed once into the fields the operators read.

use crate::error::ProcessError;
use crate::Micros;
use chrono::{DateTime, Utc};
use footfall_event::json::raw_str;
use footfall_event::{ContextField, Message};
use footfall_log::StoredRecord;
use serde::{Deserialize, Serialize};

/// One message of the event log, owned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputEvent {
    /// Its offset in the log.
    pub offset: u64,
    /// `messageId`.
    pub message_id: String,
    /// `type`: track, page, screen, identify, group, alias.
    pub kind: String,
    /// `event` of a track call.
    pub event: Option<String>,
    /// `name` of a page or screen call.
    pub name: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `anonymousId`.
    pub anonymous_id: Option<String>,
    /// `previousId` of an alias call.
    pub previous_id: Option<String>,
    /// Event time (skew-corrected), µs.
    pub event_time: Micros,
    /// Server receipt time, µs.
    pub received_at: Micros,
    /// `context.ip`.
    pub ip: Option<String>,
    /// `context.userAgent`.
    pub user_agent: Option<String>,
    /// `context.page.url`.
    pub page_url: Option<String>,
    /// `context.page.path`.
    pub page_path: Option<String>,
    /// `context.page.referrer`.
    pub referrer: Option<String>,
    /// `context.campaign.source`.
    pub utm_source: Option<String>,
    /// `context.campaign.medium`.
    pub utm_medium: Option<String>,
    /// `context.campaign.name`.
    pub utm_campaign: Option<String>,
    /// `properties` as JSON text.
    pub properties: Option<String>,
    /// `traits` (identify, group) as JSON text.
    pub traits: Option<String>,
}

impl InputEvent {
    /// Parses a stored log record. A record it cannot read is an error naming why, never a
    /// panic: even a bug in parsing is caught here and reported as the record's error, so one
    /// record can never stop the processor on it for good (it would be next again after every
    /// restart).
    pub fn from_record(record: &StoredRecord) -> Result<Self, ProcessError> {
        let bad = |reason: String| ProcessError::BadRecord { offset: record.offset, reason };
        let text = std::str::from_utf8(&record.value).map_err(|e| bad(e.to_string()))?;
        let appended = DateTime::<Utc>::from_timestamp_millis(record.timestamp_ms);
        let parsed = std::panic::catch_unwind(|| Self::parse_received(text, appended))
            .unwrap_or_else(|_| Err("internal error while parsing the record (a bug: please report it)".to_owned()));
        let mut event = parsed.map_err(bad)?;
        event.offset = record.offset;
        Ok(event)
    }

    /// Parses stored message JSON (offset 0).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_received(text, None)
    }

    /// Parses stored message JSON (offset 0); `appended` (when the log took the record) stands
    /// in for a missing `receivedAt`, as the lake loader does.
    pub fn parse_received(text: &str, appended: Option<DateTime<Utc>>) -> Result<Self, String> {
        let message = Message::parse_stored(text).map_err(|e| e.to_string())?;
        let valid = message.validate(None).map_err(|e| e.to_string())?;
        let message_id = valid.message_id.as_deref().ok_or("no messageId")?.to_owned();
        let received_at = message.received_at().or(appended);
        let received: DateTime<Utc> = received_at.unwrap_or_default();
        let owned = |v: Option<std::borrow::Cow<'_, str>>| v.map(|s| s.into_owned());
        let text_of = |key: &str| message.get(key).and_then(raw_str).map(|s| s.into_owned());
        let object_of =
            |key: &str| message.get(key).filter(|raw| raw.get().starts_with('{')).map(|raw| raw.get().to_owned());
        Ok(Self {
            offset: 0,
            message_id,
            kind: valid.kind.as_str().to_owned(),
            event: owned(valid.event.clone()),
            name: text_of("name"),
            user_id: owned(valid.user_id.clone()),
            anonymous_id: owned(valid.anonymous_id.clone()),
            previous_id: text_of("previousId"),
            event_time: valid.event_time(received, true).timestamp_micros(),
            received_at: received_at.map_or(0, |t| t.timestamp_micros()),
            ip: owned(message.context_field(ContextField::Ip)),
            user_agent: owned(message.context_field(ContextField::UserAgent)),
            page_url: owned(message.context_field(ContextField::PageUrl)),
            page_path: owned(message.context_field(ContextField::PagePath)),
            referrer: owned(message.context_field(ContextField::PageReferrer)),
            utm_source: owned(message.context_field(ContextField::CampaignSource)),
            utm_medium: owned(message.context_field(ContextField::CampaignMedium)),
            utm_campaign: owned(message.context_field(ContextField::CampaignName)),
            properties: object_of("properties"),
            traits: object_of("traits"),
        })
    }

    /// The name analytics use: the track event's name, or the call type for the others
    /// (`page`, `screen`, `identify`, …).
    pub fn event_name(&self) -> &str {
        self.event.as_deref().unwrap_or(&self.kind)
    }
}
