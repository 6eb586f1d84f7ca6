//! Router-level tests: every status code and validation rule, through the same router the server
//! runs, with an in-memory sink standing in for the broker (the broker paths are tested against the
//! mock cluster and tansu).

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use flate2::write::GzEncoder;
use flate2::Compression;
use friction_gateway::keys::KeyStore;
use friction_gateway::sink::MemorySink;
use friction_gateway::{router, GatewayArgs, GatewayState};
use friction_schemas::{hash_api_key, ApiKeyRecord, RawEvent};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY: &str = "frk_test_key";
const REVOKED: &str = "frk_revoked_key";
const LIMITED: &str = "frk_limited_key";
const SEED: &str = r#"{"events": [{"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "test-1", "route": "/checkout", "target": {"type": "button"}, "metadata": {}}]}"#;

fn record(secret: &str, revoked: bool, rate: Option<f64>, origins: Vec<String>) -> ApiKeyRecord {
    ApiKeyRecord {
        key_hash: hash_api_key(secret),
        key_id: format!("id-{secret}"),
        project_id: "proj1".into(),
        project_name: "default".into(),
        revoked,
        allowed_origins: origins,
        rate_limit_per_sec: rate,
        updated_at: 1,
        mac: None,
    }
}

struct Harness {
    app: Router,
    sink: Arc<MemorySink>,
}

fn harness_with(config: GatewayArgs) -> Harness {
    let keys = Arc::new(KeyStore::with_records([
        record(KEY, false, None, vec![]),
        record(REVOKED, true, None, vec![]),
        record(LIMITED, false, Some(1.0), vec!["https://shop.example".into()]),
    ]));
    let sink = Arc::new(MemorySink::default());
    let state = Arc::new(GatewayState::new(config, keys, sink.clone()));
    Harness { app: router(state), sink }
}

fn harness() -> Harness {
    harness_with(GatewayArgs::default())
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, value)
}

fn post(path: &str, body: impl Into<Body>) -> axum::http::request::Builder {
    let _ = body;
    Request::post(path).header(header::CONTENT_TYPE, "application/json")
}

async fn post_json(h: &Harness, body: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let req = post("/v1/events", ()).header("x-api-key", KEY).body(Body::from(body.to_string())).expect("req");
    send(&h.app, req).await
}

