//! Turning one request body into log records and dead letters. Pure: no I/O, no clock, so it is
//! tested directly and measured in benchmarks.

use crate::dead_letter::DeadLetter;
use crate::error::ApiError;
use footfall_event::limits::MAX_MESSAGE_BYTES;
use footfall_event::{BatchEnvelope, BatchError, BatchMessage, Message, MessageType, Stamp, ValidationError};
use footfall_log::Record;
use serde::Serialize;

/// What the server knows about a request besides its body.
#[derive(Debug, Clone)]
pub struct RequestInfo<'s> {
    /// The path called (`/v1/batch`, …), kept with dead letters.
    pub endpoint: &'s str,
    /// Receipt time, RFC 3339 with milliseconds.
    pub received_at: &'s str,
    /// Receipt time in milliseconds since the epoch, the records' timestamp.
    pub received_at_ms: i64,
    /// The sender's IP, stamped as `context.ip` when a message has none.
    pub ip: Option<&'s str>,
    /// Key records by device (`anonymousId`, else `userId`) instead of by person.
    pub key_by_device: bool,
}

/// A message of a batch that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Position in the batch.
    pub index: usize,
    /// Its `messageId`, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Stable reason code.
    pub code: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

/// The outcome of one request body.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Valid messages, normalized, for the event log.
    pub records: Vec<Record>,
    /// Refused messages (or the whole body), for the dead-letter log.
    pub dead_letters: Vec<DeadLetter>,
    /// Accepted messages per type, indexed like [`MessageType::ALL`].
    pub accepted_by_type: [u64; 6],
    /// Refused messages of a batch, reported back to the client.
    pub rejected: Vec<Rejection>,
    /// Set when the request as a whole fails (the client gets this error after the dead
    /// letters are stored).
    pub failure: Option<ApiError>,
}

fn type_index(kind: MessageType) -> usize {
    MessageType::ALL.iter().position(|t| *t == kind).unwrap_or(0)
}

fn new_message_id() -> String {
    format!("ff-{}", uuid::Uuid::new_v4())
}

/// Ingests the body of a single-message endpoint (`/v1/track`, …).
pub fn ingest_single(text: &str, kind: MessageType, info: &RequestInfo<'_>) -> Ingested {
    let mut out = Ingested::default();
    let stamp = Stamp { received_at: info.received_at, sent_at: None, context: None, ip: info.ip };
    let result = Message::parse(text).and_then(|message| {
        let valid = message.validate(Some(kind))?;
        message.normalize_within_limits(&valid, &stamp, new_message_id)
    });
    match result {
        Ok(normalized) => {
            out.accepted_by_type[type_index(kind)] += 1;
            out.records.push(Record {
                key: if info.key_by_device { normalized.device_key } else { normalized.key }.into_bytes(),
                value: normalized.json,
                timestamp_ms: info.received_at_ms,
            });
        }
        Err(error) => {
            out.failure = Some(match error {
                ValidationError::MessageTooLarge(_) | ValidationError::StoredMessageTooLarge(_) => {
                    ApiError::TooLarge(error.to_string())
                }
                _ => ApiError::BadRequest(error.to_string()),
            });
            let mut dead =
                DeadLetter::new(error.to_string(), error.label(), info.received_at, info.endpoint, text.as_bytes());
            dead.message_id = message_id_of(text);
            out.dead_letters.push(dead);
        }
    }
    out
}

