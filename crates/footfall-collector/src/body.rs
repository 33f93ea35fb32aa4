//! Request bodies: reading within a byte limit and gzip decompression that cannot be used as a
//! decompression bomb.

use crate::error::ApiError;
use axum::http::HeaderMap;
use flate2::read::MultiGzDecoder;
use std::io::Read;

/// Whether the request says its body is gzip-compressed.
pub fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

/// Decompresses a gzip body, every member of it (RFC 1952 allows several, concatenated; a
/// reader that stops after the first would cut the body silently), refusing one that inflates
/// past `limit` bytes.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity((compressed.len() * 4).min(limit + 1));
    MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::TooLarge(format!("decompressed body is larger than the limit of {limit} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn inflates_within_the_limit_and_refuses_bombs_and_garbage() {
        assert_eq!(gunzip(&gzip(b"{\"a\":1}"), 100).expect("small"), b"{\"a\":1}");
        let bomb = gzip(&vec![b' '; 10_000_000]);
        assert!(bomb.len() < 20_000);
        assert!(matches!(gunzip(&bomb, 500 * 1024), Err(ApiError::TooLarge(_))));
        assert!(matches!(gunzip(b"not gzip at all", 100), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn reads_every_member_or_refuses_the_body() {
        let mut two = gzip(b"{\"batch\":[");
        two.extend(gzip(b"{\"type\":\"track\"}]}"));
        assert_eq!(gunzip(&two, 1000).expect("two members"), b"{\"batch\":[{\"type\":\"track\"}]}");
        let mut trailing = gzip(b"{}");
        trailing.extend_from_slice(b"garbage after the member");
        assert!(gunzip(&trailing, 1000).is_err(), "never cut silently");
    }
}
