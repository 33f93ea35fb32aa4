//! The query API under `/api/v1/`: SQL over the lake, JSON in and out, behind a bearer token.
//! With no token configured it answers clients on the loopback interface only.

use crate::analysis::{
    Analysis, ChurnRequest, FunnelRequest, PathsRequest, RetentionRequest, SegmentsRequest, TrendsRequest,
};
use crate::metrics::{now_micros, MetricsParams};
use crate::output::{json_rows, Column};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use footfall_analytics::AnalyticsError;
use footfall_collector::auth::constant_time_eq;
use footfall_lake::metrics::{MetricsStore, RecentWindows};
use footfall_lake::sql::QueryLimits;
use footfall_lake::{Lake, LakeError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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
    /// What one SQL query may use (`[sql]`); `max_rows` is also the ceiling of a request's.
    pub sql_limits: QueryLimits,
    /// The threads SQL and analyses run on, apart from the collector's.
    pub queries: Arc<QueryThreads>,
    /// Where to ask the processor for an erasure (`POST /api/v1/forget`).
    pub forget: Option<ForgetRequests>,
}

/// An erasure asked of the processor task, which coordinates it with loading and processing:
/// the user, who asked, and where to answer (the report, or a status and why not).
#[derive(Debug)]
pub struct ForgetCall {
    /// The user id to erase.
    pub user_id: String,
    /// Who asked, for `forget_requests`.
    pub requested_by: String,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Result<Value, (StatusCode, String)>>,
}

/// Where to send erasures.
pub type ForgetRequests = tokio::sync::mpsc::Sender<ForgetCall>;

/// How long an erasure through the API may take before the request gives up waiting (the
/// erasure itself goes on and is logged when it completes).
const FORGET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A Tokio runtime of its own for queries and analyses: however heavy a query, the threads
/// that accept events are not the ones it occupies.
#[derive(Debug)]
pub struct QueryThreads(Option<tokio::runtime::Runtime>);

impl QueryThreads {
    /// `threads` worker threads (at least one), named `footfall-query`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("footfall-query")
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    /// Runs `work` on the query threads and waits for it from the caller's runtime.
    async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, ApiFailure> {
        let runtime = self.0.as_ref().ok_or_else(|| ApiFailure(StatusCode::SERVICE_UNAVAILABLE, "stopping".into()))?;
        runtime.spawn(work).await.map_err(|e| {
            tracing::error!(error = %e, "a query task failed");
            ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, format!("the query failed: {e}"))
        })
    }
}

impl Drop for QueryThreads {
    fn drop(&mut self) {
        // Dropped from async code at shutdown: let the threads wind down on their own.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
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
        .route("/api/v1/forget", post(forget))
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
    /// Rows to return at most (default and ceiling: `[sql] max_rows`).
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
/// this machine *and* is addressed to it: with no token, a `Host` (and an `Origin`, when sent)
/// other than a loopback name is refused, so a web page that rebinds its own DNS name to
/// 127.0.0.1 cannot reach the API through the visitor's browser. `query_token` is the token
/// of a `?token=` parameter, for clients that cannot set headers (EventSource).
fn authorize(
    state: &ApiState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<(), ApiFailure> {
    let unauthorized = |m: &str| Err(ApiFailure(StatusCode::UNAUTHORIZED, m.to_owned()));
    match &state.token {
        None if !is_loopback(peer.ip()) => {
            unauthorized("the API answers other machines only with a token: set [api] token")
        }
        None => check_loopback_addressed(headers),
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, value)| value.trim())
                .or(query_token);
            match given {
                Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
                Some(_) => unauthorized("wrong bearer token"),
                None => unauthorized("missing bearer token (Authorization: Bearer TOKEN)"),
            }
        }
    }
}

/// Whether `ip` is this machine's loopback, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) included.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Whether a `Host` value (`name[:port]`) names this machine's loopback: `localhost` (and
/// `*.localhost`), `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// Refuses a request whose `Host` or `Origin` names another site than this machine.
fn check_loopback_addressed(headers: &HeaderMap) -> Result<(), ApiFailure> {
    let forbidden = |what: &str, value: &str| {
        Err(ApiFailure(
            StatusCode::FORBIDDEN,
            format!(
                "{what} {value:?} is not this machine: with no [api] token the API answers requests addressed to \
                 localhost or 127.0.0.1 only (DNS rebinding protection); set [api] token to serve other names"
            ),
        ))
    };
    let host = headers.get(header::HOST).map(|v| v.to_str().unwrap_or("(not text)"));
    match host {
        Some(host) if !is_loopback_host(host) => return forbidden("Host", host),
        None => return forbidden("Host", ""),
        Some(_) => {}
    }
    if let Some(origin) = headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("(not text)")) {
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if !authority.is_some_and(is_loopback_host) {
            return forbidden("Origin", origin);
        }
    }
    Ok(())
}

