//! Why a message was rejected. Each reason names the field and what was wrong with it, because
//! it is shown to the sender in the HTTP answer and kept with the dead letter.

use thiserror::Error;

/// A reason a Segment message is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The text is not JSON at all.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The JSON is valid but the message is not an object.
    #[error("message must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}, got {found}")]
    WrongType {
        /// The field's name as it appears on the wire.
        field: &'static str,
        /// What the field must be.
        expected: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A message of a batch does not say what it is.
    #[error("missing `type` (one of track, identify, page, screen, group, alias)")]
    MissingType,
    /// The `type` is not one of Segment's six.
    #[error("unknown type {0:?} (expected one of track, identify, page, screen, group, alias)")]
    UnknownType(String),
    /// Neither `userId` nor `anonymousId` is present (or both are empty).
    #[error("missing identity: a message needs `userId` or `anonymousId`")]
    MissingIdentity,
    /// A field the message type requires is absent or empty.
    #[error("{message_type} message requires `{field}`")]
    MissingField {
        /// The message type (`track`, `alias`, …).
        message_type: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A timestamp is not ISO-8601.
    #[error("`{field}` is not an ISO-8601 timestamp: {value:?}")]
    BadTimestamp {
        /// The field's name.
        field: &'static str,
        /// The value received (cut to 64 characters).
        value: String,
    },
    /// `messageId` is longer than Segment allows.
    #[error("`messageId` is {0} characters long; the limit is 100")]
    MessageIdTooLong(usize),
    /// The message is larger than Segment's per-message limit.
    #[error("message is {0} bytes; the limit is 32 KB (32768 bytes)")]
    MessageTooLarge(usize),
    /// The message with what the server adds (the batch's `context` and `sentAt`, `messageId`,
    /// `receivedAt`, `context.ip`) is larger than the stored limit.
    #[error("message is {0} bytes once the batch's context is merged in; the limit is 64 KB (65536 bytes)")]
    StoredMessageTooLarge(usize),
}

impl ValidationError {
    /// A short stable label for metrics and dashboards (`rejected{reason="..."}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::NotAnObject(_) => "not_an_object",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingType => "missing_type",
            Self::UnknownType(_) => "unknown_type",
            Self::MissingIdentity => "missing_identity",
            Self::MissingField { .. } => "missing_field",
            Self::BadTimestamp { .. } => "bad_timestamp",
            Self::MessageIdTooLong(_) => "message_id_too_long",
            Self::MessageTooLarge(_) | Self::StoredMessageTooLarge(_) => "message_too_large",
        }
    }
}
