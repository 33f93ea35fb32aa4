//! Write-key authentication, as Segment does it: HTTP Basic with the key as the user name and
//! an empty password, or `writeKey` in the JSON body.

use axum::http::HeaderMap;
use base64::Engine;

/// The write key of an `Authorization: Basic` header, if there is a well-formed one.
pub fn basic_auth_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    Some(user.to_owned())
}

/// Compares a presented key with the configured ones without leaking, through timing, how
/// much of a key matched.
pub fn is_valid_key(keys: &[String], presented: &str) -> bool {
    keys.iter().fold(false, |found, key| found | constant_time_eq(key.as_bytes(), presented.as_bytes()))
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_the_user_name_of_basic_auth() {
        let mut headers = HeaderMap::new();
        // "KEY:" as Segment's SDKs send it.
        headers.insert("authorization", HeaderValue::from_static("Basic S0VZOg=="));
        assert_eq!(basic_auth_key(&headers).as_deref(), Some("KEY"));
        headers.insert("authorization", HeaderValue::from_static("Bearer S0VZOg=="));
        assert_eq!(basic_auth_key(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_auth_key(&headers), None);
    }

    #[test]
    fn accepts_only_configured_keys() {
        let keys = vec!["alpha".to_owned(), "beta".to_owned()];
        assert!(is_valid_key(&keys, "beta"));
        assert!(!is_valid_key(&keys, "bet"));
        assert!(!is_valid_key(&keys, ""));
        assert!(!is_valid_key(&[], "beta"));
    }
}
