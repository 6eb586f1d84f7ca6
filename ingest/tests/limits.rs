//! Bounded servers (issue 18), over real sockets on 127.0.0.1: connection limits, the health
//! budget, header/body/idle timeouts, and JSON bodies on every error status. Tests wait on
//! conditions with generous deadlines and never assert on speed.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use friction_gateway::sink::MemorySink;
use friction_gateway::{serve, GatewayArgs, GatewayState};
use friction_runtime::serve::{HttpLimits, HEALTH_CONNECTIONS};
use friction_runtime::Shutdown;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "frk_limits_key";
const DEADLINE: Duration = Duration::from_secs(20);
const EVENT: &str = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}]}"#;

async fn gateway(config: GatewayArgs) -> (SocketAddr, Shutdown) {
    let keys = common::one_key_store(KEY, "p");
    let state = Arc::new(GatewayState::new(config, keys, Arc::new(MemorySink::default())));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    tokio::spawn(serve(state, listener, shutdown.clone()));
    (addr, shutdown)
}

/// The admin listener's shape: health routes next to a slow route, under `limits`.
async fn admin(limits: HttpLimits) -> (SocketAddr, Shutdown) {
    let app = Router::new()
        .route("/readyz", get(|| async { Json(serde_json::json!({"ready": true})) }))
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(30)).await }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    tokio::spawn(friction_runtime::serve::serve("admin-test", listener, app, limits, shutdown.clone()));
    (addr, shutdown)
}

struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Writes `request` on a new connection and reads one answer (head and content-length body).
async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    tokio::time::timeout(DEADLINE, read_answer(&mut s)).await.expect("answer within the deadline")
}

async fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed before an answer: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed in the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    Answer { status, head, body }
}

fn post_event() -> Vec<u8> {
    format!(
        "POST /v1/events HTTP/1.1\r\nhost: t\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{EVENT}",
        EVENT.len()
    )
    .into_bytes()
}

fn get_req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").into_bytes()
}

/// Waits until the server closes `s` (read returns 0 or an error); the time it took.
async fn closed_within(s: &mut TcpStream, deadline: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

fn assert_json_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.head);
    assert!(a.head.to_ascii_lowercase().contains("content-type: application/json"), "{}", a.head);
    assert!(a.head.to_ascii_lowercase().contains("x-content-type-options: nosniff"), "{}", a.head);
    assert_eq!(a.body["error"]["code"], code, "{} {}", a.head, a.body);
    assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", a.body);
}

#[tokio::test]
async fn idle_connections_beyond_the_limit_do_not_stop_requests_or_health() {
    let limit = 8;
    let config = GatewayArgs { gateway_max_connections: limit, ..GatewayArgs::default() };
    let (addr, _shutdown) = gateway(config).await;
    // Four times the limit plus the health budget, all idle (never a byte sent).
    let mut idle = Vec::new();
    for _ in 0..(4 * limit + HEALTH_CONNECTIONS) {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let started = Instant::now();
    let a = exchange(addr, &post_event()).await;
    let took = started.elapsed();
    assert_eq!(a.status, 202, "{} {}", a.head, a.body);
    let h = exchange(addr, &get_req("/healthz")).await;
    assert_eq!(h.status, 200, "{}", h.head);
    eprintln!("{} idle connections held (limit {limit}): a batch answered {} in {took:?}", idle.len(), a.status);
    // The idle ones were closed to make room, oldest first.
    let mut closed = 0;
    for s in idle.iter_mut().take(4) {
        if closed_within(s, DEADLINE).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed > 0, "no idle connection was closed");
}

#[tokio::test]
async fn busy_listener_answers_503_with_retry_after_and_health_keeps_its_budget() {
    let limits = HttpLimits { max_connections: 4, ..HttpLimits::default() };
    let (addr, _shutdown) = admin(limits).await;
    // Four requests in flight: the listener is full of work, nothing idle to close.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&get_req("/slow")).await.expect("write");
        busy.push(s);
    }
    // Let the server start them (it counts a request in flight once its head is read).
    let until = Instant::now() + DEADLINE;
    loop {
        let a = exchange(addr, &get_req("/slow")).await;
        if a.status == 503 {
            assert_json_error(&a, 503, "overloaded");
            assert!(a.head.to_ascii_lowercase().contains("retry-after: 1"), "{}", a.head);
            break;
        }
        assert!(Instant::now() < until, "never full: {}", a.head);
    }
    let started = Instant::now();
    let r = exchange(addr, &get_req("/readyz")).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body["ready"], true);
    eprintln!(
        "listener full (4 requests in flight): /slow got 503 + Retry-After, /readyz 200 in {:?}",
        started.elapsed()
    );
    // The health budget itself full of idle connections: a fixed JSON 503, never a hang.
    let mut held = Vec::new();
    for _ in 0..HEALTH_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let until = Instant::now() + DEADLINE;
    loop {
        let a = exchange(addr, &get_req("/readyz")).await;
        if a.status == 503 {
            assert_json_error(&a, 503, "overloaded");
            break;
        }
        assert_eq!(a.status, 200);
        assert!(Instant::now() < until, "health budget never full");
    }
}

