//! Small pieces of JSON handling the model needs beyond serde's derives: an object read as an
//! ordered list of raw members (so unknown fields pass through untouched and nested objects are
//! never built into trees), and the JSON type of a raw value.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string borrowed from the input when it has no escapes, owned otherwise.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct CowStr<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// A JSON object kept as its members in input order, each value as raw JSON text.
/// A key that appears twice keeps its last value, in its first position.
#[derive(Debug, Default, Clone)]
pub struct RawObject<'a> {
    /// The members, in the order first seen.
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Collects an object's members as raw values; shared by [`RawObject`] and [`MaybeObject`].
fn collect_members<'de: 'a, 'a, A: MapAccess<'de>>(mut map: A) -> Result<RawObject<'a>, A::Error> {
    let mut members = MemberList::with_capacity(map.size_hint().unwrap_or(16));
    while let Some(CowStr(key)) = map.next_key::<CowStr<'a>>()? {
        let value: &'a RawValue = map.next_value()?;
        members.insert(key, value);
    }
    Ok(RawObject { members: members.members })
}

/// Members being collected, a repeated key keeping its last value in its first position. Small
/// objects are searched in a line; past [`MemberList::INDEXED_FROM`] members a hash index takes
/// over, so an object of many keys costs time linear in its size, never quadratic.
struct MemberList<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    index: Option<std::collections::HashMap<Cow<'a, str>, usize>>,
}

impl<'a> MemberList<'a> {
    const INDEXED_FROM: usize = 32;

    fn with_capacity(capacity: usize) -> Self {
        Self { members: Vec::with_capacity(capacity.min(Self::INDEXED_FROM)), index: None }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn insert(&mut self, key: Cow<'a, str>, value: &'a RawValue) {
        if self.index.is_none() && self.members.len() >= Self::INDEXED_FROM {
            let index = self.members.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
            self.index = Some(index);
        }
        match &mut self.index {
            Some(index) => match index.get(&key) {
                Some(&i) => self.members[i].1 = value,
                None => {
                    index.insert(key.clone(), self.members.len());
                    self.members.push((key, value));
                }
            },
            None => match self.members.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => self.members.push((key, value)),
            },
        }
    }
}

/// A member read apart from the others, with its position among them.
pub type SetAside<'a> = Option<(usize, MaybeObject<'a>)>;

/// Like [`collect_members`], but the member `special` is read as a [`MaybeObject`] and kept
/// aside with its position among the other members.
pub fn collect_members_except<'de: 'a, 'a, A: MapAccess<'de>>(
    mut map: A,
    special: &str,
) -> Result<(RawObject<'a>, SetAside<'a>), A::Error> {
    let mut members = MemberList::with_capacity(map.size_hint().unwrap_or(16));
    let mut aside: Option<(usize, MaybeObject<'a>)> = None;
    while let Some(CowStr(key)) = map.next_key::<CowStr<'a>>()? {
        if key == special {
            let value: MaybeObject<'a> = map.next_value()?;
            let position = aside.as_ref().map_or(members.len(), |(p, _)| *p);
            aside = Some((position, value));
            continue;
        }
        let value: &'a RawValue = map.next_value()?;
        members.insert(key, value);
    }
    Ok((RawObject { members: members.members }, aside))
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectOrType(Members(std::marker::PhantomData)))?
            .map_err(|found| serde::de::Error::custom(format!("expected a JSON object, got {found}")))
    }
}

/// A value read one level deep when it is an object (its members, raw), or just its JSON type
/// when it is not. Lets a parent parse look inside a member in the same pass over the bytes.
#[derive(Debug)]
pub enum MaybeObject<'a> {
    /// An object's members.
    Object(RawObject<'a>),
    /// Any other value: its JSON type.
    Other(&'static str),
}

/// How an object is read by [`ObjectOrType`].
pub trait ObjectReader<'de> {
    /// What reading the object gives.
    type Output;
    /// Reads the object's members.
    fn read<A: MapAccess<'de>>(self, map: A) -> Result<Self::Output, A::Error>;
}

/// Visits any JSON value: an object is read by `R`; anything else is skipped and named by its
/// JSON type (`Err("array")`, …), for a precise error without a second pass.
pub struct ObjectOrType<R>(pub R);

impl<'de, R: ObjectReader<'de>> Visitor<'de> for ObjectOrType<R> {
    type Value = Result<R::Output, &'static str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.read(map).map(Ok)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Err("array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("string"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
}

struct Members<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> ObjectReader<'de> for Members<'a> {
    type Output = RawObject<'a>;
    fn read<A: MapAccess<'de>>(self, map: A) -> Result<RawObject<'a>, A::Error> {
        collect_members(map)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MaybeObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ObjectOrType(Members(std::marker::PhantomData)))?;
        Ok(value.map_or_else(MaybeObject::Other, MaybeObject::Object))
    }
}

/// Writes `key` as a JSON string. A borrowed key had no escapes in its (valid JSON) source, so
/// its bytes go out as they are; an owned one is escaped again.
#[allow(clippy::ptr_arg)] // the variant, not just the text, says whether escaping is needed
pub fn write_key(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    match key {
        Cow::Borrowed(k) => {
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(k) => write_str(out, k),
    }
}

/// The JSON type of a raw value, named as in error messages ("string", "object", …).
pub fn json_type(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        Some(_) => "number",
        None => "nothing",
    }
}

/// Reads a raw value as a string, borrowing when it has no escapes.
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if json_type(raw) != "string" {
        return None;
    }
    serde_json::from_str::<CowStr<'_>>(raw.get()).ok().map(|s| s.0)
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly as JSON requires; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The string `writeKey` at the top level of a request body, found without building any of the
/// rest (one linear pass that skips every other member), so a request can be authenticated
/// before its messages are parsed. `None` when the body is not a JSON object, has no string
/// `writeKey`, or names it twice.
pub fn top_level_write_key(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct KeyOnly<'a> {
        #[serde(borrow, rename = "writeKey")]
        write_key: Option<&'a RawValue>,
    }
    // serde reads a struct from an array too: only an object has members.
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let key = serde_json::from_str::<KeyOnly<'_>>(body).ok()?.write_key?;
    raw_str(key).map(Cow::into_owned)
}

#[cfg(test)]
mod write_key_tests {
    use super::top_level_write_key;

    #[test]
    fn finds_only_a_top_level_string_write_key() {
        assert_eq!(
            top_level_write_key(r#"{"batch":[{"writeKey":"inner"}],"writeKey":"k\u0031"}"#).as_deref(),
            Some("k1")
        );
        assert_eq!(top_level_write_key(r#"{"batch":[{"writeKey":"inner"}]}"#), None);
        assert_eq!(top_level_write_key(r#"{"writeKey":7}"#), None);
        assert_eq!(top_level_write_key(r#"{"writeKey":"a","writeKey":"b"}"#), None);
        assert_eq!(top_level_write_key(r#"["writeKey"]"#), None);
        assert_eq!(top_level_write_key(r#"{"writeKey":"k""#), None);
    }
}
