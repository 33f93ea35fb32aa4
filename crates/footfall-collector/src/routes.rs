//! The HTTP surface: `/v1/*` (Segment's Tracking API), `/healthz`, `/metrics`.

use crate::auth::{basic_auth_key, is_valid_key};
use crate::body::{gunzip, is_gzip};
use crate::config::CollectorConfig;
use crate::dead_letter::DeadLetter;
use crate::error::ApiError;
use crate::ingest::{ingest_batch, ingest_single, Ingested, RequestInfo};
use crate::metrics::CollectorMetrics;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use footfall_event::json::top_level_write_key;
use footfall_event::limits::MAX_BATCH_BYTES;
use footfall_event::{format_timestamp, MessageType};
use footfall_log::{AppendError, EventSink, PendingAppend, Record};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The collector: configuration, where accepted and refused messages go, and its metrics.
pub struct Collector {
    config: CollectorConfig,
    events: Arc<dyn EventSink>,
    dead_letters: Arc<dyn EventSink>,
    metrics: CollectorMetrics,
    in_flight: Semaphore,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("config", &self.config).finish()
    }
}

impl Collector {
    /// A collector writing accepted messages to `events` and refused ones to `dead_letters`.
    pub fn new(config: CollectorConfig, events: Arc<dyn EventSink>, dead_letters: Arc<dyn EventSink>) -> Self {
        let in_flight = Semaphore::new(config.max_concurrent_requests.max(1));
        Self { config, events, dead_letters, metrics: CollectorMetrics::new(), in_flight }
    }

    /// The collector's metrics.
    pub fn metrics(&self) -> &CollectorMetrics {
        &self.metrics
    }

    fn overloaded(&self, message: String) -> ApiError {
        ApiError::Overloaded { message, retry_after_secs: self.config.retry_after_secs }
    }

    /// Handles one tracking call end to end; returns the JSON answer of a success, or the
    /// error and whether its refusal was already counted (with the dead letters it stored).
    async fn track(&self, endpoint: &str, request: Request) -> Result<serde_json::Value, (ApiError, bool)> {
        let result = self.track_inner(endpoint, request).await;
        result.map_err(|e| match e {
            Refusal::Counted(e) => (e, true),
            Refusal::Uncounted(e) => (e, false),
        })
    }

    async fn track_inner(&self, endpoint: &str, request: Request) -> Result<serde_json::Value, Refusal> {
        let kind = match endpoint {
            "batch" | "import" => None,
            // analytics.js posts to /v1/t, /v1/p, /v1/i, … (Segment's short paths).
            name => Some(MessageType::from_name(name).or_else(|| MessageType::from_short_name(name)).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown endpoint /v1/{name} (expected track, identify, page, screen, group, alias, batch or import)"
                ))
            })?),
        };
        let (parts, body) = request.into_parts();
        let header_key = basic_auth_key(&parts.headers);
        let authorized_by_header = match &header_key {
            Some(key) if is_valid_key(&self.config.write_keys, key) => true,
            Some(_) => return Err(ApiError::Unauthorized("invalid write key".into()).into()),
            None => false,
        };
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let path = format!("/v1/{endpoint}");
        let received = chrono::Utc::now();
        let received_at = format_timestamp(received);
        let info = RequestInfo {
            endpoint: &path,
            received_at: &received_at,
            received_at_ms: received.timestamp_millis(),
            ip: ip.as_deref(),
            key_by_device: self.config.key_by_device,
        };
        let raw = read_body(body, &parts.headers, self.config.body_timeout).await?;
        let decoded = if is_gzip(&parts.headers) {
            match gunzip(&raw, MAX_BATCH_BYTES) {
                Ok(bytes) => bytes::Bytes::from(bytes),
                Err(error) => {
                    let code = match error {
                        ApiError::TooLarge(_) => "body_too_large",
                        _ => "bad_gzip",
                    };
                    return Err(self.refuse_whole(error, code, authorized_by_header, &info, &raw).await);
                }
            }
        } else {
            raw
        };
        let text = match std::str::from_utf8(&decoded) {
            Ok(text) => text,
            Err(e) => {
                let error = ApiError::BadRequest(format!("invalid JSON: body is not UTF-8 ({e})"));
                return Err(self.refuse_whole(error, "invalid_json", authorized_by_header, &info, &decoded).await);
            }
        };
        // Authenticated before any message is parsed or validated: without a key, a request
        // costs one linear scan of its body, never the work of ingesting it.
        if !authorized_by_header {
            match top_level_write_key(text) {
                Some(key) if is_valid_key(&self.config.write_keys, &key) => {}
                Some(_) => return Err(ApiError::Unauthorized("invalid write key".into()).into()),
                None => {
                    return Err(ApiError::Unauthorized(
                        "missing write key: send it as the user name of HTTP Basic auth, or as `writeKey` in the body"
                            .into(),
                    )
                    .into())
                }
            }
        }
        let ingested = match kind {
            Some(kind) => ingest_single(text, kind, &info),
            None => ingest_batch(text, endpoint == "import", &info),
        };
        self.store(ingested).await
    }

    /// Stores what a request produced, waits until it is durable, and builds the answer.
    /// Refused messages are counted once their dead letters are durable.
    async fn store(&self, ingested: Ingested) -> Result<serde_json::Value, Refusal> {
        let Ingested { records, dead_letters, accepted_by_type, rejected, failure, .. } = ingested;
        let dead_records = dead_letters_to_records(&dead_letters);
        let events_ack = self.append(&*self.events, records)?;
        let dead_ack = self.append(&*self.dead_letters, dead_records)?;
        let both = async {
            if let Some(ack) = events_ack {
                ack.await?;
            }
            if let Some(ack) = dead_ack {
                ack.await?;
            }
            Ok::<_, footfall_log::LogError>(())
        };
        match tokio::time::timeout(self.config.ack_timeout, both).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.overloaded(format!("the event log failed: {e}")).into()),
            Err(_) => return Err(self.overloaded("the event log did not confirm the write in time".into()).into()),
        }
        self.metrics.add_accepted(&accepted_by_type);
        for dead in &dead_letters {
            self.metrics.add_rejected(&dead.reason_code);
        }
        if let Some(failure) = failure {
            return Err(Refusal::Counted(failure));
        }
        Ok(if rejected.is_empty() {
            json!({ "success": true })
        } else {
            json!({ "success": true, "rejected": rejected })
        })
    }

    fn append(&self, sink: &dyn EventSink, records: Vec<Record>) -> Result<Option<PendingAppend>, ApiError> {
        if records.is_empty() {
            return Ok(None);
        }
        match sink.append(records) {
            Ok(ack) => Ok(Some(ack)),
            Err(AppendError::Busy { .. } | AppendError::Backpressure(_)) => {
                Err(self.overloaded("the event log is busy; retry later".into()))
            }
            Err(e) => Err(self.overloaded(format!("the event log cannot take writes: {e}"))),
        }
    }

    /// A request refused as a whole before its messages could be read: dead-lettered when the
    /// sender is known (authorized by header), so that nothing it sent is lost.
    async fn refuse_whole(
        &self,
        error: ApiError,
        code: &str,
        authorized: bool,
        info: &RequestInfo<'_>,
        payload: &[u8],
    ) -> Refusal {
        if !authorized {
            return Refusal::Uncounted(error);
        }
        let dead = DeadLetter::new(error.to_string(), code, info.received_at, info.endpoint, payload);
        let ingested = Ingested { dead_letters: vec![dead], failure: Some(error), ..Ingested::default() };
        match self.store(ingested).await {
            Err(refusal) => refusal,
            Ok(_) => Refusal::Counted(ApiError::BadRequest("request refused".into())),
        }
    }
}

