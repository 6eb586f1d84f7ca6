//! Hostile input at the edge (issue 18): control characters, lone surrogates, over-long strings and
//! absurd times. Every event is either accepted with fields every store can keep, or rejected with
//! a message naming its field; the gateway never panics and never answers 5xx.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use friction_gateway::sink::MemorySink;
use friction_gateway::validate::{correct_time, CorrectedTime};
use friction_gateway::{router, GatewayArgs, GatewayState};
use friction_schemas::RawEvent;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY: &str = "frk_hostile_key";
const YEAR_2000_MS: i64 = 946_684_800_000;
const YEAR_9999_END_MS: i64 = 253_402_300_799_999;

struct Harness {
    app: Router,
    sink: Arc<MemorySink>,
}

fn harness() -> Harness {
    let keys = common::one_key_store(KEY, "proj1");
    let sink = Arc::new(MemorySink::default());
    // No rate limit gets in the way of the generated batches.
    let config = GatewayArgs { rate_limit_burst: 1e12, rate_limit_per_sec: 1e12, ..GatewayArgs::default() };
    Harness { app: router(Arc::new(GatewayState::new(config, keys, sink.clone()))), sink }
}

async fn post(h: &Harness, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-api-key", KEY)
        .body(body.into())
        .expect("request");
    let resp = h.app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn take_events(h: &Harness) -> Vec<RawEvent<'static>> {
    std::mem::take(&mut *h.sink.events.lock().expect("lock")).into_iter().map(|(_, e)| e).collect()
}

fn rejected_messages(v: &Value) -> Vec<String> {
    v["rejected"].as_array().into_iter().flatten().filter_map(|r| r["message"].as_str().map(str::to_string)).collect()
}

