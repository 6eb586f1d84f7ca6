//! Bounded HTTP/1 serving for every listener (the gateway, the admin server, the console next to
//! it): a request head must arrive within the header-read timeout, its body within the body-read
//! timeout, a connection with no request in flight is closed after the idle timeout, and at most
//! `max_connections` connections are served at once, at most `max_connections_per_client` of them
//! from one client address (an IPv6 client is its /64).
//!
//! At the limit, the connection idle longest is closed to make room (idle and slow-header
//! connections cannot starve real requests). When every connection has a request in flight, a new
//! one is served from a small separate budget that answers `/healthz` and `/readyz` as usual and
//! everything else with 503 + `Retry-After`; beyond that, a fixed 503 is written and the connection
//! closed. Every error status carries a JSON body `{"error": {"code", "message"}}`, including the
//! 400/414/431 hyper writes itself for a request it cannot parse.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use clap::Args;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::shutdown::Shutdown;

/// Paths answered from the health budget when the listener is full.
pub const HEALTH_PATHS: &[&str] = &["/healthz", "/readyz"];
/// Connections served beyond `max_connections` for the health endpoints (and a 503 for the rest).
pub const HEALTH_CONNECTIONS: usize = 16;
/// Seconds a client is told to wait when the listener is full.
const RETRY_AFTER_SECS: u64 = 1;

/// The bounds of one listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A request head (request line and headers) must arrive in full within this time, counted
    /// from when the connection is ready for it.
    pub header_read_timeout: Duration,
    /// A request body must arrive in full within this time from when the handler starts reading
    /// it; else the body fails with [`BodyReadTimeout`] (the gateway answers 408).
    pub body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed. hyper starts the
    /// header-read clock when a kept-alive connection waits for its next request, so the idle time
    /// allowed is at most `header_read_timeout`.
    pub idle_timeout: Duration,
    /// Connections served at once (not counting the health budget).
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv4 address, or IPv6 /64); 0: no
    /// bound but `max_connections`. Behind a proxy every client has the proxy's address: raise it
    /// or set 0 there.
    pub max_connections_per_client: usize,
    /// Longest request target (path and query), in bytes; longer is a 414.
    pub max_uri_bytes: usize,
    /// Most header fields in a request; more is a 431.
    pub max_headers: usize,
    /// Largest total size of the header fields, in bytes; more is a 431.
    pub max_header_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 0,
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// The admin listener's bounds (`/metrics`, `/healthz`, `/readyz`, and the console in
/// `friction up`): flags of every binary (through [`crate::AdminArgs`]) and of `friction up`, or
/// `FRICTION_ADMIN_*` in the environment.
#[derive(Debug, Clone, Args)]
pub struct AdminHttpArgs {
    /// Connections the admin/console listener serves at once; beyond it the connection idle longest
    /// is closed, or the answer is 503 with `Retry-After` (health endpoints keep a budget of their own).
    #[arg(long, env = "FRICTION_ADMIN_MAX_CONNECTIONS", default_value_t = 256)]
    pub admin_max_connections: usize,
    /// Of those, how many one client address (an IPv6 /64) may hold; 0: no bound of its own. At
    /// its bound the client's own connection idle longest is closed, or the answer is 503.
    /// Default 64.
    #[arg(long, env = "FRICTION_ADMIN_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 64)]
    pub admin_max_connections_per_client: usize,
    /// Time for a request head to arrive on the admin/console listener, in ms. Default 10000.
    #[arg(long, env = "FRICTION_ADMIN_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub admin_header_read_timeout_ms: u64,
    /// Time for a request body to arrive on the admin/console listener, in ms; then 408. Default 30000.
    #[arg(long, env = "FRICTION_ADMIN_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub admin_body_read_timeout_ms: u64,
    /// An admin/console connection with no request in flight is closed after this many ms (at most
    /// the header-read timeout). Default 10000.
    #[arg(long, env = "FRICTION_ADMIN_IDLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub admin_idle_timeout_ms: u64,
}