/// A refused request, and whether the refusal was already counted in the metrics.
enum Refusal {
    Counted(ApiError),
    Uncounted(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self::Uncounted(error)
    }
}

fn dead_letters_to_records(dead_letters: &[DeadLetter]) -> Vec<Record> {
    dead_letters
        .iter()
        .map(|dead| Record {
            key: dead.message_id.clone().unwrap_or_default().into_bytes(),
            value: dead.to_json(),
            timestamp_ms: chrono::DateTime::parse_from_rfc3339(&dead.received_at)
                .map(|t| t.timestamp_millis())
                .unwrap_or_default(),
        })
        .collect()
}

/// Reads the body within `timeout`, refusing one larger than a batch may be.
async fn read_body(body: Body, headers: &HeaderMap, timeout: std::time::Duration) -> Result<bytes::Bytes, ApiError> {
    let too_large =
        || ApiError::TooLarge(format!("request body is larger than the limit of {MAX_BATCH_BYTES} bytes (500 KB)"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BATCH_BYTES) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BATCH_BYTES)).await {
        Ok(read) => read.map_err(|_| too_large()),
        Err(_) => Err(ApiError::Timeout(format!("the request body did not arrive within {} s", timeout.as_secs_f64()))),
    }
}

async fn tracking_call(
    State(collector): State<Arc<Collector>>,
    Path(endpoint): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let body_bytes = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let result = match collector.in_flight.try_acquire() {
        Ok(_permit) => collector.track(&endpoint, request).await,
        Err(_) => Err((collector.overloaded("too many requests in flight; retry later".into()), false)),
    };
    let response = match result {
        Ok(answer) => (StatusCode::OK, Json(answer)).into_response(),
        Err((error, counted)) => {
            if !counted {
                collector.metrics.add_rejected(error.code());
            }
            tracing::debug!(endpoint, status = error.status().as_u16(), error = %error, "refused tracking call");
            error.into_response()
        }
    };
    let metric_endpoint = if MessageType::from_name(&endpoint).is_some() || endpoint == "batch" || endpoint == "import"
    {
        endpoint.as_str()
    } else {
        "other"
    };
    collector.metrics.observe_request(
        metric_endpoint,
        response.status().as_u16(),
        body_bytes,
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn healthz(State(collector): State<Arc<Collector>>) -> Response {
    let problems: Vec<String> = [&collector.events, &collector.dead_letters]
        .into_iter()
        .filter(|sink| !sink.is_healthy())
        .map(|sink| sink.problem().unwrap_or_else(|| "unavailable".into()))
        .collect();
    if problems.is_empty() {
        Json(json!({ "status": "ok" })).into_response()
    } else {
        let body = json!({ "status": "event log unavailable", "reason": problems.join("; ") });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn metrics(State(collector): State<Arc<Collector>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], collector.metrics.render()).into_response()
}

/// The collector's routes. `/v1/*` answers browsers from any origin (CORS), as Segment's API
/// does; the rest is same-origin.
pub fn router(collector: Arc<Collector>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::CONTENT_ENCODING])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(86_400));
    let tracking = Router::new().route("/v1/{endpoint}", post(tracking_call)).layer(cors);
    Router::new().merge(tracking).route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(collector)
}
