//! One Segment message: parsed as a borrowed view, validated per type, and normalized into the
//! document the event log stores.
//!
//! Normalization keeps every member the client sent, byte for byte and in order, except that it
//! sets `type` (from the endpoint when the call names it), fills in `messageId` when absent,
//! stamps the server's `receivedAt`, adds the batch's `sentAt` and `context` where the message
//! lacks them, adds `context.ip` from the connection when absent, and drops `writeKey` (a secret).

use crate::error::ValidationError;
use crate::json::{
    collect_members_except, json_type, raw_str, write_key, write_str, MaybeObject, ObjectOrType, ObjectReader,
    RawObject, SetAside,
};
use crate::limits::{MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_CHARS, MAX_STORED_MESSAGE_BYTES};
use crate::time::parse_timestamp;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Segment's six message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// A user action (`event` names it).
    Track,
    /// Who the user is (`traits`).
    Identify,
    /// A web page view.
    Page,
    /// A mobile screen view.
    Screen,
    /// The user's membership of a group or account (`groupId`).
    Group,
    /// Two identities of one user (`previousId` → `userId`).
    Alias,
}

impl MessageType {
    /// Every type, in Segment's documentation order.
    pub const ALL: [MessageType; 6] = [Self::Track, Self::Identify, Self::Page, Self::Screen, Self::Group, Self::Alias];

    /// The name used on the wire and in URLs (`track`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Identify => "identify",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Group => "group",
            Self::Alias => "alias",
        }
    }

    /// The type for a wire name, if it is one of the six.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type of a one-letter endpoint as analytics.js posts them (`t` → track, `p` → page,
    /// `i` → identify, `s` → screen, `g` → group, `a` → alias).
    pub fn from_short_name(name: &str) -> Option<Self> {
        let mut chars = name.chars();
        let first = chars.next()?;
        if chars.next().is_some() {
            return None;
        }
        Self::ALL.into_iter().find(|t| t.as_str().starts_with(first))
    }
}

/// A message as received: its members in order, each value still raw JSON text.
#[derive(Debug)]
pub struct Message<'a> {
    /// Every top-level member but `context`.
    object: RawObject<'a>,
    /// `context`, read one level deep in the same pass, and its position among the members.
    context: SetAside<'a>,
}

/// The facts of a message that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated<'a> {
    /// What kind of call this is.
    pub kind: MessageType,
    /// The client's `messageId`, if it sent one.
    pub message_id: Option<Cow<'a, str>>,
    /// `userId` (a number is kept as its text).
    pub user_id: Option<Cow<'a, str>>,
    /// `anonymousId`.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `event` of a track call.
    pub event: Option<Cow<'a, str>>,
    /// The client's time of the call: `originalTimestamp`, else `timestamp`.
    pub client_time: Option<DateTime<Utc>>,
    /// `sentAt`, when the message carries it.
    pub sent_at: Option<DateTime<Utc>>,
}

impl Validated<'_> {
    /// When the event happened: the client's time corrected for its clock skew against
    /// `received_at` (see [`crate::time::event_time`]); `correct_skew` is false for imports.
    pub fn event_time(&self, received_at: DateTime<Utc>, correct_skew: bool) -> DateTime<Utc> {
        crate::time::event_time(self.client_time, self.sent_at, received_at, correct_skew)
    }

    /// The key that keeps one person's events together: `userId`, else `anonymousId`.
    pub fn person_key(&self) -> &str {
        self.user_id.as_deref().or(self.anonymous_id.as_deref()).unwrap_or_default()
    }

    /// The key that keeps one device's events together: `anonymousId`, else `userId` (what
    /// sessions are kept per).
    pub fn device_key(&self) -> &str {
        self.anonymous_id.as_deref().or(self.user_id.as_deref()).unwrap_or_default()
    }
}

