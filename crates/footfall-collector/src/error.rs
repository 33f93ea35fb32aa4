//! Errors the collector answers with: a status and a JSON body in Segment's shape
//! (`{"success":false,...}`), with `Retry-After` when the client should try again later.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No write key, or one that is not configured: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The request cannot be used: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request or a message is larger than Segment's limits: 413.
    #[error("{0}")]
    TooLarge(String),
    /// The client did not send its request in time: 408.
    #[error("{0}")]
    Timeout(String),
    /// The collector or the log cannot keep up right now: 503 with `Retry-After`.
    #[error("{message}")]
    Overloaded {
        /// Why.
        message: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable code for the body and for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::BadRequest(_) => "bad_request",
            Self::TooLarge(_) => "too_large",
            Self::Timeout(_) => "request_timeout",
            Self::Overloaded { .. } => "overloaded",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "success": false, "error": self.code(), "message": self.to_string() }));
        let mut response = (self.status(), body).into_response();
        if let Self::Overloaded { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let Self::Unauthorized(_) = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"footfall\""));
        }
        response
    }
}
