//! What the console's route tests share: one request through the router (as `friction up` builds
//! it) with a bearer token and a JSON body, answered as status and JSON.

#![allow(dead_code)]

pub mod page;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use friction_console::{router, ConsoleState};
use friction_schemas::SignalRecord;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// `method uri` with `token` and `body`, from 10.0.0.1; the status and the JSON answer (`Null`
/// when empty or not JSON).
pub async fn call(
    state: &ConsoleState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req
        .header("content-type", "application/json")
        .body(Body::from(body.unwrap_or("").to_owned()))
        .expect("request");
    let peer: std::net::SocketAddr = "10.0.0.1:40000".parse().expect("peer");
    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    let resp = router(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The error message of an error answer.
pub fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Asserts `status` is 403 and the message names `role`.
pub fn assert_forbidden(what: &str, status: StatusCode, body: &Value, role: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert!(message(body).contains(role), "{what}: the refusal names the {role} role: {body}");
}

/// Asserts `status` is 400 and the message names `field`.
pub fn assert_bad(what: &str, status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert!(message(body).contains(field), "{what}: the message names {field:?}: {body}");
}

/// A rage-click signal of `project` on `element` in `session`, as the incidents stage would receive it.
pub fn rage_signal(
    id: &str,
    project: &str,
    fingerprint: &str,
    element: &str,
    session: &str,
    start_ms: i64,
) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: project.into(),
        fingerprint: fingerprint.into(),
        kind: "rage_click".into(),
        label: "rage_click".into(),
        session_id: session.into(),
        view_id: "v".into(),
        route_template: "/checkout".into(),
        element_key: element.into(),
        start_ms,
        end_ms: start_ms + 100,
        user_id: Some(format!("user-{session}")),
        release: Some("1.0".into()),
        ..Default::default()
    }
}