#[tokio::test]
async fn slow_header_idle_and_slow_body_connections_are_closed_within_the_timeouts() {
    let config = GatewayArgs {
        gateway_header_read_timeout_ms: 300,
        gateway_idle_timeout_ms: 600,
        gateway_body_read_timeout_ms: 300,
        ..GatewayArgs::default()
    };
    let (addr, _shutdown) = gateway(config).await;
    // Slow header: half a head, then nothing.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"POST /v1/events HTTP/1.1\r\nhost: t\r\n").await.expect("write");
    let took = closed_within(&mut slow, DEADLINE).await.expect("slow-header connection closed");
    eprintln!("slow header closed after {took:?} (header-read timeout 300 ms)");
    // Idle: connected, never a byte.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    let took = closed_within(&mut idle, DEADLINE).await.expect("idle connection closed");
    eprintln!("idle connection closed after {took:?}");
    // Idle after a request on a kept-alive connection.
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(&get_req("/healthz")).await.expect("write");
    let a = tokio::time::timeout(DEADLINE, read_answer(&mut kept)).await.expect("answer");
    assert_eq!(a.status, 200);
    let took = closed_within(&mut kept, DEADLINE).await.expect("kept-alive idle connection closed");
    eprintln!("kept-alive connection closed {took:?} after its answer (idle timeout 600 ms)");
    // Slow body: the head promises 100 bytes, 10 arrive.
    let mut body = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: t\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"events\":"
    );
    body.write_all(head.as_bytes()).await.expect("write");
    let a = tokio::time::timeout(DEADLINE, read_answer(&mut body)).await.expect("answer");
    assert_json_error(&a, 408, "request_timeout");
}