/// Ingests a `/v1/batch` or `/v1/import` body. Bad messages are refused one by one; the good
/// ones are kept. Imports are historical: the envelope's `sentAt` is not applied, so their
/// timestamps are taken as given rather than corrected for clock skew.
pub fn ingest_batch(text: &str, is_import: bool, info: &RequestInfo<'_>) -> Ingested {
    let mut out = Ingested::default();
    let envelope = match BatchEnvelope::parse(text) {
        Ok(envelope) => envelope,
        Err(error) => {
            let code = match &error {
                BatchError::Invalid(e) => e.label(),
                BatchError::MissingBatch => "missing_batch",
                BatchError::TooManyMessages(_) => "too_many_messages",
            };
            out.failure = Some(match error {
                BatchError::TooManyMessages(_) => ApiError::TooLarge(error.to_string()),
                _ => ApiError::BadRequest(error.to_string()),
            });
            out.dead_letters.push(DeadLetter::new(
                error.to_string(),
                code,
                info.received_at,
                info.endpoint,
                text.as_bytes(),
            ));
            return out;
        }
    };
    let stamp = Stamp {
        received_at: info.received_at,
        sent_at: if is_import { None } else { envelope.sent_at },
        context: envelope.context.as_ref(),
        ip: info.ip,
    };
    out.records.reserve(envelope.messages.len());
    for (index, item) in envelope.messages.into_iter().enumerate() {
        // Parsed with the envelope (the common case), or parsed now from its raw text.
        let reparsed;
        let message = match &item {
            BatchMessage::Parsed(message) if message.compact_len() > MAX_MESSAGE_BYTES => {
                Err(ValidationError::MessageTooLarge(message.compact_len()))
            }
            BatchMessage::Parsed(message) => Ok(message),
            BatchMessage::Raw(raw) if raw.get().len() > MAX_MESSAGE_BYTES => {
                Err(ValidationError::MessageTooLarge(raw.get().len()))
            }
            BatchMessage::Raw(raw) => match Message::parse(raw.get()) {
                Ok(message) => {
                    reparsed = message;
                    Ok(&reparsed)
                }
                Err(error) => Err(error),
            },
        };
        let result = message.and_then(|message| {
            let valid = message.validate(None)?;
            Ok((valid.kind, message.normalize_within_limits(&valid, &stamp, new_message_id)?))
        });
        match result {
            Ok((kind, normalized)) => {
                out.accepted_by_type[type_index(kind)] += 1;
                out.records.push(Record {
                    key: if info.key_by_device { normalized.device_key } else { normalized.key }.into_bytes(),
                    value: normalized.json,
                    timestamp_ms: info.received_at_ms,
                });
            }
            Err(error) => {
                let payload = match &item {
                    BatchMessage::Parsed(message) => message.to_compact_json(),
                    BatchMessage::Raw(raw) => raw.get().to_owned(),
                };
                let message_id = message_id_of(&payload);
                out.rejected.push(Rejection {
                    index,
                    message_id: message_id.clone(),
                    code: error.label(),
                    reason: error.to_string(),
                });
                let mut dead = DeadLetter::new(
                    error.to_string(),
                    error.label(),
                    info.received_at,
                    info.endpoint,
                    payload.as_bytes(),
                );
                dead.index = Some(index);
                dead.message_id = message_id;
                out.dead_letters.push(dead);
            }
        }
    }
    out
}