/// A JSON request body, parsed only once the request is authorized.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    Json::<T>::from_bytes(body)
        .map(|Json(request)| request)
        .map_err(|e| ApiFailure(StatusCode::BAD_REQUEST, e.body_text()))
}

async fn sql(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SqlResponse>, ApiFailure> {
    authorize(&state, peer, &headers, None)?;
    let request: SqlRequest = parse_body(&body)?;
    let ceiling = state.sql_limits.max_rows;
    let limits = QueryLimits { max_rows: request.max_rows.unwrap_or(ceiling).min(ceiling), ..state.sql_limits };
    let lake = state.lake.clone();
    let answer = state
        .queries
        .run(async move { footfall_lake::sql::query_bounded(&lake, &request.query, limits).await })
        .await?
        .map_err(|e| match e {
            LakeError::Query(_) | LakeError::QueryTimeout(_) => ApiFailure(StatusCode::BAD_REQUEST, e.to_string()),
            other => {
                tracing::error!(error = %other, "SQL API query failed");
                ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        })?;
    let (columns, rows) =
        json_rows(&answer.batches).map_err(|e| ApiFailure(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    Ok(Json(SqlResponse { columns, row_count: rows.len(), rows, truncated: answer.truncated }))
}

/// `POST /api/v1/forget` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// The user id (`userId`) to erase.
    pub user_id: String,
}

/// `POST /api/v1/forget`: erases a user (see `footfall forget`) while the server runs. The
/// processor commits what it holds, the loader catches up, the tables are erased, then the
/// processor's state and checkpoints; the answer is the report (`request_id`, `ids`, rows
/// `deleted` per table).
async fn forget(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiFailure> {
    authorize(&state, peer, &headers, None)?;
    let request: ForgetRequest = parse_body(&body)?;
    if request.user_id.is_empty() {
        return Err(ApiFailure(StatusCode::BAD_REQUEST, "user_id must not be empty".into()));
    }
    let unavailable = || ApiFailure(StatusCode::SERVICE_UNAVAILABLE, "the processor is not running".into());
    let requests = state.forget.as_ref().ok_or_else(unavailable)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let requested_by = format!("api:{}", peer.ip());
    requests.send(ForgetCall { user_id: request.user_id, requested_by, reply }).await.map_err(|_| unavailable())?;
    match tokio::time::timeout(FORGET_TIMEOUT, answer).await {
        Ok(Ok(Ok(report))) => Ok(Json(report)),
        Ok(Ok(Err((status, reason)))) => Err(ApiFailure(status, reason)),
        Ok(Err(_)) => Err(unavailable()),
        Err(_) => Err(ApiFailure(
            StatusCode::GATEWAY_TIMEOUT,
            "the erasure takes longer than 5 minutes; it goes on, and forget_requests records it when done".into(),
        )),
    }
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
    authorize(&state, peer, &headers, None)?;
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
    body: Bytes,
) -> Result<Json<R::Answer>, ApiFailure> {
    authorize(&state, peer, &headers, None)?;
    let request: R = parse_body(&body)?;
    let lake = state.lake.clone();
    let answer = state.queries.run(async move { request.run(&lake, now_micros()).await }).await?;
    answer.map(Json).map_err(analysis_failure)
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

/// `GET /api/v1/live?token=`: the token may come as a parameter, since a browser's EventSource
/// cannot send an `Authorization` header.
#[derive(Debug, Deserialize)]
pub struct LiveAccess {
    /// The API token.
    pub token: Option<String>,
}

/// `GET /api/v1/live`: Server-Sent Events, one `live` event with the live view (JSON: buckets
/// of ten seconds, active persons, recent events, watermark) at once and after every
/// processing pass that saw new events (at most every 100 ms).
async fn live(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(access): Query<LiveAccess>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiFailure> {
    authorize(&state, peer, &headers, access.token.as_deref())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses() {
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.",
            "shop.localhost:1",
            "127.0.0.1",
            "127.9.9.9:80",
            "[::1]:8080",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().expect("ip")));
    }
}
