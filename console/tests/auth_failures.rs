//! Failed console authentications (issue 18): counted per reason in
//! `friction_auth_failures_total{listener="console"}`, and a source over its failure budget gets
//! 429 with `Retry-After` (even with a good token) while other sources are unaffected.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use friction_console::{router, ConsoleState};
use friction_runtime::auth_guard::AuthThrottleArgs;
use friction_store::{Role, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(app: &Router, from: &str, authorization: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get("/v1/incidents");
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let mut req = req.body(Body::empty()).expect("request");
    let peer: SocketAddr = format!("{from}:50000").parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let retry = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn failed_token_authentications_are_counted_and_throttled_per_source() {
    let metrics = friction_runtime::admin::prometheus();
    let store = Store::connect("sqlite::memory:").await.expect("store");
    store.migrate().await.expect("migrate");
    let good = store.create_console_token(Role::Viewer, None).await.expect("token");
    let revoked = store.create_console_token(Role::Viewer, None).await.expect("token");
    store.revoke_console_token(&revoked.token.id).await.expect("revoke");
    let good = format!("Bearer {}", good.secret);
    let app = router(
        ConsoleState::new(store.clone(), None)
            .with_auth_throttle(AuthThrottleArgs { auth_failure_limit: 4, auth_failure_window_secs: 600 }),
    );

    assert_eq!(get(&app, "10.1.0.1", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "10.1.0.1", Some("Basic abc")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "10.1.0.1", Some("Bearer frt_nope")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "10.1.0.1", Some(&good)).await.0, StatusCode::OK, "a good token still works");
    assert_eq!(get(&app, "10.1.0.1", Some(&format!("Bearer {}", revoked.secret))).await.0, StatusCode::UNAUTHORIZED);

    let (status, retry, body) = get(&app, "10.1.0.1", Some(&good)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("too_many_auth_failures"), "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(get(&app, "10.1.0.2", Some(&good)).await.0, StatusCode::OK, "other sources are not affected");

    let text = metrics.render();
    for reason in ["missing", "malformed", "unknown", "revoked"] {
        let line = format!(r#"friction_auth_failures_total{{listener="console",reason="{reason}"}} 1"#);
        assert!(text.contains(&line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains(r#"friction_auth_throttled_total{listener="console"} 1"#), "{text}");
}
