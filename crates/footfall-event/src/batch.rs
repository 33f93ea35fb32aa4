//! The envelope of `/v1/batch` and `/v1/import`: `{"batch": [...], "sentAt", "context",
//! "integrations", "writeKey"}`. Each element is kept raw so that one bad message never spoils
//! the others.

use crate::error::ValidationError;
use crate::json::{json_type, raw_str, RawObject};
use crate::limits::MAX_BATCH_MESSAGES;
use crate::message::{BatchItem, Message};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use thiserror::Error;

/// Why a whole batch request is refused (its messages are then not looked at one by one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// The body is not a JSON object with a `batch` array.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The body has no `batch` member.
    #[error("missing `batch`: a batch request is {{\"batch\": [ ...messages ]}}")]
    MissingBatch,
    /// More messages than Segment allows in one request.
    #[error("batch has {0} messages; the limit is 2500")]
    TooManyMessages(usize),
}

/// A message of a batch: parsed in the envelope's pass when it could be, else raw.
#[derive(Debug)]
pub enum BatchMessage<'a> {
    /// Parsed in the same pass as the envelope (the common case).
    Parsed(Message<'a>),
    /// Kept raw for a precise, byte-exact account of what is wrong with it.
    Raw(&'a RawValue),
}

/// A parsed batch envelope.
#[derive(Debug)]
pub struct BatchEnvelope<'a> {
    /// The messages.
    pub messages: Vec<BatchMessage<'a>>,
    /// `sentAt` of the whole batch, given to messages without their own.
    pub sent_at: Option<&'a RawValue>,
    /// `context` of the whole batch, merged under each message's context.
    pub context: Option<RawObject<'a>>,
    /// `writeKey` in the body.
    pub write_key: Option<Cow<'a, str>>,
}

/// The envelope as serde reads it in one pass over the body (the common, valid case).
#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(borrow)]
    batch: Option<Vec<BatchItem<'a>>>,
    #[serde(borrow, rename = "sentAt")]
    sent_at: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
    #[serde(borrow, rename = "writeKey")]
    write_key: Option<&'a RawValue>,
}

impl<'a> BatchEnvelope<'a> {
    /// Parses a batch request body: one pass over the bytes when it is well-formed; a second,
    /// slower look only to explain what is wrong when it is not.
    pub fn parse(text: &'a str) -> Result<Self, BatchError> {
        match serde_json::from_str::<WireEnvelope<'a>>(text) {
            // Any element that is not a message object is explained from its raw text instead.
            Ok(WireEnvelope { batch: Some(items), sent_at, context, write_key })
                if items.iter().all(|i| matches!(i, BatchItem::Message(m) if m.is_reproducible())) =>
            {
                let messages: Vec<BatchMessage<'a>> = items
                    .into_iter()
                    .filter_map(|item| match item {
                        BatchItem::Message(m) => Some(BatchMessage::Parsed(m)),
                        BatchItem::NotAnObject(_) => None,
                    })
                    .collect();
                if messages.len() > MAX_BATCH_MESSAGES {
                    return Err(BatchError::TooManyMessages(messages.len()));
                }
                let context = match context {
                    Some(raw) if json_type(raw) == "object" => serde_json::from_str(raw.get()).ok(),
                    _ => None,
                };
                let sent_at = checked_sent_at(sent_at)?;
                Ok(Self { messages, sent_at, context, write_key: write_key.and_then(raw_str) })
            }
            _ => Self::parse_explaining(text),
        }
    }

    /// The member-by-member parse, which names exactly what is wrong with a body.
    fn parse_explaining(text: &'a str) -> Result<Self, BatchError> {
        let first = text.trim_start().as_bytes().first().copied();
        if first != Some(b'{') {
            let raw: &RawValue = serde_json::from_str(text).map_err(|e| ValidationError::InvalidJson(e.to_string()))?;
            return Err(ValidationError::NotAnObject(json_type(raw)).into());
        }
        let object: RawObject<'a> =
            serde_json::from_str(text).map_err(|e| ValidationError::InvalidJson(e.to_string()))?;
        let batch = object.get("batch").ok_or(BatchError::MissingBatch)?;
        if json_type(batch) != "array" {
            return Err(
                ValidationError::WrongType { field: "batch", expected: "an array", found: json_type(batch) }.into()
            );
        }
        let messages: Vec<&'a RawValue> =
            serde_json::from_str(batch.get()).map_err(|e| ValidationError::InvalidJson(e.to_string()))?;
        if messages.len() > MAX_BATCH_MESSAGES {
            return Err(BatchError::TooManyMessages(messages.len()));
        }
        let context = match object.get("context") {
            Some(raw) if json_type(raw) == "object" => serde_json::from_str(raw.get()).ok(),
            _ => None,
        };
        Ok(Self {
            messages: messages.into_iter().map(BatchMessage::Raw).collect(),
            sent_at: checked_sent_at(object.get("sentAt"))?,
            context,
            write_key: object.get("writeKey").and_then(raw_str),
        })
    }
}

/// The envelope's `sentAt`, which is merged into every message without one: a string must be a
/// timestamp (else the stored messages could not be read back), anything else is ignored.
fn checked_sent_at(sent_at: Option<&RawValue>) -> Result<Option<&RawValue>, BatchError> {
    let Some(raw) = sent_at.filter(|raw| json_type(raw) == "string") else { return Ok(None) };
    let text = raw_str(raw).unwrap_or_default();
    if crate::time::parse_timestamp(&text).is_none() {
        let value = text.chars().take(64).collect();
        return Err(ValidationError::BadTimestamp { field: "sentAt", value }.into());
    }
    Ok(Some(raw))
}

#[cfg(test)]
mod sent_at_tests {
    use super::*;

    #[test]
    fn an_envelope_sent_at_that_is_not_a_timestamp_refuses_the_batch() {
        // Found by the `batch` fuzz target: merged into the message, it made it unreadable.
        for body in [
            r#"{"batch":[{"type":"screen","userId":"u"}],"sentAt":"0000-01Y-01T00:00:00Z"}"#,
            r#"{"batch":[{"type":"screen","userId":"u"}, 3],"sentAt":"+275760-09-13T00:00:00Z"}"#,
        ] {
            match BatchEnvelope::parse(body) {
                Err(BatchError::Invalid(ValidationError::BadTimestamp { field: "sentAt", .. })) => {}
                other => panic!("{body}: {other:?}"),
            }
        }
        let fine = BatchEnvelope::parse(r#"{"batch":[],"sentAt":"2026-11-25T10:00:00Z"}"#).expect("valid");
        assert!(fine.sent_at.is_some());
        let ignored = BatchEnvelope::parse(r#"{"batch":[],"sentAt":12}"#).expect("a number is ignored");
        assert!(ignored.sent_at.is_none());
    }
}