/// The `messageId` of a (possibly invalid) message, if it can be read at all.
fn message_id_of(text: &str) -> Option<String> {
    let message = Message::parse(text).ok()?;
    footfall_event::json::raw_str(message.get("messageId")?).map(|s| s.chars().take(100).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RequestInfo<'static> {
        RequestInfo {
            endpoint: "/v1/batch",
            received_at: "2026-11-25T10:00:00.000Z",
            received_at_ms: 1,
            ip: Some("10.1.2.3"),
            key_by_device: false,
        }
    }

    #[test]
    fn records_are_keyed_by_person_or_by_device() {
        let body = r#"{"batch":[{"type":"track","event":"E","userId":"u1","anonymousId":"a1"},
            {"type":"page","anonymousId":"a2"},{"type":"identify","userId":"u3"}]}"#;
        let keys = |key_by_device| {
            let info = RequestInfo { key_by_device, ..info() };
            ingest_batch(body, false, &info).records.into_iter().map(|r| r.key).collect::<Vec<_>>()
        };
        assert_eq!(keys(false), [b"u1".to_vec(), b"a2".to_vec(), b"u3".to_vec()]);
        assert_eq!(keys(true), [b"a1".to_vec(), b"a2".to_vec(), b"u3".to_vec()]);
    }

    #[test]
    fn a_batch_keeps_its_good_messages_and_dead_letters_the_bad_ones() {
        let body = r#"{"sentAt":"2026-11-25T10:00:00Z","writeKey":"k","batch":[
            {"type":"track","event":"Order Completed","userId":"u1","messageId":"m1"},
            {"type":"track","userId":"u2","messageId":"m2"},
            {"type":"fly","userId":"u3"},
            {"type":"identify","anonymousId":"a4","traits":{"plan":"pro"}},
            "not an object"
        ]}"#;
        let out = ingest_batch(body, false, &info());
        assert!(out.failure.is_none());
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.accepted_by_type, [1, 1, 0, 0, 0, 0]);
        let codes: Vec<_> = out.rejected.iter().map(|r| (r.index, r.code)).collect();
        assert_eq!(codes, [(1, "missing_field"), (2, "unknown_type"), (4, "not_an_object")]);
        assert_eq!(out.dead_letters.len(), 3);
        assert_eq!(out.dead_letters[0].message_id.as_deref(), Some("m2"));
        assert_eq!(out.dead_letters[0].payload.as_deref(), Some(r#"{"type":"track","userId":"u2","messageId":"m2"}"#));
        let first: serde_json::Value = serde_json::from_slice(&out.records[0].value).expect("json");
        assert_eq!(first["sentAt"], "2026-11-25T10:00:00Z");
        assert_eq!(first["receivedAt"], "2026-11-25T10:00:00.000Z");
        assert_eq!(first["context"]["ip"], "10.1.2.3");
        assert!(first.get("writeKey").is_none());
        assert_eq!(out.records[1].key, b"a4");
    }

    #[test]
    fn messages_parsed_with_the_envelope_dead_letter_as_compact_json_and_size_limits_hold() {
        let blob = "x".repeat(MAX_MESSAGE_BYTES);
        let body = format!(
            r#"{{"batch":[ {{ "type" : "track", "userId":"u", "context" : {{ "a" : [1, 2] }} }},
                {{"type":"page","userId":"u","properties":{{"blob":"{blob}"}}}},
                {{"type":"page","userId":"u","messageId":"ok"}} ]}}"#
        );
        let out = ingest_batch(&body, false, &info());
        assert_eq!(out.records.len(), 1);
        let codes: Vec<_> = out.rejected.iter().map(|r| (r.index, r.code)).collect();
        assert_eq!(codes, [(0, "missing_field"), (1, "message_too_large")]);
        assert_eq!(
            out.dead_letters[0].payload.as_deref(),
            Some(r#"{"type":"track","userId":"u","context":{"a":[1, 2]}}"#)
        );
    }

    #[test]
    fn a_whole_bad_body_is_one_dead_letter_and_a_400() {
        for (body, code) in [
            ("{not json", "invalid_json"),
            ("[1,2]", "not_an_object"),
            ("{}", "missing_batch"),
            (r#"{"batch":{}}"#, "wrong_type"),
        ] {
            let out = ingest_batch(body, false, &info());
            assert!(matches!(out.failure, Some(ApiError::BadRequest(_))), "{body}");
            assert_eq!(out.dead_letters.len(), 1);
            assert_eq!(out.dead_letters[0].reason_code, code, "{body}");
            assert!(out.records.is_empty());
        }
    }

    #[test]
    fn an_oversized_single_message_is_413() {
        let big = format!(r#"{{"userId":"u","event":"e","properties":{{"x":"{}"}}}}"#, "y".repeat(40_000));
        let out = ingest_single(&big, MessageType::Track, &info());
        assert!(matches!(out.failure, Some(ApiError::TooLarge(_))));
        assert_eq!(out.dead_letters[0].reason_code, "message_too_large");
    }
}