impl Default for AdminHttpArgs {
    fn default() -> Self {
        AdminHttpArgs {
            admin_max_connections: 256,
            admin_max_connections_per_client: 64,
            admin_header_read_timeout_ms: 10_000,
            admin_body_read_timeout_ms: 30_000,
            admin_idle_timeout_ms: 10_000,
        }
    }
}

impl AdminHttpArgs {
    pub fn limits(&self) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_millis(self.admin_header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.admin_body_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.admin_idle_timeout_ms),
            max_connections: self.admin_max_connections,
            max_connections_per_client: self.admin_max_connections_per_client,
            ..HttpLimits::default()
        }
    }
}

/// The request body did not arrive within the body-read timeout. Handlers find it in the source
/// chain of a body error.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} ms (body-read timeout)", .0.as_millis())]
pub struct BodyReadTimeout(pub Duration);

/// Whether a body error (of any wrapping) is a [`BodyReadTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(s) = source {
        if s.is::<BodyReadTimeout>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The JSON error body every listener uses.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

/// A short code for a status (`method_not_allowed`, `uri_too_long`, ...).
pub fn status_code_name(status: StatusCode) -> String {
    match status {
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error".into(),
        s => s.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace([' ', '-'], "_").replace('\'', ""),
    }
}

/// Gives every error answer without a JSON body one (`{"error": {"code", "message"}}`), keeping
/// a short text body as the message: axum's own 405, 400, 413, 415 answers have none or plain text.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let is_json =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 1024).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok());
    let message = match text.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    // axum reports a body that failed to arrive as a 400 "failed to buffer the body": it is a 408.
    if message.contains("(body-read timeout)") {
        parts.status = StatusCode::REQUEST_TIMEOUT;
    }
    let body = serde_json::json!({"error": {"code": status_code_name(parts.status), "message": message}}).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// 414 and 431 with a JSON body for request targets and header sets over the listener's limits
/// (hyper's own, larger limits answer the same statuses; see [`JsonParseErrors`]).
async fn check_head(State(limits): State<Arc<HttpLimits>>, request: Request, next: Next) -> Response {
    let uri_len = request.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if uri_len > limits.max_uri_bytes {
        return error_response(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &format!("the request target is {uri_len} bytes; the limit is {}", limits.max_uri_bytes),
        );
    }
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            &format!("the request has {} header fields; the limit is {}", headers.len(), limits.max_headers),
        );
    }
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if bytes > limits.max_header_bytes {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            &format!("the request's header fields are {bytes} bytes; the limit is {}", limits.max_header_bytes),
        );
    }
    next.run(request).await
}

/// Per-connection state the accept loop reads to pick a connection to close.
struct ConnTrack {
    client: IpAddr,
    in_flight: AtomicUsize,
    /// Milliseconds since the listener started, at the last request start or end.
    last_active_ms: AtomicU64,
    /// Chosen to be closed for room: not chosen again.
    closing: std::sync::atomic::AtomicBool,
    close: Notify,
}

impl ConnTrack {
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

struct Listener {
    name: &'static str,
    limits: Arc<HttpLimits>,
    app: Router,
    started: Instant,
    main: Arc<Semaphore>,
    health: Arc<Semaphore>,
    conns: Mutex<HashMap<u64, Arc<ConnTrack>>>,
    /// Connection slots per client ([`client_of`]), while the client has a connection.
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    next_id: AtomicU64,
    shutdown: Shutdown,
}

/// The address a per-client bound counts by: an IPv4 address (also when mapped into IPv6), or an
/// IPv6 /64 (one host usually holds a whole /64).
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// A connection's slot among its client's; the client's entry goes when its last slot does.
struct ClientSlot {
    state: Arc<Listener>,
    client: IpAddr,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Ok(mut clients) = self.state.clients.lock() else { return };
        drop(self.permit.take());
        let max = self.state.limits.max_connections_per_client;
        if clients.get(&self.client).is_some_and(|s| s.available_permits() >= max) {
            clients.remove(&self.client);
        }
    }
}

