//! footfall's event model: the messages of Segment's HTTP Tracking API, their validation, and
//! event time. No I/O happens here; the collector, the log and the processor all build on it.
//!
//! A message is parsed into a borrowed [`Message`] view over the request's bytes (nested
//! objects such as `properties` stay raw JSON text, so parsing costs little and nothing the
//! client sent is lost), checked by [`Message::validate`], and written back out by
//! [`Message::normalize`] as the JSON document that the event log stores.

pub mod batch;
pub mod context;
pub mod error;
pub mod json;
pub mod limits;
pub mod message;
pub mod stored;
pub mod time;

pub use batch::{BatchEnvelope, BatchError, BatchMessage};
pub use context::ContextField;
pub use error::ValidationError;
pub use message::{BatchItem, Message, MessageType, Normalized, Stamp, Validated};
pub use time::{event_time, format_timestamp, parse_timestamp};