/// What the server adds to every message of one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stamp<'s> {
    /// Server receipt time, already formatted (it is the same for the whole request).
    pub received_at: &'s str,
    /// The batch envelope's `sentAt`, applied to messages without their own.
    pub sent_at: Option<&'s RawValue>,
    /// The batch envelope's `context`, merged under each message's own context.
    pub context: Option<&'s RawObject<'s>>,
    /// The sender's IP address, set as `context.ip` when the message has none.
    pub ip: Option<&'s str>,
}

/// A message ready for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The JSON document stored in the log.
    pub json: Vec<u8>,
    /// The person key (`userId`, else `anonymousId`), the log's partition key by default.
    pub key: String,
    /// The device key (`anonymousId`, else `userId`), the partition key that keeps sessions
    /// whole.
    pub device_key: String,
    /// The message's `messageId` (generated when the client sent none).
    pub message_id: String,
}

impl<'a> Message<'a> {
    /// Parses one message from its JSON text, enforcing the 32 KB limit.
    pub fn parse(text: &'a str) -> Result<Self, ValidationError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(ValidationError::MessageTooLarge(text.len()));
        }
        Self::parse_stored(text)
    }

    /// Parses a message as the log stores it, whatever its size: the stored form of a message
    /// that was within the limits when sent may be larger (see
    /// [`crate::limits::MAX_STORED_MESSAGE_BYTES`]), and it must load all the same.
    pub fn parse_stored(text: &'a str) -> Result<Self, ValidationError> {
        let first = text.trim_start().as_bytes().first().copied();
        if first != Some(b'{') {
            // Name the JSON type for a clear error, if it is JSON at all.
            let raw: &RawValue = serde_json::from_str(text).map_err(|e| ValidationError::InvalidJson(e.to_string()))?;
            return Err(ValidationError::NotAnObject(json_type(raw)));
        }
        let MessageParts(object, context) =
            serde_json::from_str(text).map_err(|e| ValidationError::InvalidJson(e.to_string()))?;
        Ok(Self { object, context })
    }

    /// The raw value of a top-level member (other than `context`, see [`Message::context`]).
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.object.get(key)
    }

    /// The server's `receivedAt` of a stored message, when present and valid.
    pub fn received_at(&self) -> Option<DateTime<Utc>> {
        self.get("receivedAt").and_then(raw_str).and_then(|s| parse_timestamp(&s))
    }

    /// The members of `context`, when it is an object.
    pub fn context(&self) -> Option<&RawObject<'a>> {
        match &self.context {
            Some((_, MaybeObject::Object(members))) => Some(members),
            _ => None,
        }
    }

    /// `writeKey` in the body, which some clients send instead of HTTP Basic auth.
    pub fn write_key(&self) -> Option<Cow<'a, str>> {
        self.get("writeKey").and_then(raw_str)
    }

    /// Checks the message against Segment's rules for its type. `endpoint_type` is the type a
    /// single-message endpoint (`/v1/track`, …) implies; batch messages must carry `type`.
    pub fn validate(&self, endpoint_type: Option<MessageType>) -> Result<Validated<'a>, ValidationError> {
        let kind = match endpoint_type {
            Some(kind) => kind,
            None => {
                let name = self.string("type")?.ok_or(ValidationError::MissingType)?;
                MessageType::from_name(&name).ok_or_else(|| ValidationError::UnknownType(name.into_owned()))?
            }
        };
        let user_id = self.id("userId")?;
        let anonymous_id = self.id("anonymousId")?;
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(ValidationError::MissingIdentity);
        }
        let event = self.string("event")?;
        let required = match kind {
            MessageType::Track => Some(("event", event.is_some())),
            MessageType::Group => Some(("groupId", self.id("groupId")?.is_some())),
            MessageType::Alias => Some(("previousId", self.id("previousId")?.is_some())),
            _ => None,
        };
        if let Some((field, false)) = required {
            return Err(ValidationError::MissingField { message_type: kind.as_str(), field });
        }
        self.string("name")?;
        self.string("category")?;
        for field in ["properties", "traits", "integrations"] {
            self.object_member(field)?;
        }
        if let Some((_, MaybeObject::Other(found))) = &self.context {
            if *found != "null" {
                return Err(ValidationError::WrongType { field: "context", expected: "an object", found });
            }
        }
        let message_id = self.string("messageId")?;
        if let Some(id) = &message_id {
            let chars = id.chars().count();
            if chars > MAX_MESSAGE_ID_CHARS {
                return Err(ValidationError::MessageIdTooLong(chars));
            }
        }
        let timestamp = self.timestamp("timestamp")?;
        let original = self.timestamp("originalTimestamp")?;
        let sent_at = self.timestamp("sentAt")?;
        Ok(Validated { kind, message_id, user_id, anonymous_id, event, client_time: original.or(timestamp), sent_at })
    }

    /// [`Message::normalize`], refusing a message whose stored form would be larger than
    /// [`MAX_STORED_MESSAGE_BYTES`].
    pub fn normalize_within_limits(
        &self,
        valid: &Validated<'a>,
        stamp: &Stamp<'_>,
        new_message_id: impl FnOnce() -> String,
    ) -> Result<Normalized, ValidationError> {
        let normalized = self.normalize(valid, stamp, new_message_id);
        if normalized.json.len() > MAX_STORED_MESSAGE_BYTES {
            return Err(ValidationError::StoredMessageTooLarge(normalized.json.len()));
        }
        Ok(normalized)
    }

    /// Writes the stored form of a validated message (see the module docs) into `out`.
    /// `new_message_id` is called only when the client sent no `messageId`.
    pub fn normalize(
        &self,
        valid: &Validated<'a>,
        stamp: &Stamp<'_>,
        new_message_id: impl FnOnce() -> String,
    ) -> Normalized {
        let message_id = match &valid.message_id {
            Some(id) => id.to_string(),
            None => new_message_id(),
        };
        let mut out = Vec::with_capacity(
            self.object.members.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>() + 640,
        );
        out.push(b'{');
        let mut first = true;
        let mut member = |out: &mut Vec<u8>, key: &Cow<'_, str>| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_key(out, key);
            out.push(b':');
        };
        let (mut wrote_type, mut wrote_id, mut wrote_sent) = (false, false, false);
        let context_at = self.context.as_ref().map(|(position, _)| *position);
        for (index, (key, value)) in self.object.members.iter().enumerate() {
            if context_at == Some(index) {
                member(&mut out, &Cow::Borrowed("context"));
                write_context(&mut out, self.context(), stamp);
            }
            match key.as_ref() {
                "writeKey" | "receivedAt" => continue,
                "type" => {
                    member(&mut out, key);
                    write_str(&mut out, valid.kind.as_str());
                    wrote_type = true;
                }
                "messageId" if valid.message_id.is_none() => continue,
                "sentAt" if json_type(value) == "null" => continue,
                other => {
                    member(&mut out, key);
                    out.extend_from_slice(value.get().as_bytes());
                    wrote_id |= other == "messageId";
                    wrote_sent |= other == "sentAt";
                }
            }
        }
        let wrote_context = context_at.is_some_and(|at| at < self.object.members.len());
        if context_at == Some(self.object.members.len()) {
            member(&mut out, &Cow::Borrowed("context"));
            write_context(&mut out, self.context(), stamp);
        }
        if !wrote_type {
            member(&mut out, &Cow::Borrowed("type"));
            write_str(&mut out, valid.kind.as_str());
        }
        if !wrote_id {
            member(&mut out, &Cow::Borrowed("messageId"));
            write_str(&mut out, &message_id);
        }
        if !wrote_sent {
            if let Some(sent) = stamp.sent_at.filter(|s| json_type(s) == "string") {
                member(&mut out, &Cow::Borrowed("sentAt"));
                out.extend_from_slice(sent.get().as_bytes());
            }
        }
        if !wrote_context && context_at.is_none() && (stamp.ip.is_some() || stamp.context.is_some()) {
            member(&mut out, &Cow::Borrowed("context"));
            write_context(&mut out, None, stamp);
        }
        member(&mut out, &Cow::Borrowed("receivedAt"));
        write_str(&mut out, stamp.received_at);
        out.push(b'}');
        Normalized {
            json: out,
            key: valid.person_key().to_owned(),
            device_key: valid.device_key().to_owned(),
            message_id,
        }
    }

    fn string(&self, field: &'static str) -> Result<Option<Cow<'a, str>>, ValidationError> {
        match self.get(field) {
            None => Ok(None),
            Some(raw) => match json_type(raw) {
                "null" => Ok(None),
                "string" => Ok(raw_str(raw).filter(|s| !s.is_empty())),
                found => Err(ValidationError::WrongType { field, expected: "a string", found }),
            },
        }
    }

    /// An identifier: a string, or a number kept as its text (SDKs in typed languages send both).
    fn id(&self, field: &'static str) -> Result<Option<Cow<'a, str>>, ValidationError> {
        match self.get(field) {
            Some(raw) if json_type(raw) == "number" => Ok(Some(Cow::Borrowed(raw.get().trim()))),
            Some(raw) if !matches!(json_type(raw), "string" | "null") => {
                Err(ValidationError::WrongType { field, expected: "a string or number", found: json_type(raw) })
            }
            _ => self.string(field),
        }
    }

    fn object_member(&self, field: &'static str) -> Result<(), ValidationError> {
        match self.get(field).map(json_type) {
            None | Some("object" | "null") => Ok(()),
            Some(found) => Err(ValidationError::WrongType { field, expected: "an object", found }),
        }
    }

    fn timestamp(&self, field: &'static str) -> Result<Option<DateTime<Utc>>, ValidationError> {
        let Some(raw) = self.get(field) else { return Ok(None) };
        match json_type(raw) {
            "null" => Ok(None),
            "string" => {
                let text = raw_str(raw).unwrap_or_default();
                parse_timestamp(&text)
                    .map(Some)
                    .ok_or_else(|| ValidationError::BadTimestamp { field, value: text.chars().take(64).collect() })
            }
            found => Err(ValidationError::WrongType { field, expected: "an ISO-8601 string", found }),
        }
    }
}

/// Writes a message's context: the batch's context under the message's own members, plus
/// `ip` from the connection when neither has one.
fn write_context(out: &mut Vec<u8>, own: Option<&RawObject<'_>>, stamp: &Stamp<'_>) {
    let has_ip = |o: Option<&RawObject<'_>>| o.is_some_and(|o| o.get("ip").is_some());
    let add_ip = stamp.ip.filter(|_| !has_ip(own) && !has_ip(stamp.context));
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &Cow<'_, str>, value: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_key(out, key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    if let Some(ip) = add_ip {
        let mut quoted = Vec::with_capacity(ip.len() + 2);
        write_str(&mut quoted, ip);
        member(out, &Cow::Borrowed("ip"), &quoted);
    }
    if let Some(batch) = stamp.context {
        for (key, value) in &batch.members {
            if own.is_none_or(|o| o.get(key).is_none()) {
                member(out, key, value.get().as_bytes());
            }
        }
    }
    if let Some(own) = own {
        for (key, value) in &own.members {
            member(out, key, value.get().as_bytes());
        }
    }
    out.push(b'}');
}