impl Listener {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Tells the connection idle longest (of `client`'s, when given) to close; false when every
    /// such connection has a request in flight.
    fn close_oldest_idle(&self, client: Option<IpAddr>) -> bool {
        let Ok(conns) = self.conns.lock() else { return false };
        let oldest = conns
            .values()
            .filter(|t| client.is_none_or(|c| t.client == c))
            .filter(|t| t.idle() && !t.closing.load(Ordering::Relaxed))
            .min_by_key(|t| t.last_active_ms.load(Ordering::Relaxed));
        match oldest {
            Some(t) => {
                t.closing.store(true, Ordering::Relaxed);
                t.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown`; in-flight requests finish first.
/// Requests carry their peer address as `ConnectInfo<SocketAddr>`. `name` labels logs and metrics.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: Shutdown,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let app =
        app.layer(middleware::from_fn(json_errors)).layer(middleware::from_fn_with_state(limits.clone(), check_head));
    let max = limits.max_connections.max(1);
    let state = Arc::new(Listener {
        name,
        limits,
        app,
        started: Instant::now(),
        main: Arc::new(Semaphore::new(max)),
        health: Arc::new(Semaphore::new(HEALTH_CONNECTIONS)),
        conns: Mutex::new(HashMap::new()),
        clients: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        shutdown: shutdown.clone(),
    });
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin; never give up.
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let state2 = state.clone();
        tokio::spawn(async move { admit(state2, stream, peer).await });
    }
    drop(listener);
    // Every connection was told to finish (graceful shutdown); wait until all have.
    let _all = state.main.acquire_many(max as u32).await;
    let _health = state.health.acquire_many(HEALTH_CONNECTIONS as u32).await;
    Ok(())
}

/// Finds room for a new connection, or answers it with a 503.
async fn admit(state: Arc<Listener>, stream: TcpStream, peer: SocketAddr) {
    let name = state.name;
    let client = client_of(peer.ip());
    let slot = match client_slot(&state, client).await {
        Ok(slot) => slot,
        Err(()) => {
            // Over its own bound with every connection busy: its share is used, other clients
            // keep theirs; its health checks still answer from the health budget.
            return match state.health.clone().try_acquire_owned() {
                Ok(permit) => {
                    metrics::counter!("friction_http_overload_total", "listener" => name, "answer" => "client_limit_health")
                        .increment(1);
                    serve_connection(state, stream, peer, (permit, None), true).await
                }
                Err(_) => {
                    metrics::counter!("friction_http_overload_total", "listener" => name, "answer" => "client_limit")
                        .increment(1);
                    refuse(&state, stream, peer).await
                }
            };
        }
    };
    let permit = match state.main.clone().try_acquire_owned() {
        Ok(p) => Some(p),
        Err(_) if state.close_oldest_idle(None) => {
            metrics::counter!("friction_http_idle_closed_total", "listener" => name, "reason" => "limit").increment(1);
            tokio::time::timeout(Duration::from_secs(1), state.main.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        }
        Err(_) => None,
    };
    if let Some(permit) = permit {
        return serve_connection(state, stream, peer, (permit, slot), false).await;
    }
    if let Ok(permit) = state.health.clone().try_acquire_owned() {
        metrics::counter!("friction_http_overload_total", "listener" => name, "answer" => "health_budget").increment(1);
        return serve_connection(state, stream, peer, (permit, slot), true).await;
    }
    metrics::counter!("friction_http_overload_total", "listener" => name, "answer" => "refused").increment(1);
    refuse(&state, stream, peer).await
}

/// A slot among `client`'s connections (none needed when there is no per-client bound). At the
/// bound, the client's own connection idle longest is closed to make room; `Err` when all of its
/// connections are busy.
async fn client_slot(state: &Arc<Listener>, client: IpAddr) -> Result<Option<ClientSlot>, ()> {
    let max = state.limits.max_connections_per_client;
    if max == 0 {
        return Ok(None);
    }
    // Taken under the lock, so that a client's entry is never dropped between being looked up and
    // a slot of it taken (a waiter queued on it keeps it too: a released slot goes to the waiter).
    let (slots, taken) = {
        let Ok(mut clients) = state.clients.lock() else { return Ok(None) };
        let slots = clients.entry(client).or_insert_with(|| Arc::new(Semaphore::new(max))).clone();
        let taken = slots.clone().try_acquire_owned().ok();
        (slots, taken)
    };
    let mut slot = ClientSlot { state: state.clone(), client, permit: taken };
    if slot.permit.is_none() && state.close_oldest_idle(Some(client)) {
        metrics::counter!("friction_http_idle_closed_total", "listener" => state.name, "reason" => "client_limit")
            .increment(1);
        slot.permit =
            tokio::time::timeout(Duration::from_secs(1), slots.acquire_owned()).await.ok().and_then(Result::ok);
    }
    if slot.permit.is_some() {
        Ok(Some(slot))
    } else {
        Err(())
    }
}

/// Writes a fixed 503 and closes the connection.
async fn refuse(state: &Listener, stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(listener = state.name, %peer, "listener full: 503 and close");
    let body = serde_json::json!({"error": {"code": "overloaded", "message": "too many connections; retry shortly"}})
        .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serves one connection. `health_only`: from the health budget, so one request, and only the
/// health endpoints get their usual answer.
async fn serve_connection(
    state: Arc<Listener>,
    stream: TcpStream,
    peer: SocketAddr,
    _permits: (OwnedSemaphorePermit, Option<ClientSlot>),
    health_only: bool,
) {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let track = Arc::new(ConnTrack {
        client: client_of(peer.ip()),
        in_flight: AtomicUsize::new(0),
        last_active_ms: AtomicU64::new(state.now_ms()),
        closing: std::sync::atomic::AtomicBool::new(false),
        close: Notify::new(),
    });
    if !health_only {
        if let Ok(mut conns) = state.conns.lock() {
            conns.insert(id, track.clone());
        }
    }
    let _registered = Deregister { state: state.clone(), id };
    let gauge = metrics::gauge!("friction_http_connections", "listener" => state.name);
    gauge.increment(1.0);

    let service = {
        let state = state.clone();
        let track = track.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let state = state.clone();
            let track = track.clone();
            async move {
                track.in_flight.fetch_add(1, Ordering::AcqRel);
                track.last_active_ms.store(state.now_ms(), Ordering::Relaxed);
                let response = handle(&state, request, peer, health_only).await;
                track.last_active_ms.store(state.now_ms(), Ordering::Relaxed);
                track.in_flight.fetch_sub(1, Ordering::AcqRel);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let limits = &state.limits;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(!health_only)
        // Above our own limits, so that those answer first with a message (`check_head`).
        .max_headers(limits.max_headers.saturating_mul(2).max(100))
        .max_buf_size((limits.max_header_bytes + limits.max_uri_bytes).saturating_mul(2).max(64 * 1024));
    let conn = builder.serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service);
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    let mut tick = tokio::time::interval((idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    let mut closing = false;
    let mut shutting = state.shutdown.is_triggered();
    if shutting {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(listener = state.name, %peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = state.shutdown.wait(), if !shutting => {
                shutting = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = track.close.notified() => {
                if track.idle() {
                    break;
                }
                // A request came in meanwhile: it is served; the next pick may choose this one again.
                track.closing.store(false, Ordering::Relaxed);
            }
            _ = tick.tick() => {
                let quiet = state.now_ms().saturating_sub(track.last_active_ms.load(Ordering::Relaxed));
                if track.idle() && quiet >= idle.as_millis() as u64 {
                    if closing {
                        // Still open a tick after the graceful close (a half-sent head): drop it.
                        break;
                    }
                    metrics::counter!("friction_http_idle_closed_total", "listener" => state.name, "reason" => "idle").increment(1);
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    gauge.decrement(1.0);
}

struct Deregister {
    state: Arc<Listener>,
    id: u64,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        if let Ok(mut conns) = self.state.conns.lock() {
            conns.remove(&self.id);
        }
    }
}

async fn handle(state: &Listener, request: hyper::Request<Incoming>, peer: SocketAddr, health_only: bool) -> Response {
    let mut response = answer(state, request, peer, health_only).await;
    // Every answer is what its content type says (JSON, the SDK's script, the console's pages):
    // a browser must not guess otherwise from text a client put in it.
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn answer(state: &Listener, request: hyper::Request<Incoming>, peer: SocketAddr, health_only: bool) -> Response {
    if health_only && !HEALTH_PATHS.contains(&request.uri().path()) {
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many connections; retry shortly (the health endpoints still answer)",
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        return response;
    }
    let timeout = state.limits.body_read_timeout;
    let mut request = request.map(|body| Body::new(TimedBody { inner: body, timeout, deadline: None }));
    request.extensions_mut().insert(ConnectInfo(peer));
    match state.app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A request body that fails with [`BodyReadTimeout`] when it has not arrived in full in time.
/// The clock starts when the handler first waits for body data.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyReadTimeout(timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket as hyper sees it, with one change: the answer hyper writes by itself to a request it
/// cannot parse (400, 414, 431, with an empty body) gets a JSON body saying what was wrong.
pub struct JsonParseErrors<S> {
    inner: S,
    /// A rewritten answer being written: bytes, how many are written, and the length hyper asked for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonParseErrors<S> {
    pub fn new(inner: S) -> Self {
        JsonParseErrors { inner, pending: None }
    }
}

/// The JSON version of hyper's automatic answer in `head`, if it is one.
fn rewrite_parse_error(head: &[u8]) -> Option<Vec<u8>> {
    let (code, message) = if head.starts_with(b"HTTP/1.1 400 ") {
        ("bad_request", "the request could not be parsed as HTTP/1.1")
    } else if head.starts_with(b"HTTP/1.1 414 ") {
        ("uri_too_long", "the request target is too long")
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        ("request_header_fields_too_large", "the request's header fields are too large or too many")
    } else {
        return None;
    };
    let text = std::str::from_utf8(head).ok()?;
    // Only hyper's own answer: a lone head with an empty body. Ours always carry a JSON body.
    if !text.ends_with("\r\n\r\n") || !text.to_ascii_lowercase().contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let start = text.to_ascii_lowercase().find("\r\ncontent-length: 0\r\n")?;
    let mut out = String::with_capacity(text.len() + body.len() + 64);
    out.push_str(&text[..start]);
    out.push_str(&format!(
        "\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\ncontent-length: {}",
        body.len()
    ));
    out.push_str(&text[start + "\r\ncontent-length: 0".len()..]);
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match rewrite_parse_error(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        while let Some((bytes, written, asked)) = this.pending.as_mut() {
            if *written >= bytes.len() {
                let asked = *asked;
                this.pending = None;
                return Poll::Ready(Ok(asked));
            }
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(0))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_parse_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite_parse_error(head).expect("rewritten")).expect("utf-8");
        let (head, body) = out.split_once("\r\n\r\n").expect("head");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "request_header_fields_too_large");
        // Our own answers (a body, or another status) pass unchanged.
        assert!(rewrite_parse_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(rewrite_parse_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }

    #[test]
    fn status_names() {
        assert_eq!(status_code_name(StatusCode::METHOD_NOT_ALLOWED), "method_not_allowed");
        assert_eq!(status_code_name(StatusCode::URI_TOO_LONG), "uri_too_long");
        assert_eq!(status_code_name(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE), "request_header_fields_too_large");
    }

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        admin: AdminHttpArgs,
    }

    #[test]
    fn admin_limits_are_flags() {
        use clap::Parser;
        let l = Flags::try_parse_from(["x", "--admin-max-connections", "9", "--admin-max-connections-per-client", "3"])
            .expect("flags")
            .admin
            .limits();
        assert_eq!((l.max_connections, l.max_connections_per_client), (9, 3));
        let d = AdminHttpArgs::default().limits();
        assert_eq!((d.max_connections, d.max_connections_per_client), (256, 64));
    }

    #[test]
    fn clients_are_addresses_and_ipv6_slash_64s() {
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_of(v4), v4);
        assert_eq!(client_of(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(c));
    }
}
