//! A message as stored in the event log, read back as the values of one bronze `raw_events`
//! row. The lake's loader turns these values into Arrow columns; keeping the reading here, with
//! no Arrow or Delta in sight, lets it be fuzzed on its own.

use crate::json::{json_type, raw_str};
use crate::{ContextField, Message};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// Text columns filled from the message's context, in `raw_events` order after
/// `original_timestamp`.
pub const CONTEXT_COLUMNS: [ContextField; 13] = [
    ContextField::Ip,
    ContextField::UserAgent,
    ContextField::PageUrl,
    ContextField::PagePath,
    ContextField::PageReferrer,
    ContextField::PageTitle,
    ContextField::CampaignSource,
    ContextField::CampaignMedium,
    ContextField::CampaignName,
    ContextField::CampaignTerm,
    ContextField::CampaignContent,
    ContextField::LibraryName,
    ContextField::LibraryVersion,
];

/// The values of one `raw_events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow<'a> {
    /// `message_id`, `type`, `event`, `name`, `user_id`, `anonymous_id`, `group_id`,
    /// `previous_id`, in that order.
    pub ids: [Option<Cow<'a, str>>; 8],
    /// When it happened (bounded: see [`crate::time::event_time`]).
    pub event_time: DateTime<Utc>,
    /// When the collector received it.
    pub received_at: DateTime<Utc>,
    /// The client's `sentAt`.
    pub sent_at: Option<DateTime<Utc>>,
    /// The client's own `timestamp`.
    pub original_timestamp: Option<DateTime<Utc>>,
    /// The context fields of [`CONTEXT_COLUMNS`].
    pub context: Vec<Option<Cow<'a, str>>>,
    /// `properties`, `traits` and `context` as JSON text, when they are objects.
    pub objects: [Option<Cow<'a, str>>; 3],
}

impl<'a> StoredRow<'a> {
    /// Reads a stored message; `record_time_ms` (the log record's time) stands in for a
    /// missing `receivedAt`. A message the collector could not have stored is refused with the
    /// reason.
    pub fn read(text: &'a str, record_time_ms: i64) -> Result<Self, String> {
        Self::read_with_ip(text, record_time_ms, &|ip| Some(ip.to_owned()))
    }

    /// [`Self::read`], with the context's `ip` (its column and inside the `context` JSON)
    /// replaced by what `ip` makes of it (`None`: left out): an IP policy applied to the stored
    /// copy.
    pub fn read_with_ip(
        text: &'a str,
        record_time_ms: i64,
        ip: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let message = Message::parse_stored(text).map_err(|e| e.to_string())?;
        let valid = message.validate(None).map_err(|e| e.to_string())?;
        let message_id = valid.message_id.clone().ok_or_else(|| "no messageId".to_owned())?;
        let received_at = message
            .received_at()
            .or_else(|| DateTime::<Utc>::from_timestamp_millis(record_time_ms))
            .ok_or_else(|| "no receivedAt".to_owned())?;
        let event_time = valid.event_time(received_at, true);
        let text_of = |key: &str| message.get(key).and_then(raw_str);
        let object_text =
            |key: &str| message.get(key).filter(|raw| json_type(raw) == "object").map(|raw| Cow::Borrowed(raw.get()));
        Ok(Self {
            ids: [
                Some(message_id),
                Some(valid.kind.as_str().into()),
                valid.event.clone(),
                text_of("name"),
                valid.user_id.clone(),
                valid.anonymous_id.clone(),
                text_of("groupId"),
                text_of("previousId"),
            ],
            event_time,
            received_at,
            sent_at: valid.sent_at,
            original_timestamp: valid.client_time,
            context: CONTEXT_COLUMNS
                .iter()
                .map(|field| match field {
                    ContextField::Ip => message.context_field(*field).and_then(|raw| ip(&raw)).map(Cow::Owned),
                    _ => message.context_field(*field),
                })
                .collect(),
            objects: [
                object_text("properties"),
                object_text("traits"),
                match message.context().and_then(|c| c.get("ip")) {
                    Some(raw) => message.context_json_with_ip(raw_str(raw).and_then(|t| ip(&t)).as_deref()),
                    None => message.context_json(),
                }
                .map(Cow::Owned),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_columns_of_a_stored_message_or_says_why_not() {
        let text = r#"{"type":"track","event":"Viewed","userId":"u","messageId":"m","receivedAt":"2026-11-01T00:00:10Z",
            "timestamp":"2026-11-01T00:00:00Z","context":{"page":{"path":"/a"}},"properties":{"x":1}}"#;
        let row = StoredRow::read(text, 0).expect("a stored message");
        assert_eq!(row.ids[0].as_deref(), Some("m"));
        assert_eq!(row.ids[2].as_deref(), Some("Viewed"));
        assert_eq!(row.context[3].as_deref(), Some("/a"));
        assert_eq!(row.objects[0].as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(row.event_time.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert!(
            StoredRow::read(r#"{"type":"track","event":"E","userId":"u"}"#, 0).is_err_and(|e| e.contains("messageId"))
        );
        assert!(StoredRow::read("[]", 0).is_err());
    }

    #[test]
    fn an_ip_policy_applies_to_the_column_and_the_context_json() {
        let text = r#"{"type":"track","event":"E","userId":"u","messageId":"m","context":{"library":{"name":"x"},"ip":"203.0.113.77","locale":"en"}}"#;
        let truncated = StoredRow::read_with_ip(text, 0, &|ip| Some(format!("{ip}/24"))).expect("row");
        assert_eq!(truncated.context[0].as_deref(), Some("203.0.113.77/24"));
        assert_eq!(
            truncated.objects[2].as_deref(),
            Some(r#"{"library":{"name":"x"},"ip":"203.0.113.77/24","locale":"en"}"#)
        );
        let dropped = StoredRow::read_with_ip(text, 0, &|_| None).expect("row");
        assert_eq!(dropped.context[0], None);
        assert_eq!(dropped.objects[2].as_deref(), Some(r#"{"library":{"name":"x"},"locale":"en"}"#));
        let kept = StoredRow::read(text, 0).expect("row");
        assert_eq!(kept.objects[2].as_deref(), Some(r#"{"library":{"name":"x"},"ip":"203.0.113.77","locale":"en"}"#));
    }
}
