//! Failed API-key authentications (issue 18): counted in `friction_auth_failures_total`, and a
//! source over its failure budget gets 429 with `Retry-After` (even with a good key) while other
//! sources are unaffected. Requests carry their peer address as the real listener sets it.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use friction_gateway::sink::MemorySink;
use friction_gateway::{router, GatewayArgs, GatewayState};
use friction_runtime::auth_guard::AuthThrottleArgs;
use http_body_util::BodyExt;
use tower::ServiceExt;

const KEY: &str = "frk_auth_failures_key";
const EVENT: &str = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}]}"#;

fn app(limit: u32) -> Router {
    let keys = common::one_key_store(KEY, "p");
    let config = GatewayArgs {
        auth: AuthThrottleArgs { auth_failure_limit: limit, auth_failure_window_secs: 600 },
        ..GatewayArgs::default()
    };
    router(Arc::new(GatewayState::new(config, keys, Arc::new(MemorySink::default()))))
}

async fn post(app: &Router, from: &str, key: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut req = Request::post("/v1/events").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let mut req = req.body(Body::from(EVENT)).expect("request");
    let peer: SocketAddr = format!("{from}:40000").parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let retry = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_source_over_its_failure_budget_gets_429_and_others_do_not() {
    let metrics = friction_runtime::admin::prometheus();
    let app = app(3);
    assert_eq!(post(&app, "10.0.0.1", Some("frk_wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&app, "10.0.0.1", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&app, "10.0.0.1", Some(KEY)).await.0, StatusCode::ACCEPTED, "a good key still works");
    assert_eq!(post(&app, "10.0.0.1", Some("frk_wrong_again")).await.0, StatusCode::UNAUTHORIZED);

    // Three failures: the source is over its budget, good key or not.
    let (status, retry, body) = post(&app, "10.0.0.1", Some(KEY)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("too_many_auth_failures"), "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(post(&app, "10.0.0.1", Some("frk_wrong")).await.0, StatusCode::TOO_MANY_REQUESTS);

    // Another source is not affected.
    assert_eq!(post(&app, "10.0.0.2", Some(KEY)).await.0, StatusCode::ACCEPTED);

    let text = metrics.render();
    for line in [
        r#"friction_auth_failures_total{listener="gateway",reason="unknown"} 2"#,
        r#"friction_auth_failures_total{listener="gateway",reason="missing"} 1"#,
        r#"friction_auth_throttled_total{listener="gateway"} 2"#,
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}

#[tokio::test]
async fn limit_zero_turns_throttling_off() {
    let app = app(0);
    for _ in 0..30 {
        assert_eq!(post(&app, "10.0.0.1", Some("frk_wrong")).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(post(&app, "10.0.0.1", Some(KEY)).await.0, StatusCode::ACCEPTED);
}
