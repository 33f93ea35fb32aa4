//! The dashboard and the demo shop, served from the binary: the files of `web/dist` (bundled
//! by the build script, see `build.rs`) at `/` and `/assets/…`, gzipped for browsers that
//! accept it, the shop at `/shop`, and the shop's tracker settings (the write key) at
//! `/shop/config.json`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The embedded file at `path`, if there is one.
pub fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let gzip_ok = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let headers = [
        (header::CONTENT_TYPE, content_type(path)),
        (header::CACHE_CONTROL, "no-cache"),
        (header::VARY, "accept-encoding"),
    ];
    match (gzip_ok.then(|| asset(&format!("{path}.gz"))).flatten(), asset(path)) {
        (Some(gzipped), _) => (headers, [(header::CONTENT_ENCODING, "gzip")], gzipped).into_response(),
        (None, Some(bytes)) => (headers, bytes).into_response(),
        (None, None) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The routes: `/`, `/assets/{file}`, `/shop`, `/shop/config.json` (`write_key`: the key the
/// shop's tracker sends with).
pub fn router(write_key: String) -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("/index.html", &headers) }))
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&format!("/assets/{file}"), &headers) }),
        )
        .route("/shop", get(|headers: HeaderMap| async move { serve("/shop.html", &headers) }))
        .route("/shop/config.json", get(shop_config))
        .with_state(Arc::new(write_key))
}

async fn shop_config(State(write_key): State<Arc<String>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "writeKey": write_key.as_str() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_dashboard_is_embedded() {
        for path in ["/index.html", "/shop.html", "/assets/dashboard.js", "/assets/shop.js", "/assets/style.css"] {
            assert!(asset(path).is_some_and(|b| !b.is_empty()), "{path}");
        }
        // Every chunk the entry points import is embedded too.
        let entry = std::str::from_utf8(asset("/assets/dashboard.js").expect("entry")).expect("UTF-8");
        for chunk in entry.split("\"./").skip(1).filter_map(|rest| rest.split('"').next()) {
            assert!(asset(&format!("/assets/{chunk}")).is_some(), "{chunk}");
        }
        assert_eq!(content_type("/a/b.js"), "text/javascript; charset=utf-8");
        // The gzip copy holds the same bytes.
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(asset("/assets/dashboard.js.gz").expect("gzip copy")),
            &mut plain,
        )
        .expect("gunzip");
        assert_eq!(plain, asset("/assets/dashboard.js").expect("entry"));
    }
}
