//! Dead letters: what was refused, why, and the raw bytes, so that nothing is lost and a fixed
//! payload can be replayed.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// One refused message (or a whole refused request body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Human-readable reason, naming the field at fault.
    pub reason: String,
    /// Stable code of the reason (`missing_identity`, `invalid_json`, …).
    pub reason_code: String,
    /// Server time of receipt (RFC 3339).
    pub received_at: String,
    /// The endpoint called (`/v1/batch`, …).
    pub endpoint: String,
    /// Position of the message in its batch, when it came in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The message's `messageId`, when one could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The raw payload, when it is UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The raw payload in base64, when it is not UTF-8 (for example a broken gzip stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

impl DeadLetter {
    /// A dead letter for `payload` refused for `reason`.
    pub fn new(reason: String, reason_code: &str, received_at: &str, endpoint: &str, payload: &[u8]) -> Self {
        let (payload, payload_base64) = match std::str::from_utf8(payload) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(payload))),
        };
        Self {
            reason,
            reason_code: reason_code.to_owned(),
            received_at: received_at.to_owned(),
            endpoint: endpoint.to_owned(),
            index: None,
            message_id: None,
            payload,
            payload_base64,
        }
    }

    /// The JSON document stored in the dead-letter log.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