fn events(h: &Harness) -> Vec<RawEvent<'static>> {
    h.sink.events.lock().expect("lock").iter().map(|(_, e)| e.clone()).collect()
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn seed_payload_is_accepted_and_produced() {
    let h = harness();
    let (status, _, body) = post_json(&h, SEED).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"accepted": 1, "rejected": []}));
    let produced = events(&h);
    assert_eq!(produced.len(), 1);
    let e = &produced[0];
    assert_eq!(e.project_id, "proj1");
    assert_eq!(e.session_id, "test-1");
    assert_eq!(e.event_type, "click");
    assert_eq!(e.timestamp, 1_705_312_800_000);
    assert_eq!(e.route.as_deref(), Some("/checkout"));
    assert_eq!(e.target.as_ref().and_then(|t| t.r#type.as_deref()), Some("button"));
    assert!(e.event_id_derived);
    assert_eq!(e.event_id.len(), 36);
    assert_eq!(e.metadata, "{}");
    assert!(e.received_at >= e.timestamp);
    assert_eq!(e.key(), "proj1:test-1");
}

#[tokio::test]
async fn derived_ids_are_deterministic_and_given_ids_kept() {
    let h = harness();
    post_json(&h, SEED).await;
    post_json(&h, SEED).await;
    let given = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","eventId":"0B6C3B1E-8C52-4A3B-9D8A-6A0D1E0F2A11"}]}"#;
    assert_eq!(post_json(&h, given).await.0, StatusCode::ACCEPTED);
    let e = events(&h);
    assert_eq!(e[0].event_id, e[1].event_id, "a retried event keeps its id");
    assert_eq!(e[2].event_id, "0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f2a11");
    assert!(!e[2].event_id_derived);
}

#[tokio::test]
async fn key_is_read_from_header_bearer_or_query() {
    let h = harness();
    let bearer = post("/v1/events", ())
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .body(Body::from(SEED))
        .expect("req");
    assert_eq!(send(&h.app, bearer).await.0, StatusCode::ACCEPTED);
    let query = Request::post(format!("/v1/events?api_key={KEY}"))
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Body::from(SEED))
        .expect("req");
    assert_eq!(send(&h.app, query).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn missing_unknown_and_revoked_keys_are_401() {
    let h = harness();
    let none = post("/v1/events", ()).body(Body::from(SEED)).expect("req");
    let (s, _, b) = send(&h.app, none).await;
    assert_eq!((s, error_code(&b)), (StatusCode::UNAUTHORIZED, "missing_api_key"));
    for (key, code) in [("frk_nope", "invalid_api_key"), (REVOKED, "revoked_api_key")] {
        let req = post("/v1/events", ()).header("x-api-key", key).body(Body::from(SEED)).expect("req");
        let (s, _, b) = send(&h.app, req).await;
        assert_eq!((s, error_code(&b)), (StatusCode::UNAUTHORIZED, code), "{b}");
    }
    assert!(events(&h).is_empty());
}

#[tokio::test]
async fn keys_not_yet_loaded_is_503_not_401() {
    let keys = Arc::new(KeyStore::new());
    let state = Arc::new(GatewayState::new(GatewayArgs::default(), keys, Arc::new(MemorySink::default())));
    let app = router(state);
    let req = post("/v1/events", ()).header("x-api-key", KEY).body(Body::from(SEED)).expect("req");
    let (s, headers, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn unparseable_or_empty_bodies_are_400() {
    let h = harness();
    for (body, code) in [
        ("not json", "bad_request"),
        ("[1,2]", "bad_request"),
        ("{}", "no_events"),
        (r#"{"events": []}"#, "no_events"),
        (r#"{"events": {"a": 1}}"#, "bad_request"),
        (r#"{"events": [1]"#, "bad_request"),
    ] {
        let (s, _, b) = post_json(&h, body).await;
        assert_eq!((s, error_code(&b)), (StatusCode::BAD_REQUEST, code), "{body}: {b}");
        assert!(!b["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let req =
        post("/v1/events", ()).header("x-api-key", KEY).body(Body::from(vec![b'{', 0xff, 0xfe, b'}'])).expect("req");
    assert_eq!(send(&h.app, req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn each_invalid_event_is_rejected_by_field_and_the_rest_accepted() {
    let h = harness();
    let body = json!({"events": [
        {"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "s", "target": {"type": "button"}},
        {"eventType": "hover", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "s"},
        {"eventType": "click", "timestamp": "yesterday", "sessionId": "s", "target": {}},
        {"eventType": "click", "timestamp": 1705312800000i64, "target": {}},
        {"eventType": "click", "timestamp": 1705312800000i64, "sessionId": "s", "target": {"x": "left"}},
        {"eventType": "network", "timestamp": 1705312800000i64, "sessionId": "s"},
        {"eventType": "pageview", "timestamp": 1705312800000i64, "sessionId": "s", "navigation": {"kind": "teleport"}},
        {"eventType": "focus", "timestamp": 1705312800, "sessionId": "s"},
        {"eventType": "focus", "timestamp": 1705312800000i64, "sessionId": ""},
        {"eventType": "focus", "timestamp": 1705312800000i64, "sessionId": "s", "eventId": "not-a-uuid"},
        {"eventType": "focus", "timestamp": 1705312800000i64, "sessionId": "s", "metadata": [1]},
        "just a string",
        {"eventType": "visibility", "timestamp": 1705312800000i64, "sessionId": "s", "visibility": {"state": "hidden"}}
    ]});
    let (s, _, b) = post_json(&h, &body.to_string()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["accepted"], 2);
    let rejected = b["rejected"].as_array().expect("rejected");
    let by_index: Vec<(u64, String, String)> = rejected
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(99),
                r["code"].as_str().unwrap_or("").into(),
                r["message"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let expect = [
        (1, "unknown_event_type", "events[1].eventType"),
        (2, "invalid_timestamp", "events[2].timestamp"),
        (3, "invalid_field", "sessionId"),
        (4, "invalid_field", "events[4].target.x"),
        (5, "missing_payload", "events[5].network"),
        (6, "invalid_field", "events[6].navigation.kind"),
        (7, "invalid_timestamp", "not seconds"),
        (8, "invalid_field", "events[8].sessionId"),
        (9, "invalid_field", "events[9].eventId"),
        (10, "invalid_field", "events[10].metadata"),
        (11, "invalid_event", "events[11]"),
    ];
    assert_eq!(by_index.len(), expect.len(), "{by_index:?}");
    for ((i, code, msg), (ei, ecode, needle)) in by_index.iter().zip(expect) {
        assert_eq!((*i, code.as_str()), (ei, ecode), "{msg}");
        assert!(msg.contains(needle), "message {msg:?} should name {needle:?}");
    }
    assert!(b["rejected"][0]["message"].as_str().unwrap_or("").contains("hover"));
    assert_eq!(events(&h).len(), 2, "rejected events never enter the pipeline");
}

#[tokio::test]
async fn a_batch_where_everything_is_rejected_is_400_with_the_reasons() {
    let h = harness();
    let (s, _, b) =
        post_json(&h, r#"{"events":[{"eventType":"nope","timestamp":1705312800000,"sessionId":"s"}]}"#).await;
    assert_eq!((s, error_code(&b)), (StatusCode::BAD_REQUEST, "all_events_rejected"));
    assert_eq!(b["rejected"][0]["code"], "unknown_event_type");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bombs_are_413() {
    let h = harness();
    let req = post("/v1/events", ())
        .header("x-api-key", KEY)
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gzip(SEED.as_bytes())))
        .expect("req");
    assert_eq!(send(&h.app, req).await.0, StatusCode::ACCEPTED);
    // 50 MiB of zeros compresses to ~50 KiB: under the body limit, far over the decompressed one.
    let bomb = gzip(&vec![b' '; 50 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let req = post("/v1/events", ())
        .header("x-api-key", KEY)
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(bomb))
        .expect("req");
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!((s, error_code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{b}");
}

#[tokio::test]
async fn body_event_and_batch_limits_are_413() {
    let config =
        GatewayArgs { max_body_bytes: 4096, max_event_bytes: 512, max_batch_events: 3, ..GatewayArgs::default() };
    let h = harness_with(config);
    let big_body = format!(
        r#"{{"events":[{{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","metadata":{{"pad":"{}"}}}}]}}"#,
        "x".repeat(5000)
    );
    let (s, _, b) = post_json(&h, &big_body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let big_event = format!(
        r#"{{"events":[{{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","metadata":{{"pad":"{}"}}}}]}}"#,
        "x".repeat(600)
    );
    let (s, _, b) = post_json(&h, &big_event).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(b["error"]["message"].as_str().unwrap_or("").contains("events[0]"), "{b}");
    let one = r#"{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}"#;
    let many = format!(r#"{{"events":[{one},{one},{one},{one}]}}"#);
    let (s, _, b) = post_json(&h, &many).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(b["error"]["message"].as_str().unwrap_or("").contains("4 events"), "{b}");
}

#[tokio::test]
async fn unsupported_encodings_and_types_are_415() {
    let h = harness();
    let req = post("/v1/events", ())
        .header("x-api-key", KEY)
        .header(header::CONTENT_ENCODING, "br")
        .body(Body::from(SEED))
        .expect("req");
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!((s, error_code(&b)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let req = Request::post("/v1/events")
        .header("x-api-key", KEY)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(SEED))
        .expect("req");
    assert_eq!(send(&h.app, req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after_per_key() {
    let config = GatewayArgs { rate_limit_burst: 2.0, rate_limit_per_sec: 1.0, ..GatewayArgs::default() };
    let h = harness_with(config);
    let two = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"},{"eventType":"focus","timestamp":1705312800001,"sessionId":"s"}]}"#;
    assert_eq!(post_json(&h, two).await.0, StatusCode::ACCEPTED);
    let (s, headers, b) = post_json(&h, two).await;
    assert_eq!((s, error_code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry: u64 = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=2).contains(&retry), "{retry}");
    // Another key has its own bucket.
    let req = post("/v1/events", ()).header("x-api-key", LIMITED).body(Body::from(SEED)).expect("req");
    assert_eq!(send(&h.app, req).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn cors_preflight_and_project_origins() {
    let h = harness();
    let pre = Request::options("/v1/events")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,x-api-key")
        .body(Body::empty())
        .expect("req");
    let (s, headers, _) = send(&h.app, pre).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    assert!(headers
        .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .contains("x-api-key"));
    // The LIMITED key's project allows only https://shop.example.
    let wrong = post("/v1/events", ())
        .header("x-api-key", LIMITED)
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(SEED))
        .expect("req");
    let (s, _, b) = send(&h.app, wrong).await;
    assert_eq!((s, error_code(&b)), (StatusCode::FORBIDDEN, "origin_not_allowed"));
    let restricted =
        harness_with(GatewayArgs { cors_origins: vec!["https://a.example".into()], ..GatewayArgs::default() });
    let pre =
        Request::options("/v1/events").header(header::ORIGIN, "https://b.example").body(Body::empty()).expect("req");
    assert_eq!(send(&restricted.app, pre).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn json_schema_is_served() {
    let h = harness();
    let (s, _, b) = send(&h.app, Request::get("/v1/schema/events.json").body(Body::empty()).expect("req")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b["$schema"].as_str().unwrap_or("").contains("json-schema.org"));
    let types = b["$defs"]["event"]["properties"]["eventType"]["enum"].as_array().expect("enum");
    assert_eq!(types.len(), friction_gateway::validate::EVENT_TYPES.len());
}

#[tokio::test]
async fn pii_is_scrubbed_before_producing() {
    let h = harness();
    let body = json!({"events": [{"eventType": "error", "timestamp": 1705312800000i64, "sessionId": "s",
        "url": "https://shop.example/reset?token=abc123&email=jo@example.com",
        "error": {"message": "card 4111 1111 1111 1111 declined for jo@example.com"},
        "metadata": {"note": "call me at me@corp.io"}}]});
    assert_eq!(post_json(&h, &body.to_string()).await.0, StatusCode::ACCEPTED);
    let e = &events(&h)[0];
    assert_eq!(e.url.as_deref(), Some("https://shop.example/reset?token=[redacted]&email=[email]"));
    assert_eq!(e.error.as_ref().map(|x| x.message.as_ref()), Some("card [card] declined for [email]"));
    assert!(!e.metadata.contains('@'), "{}", e.metadata);
}

#[tokio::test]
async fn clock_skew_is_corrected_and_future_times_clamped() {
    let h = harness();
    let now = friction_runtime::now_ms();
    // The client's clock is one hour behind: sentAt says an hour ago.
    let skewed = json!({"sentAt": now - 3_600_000, "events": [{"eventType": "focus", "timestamp": now - 3_600_000 - 500, "sessionId": "s"}]});
    assert_eq!(post_json(&h, &skewed.to_string()).await.0, StatusCode::ACCEPTED);
    // No sentAt and a timestamp a day ahead: clamped to receivedAt and flagged.
    let future = json!({"events": [{"eventType": "focus", "timestamp": now + 86_400_000, "sessionId": "s"}]});
    assert_eq!(post_json(&h, &future.to_string()).await.0, StatusCode::ACCEPTED);
    // An old backfill is accepted as is.
    assert_eq!(post_json(&h, SEED).await.0, StatusCode::ACCEPTED);
    let e = events(&h);
    assert!((e[0].clock_skew_ms - 3_600_000).abs() < 5_000, "{}", e[0].clock_skew_ms);
    assert!((e[0].timestamp - (now - 500)).abs() < 5_000, "corrected {} vs {}", e[0].timestamp, now - 500);
    assert!(!e[0].timestamp_clamped);
    assert!(e[1].timestamp_clamped);
    assert_eq!(e[1].timestamp, e[1].received_at);
    assert_eq!(e[2].timestamp, 1_705_312_800_000);
    assert!(!e[2].timestamp_clamped);
}

#[tokio::test]
async fn logs_become_log_events() {
    let h = harness();
    let body = json!({"logs": [
        {"service": "api", "level": "ERROR", "message": "db timeout for user 42", "timestamp": "2024-01-15T10:00:00Z", "attributes": {"route": "/pay", "status": 500}},
        {"service": "api", "level": "loud", "message": "x", "timestamp": "2024-01-15T10:00:00Z"}
    ]});
    let req = post("/v1/logs", ()).header("x-api-key", KEY).body(Body::from(body.to_string())).expect("req");
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["accepted"], 1);
    assert!(b["rejected"][0]["message"].as_str().unwrap_or("").contains("logs[1].level"));
    let e = &events(&h)[0];
    assert_eq!(e.event_type, "log");
    assert_eq!(e.session_id, "log:api");
    let log = e.log.as_ref().expect("log");
    assert_eq!(log.level, "error");
    assert_eq!(log.attributes.get("status").map(|v| v.as_ref()), Some("500"));
}

#[tokio::test]
async fn a_log_line_keeps_its_client_event_id() {
    let h = harness();
    let id = "0b2b9c1e-1111-4000-8000-abcdef012345";
    let body = json!({"logs": [
        {"service": "pos", "level": "error", "message": "MISSING_PRICE", "timestamp": 1_705_312_800_000i64, "eventId": id},
        {"service": "pos", "level": "error", "message": "x", "timestamp": 1_705_312_800_000i64, "eventId": "nope"},
        {"service": "pos", "level": "error", "message": "y", "timestamp": 1_705_312_800_000i64}
    ]});
    let req = post("/v1/logs", ()).header("x-api-key", KEY).body(Body::from(body.to_string())).expect("req");
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["accepted"], 2, "{b}");
    assert!(b["rejected"][0]["message"].as_str().unwrap_or("").contains("logs[1].eventId"), "{b}");
    let e = events(&h);
    assert_eq!((e[0].event_id.as_ref(), e[0].event_id_derived), (id, false));
    assert!(e[1].event_id_derived);
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    let h = harness();
    let (s, _, b) = send(&h.app, Request::get("/v2/nope").body(Body::empty()).expect("req")).await;
    assert_eq!((s, error_code(&b)), (StatusCode::NOT_FOUND, "not_found"));
}

fn status_for(h: &Harness, body: Vec<u8>, gzip_header: bool) -> StatusCode {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    rt.block_on(async {
        let mut req = post("/v1/events", ()).header("x-api-key", KEY);
        if gzip_header {
            req = req.header(header::CONTENT_ENCODING, "gzip");
        }
        send(&h.app, req.body(Body::from(body)).expect("req")).await.0
    })
}

/// The status and JSON body of a `POST /v1/events` with `body`.
fn answer_for(h: &Harness, body: Vec<u8>) -> (StatusCode, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    rt.block_on(async {
        let req = post("/v1/events", ()).header("x-api-key", KEY).body(Body::from(body)).expect("req");
        let (status, _, body) = send(&h.app, req).await;
        (status, body)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("eventType".to_string()),
                    Just("timestamp".to_string()),
                    Just("sessionId".to_string()),
                    Just("target".to_string()),
                    Just("events".to_string()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_always_4xx(body in prop::collection::vec(any::<u8>(), 0..2048), gz in any::<bool>()) {
        let h = harness();
        let status = status_for(&h, body, gz);
        prop_assert!(status.is_client_error(), "{status}");
    }

    #[test]
    fn arbitrary_json_never_fails_the_server(events in prop::collection::vec(json_value(), 0..8)) {
        let h = harness();
        let status = status_for(&h, json!({"events": events}).to_string().into_bytes(), false);
        prop_assert!(status == StatusCode::ACCEPTED || status.is_client_error(), "{status}");
    }

    /// Deep nesting is refused for what it is where a value of a type is required (metadata must
    /// be an object), at any depth and without a stack overflow; huge numbers are refused as
    /// timestamps out of range. Each with its exact status and codes.
    #[test]
    fn deep_nesting_and_huge_numbers_are_4xx(depth in 100usize..5000, digits in 300usize..2000) {
        let h = harness();
        let deep = format!(r#"{{"events":[{{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","metadata":{}{}}}]}}"#, "[".repeat(depth), "]".repeat(depth));
        let (status, body) = answer_for(&h, deep.into_bytes());
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body);
        prop_assert_eq!(error_code(&body), "all_events_rejected", "{}", body);
        prop_assert_eq!(
            &body["rejected"],
            &json!([{"index": 0, "code": "invalid_field", "message": "events[0].metadata: must be a JSON object"}])
        );
        let huge = format!(r#"{{"events":[{{"eventType":"focus","timestamp":{},"sessionId":"s"}}]}}"#, "9".repeat(digits));
        let (status, body) = answer_for(&h, huge.into_bytes());
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body);
        prop_assert_eq!(error_code(&body), "all_events_rejected", "{}", body);
        prop_assert_eq!(body["rejected"].as_array().map(Vec::len), Some(1), "{}", body);
        prop_assert_eq!(&body["rejected"][0]["code"], "invalid_timestamp", "{}", body);
        let message = body["rejected"][0]["message"].as_str().unwrap_or_default();
        prop_assert!(message.starts_with("events[0].timestamp: "), "{}", message);
    }
}
