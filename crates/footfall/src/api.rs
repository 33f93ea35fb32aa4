//! The query API under `/api/v1/`: SQL over the lake, JSON in and out, behind a bearer token.
//! With no token configured it answers clients on the loopback interface only.

use crate::analysis::{
    Analysis, ChurnRequest, FunnelRequest, PathsRequest, RetentionRequest, SegmentsRequest, TrendsRequest,
};
use crate::metrics::{now_micros, MetricsParams};
use crate::output::{json_rows, Column};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use footfall_analytics::AnalyticsError;
use footfall_lake::metrics::{MetricsStore, RecentWindows};
use footfall_lake::{Lake, LakeError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// Rows a SQL answer holds at most unless the request asks for fewer.
pub const MAX_ROWS: usize = 10_000;

/// What the API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The lake queries run on.
    pub lake: Lake,
    /// The bearer token requests must carry, if any.
    pub token: Option<String>,
    /// The processor's live view, as JSON, replaced after every processing pass.
    pub live: tokio::sync::watch::Receiver<Arc<String>>,
    /// Becomes true when the server stops: open event streams end then, so a graceful
    /// shutdown does not wait for them forever.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Asks the processor for the windows the lake does not hold yet.
    pub recent: Option<RecentRequests>,
    /// `metrics_1m`, kept open between queries.
    pub metrics: Arc<MetricsStore>,
}

/// Where to ask the processor for its recent windows: send a reply channel.
pub type RecentRequests = tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Arc<RecentWindows>>>;

/// The processor's recent windows, if it answers within two seconds.
async fn recent_windows(requests: &RecentRequests) -> Option<Arc<RecentWindows>> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    requests.send(reply).await.ok()?;
    tokio::time::timeout(std::time::Duration::from_secs(2), answer).await.ok()?.ok()
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql))
        .route("/api/v1/live", get(live))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/funnel", post(analysis::<FunnelRequest>))
        .route("/api/v1/retention", post(analysis::<RetentionRequest>))
        .route("/api/v1/paths", post(analysis::<PathsRequest>))
        .route("/api/v1/trends", post(analysis::<TrendsRequest>))
        .route("/api/v1/segments", post(analysis::<SegmentsRequest>))
        .route("/api/v1/churn", post(analysis::<ChurnRequest>))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(Arc::new(state))
}

/// The OpenAPI 3.1 document of every route (open: it describes, it does not answer).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `POST /api/v1/sql` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// The query (read-only).
    pub query: String,
    /// Rows to return at most (default and ceiling: [`MAX_ROWS`]).
    pub max_rows: Option<usize>,
}

/// `POST /api/v1/sql` answer.
#[derive(Debug, Serialize)]
pub struct SqlResponse {
    /// Column names and types.
    pub columns: Vec<Column>,
    /// One object per row.
    pub rows: Vec<Value>,
    /// Rows in the answer.
    pub row_count: usize,
    /// Whether rows were left out beyond `max_rows`.
    pub truncated: bool,
}

/// An API error: status and a JSON `{"error": message}` body.
#[derive(Debug)]
pub struct ApiFailure(StatusCode, String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Lets a request through if it carries the token, or if no token is set and it comes from
/// this machine.
fn authorize(state: &ApiState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiFailure> {
    let unauthorized = |m: &str| Err(ApiFailure(StatusCode::UNAUTHORIZED, m.to_owned()));
    match &state.token {
        None if peer.ip().is_loopback() => Ok(()),
        None => unauthorized("the API answers other machines only with a token: set [api] token"),
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match given {
                Some(given) if given == token => Ok(()),
                Some(_) => unauthorized("wrong bearer token"),
                None => unauthorized("missing bearer token (Authorization: Bearer TOKEN)"),
            }
        }
    }
}

async fn sql(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<Json<SqlResponse>, ApiFailure> {
    authorize(&state, peer, &headers)?;
    let Json(request) = body.map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.body_text()))?;
    let batches = footfall_lake::sql::query(&state.lake, &request.query).await.map_err(|e| match e {
        LakeError::Query(_) => ApiFailure(StatusCode::BAD_REQUEST, e.to_string()),
        other => {
            tracing::error!(error = %other, "SQL API query failed");
            ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    })?;
    let (columns, mut rows) =
        json_rows(&batches).map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let max = request.max_rows.unwrap_or(MAX_ROWS).min(MAX_ROWS);
    let truncated = rows.len() > max;
    rows.truncate(max);
    Ok(Json(SqlResponse { columns, row_count: rows.len(), rows, truncated }))
}

/// `GET /api/v1/metrics?metric=&event=&from=&to=&step=&by=`: a time series from `metrics_1m`
/// and the processor's windows not committed yet (so the last minutes show before their
/// commit); see [`footfall_lake::metrics::to_json`] for the answer.
async fn metrics(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<MetricsParams>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    authorize(&state, peer, &headers)?;
    let Query(params) = params.map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (query, step) =
        params.to_query(now_micros()).map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.to_string()))?;
    // The recent windows first: the lake then holds at least what they count as committed.
    let recent = match &state.recent {
        Some(requests) => recent_windows(requests).await,
        None => None,
    };
    let series = state.metrics.query(&query, recent.as_deref()).await.map_err(|e| {
        tracing::error!(error = %e, "metrics query failed");
        ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    Ok(Json(footfall_lake::metrics::to_json(&query, &step, &series)))
}

/// `POST /api/v1/funnel|retention|paths|trends|segments`: the request of that analysis as a
/// JSON body ([`FunnelRequest`], …), answered with what its CLI command prints as JSON.
async fn analysis<R: Analysis>(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<R>, JsonRejection>,
) -> Result<Json<R::Answer>, ApiFailure> {
    authorize(&state, peer, &headers)?;
    let Json(request) = body.map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.body_text()))?;
    request.run(&state.lake, now_micros()).await.map(Json).map_err(analysis_failure)
}

/// An analysis error as an API answer: 400 for the caller's mistakes, 500 for ours.
fn analysis_failure(e: AnalyticsError) -> ApiFailure {
    match e {
        AnalyticsError::BadRequest(message) => ApiFailure(StatusCode::BAD_REQUEST, message),
        other => {
            tracing::error!(error = %other, "analysis failed");
            ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

/// `GET /api/v1/live`: Server-Sent Events, one `live` event with the live view (JSON: buckets
/// of ten seconds, active persons, recent events, watermark) at once and after every
/// processing pass that saw new events (at most every 100 ms).
async fn live(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiFailure> {
    authorize(&state, peer, &headers)?;
    let mut receiver = state.live.clone();
    receiver.mark_changed();
    let stopping = state.stopping.clone();
    let stream = futures::stream::unfold((receiver, stopping), |(mut receiver, mut stopping)| async move {
        tokio::select! {
            changed = receiver.changed() => changed.ok()?,
            _ = stopping.wait_for(|s| *s) => return None,
        }
        let text = Arc::clone(&receiver.borrow_and_update());
        Some((Ok(Event::default().event("live").data(text.as_str())), (receiver, stopping)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
