//! The HTTP surface: `POST /v1/events`, `POST /v1/logs`, their CORS preflights,
//! `GET /v1/schema/events.json` and the browser SDK at `GET /sdk/v1/friction.js` ([`crate::sdk`]).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use friction_runtime::auth_guard::AuthGuard;
use friction_schemas::event::Context;
use friction_schemas::hash_api_key;

use crate::api::{Accepted, GatewayError};
use crate::config::GatewayArgs;
use crate::enrich::{parse_user_agent, truncate_ip};
use crate::keys::KeyStore;
use crate::payload::{check_content_type, decode_body, parse_content_encoding};
use crate::ratelimit::RateLimiter;
use crate::sink::{EventSink, SinkError};
use crate::validate::{validate_events, validate_logs, BatchContext, Validated};

/// Seconds a client should wait before retrying when the broker is unavailable.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

pub struct GatewayState {
    pub config: GatewayArgs,
    pub keys: Arc<KeyStore>,
    pub limiter: RateLimiter,
    pub sink: Arc<dyn EventSink>,
    /// Failed API-key authentications: metrics, bounded log, per-source budget.
    pub auth: AuthGuard,
}

impl GatewayState {
    pub fn new(config: GatewayArgs, keys: Arc<KeyStore>, sink: Arc<dyn EventSink>) -> Self {
        let limiter = RateLimiter::new(config.rate_limit_per_sec, config.rate_limit_burst);
        let auth = AuthGuard::new("gateway", config.auth);
        GatewayState { config, keys, limiter, sink, auth }
    }
}

pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events).options(preflight))
        .route("/v1/logs", post(post_logs).options(preflight))
        .route("/v1/schema/events.json", get(json_schema))
        .route(crate::sdk::SDK_PATH, get(crate::sdk::serve))
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

async fn not_found() -> Response {
    let body = serde_json::json!({"error": {"code": "not_found", "message": "no such endpoint; see POST /v1/events and POST /v1/logs"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn json_schema() -> Response {
    ([(header::CONTENT_TYPE, "application/schema+json")], friction_schemas::INGEST_JSON_SCHEMA).into_response()
}

fn origin_allowed(config: &GatewayArgs, origin: &str) -> bool {
    config.cors_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

/// Adds CORS headers to every answer for an allowed origin (errors included, so a browser can read
/// why a batch failed).
async fn cors(State(state): State<Arc<GatewayState>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        if origin.to_str().is_ok_and(|o| origin_allowed(&state.config, o)) {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
        }
    }
    response
}

async fn preflight(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match origin {
        Some(o) if origin_allowed(&state.config, o) => (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "content-type, content-encoding, x-api-key, authorization, x-request-id",
                ),
                (header::ACCESS_CONTROL_MAX_AGE, "86400"),
            ],
        )
            .into_response(),
        Some(o) => GatewayError::OriginNotAllowed(o.to_string()).into_response(),
        None => (StatusCode::NO_CONTENT, [(header::ALLOW, "POST, OPTIONS")]).into_response(),
    }
}

/// The API key from `X-API-Key`, `Authorization: Bearer`, or `?api_key=` (for `sendBeacon`).
pub fn extract_api_key<'r>(headers: &'r HeaderMap, query: Option<&'r str>) -> Option<Cow<'r, str>> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty()) {
        return Some(Cow::Borrowed(k));
    }
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let auth = auth.trim();
        if auth.len() > 7 && auth[..7].eq_ignore_ascii_case("bearer ") {
            let k = auth[7..].trim();
            if !k.is_empty() {
                return Some(Cow::Borrowed(k));
            }
        }
    }
    let query = query?;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("api_key=") {
            if value.is_empty() {
                continue;
            }
            // Keys are URL-safe; decode %XX only if present.
            return Some(if value.contains('%') || value.contains('+') {
                Cow::Owned(percent_decode(value))
            } else {
                Cow::Borrowed(value)
            });
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, Copy)]
enum Endpoint {
    Events,
    Logs,
}

async fn post_events(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    ingest(state, request, Endpoint::Events).await
}

async fn post_logs(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    ingest(state, request, Endpoint::Logs).await
}

static REQUEST_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The caller's `X-Request-Id`, or a process-unique one; echoed in the answer and in logs.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers.get("x-request-id").filter(|v| v.len() <= 128).cloned().unwrap_or_else(|| {
        let n = REQUEST_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("gw-{}-{n}", std::process::id())).unwrap_or(HeaderValue::from_static("gw"))
    })
}

async fn ingest(state: Arc<GatewayState>, request: Request, endpoint: Endpoint) -> Response {
    let started = Instant::now();
    let request_id = request_id(request.headers());
    let result = handle(&state, request, endpoint).await;
    let status = match &result {
        Ok(_) => StatusCode::ACCEPTED,
        Err(e) => e.status(),
    };
    metrics::counter!("friction_gateway_requests_total", "status" => status.as_str().to_owned()).increment(1);
    metrics::histogram!("friction_gateway_request_seconds").record(started.elapsed().as_secs_f64());
    let rid = request_id.to_str().unwrap_or("");
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut response = match result {
        Ok(accepted) => {
            tracing::debug!(
                request_id = rid,
                latency_ms,
                accepted = accepted.accepted,
                rejected = accepted.rejected.len(),
                "batch accepted"
            );
            (StatusCode::ACCEPTED, Json(accepted)).into_response()
        }
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(request_id = rid, latency_ms, status = %e.status(), error = %e, "ingest request failed");
            } else {
                tracing::debug!(request_id = rid, latency_ms, status = %e.status(), error = %e, "ingest request refused");
            }
            e.into_response()
        }
    };
    response.headers_mut().insert("x-request-id", request_id);
    response
}