/// A message's members, with `context` read one level deep, from one pass over the text.
struct MessageParts<'a>(RawObject<'a>, SetAside<'a>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for MessageParts<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_map(ObjectOrType(MessageReader(std::marker::PhantomData)))?;
        Ok(value.map_or_else(|_| MessageParts(RawObject::default(), None), |m| MessageParts(m.object, m.context)))
    }
}

/// One element of a batch array, read in the same pass over the bytes as the envelope.
#[derive(Debug)]
pub enum BatchItem<'a> {
    /// An object, parsed as a message.
    Message(Message<'a>),
    /// Anything else, with its JSON type.
    NotAnObject(&'static str),
}

/// Reads an object as a message (its members, `context` one level deep).
struct MessageReader<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> ObjectReader<'de> for MessageReader<'a> {
    type Output = Message<'a>;
    fn read<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Message<'a>, A::Error> {
        let (object, context) = collect_members_except(map, "context")?;
        Ok(Message { object, context })
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for BatchItem<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ObjectOrType(MessageReader(std::marker::PhantomData)))?;
        Ok(value.map_or_else(BatchItem::NotAnObject, BatchItem::Message))
    }
}

impl Message<'_> {
    /// Whether every member can be written back exactly as received (a `context` that is not
    /// an object, null aside, was read only for its type).
    pub fn is_reproducible(&self) -> bool {
        !matches!(&self.context, Some((_, MaybeObject::Other(t))) if *t != "null")
    }

    /// The message as compact JSON: its members as received, in order, without the whitespace
    /// between them. Its length is what the 32 KB limit applies to for messages of a batch.
    pub fn to_compact_json(&self) -> String {
        let mut out = Vec::with_capacity(self.compact_len());
        out.push(b'{');
        let context_at = self.context.as_ref().map(|(position, _)| *position);
        let mut first = true;
        let mut separator = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        let write_context = |out: &mut Vec<u8>| {
            out.extend_from_slice(b"\"context\":");
            match self.context() {
                Some(members) => write_members(out, members),
                None => out.extend_from_slice(b"null"),
            }
        };
        for (index, (key, value)) in self.object.members.iter().enumerate() {
            if context_at == Some(index) {
                separator(&mut out);
                write_context(&mut out);
            }
            separator(&mut out);
            write_key(&mut out, key);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        if context_at == Some(self.object.members.len()) {
            separator(&mut out);
            write_context(&mut out);
        }
        out.push(b'}');
        // Every piece is valid UTF-8 JSON text.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The `context` object as compact JSON text, when it is an object.
    pub fn context_json(&self) -> Option<String> {
        let mut out = Vec::new();
        write_members(&mut out, self.context()?);
        String::from_utf8(out).ok()
    }

    /// [`Self::context_json`] with its `ip` member replaced by `ip` (as a JSON string), or
    /// left out when `ip` is `None`: the context as stored under an IP policy.
    pub fn context_json_with_ip(&self, ip: Option<&str>) -> Option<String> {
        let quoted = ip.map(|ip| {
            let mut quoted = Vec::with_capacity(ip.len() + 2);
            write_str(&mut quoted, ip);
            quoted
        });
        let mut out = Vec::new();
        write_members_replacing(&mut out, self.context()?, Some(("ip", quoted.as_deref())));
        String::from_utf8(out).ok()
    }

    /// Bytes of [`Message::to_compact_json`], computed without writing it.
    pub fn compact_len(&self) -> usize {
        fn members_len(o: &RawObject<'_>) -> usize {
            2 + o.members.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>()
        }
        let context = match &self.context {
            Some((_, MaybeObject::Object(o))) => members_len(o) + 11,
            Some(_) => 15,
            None => 0,
        };
        members_len(&self.object) + context
    }
}

fn write_members(out: &mut Vec<u8>, object: &RawObject<'_>) {
    write_members_replacing(out, object, None);
}

/// [`write_members`], with the value of member `key` replaced by the given JSON (or the
/// member left out when it is `None`).
fn write_members_replacing(out: &mut Vec<u8>, object: &RawObject<'_>, replace: Option<(&str, Option<&[u8]>)>) {
    out.push(b'{');
    let mut first = true;
    for (key, value) in &object.members {
        let value = match replace {
            Some((replaced, with)) if key.as_ref() == replaced => match with {
                Some(with) => with,
                None => continue,
            },
            _ => value.get().as_bytes(),
        };
        if !first {
            out.push(b',');
        }
        first = false;
        write_key(out, key);
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
}
