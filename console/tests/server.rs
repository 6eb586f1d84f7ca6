//! The console as `friction up` serves it: on the bounded admin listener, over a real socket. Every
//! error status carries a JSON body, including the ones axum and hyper produce (405, 400, 414).

use std::net::SocketAddr;

use friction_console::{router, ConsoleState};
use friction_runtime::serve::AdminHttpArgs;
use friction_runtime::{serve_admin_with, Health, Shutdown};
use friction_store::testing::migrated_dbs;
use friction_store::Role;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One request on a new connection (`connection: close`), the status and the JSON body.
async fn exchange(addr: SocketAddr, request: String) -> Result<(u16, String, Value), std::io::Error> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await??;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn request(method: &str, path: &str, token: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn console_errors_on_the_admin_listener_are_json() -> TestResult {
    for db in migrated_dbs().await? {
        let token = db.store.create_console_token(Role::Engineer, None).await?.secret;
        let shutdown = Shutdown::new();
        let app = router(ConsoleState::new(db.store.clone(), None));
        let addr = serve_admin_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            AdminHttpArgs::default().limits(),
            Health::default(),
            shutdown.clone(),
            app,
        )
        .await?;
        let cases = [
            (request("DELETE", "/v1/incidents", &token, ""), 405, "method_not_allowed"),
            (request("PATCH", "/v1/incidents/x", &token, "{not json"), 400, "bad_request"),
            (request("GET", &format!("/v1/incidents?x={}", "a".repeat(9000)), &token, ""), 414, "uri_too_long"),
            (request("GET", "/v1/nothing", &token, ""), 404, "not_found"),
        ];
        for (req, status, code) in cases {
            let (got, head, body) = exchange(addr, req).await?;
            assert_eq!(got, status, "{}: {head} {body}", db.name());
            assert!(head.contains("content-type: application/json"), "{head}");
            assert_eq!(body["error"]["code"], code, "{}: {body}", db.name());
        }
        let (got, _, body) = exchange(addr, request("GET", "/readyz", &token, "")).await?;
        assert_eq!(got, 200, "{body}");
        shutdown.trigger();
    }
    Ok(())
}

#[tokio::test]
async fn a_slow_body_on_the_console_is_a_json_408() -> TestResult {
    for db in migrated_dbs().await? {
        let token = db.store.create_console_token(Role::Engineer, None).await?.secret;
        let shutdown = Shutdown::new();
        let app = router(ConsoleState::new(db.store.clone(), None));
        let addr = serve_admin_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            AdminHttpArgs { admin_body_read_timeout_ms: 300, ..AdminHttpArgs::default() }.limits(),
            Health::default(),
            shutdown.clone(),
            app,
        )
        .await?;
        // The head promises 100 bytes; 2 arrive.
        let head = request("PATCH", "/v1/incidents/x", &token, "").replace("content-length: 0", "content-length: 100");
        let (got, head, body) = exchange(addr, format!("{head}{{}}")).await?;
        assert_eq!(got, 408, "{}: {head} {body}", db.name());
        assert_eq!(body["error"]["code"], "request_timeout", "{body}");
        shutdown.trigger();
    }
    Ok(())
}