#[tokio::test]
async fn every_error_status_has_a_json_body() {
    let (addr, _shutdown) = gateway(GatewayArgs::default()).await;
    // 405: a known path, another method.
    let a = exchange(addr, &get_req("/v1/events")).await;
    assert_json_error(&a, 405, "method_not_allowed");
    // 404.
    assert_json_error(&exchange(addr, &get_req("/nope")).await, 404, "not_found");
    // 414: a long target, ours (over 8 KiB) and hyper's own (over 64 KiB).
    let long = format!("/v1/events?x={}", "a".repeat(10 * 1024));
    assert_json_error(&exchange(addr, &get_req(&long)).await, 414, "uri_too_long");
    let longer = format!("/v1/events?x={}", "a".repeat(70 * 1024));
    let a = exchange(addr, &get_req(&longer)).await;
    assert!(a.status == 414 || a.status == 431, "{}", a.head);
    assert!(a.body["error"]["code"].is_string(), "{} {}", a.head, a.body);
    // 431: too many header fields (ours) and far too many (hyper's).
    for n in [150, 400] {
        let mut req = String::from("GET /healthz HTTP/1.1\r\nhost: t\r\n");
        for i in 0..n {
            req.push_str(&format!("x-h{i}: v\r\n"));
        }
        req.push_str("\r\n");
        assert_json_error(&exchange(addr, req.as_bytes()).await, 431, "request_header_fields_too_large");
    }
    // 431: one huge header.
    let req = format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n\r\n", "b".repeat(40 * 1024));
    assert_json_error(&exchange(addr, req.as_bytes()).await, 431, "request_header_fields_too_large");
    // 400: not HTTP at all.
    assert_json_error(&exchange(addr, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n").await, 400, "bad_request");
    // 415 and 413 from the gateway itself stay JSON.
    let req = format!("POST /v1/events HTTP/1.1\r\nhost: t\r\nx-api-key: {KEY}\r\ncontent-type: text/csv\r\ncontent-length: 2\r\n\r\n{{}}");
    assert_json_error(&exchange(addr, req.as_bytes()).await, 415, "unsupported_media_type");
    let req = format!("POST /v1/events HTTP/1.1\r\nhost: t\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n");
    assert_json_error(&exchange(addr, req.as_bytes()).await, 413, "payload_too_large");
}

#[tokio::test]
async fn readyz_answers_with_the_admin_listener_full_of_idle_connections() {
    let (addr, _shutdown) = admin(HttpLimits { max_connections: 4, ..HttpLimits::default() }).await;
    let mut idle = Vec::new();
    for _ in 0..(10 * 4 + HEALTH_CONNECTIONS) {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let started = Instant::now();
    let r = exchange(addr, &get_req("/readyz")).await;
    assert_eq!(r.status, 200, "{}", r.head);
    eprintln!(
        "{} idle connections on the admin listener (limit 4): /readyz 200 in {:?}",
        idle.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn the_idle_timeout_closes_a_kept_alive_connection_before_the_header_timeout() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let (addr, _shutdown) = admin(limits).await;
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(&get_req("/healthz")).await.expect("write");
    let a = tokio::time::timeout(DEADLINE, read_answer(&mut kept)).await.expect("answer");
    assert_eq!(a.status, 200);
    let took = closed_within(&mut kept, DEADLINE).await.expect("closed by the idle timeout");
    eprintln!("idle timeout 300 ms (header-read 30 s): closed after {took:?}");
}

/// A connection to `addr` from the loopback address `from` (any 127.x.y.z is this machine).
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind the client address");
    socket.connect(addr).await.expect("connect")
}

#[tokio::test]
async fn one_client_address_gets_its_share_and_others_keep_theirs() {
    let limits = HttpLimits { max_connections: 64, max_connections_per_client: 3, ..HttpLimits::default() };
    let (addr, _shutdown) = admin(limits).await;
    let greedy = [127, 0, 0, 2];
    // Idle connections beyond its share only push out its own oldest idle ones.
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(connect_from(greedy, addr).await);
    }
    let mut s = connect_from(greedy, addr).await;
    s.write_all(&get_req("/healthz")).await.expect("write");
    let a = tokio::time::timeout(DEADLINE, read_answer(&mut s)).await.expect("answer");
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(closed_within(&mut idle[0], DEADLINE).await.is_some(), "its oldest idle connection was not closed");
    drop(idle);
    drop(s);
    // Its share busy with requests in flight: its next connection gets a 503, /readyz from it
    // still answers (the health budget), and another address is served as usual.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from(greedy, addr).await;
        s.write_all(&get_req("/slow")).await.expect("write");
        busy.push(s);
    }
    let until = Instant::now() + DEADLINE;
    loop {
        let mut s = connect_from(greedy, addr).await;
        s.write_all(&get_req("/slow")).await.expect("write");
        let a = tokio::time::timeout(DEADLINE, read_answer(&mut s)).await.expect("answer");
        if a.status == 503 {
            assert_json_error(&a, 503, "overloaded");
            assert!(a.head.to_ascii_lowercase().contains("retry-after: 1"), "{}", a.head);
            break;
        }
        assert!(Instant::now() < until, "the client's share never filled: {}", a.head);
    }
    let mut s = connect_from(greedy, addr).await;
    s.write_all(&get_req("/readyz")).await.expect("write");
    let r = tokio::time::timeout(DEADLINE, read_answer(&mut s)).await.expect("answer");
    assert_eq!(r.status, 200, "{}", r.head);
    let mut other = connect_from([127, 0, 0, 3], addr).await;
    other.write_all(&get_req("/healthz")).await.expect("write");
    let o = tokio::time::timeout(DEADLINE, read_answer(&mut other)).await.expect("answer");
    assert_eq!(o.status, 200, "{}", o.head);
    // And /slow from the other address is taken (in flight, not refused): no answer within a moment.
    let mut other_slow = connect_from([127, 0, 0, 3], addr).await;
    other_slow.write_all(&get_req("/slow")).await.expect("write");
    let refused = tokio::time::timeout(Duration::from_millis(500), read_answer(&mut other_slow)).await;
    assert!(refused.is_err(), "another address was refused: {:?}", refused.map(|a| a.head));
}