/// Sets `path` (dotted) in an event object to `value`.
fn set(event: &mut Value, path: &str, value: Value) {
    let mut cur = event;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        if cur.get(*p).is_none() {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    cur[parts[parts.len() - 1]] = value;
}

/// A valid event whose type makes `field` meaningful.
fn base_event(field: &str) -> Value {
    let mut e =
        json!({"eventType": "click", "timestamp": 1_705_312_800_000i64, "sessionId": "s-1", "target": {"key": "buy"}});
    let (ty, payload) = match field.split('.').next() {
        Some("error") => ("error", json!({"message": "boom"})),
        Some("input") => ("input", json!({"fieldKey": "email"})),
        Some("submit") => ("submit", json!({"formKey": "checkout"})),
        Some("custom") => ("custom", json!({"name": "n"})),
        Some("network") => ("network", json!({"method": "GET", "url": "https://a.example/x"})),
        Some("navigation") => ("pageview", json!({"kind": "push"})),
        _ => ("click", json!({"key": "buy"})),
    };
    e["eventType"] = json!(ty);
    if ty != "click" {
        let name = field.split('.').next().unwrap_or_default();
        e[name] = payload;
    }
    e
}

/// Identifiers and keys: a control character rejects the event, naming the field.
const KEY_FIELDS: &[&str] = &[
    "sessionId",
    "userId",
    "tabId",
    "viewId",
    "release",
    "route",
    "target.key",
    "target.selector",
    "target.tag",
    "target.role",
    "target.type",
    "input.fieldKey",
    "submit.formKey",
    "custom.name",
    "network.method",
    "error.type",
    "error.fingerprint",
];

/// Free text: control characters other than tab, newline, return are replaced.
const TEXT_FIELDS: &[&str] = &["target.text", "error.message", "error.stack", "url", "navigation.to", "network.url"];

fn field_value<'e>(e: &'e RawEvent<'static>, field: &str) -> Option<&'e str> {
    let t = e.target.as_ref();
    match field {
        "sessionId" => Some(&e.session_id),
        "userId" => e.user_id.as_deref(),
        "tabId" => e.tab_id.as_deref(),
        "viewId" => e.view_id.as_deref(),
        "release" => e.release.as_deref(),
        "route" => e.route.as_deref(),
        "url" => e.url.as_deref(),
        "target.key" => t.and_then(|t| t.key.as_deref()),
        "target.selector" => t.and_then(|t| t.selector.as_deref()),
        "target.tag" => t.and_then(|t| t.tag.as_deref()),
        "target.role" => t.and_then(|t| t.role.as_deref()),
        "target.type" => t.and_then(|t| t.r#type.as_deref()),
        "target.text" => t.and_then(|t| t.text.as_deref()),
        "input.fieldKey" => e.input.as_ref().map(|i| i.field_key.as_ref()),
        "submit.formKey" => e.submit.as_ref().map(|s| s.form_key.as_ref()),
        "custom.name" => e.custom.as_ref().map(|c| c.name.as_ref()),
        "network.method" => e.network.as_ref().map(|n| n.method.as_ref()),
        "network.url" => e.network.as_ref().map(|n| n.url.as_ref()),
        "error.type" => e.error.as_ref().and_then(|x| x.r#type.as_deref()),
        "error.fingerprint" => e.error.as_ref().and_then(|x| x.fingerprint.as_deref()),
        "error.message" => e.error.as_ref().map(|x| x.message.as_ref()),
        "error.stack" => e.error.as_ref().and_then(|x| x.stack.as_deref()),
        "navigation.to" => e.navigation.as_ref().and_then(|n| n.to.as_deref()),
        _ => None,
    }
}

fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[tokio::test]
async fn nul_and_control_characters_in_keys_are_rejected_naming_the_field() {
    let h = harness();
    for field in KEY_FIELDS {
        for bad in ["a\u{0}b", "a\u{1f}", "\u{7f}", "x\u{85}y", "tab\there", "line\nbreak"] {
            let mut e = base_event(field);
            set(&mut e, field, json!(bad));
            // A valid neighbour: one bad event never costs the batch.
            let ok = base_event("target.key");
            let (status, body) = post(&h, "/v1/events", json!({"events": [e, ok]}).to_string()).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{field} {bad:?}: {body}");
            assert_eq!(body["accepted"], 1, "{field} {bad:?}: {body}");
            let messages = rejected_messages(&body);
            assert_eq!(messages.len(), 1, "{field} {bad:?}: {body}");
            assert!(messages[0].starts_with(&format!("events[0].{field}: ")), "{field}: {}", messages[0]);
            assert!(messages[0].contains("control character"), "{}", messages[0]);
        }
    }
    for e in take_events(&h) {
        assert_eq!(e.target.as_ref().and_then(|t| t.key.as_deref()), Some("buy"));
    }
}

#[tokio::test]
async fn the_issue_probe_nul_in_target_key_never_reaches_a_stage() {
    let h = harness();
    let body = r#"{"events":[{"eventType":"click","timestamp":1705312800000,"sessionId":"s","target":{"key":"buy\u0000now"}}]}"#;
    let (status, v) = post(&h, "/v1/events", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "all_events_rejected");
    assert_eq!(v["rejected"][0]["code"], "invalid_field");
    assert!(v["rejected"][0]["message"].as_str().unwrap_or("").starts_with("events[0].target.key: "), "{v}");
    assert!(take_events(&h).is_empty());
}

#[tokio::test]
async fn control_characters_in_free_text_are_replaced() {
    let h = harness();
    for field in TEXT_FIELDS {
        let mut e = base_event(field);
        set(&mut e, field, json!("a\u{0}b\u{1b}[31mc\u{7f}d\u{9f}e\tf\ng\rh"));
        let (status, body) = post(&h, "/v1/events", json!({"events": [e]}).to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{field}: {body}");
        let events = take_events(&h);
        let value = field_value(&events[0], field).unwrap_or_else(|| panic!("{field} missing"));
        assert!(!has_forbidden_control(value), "{field}: {value:?}");
        assert!(value.contains('\u{FFFD}'), "{field}: {value:?}");
    }
    // Log lines too: message and attribute values.
    let logs = json!({"logs": [{"service": "api", "level": "info", "message": "x\u{0}y", "timestamp": 1_705_312_800_000i64, "attributes": {"k": "v\u{0}"}}]});
    let (status, body) = post(&h, "/v1/logs", logs.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let e = take_events(&h);
    let log = e[0].log.as_ref().expect("log");
    assert_eq!(log.message, "x\u{FFFD}y");
    assert_eq!(log.attributes.values().next().map(|v| v.as_ref()), Some("v\u{FFFD}"));
    // A control character in a log's service or attribute name rejects the line.
    let bad = json!({"logs": [
        {"service": "a\u{0}", "level": "info", "message": "m", "timestamp": 1_705_312_800_000i64},
        {"service": "api", "level": "info", "message": "m", "timestamp": 1_705_312_800_000i64, "attributes": {"k\u{1}": "v"}}
    ]});
    let (status, body) = post(&h, "/v1/logs", bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let m = rejected_messages(&body);
    assert!(m[0].starts_with("logs[0].service: "), "{m:?}");
    assert!(m[1].starts_with("logs[1].attributes: "), "{m:?}");
}

#[tokio::test]
async fn over_long_strings_are_rejected_naming_the_field() {
    let h = harness();
    let cases = [
        ("userId", 201usize),
        ("target.key", 2049),
        ("route", 2049),
        ("target.selector", 2049),
        ("error.message", 32 * 1024 + 1),
    ];
    for (field, len) in cases {
        let mut e = base_event(field);
        set(&mut e, field, json!("a".repeat(len)));
        let (status, body) = post(&h, "/v1/events", json!({"events": [e]}).to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        let m = rejected_messages(&body);
        assert!(m[0].starts_with(&format!("events[0].{field}: longer than")), "{m:?}");
        // One less is accepted: the sizes valid traffic has today stay accepted.
        let mut e = base_event(field);
        set(&mut e, field, json!("a".repeat(len - 1)));
        let (status, body) = post(&h, "/v1/events", json!({"events": [e]}).to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{field}: {body}");
    }
    // Keys count characters, not bytes: 2048 four-byte characters are fine.
    let mut e = base_event("route");
    set(&mut e, "route", json!("😀".repeat(2048)));
    assert_eq!(post(&h, "/v1/events", json!({"events": [e]}).to_string()).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn lone_surrogates_are_a_named_rejection_or_a_400_never_a_5xx() {
    let h = harness();
    // In a field the gateway reads: that event is rejected naming the field.
    let body = r#"{"events":[{"eventType":"click","timestamp":1705312800000,"sessionId":"s","target":{"key":"\ud800"}},{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}]}"#;
    let (status, v) = post(&h, "/v1/events", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let m = rejected_messages(&v);
    assert!(m[0].starts_with("events[0].target.key: "), "{m:?}");
    assert!(m[0].contains("surrogate"), "{m:?}");
    // A low surrogate first, and one in the session id.
    let body = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"\udc00x"}]}"#;
    let (status, v) = post(&h, "/v1/events", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(rejected_messages(&v)[0].starts_with("events[0].sessionId: "), "{v}");
    // In metadata, which is passed on as JSON text: rejected too.
    let body =
        r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","metadata":{"a":"\ud800"}}]}"#;
    let (status, v) = post(&h, "/v1/events", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(rejected_messages(&v)[0].starts_with("events[0].metadata: "), "{v}");
    // In sentAt (read for the whole batch): a 400 naming it.
    let body = r#"{"sentAt":"\ud800","events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}]}"#;
    let (status, v) = post(&h, "/v1/events", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or("").starts_with("sentAt: "), "{v}");
    // Invalid UTF-8 bytes: a 400 saying so.
    let mut raw = br#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":""#.to_vec();
    raw.extend_from_slice(&[0xed, 0xa0, 0x80]);
    raw.extend_from_slice(br#""}]}"#);
    let (status, v) = post(&h, "/v1/events", raw).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or("").contains("UTF-8"), "{v}");
    // A surrogate pair is a valid character.
    let body = r#"{"events":[{"eventType":"focus","timestamp":1705312800000,"sessionId":"\ud83d\ude00"}]}"#;
    assert_eq!(post(&h, "/v1/events", body).await.0, StatusCode::ACCEPTED);
    assert_eq!(take_events(&h).last().map(|e| e.session_id.to_string()), Some("😀".into()));
}

#[tokio::test]
async fn a_far_future_sent_at_is_ignored_and_flagged_never_a_negative_time() {
    let h = harness();
    let now = friction_runtime::now_ms();
    for sent_at in [json!("9999-12-31T23:59:59Z"), json!(YEAR_9999_END_MS), json!(1e15), json!(YEAR_2000_MS)] {
        let body =
            json!({"sentAt": sent_at, "events": [{"eventType": "focus", "timestamp": now - 1000, "sessionId": "s"}]});
        let (status, v) = post(&h, "/v1/events", body.to_string()).await;
        if status == StatusCode::BAD_REQUEST {
            // 1e15 is past the year 9999: refused as a time, naming sentAt.
            assert!(v["error"]["message"].as_str().unwrap_or("").starts_with("sentAt: "), "{v}");
            continue;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{sent_at}: {v}");
        let e = take_events(&h);
        let e = &e[0];
        assert!(e.timestamp >= YEAR_2000_MS && e.timestamp <= e.received_at, "{sent_at}: {}", e.timestamp);
        assert!(e.timestamp_clamped, "{sent_at}: an absurd sentAt is flagged");
        assert_eq!(e.clock_skew_ms, 0, "{sent_at}: an absurd skew is not applied");
        assert_eq!(e.timestamp, now - 1000, "{sent_at}: the event's own time is kept");
    }
}

#[test]
fn skew_correction_is_bounded() {
    let received = 1_765_000_000_000i64;
    let year = 365 * 24 * 3600 * 1000i64;
    // Within the bound: corrected as before.
    let c = correct_time(received - 3_600_000 - 500, Some(received - 3_600_000), received, 1000, year);
    assert_eq!(c, CorrectedTime { timestamp: received - 500, clock_skew_ms: 3_600_000, clamped: false });
    // The year 9999: ignored and flagged.
    let c = correct_time(received - 10, Some(YEAR_9999_END_MS), received, 1000, year);
    assert_eq!(c, CorrectedTime { timestamp: received - 10, clock_skew_ms: 0, clamped: true });
    // Large but within the bound, pushing before 2000: clamped up.
    let c = correct_time(YEAR_2000_MS + 5, Some(YEAR_2000_MS + year / 2), YEAR_2000_MS + 10, 1000, year);
    assert!(c.timestamp >= YEAR_2000_MS && c.clamped, "{c:?}");
    // Extreme inputs never overflow or leave the range.
    for (client, sent) in [(i64::MAX, Some(i64::MIN)), (i64::MIN, Some(i64::MAX)), (0, None), (i64::MAX, None)] {
        let c = correct_time(client, sent, received, 1000, year);
        assert!(c.timestamp >= YEAR_2000_MS && c.timestamp <= received, "{client} {sent:?}: {c:?}");
    }
}

/// Any Unicode scalar value, with the troublesome ones (controls, BOM, noncharacters, the
/// replacement character, the last plane) more likely than chance would make them.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        1 => (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        1 => prop::sample::select(vec!['\u{FEFF}', '\u{FFFE}', '\u{FFFF}', '\u{FFFD}', '\u{10FFFF}', '\u{2028}', '"', '\\']),
    ]
}

fn field_and_text() -> impl Strategy<Value = (&'static str, String)> {
    let fields: Vec<&'static str> = KEY_FIELDS.iter().chain(TEXT_FIELDS).copied().collect();
    (prop::sample::select(fields), prop::collection::vec(any_char(), 0..40).prop_map(|v| v.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Full Unicode range in every string field: no panic, no 5xx; each event is either accepted
    /// with fields free of control characters (keys: none at all) or rejected naming its field.
    #[test]
    fn any_unicode_in_any_string_field_is_stored_clean_or_rejected_by_name(cases in prop::collection::vec(field_and_text(), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let h = harness();
            let events: Vec<Value> = cases.iter().map(|(field, text)| {
                let mut e = base_event(field);
                set(&mut e, field, json!(text));
                e
            }).collect();
            let (status, v) = post(&h, "/v1/events", json!({"events": events}).to_string()).await;
            prop_assert!(status == StatusCode::ACCEPTED || status == StatusCode::BAD_REQUEST, "{status}: {v}");
            let produced = take_events(&h);
            let rejected = v["rejected"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(produced.len() + rejected.len(), cases.len(), "{}", v);
            let rejected_at: Vec<usize> = rejected.iter().filter_map(|r| r["index"].as_u64().map(|i| i as usize)).collect();
            let mut next = produced.iter();
            for (i, (field, text)) in cases.iter().enumerate() {
                if let Some(r) = rejected.iter().find(|r| r["index"].as_u64() == Some(i as u64)) {
                    let m = r["message"].as_str().unwrap_or("");
                    prop_assert!(m.starts_with(&format!("events[{i}].{field}: ")), "{}: {}", field, m);
                    continue;
                }
                prop_assert!(!rejected_at.contains(&i));
                let e = next.next().expect("accepted event");
                let stored = field_value(e, field).unwrap_or("");
                if TEXT_FIELDS.contains(field) {
                    prop_assert!(!has_forbidden_control(stored), "{}: {:?}", field, stored);
                } else {
                    prop_assert!(!stored.chars().any(char::is_control), "{}: {:?}", field, stored);
                    prop_assert_eq!(stored, text.as_str(), "{} kept as sent", field);
                }
            }
            Ok(())
        })?;
    }
}