async fn handle(state: &GatewayState, request: Request, endpoint: Endpoint) -> Result<Accepted, GatewayError> {
    let config = &state.config;
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;

    // A source over its failure budget is refused before its key is looked at (docs/operators.md,
    // "Failed authentications").
    let source = client_ip(&parts, config.trust_forwarded_for);
    state.auth.check(source).map_err(|retry_after_secs| GatewayError::AuthThrottled { retry_after_secs })?;
    let (entry, key_hash) = authenticate(state, &parts).inspect_err(|e| {
        let reason = match e {
            GatewayError::MissingKey => "missing",
            GatewayError::UnknownKey => "unknown",
            GatewayError::RevokedKey => "revoked",
            _ => return,
        };
        state.auth.failure(source, reason);
    })?;
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !entry.allowed_origins.is_empty()
            && !entry.allowed_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        {
            return Err(GatewayError::OriginNotAllowed(origin.to_string()));
        }
    }
    check_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    let encoding =
        parse_content_encoding(headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("(not text)")))?;
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > config.max_body_bytes {
            return Err(too_large_body(config.max_body_bytes));
        }
    }
    let body = read_body(body, config.max_body_bytes).await?;
    let json = decode_body(&body, encoding, config.max_decompressed_bytes)?;

    let received_at = friction_runtime::now_ms();
    let ip = client_ip(&parts, config.trust_forwarded_for).map(truncate_ip);
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let ua = user_agent.map(parse_user_agent);
    let ctx = BatchContext {
        project_id: &entry.project_id,
        received_at,
        skew_tolerance_ms: config.skew_tolerance_ms,
        max_skew_ms: config.max_clock_skew_ms,
        max_event_bytes: config.max_event_bytes,
        max_batch_events: config.max_batch_events,
        context: Context {
            ip: ip.as_deref().map(Cow::Borrowed),
            user_agent: user_agent.map(Cow::Borrowed),
            browser: ua.as_ref().map(|u| Cow::Borrowed(u.browser)),
            os: ua.as_ref().map(|u| Cow::Borrowed(u.os)),
            device: ua.as_ref().map(|u| Cow::Borrowed(u.device)),
        },
    };
    let Validated { accepted, indices, rejected } = match endpoint {
        Endpoint::Events => validate_events(&json, &ctx)?,
        Endpoint::Logs => validate_logs(&json, &ctx)?,
    };
    let total = accepted.len() + rejected.len();
    state
        .limiter
        .check(&key_hash, total, entry.rate_limit_per_sec, Instant::now())
        .map_err(|retry_after_secs| GatewayError::RateLimited { retry_after_secs })?;
    metrics::counter!("friction_gateway_events_total", "outcome" => "rejected").increment(rejected.len() as u64);
    if accepted.is_empty() {
        return Err(GatewayError::AllRejected(rejected));
    }
    metrics::histogram!("friction_gateway_batch_events").record(accepted.len() as f64);
    state.sink.send_batch(&config.events_topic, &accepted).await.map_err(|e| match e {
        SinkError::Unavailable(message) => GatewayError::Unavailable {
            message: format!("the event broker did not take the batch; nothing was accepted, retry later ({message})"),
            retry_after_secs: UNAVAILABLE_RETRY_SECS,
        },
        SinkError::TooLarge { index, bytes } => GatewayError::TooLarge(format!(
            "events[{}] is {bytes} bytes encoded, more than the broker accepts",
            indices.get(index).copied().unwrap_or(index)
        )),
        SinkError::Encode { index, message } => GatewayError::BadRequest(format!(
            "events[{}] could not be encoded: {message}",
            indices.get(index).copied().unwrap_or(index)
        )),
    })?;
    metrics::counter!("friction_gateway_events_total", "outcome" => "accepted").increment(accepted.len() as u64);
    Ok(Accepted { accepted: accepted.len(), rejected })
}

/// The request's key, looked up: its entry and hash, or why it is refused.
fn authenticate(
    state: &GatewayState,
    parts: &axum::http::request::Parts,
) -> Result<(Arc<crate::keys::KeyEntry>, String), GatewayError> {
    let key = extract_api_key(&parts.headers, parts.uri.query()).ok_or(GatewayError::MissingKey)?;
    if key.len() > 256 {
        return Err(GatewayError::UnknownKey);
    }
    let key_hash = hash_api_key(&key);
    let entry = match state.keys.lookup(&key_hash) {
        Some(entry) => entry,
        None if !state.keys.is_ready() => {
            return Err(GatewayError::Unavailable {
                message: "API keys are still loading; retry shortly".into(),
                retry_after_secs: 1,
            })
        }
        None => return Err(GatewayError::UnknownKey),
    };
    if entry.revoked {
        return Err(GatewayError::RevokedKey);
    }
    Ok((entry, key_hash))
}

fn too_large_body(limit: usize) -> GatewayError {
    GatewayError::TooLarge(format!("request body is larger than {limit} bytes"))
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, GatewayError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if friction_runtime::serve::is_body_timeout(&e) {
            return GatewayError::Timeout(e.to_string());
        }
        // to_bytes reports the limit as an error whose source chain contains LengthLimitError.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit") {
                return too_large_body(limit);
            }
            source = s.source();
        }
        GatewayError::BadRequest(format!("could not read the request body: {e}"))
    })
}

fn client_ip(parts: &axum::http::request::Parts, trust_forwarded_for: bool) -> Option<std::net::IpAddr> {
    if trust_forwarded_for {
        if let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}
