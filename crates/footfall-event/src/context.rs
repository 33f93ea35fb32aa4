//! Typed read access to the `context` fields Segment defines (ip, userAgent, page, campaign,
//! device, os, locale, timezone, library). The context itself stays raw JSON; a field is read
//! only when asked for, so messages that nobody inspects cost nothing extra.

use crate::json::{json_type, raw_str, RawObject};
use crate::message::Message;
use std::borrow::Cow;

/// A string field of Segment's `context`, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextField {
    /// `context.ip`.
    Ip,
    /// `context.userAgent`.
    UserAgent,
    /// `context.locale`.
    Locale,
    /// `context.timezone`.
    Timezone,
    /// `context.page.url`.
    PageUrl,
    /// `context.page.path`.
    PagePath,
    /// `context.page.referrer`.
    PageReferrer,
    /// `context.page.title`.
    PageTitle,
    /// `context.page.search`.
    PageSearch,
    /// `context.campaign.source` (utm_source).
    CampaignSource,
    /// `context.campaign.medium` (utm_medium).
    CampaignMedium,
    /// `context.campaign.name` (utm_campaign).
    CampaignName,
    /// `context.campaign.term` (utm_term).
    CampaignTerm,
    /// `context.campaign.content` (utm_content).
    CampaignContent,
    /// `context.device.type`.
    DeviceType,
    /// `context.os.name`.
    OsName,
    /// `context.library.name`.
    LibraryName,
    /// `context.library.version`.
    LibraryVersion,
}

impl ContextField {
    /// The field's path below `context`.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            Self::Ip => &["ip"],
            Self::UserAgent => &["userAgent"],
            Self::Locale => &["locale"],
            Self::Timezone => &["timezone"],
            Self::PageUrl => &["page", "url"],
            Self::PagePath => &["page", "path"],
            Self::PageReferrer => &["page", "referrer"],
            Self::PageTitle => &["page", "title"],
            Self::PageSearch => &["page", "search"],
            Self::CampaignSource => &["campaign", "source"],
            Self::CampaignMedium => &["campaign", "medium"],
            Self::CampaignName => &["campaign", "name"],
            Self::CampaignTerm => &["campaign", "term"],
            Self::CampaignContent => &["campaign", "content"],
            Self::DeviceType => &["device", "type"],
            Self::OsName => &["os", "name"],
            Self::LibraryName => &["library", "name"],
            Self::LibraryVersion => &["library", "version"],
        }
    }
}

impl<'a> Message<'a> {
    /// A string field of the context; `None` when absent, null, or not a string (numbers, as
    /// some SDKs send for versions, are given as their text).
    pub fn context_field(&self, field: ContextField) -> Option<Cow<'a, str>> {
        let (last, parents) = field.path().split_last()?;
        let mut object: Cow<'_, RawObject<'a>> = Cow::Borrowed(self.context()?);
        for parent in parents {
            let raw = object.get(parent)?;
            if json_type(raw) != "object" {
                return None;
            }
            object = Cow::Owned(serde_json::from_str::<RawObject<'a>>(raw.get()).ok()?);
        }
        let raw = object.get(last)?;
        match json_type(raw) {
            "string" => raw_str(raw),
            "number" => Some(Cow::Borrowed(raw.get())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_context_fields_and_ignores_wrong_shapes() {
        let text = r#"{"type":"page","userId":"u","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0",
            "page":{"url":"https://shop.example/p?utm_source=x","path":"/p","referrer":""},
            "campaign":{"source":"newsletter","medium":"email","name":"weekly"},
            "device":"phone","library":{"name":"analytics.js","version":2}}}"#;
        let message = Message::parse(text).expect("parse");
        let get = |f| message.context_field(f).map(|v| v.into_owned());
        assert_eq!(get(ContextField::Ip).as_deref(), Some("203.0.113.9"));
        assert_eq!(get(ContextField::PagePath).as_deref(), Some("/p"));
        assert_eq!(get(ContextField::PageReferrer).as_deref(), Some(""));
        assert_eq!(get(ContextField::CampaignMedium).as_deref(), Some("email"));
        assert_eq!(get(ContextField::LibraryVersion).as_deref(), Some("2"));
        assert_eq!(get(ContextField::DeviceType), None, "device is not an object here");
        assert_eq!(get(ContextField::OsName), None);
        assert_eq!(get(ContextField::CampaignTerm), None);
    }
}
