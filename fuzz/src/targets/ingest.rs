//! The gateway's ingest bodies (`POST /v1/events`, `POST /v1/logs`): the functions its router calls
//! (`decode_body`, then `validate_events` / `validate_logs`), on the raw body as sent (a gzip body
//! is found by its magic bytes, as the router does for `sendBeacon`). What the gateway accepts must
//! keep its promises (docs/architecture.md §3): identifiers and keys without control characters,
//! free text without control characters but tab, line feed and carriage return, times within
//! [2000-01-01, receivedAt], `metadata` a JSON object; and every accepted event must encode to Avro
//! and decode back equal (the sink and every stage behind it), and the detector must take it.

use std::borrow::Cow;
use std::io::Write;

use friction_gateway::payload::{decode_body, Encoding};
use friction_gateway::validate::{validate_events, validate_logs, BatchContext, Validated};
use friction_gateway::GatewayError;
use friction_schemas::event::Context;
use friction_schemas::{decode, decode_via_value, encode_to_vec, RawEvent, Sessionized};

use super::{log, outcome, Outcome};

/// The gateway's receive time in every run: fixed, so a run is reproducible.
const RECEIVED_AT: i64 = 1_765_000_000_000;
/// 2000-01-01, the earliest time the gateway accepts.
const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// A lower cap than the gateway's 5 MiB default, so a gzip bomb costs milliseconds; the same code.
const MAX_DECOMPRESSED: usize = 1024 * 1024;

/// The field names and values the ingest contract reads, and strings that have broken parsers.
pub const JSON_DICTIONARY: &[&[u8]] = &[
    b"{\"events\":[",
    b"{\"logs\":[",
    b"\"eventType\":",
    b"\"timestamp\":",
    b"\"sessionId\":",
    b"\"eventId\":",
    b"\"userId\":",
    b"\"tabId\":",
    b"\"viewId\":",
    b"\"url\":",
    b"\"route\":",
    b"\"release\":",
    b"\"sentAt\":",
    b"\"target\":{",
    b"\"selector\":",
    b"\"key\":",
    b"\"tag\":",
    b"\"role\":",
    b"\"type\":",
    b"\"text\":",
    b"\"x\":",
    b"\"interactive\":",
    b"\"href\":",
    b"\"newTab\":",
    b"\"ignore\":[",
    b"\"button\":",
    b"\"modifiers\":[",
    b"\"navigation\":{\"kind\":\"push\",\"from\":\"/a\",\"to\":\"/b\"}",
    b"\"mutation\":{\"count\":3,\"nearTarget\":true}",
    b"\"network\":{\"method\":\"GET\",\"url\":\"/api\",\"status\":502,\"durationMs\":12.5,\"initiator\":\"",
    b"\"error\":{\"type\":\"TypeError\",\"message\":\"",
    b"\"stack\":",
    b"\"fingerprint\":",
    b"\"scroll\":{\"dy\":-1e308,\"y\":0}",
    b"\"selection\":{\"length\":4294967295}",
    b"\"visibility\":{\"state\":\"hidden\"}",
    b"\"input\":{\"fieldKey\":\"email\",\"lengthBucket\":\"1-5\",\"invalid\":true}",
    b"\"submit\":{\"formKey\":\"",
    b"\"custom\":{\"name\":\"",
    b"\"metadata\":{",
    b"\"service\":",
    b"\"level\":",
    b"\"message\":",
    b"\"attributes\":{",
    b"\"pageview\"",
    b"\"click\"",
    b"\"network\"",
    b"\"error\"",
    b"\"input\"",
    b"\"custom\"",
    b"\"log\"",
    b"\"fatal\"",
    b"\"WARNING\"",
    b"\"2024-01-15T10:00:00Z\"",
    b"\"2024-01-15T10:00:00.123456789+14:00\"",
    b"\"9999-12-31T23:59:59.999Z\"",
    b"\"1999-12-31T23:59:59Z\"",
    b"253402300799999",
    b"1705312800000",
    b"\"0b2b9c1e-1111-4000-8000-abcdef012345\"",
    b"\"0B2B9C1E111140008000ABCDEF012345\"",
    b"\\u0000",
    b"\\u001b",
    b"\\u0085",
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d\\ude00",
    b"\\\"",
    b"\\\\",
    b"jane.doe@example.com",
    b"4111 1111 1111 1111",
    b"4111111111111111",
    b"?token=",
    b"&password=",
    b"#id_token=",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\"\"",
    b"\xef\xbf\xbf",
    b"\xf0\x9f\x98\x80",
    b"\x1f\x8b\x08\x00",
];

/// The batch every run validates under: the gateway's default limits, a fixed receive time.
pub fn context() -> BatchContext<'static> {
    BatchContext {
        project_id: "p-fuzz",
        received_at: RECEIVED_AT,
        skew_tolerance_ms: 1000,
        max_skew_ms: friction_gateway::config::MAX_CLOCK_SKEW_MS,
        max_event_bytes: 64 * 1024,
        max_batch_events: 1000,
        context: Context {
            ip: Some(Cow::Borrowed("203.0.113.0")),
            user_agent: Some(Cow::Borrowed("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")),
            browser: Some(Cow::Borrowed("Firefox")),
            os: Some(Cow::Borrowed("Linux")),
            device: Some(Cow::Borrowed("desktop")),
        },
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Events,
    Logs,
}

/// `POST /v1/events`.
pub fn events(data: &[u8]) -> Outcome {
    body(data, Endpoint::Events)
}

/// `POST /v1/logs`.
pub fn logs(data: &[u8]) -> Outcome {
    body(data, Endpoint::Logs)
}

fn body(data: &[u8], endpoint: Endpoint) -> Outcome {
    request_parts(data);
    gzip_round_trips(data);
    // Declared gzip on whatever the bytes are: an error or the decompressed body, never a panic.
    let _ = decode_body(data, Encoding::Gzip, MAX_DECOMPRESSED);
    let json = match decode_body(data, Encoding::Identity, MAX_DECOMPRESSED) {
        Ok(json) => json,
        Err(e) => return refused(&e),
    };
    let ctx = context();
    let validated = match endpoint {
        Endpoint::Events => validate_events(&json, &ctx),
        Endpoint::Logs => validate_logs(&json, &ctx),
    };
    match validated {
        Err(e) => refused(&e),
        Ok(v) => accepted(&v),
    }
}

/// The other client-controlled text the router parses before the body, fed the same bytes: the
/// `?api_key=` query (percent-decoded by hand), `Authorization`, `Content-Type` and
/// `Content-Encoding`.
fn request_parts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = friction_gateway::router::extract_api_key(&axum::http::HeaderMap::new(), Some(&text));
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(value) = axum::http::HeaderValue::from_bytes(data) {
        headers.insert(axum::http::header::AUTHORIZATION, value);
        let _ = friction_gateway::router::extract_api_key(&headers, None);
    }
    let _ = friction_gateway::payload::check_content_type(Some(&text));
    let _ = friction_gateway::payload::parse_content_encoding(Some(&text));
}

/// A body the client compressed is the body it sent, below the cap.
fn gzip_round_trips(data: &[u8]) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = encoder.write_all(data).and_then(|()| encoder.finish());
    let Ok(compressed) = compressed else { return };
    for encoding in [Encoding::Identity, Encoding::Gzip] {
        match decode_body(&compressed, encoding, MAX_DECOMPRESSED) {
            Ok(body) => assert_eq!(&*body, data, "gzip body decoded to other bytes"),
            Err(e) => panic!("a valid gzip body of {} bytes was refused: {e}", data.len()),
        }
    }
}

fn refused(e: &GatewayError) -> Outcome {
    assert!(e.status().is_client_error(), "a body answered {}: {e}", e.status());
    // The code and the first words of the message (which field), not the values it quotes.
    let message: String = e.to_string().chars().take(70).collect();
    outcome(&format!("{}:{message}", e.code()))
}

fn accepted(v: &Validated<'_>) -> Outcome {
    assert_eq!(v.accepted.len(), v.indices.len());
    for event in &v.accepted {
        keeps_its_promises(event);
        round_trips(event);
    }
    let mut label = format!("ok:{}", v.accepted.is_empty());
    for r in v.rejected.iter().take(4) {
        label.push('|');
        label.push_str(r.code);
        label.push_str(r.message.split(':').next().unwrap_or(""));
    }
    outcome(&label)
}

fn is_id(field: &str, value: &str) {
    assert!(!value.is_empty() && value.len() <= 200, "{field}: {value:?} accepted as an identifier");
    is_key(field, value);
}

fn is_key(field: &str, value: &str) {
    assert!(!value.chars().any(char::is_control), "{field}: {value:?} accepted with a control character");
}

fn is_text(field: &str, value: &str) {
    assert!(
        !value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        "{field}: {value:?} accepted with a control character"
    );
}

fn opt(value: &Option<Cow<'_, str>>, check: impl FnOnce(&str)) {
    if let Some(v) = value {
        check(v);
    }
}

/// What the gateway promises about an accepted event (docs/architecture.md §3, `friction_gateway::text`).
fn keeps_its_promises(e: &RawEvent<'_>) {
    assert!(
        (MIN_TIMESTAMP_MS..=RECEIVED_AT).contains(&e.timestamp),
        "timestamp {} outside [2000-01-01, receivedAt]",
        e.timestamp
    );
    assert_eq!(e.received_at, RECEIVED_AT);
    assert!(e.event_id.len() == 36 && e.event_id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{}", e.event_id);
    match &e.log {
        // A log line's session is `log:<service>`, the service an identifier.
        Some(l) => assert_eq!(e.session_id, format!("log:{}", l.service)),
        None => is_id("sessionId", &e.session_id),
    }
    opt(&e.user_id, |v| is_id("userId", v));
    opt(&e.tab_id, |v| is_id("tabId", v));
    opt(&e.view_id, |v| is_id("viewId", v));
    opt(&e.release, |v| is_id("release", v));
    opt(&e.route, |v| is_key("route", v));
    opt(&e.url, |v| is_text("url", v));
    if let Some(t) = &e.target {
        for (field, value) in
            [("key", &t.key), ("selector", &t.selector), ("type", &t.r#type), ("tag", &t.tag), ("role", &t.role)]
        {
            opt(value, |v| is_key(field, v));
        }
        t.ignore.iter().for_each(|v| is_key("target.ignore", v));
        opt(&t.text, |v| is_text("target.text", v));
        opt(&t.href, |v| is_text("target.href", v));
    }
    if let Some(c) = &e.click {
        c.modifiers.iter().for_each(|v| is_key("modifiers", v));
    }
    if let Some(n) = &e.navigation {
        opt(&n.from, |v| is_text("navigation.from", v));
        opt(&n.to, |v| is_text("navigation.to", v));
    }
    if let Some(n) = &e.network {
        is_key("network.method", &n.method);
        opt(&n.initiator, |v| is_key("network.initiator", v));
        is_text("network.url", &n.url);
    }
    if let Some(err) = &e.error {
        opt(&err.r#type, |v| is_key("error.type", v));
        opt(&err.fingerprint, |v| is_key("error.fingerprint", v));
        is_text("error.message", &err.message);
        opt(&err.stack, |v| is_text("error.stack", v));
    }
    if let Some(i) = &e.input {
        is_key("input.fieldKey", &i.field_key);
        opt(&i.length_bucket, |v| is_key("input.lengthBucket", v));
    }
    if let Some(s) = &e.submit {
        is_key("submit.formKey", &s.form_key);
    }
    if let Some(c) = &e.custom {
        is_key("custom.name", &c.name);
    }
    if let Some(l) = &e.log {
        is_id("service", &l.service);
        is_text("message", &l.message);
        for (k, v) in &l.attributes {
            is_key("attributes", k);
            is_text("attributes value", v);
        }
        log::normalises(&l.message);
    }
    // JSON by the grammar (RFC 8259): a number beyond f64 (`1e400`) is JSON, though serde_json's
    // `Value` refuses it.
    let metadata: Result<&serde_json::value::RawValue, _> = serde_json::from_str(&e.metadata);
    assert!(
        metadata.is_ok() && e.metadata.trim_start().starts_with('{'),
        "metadata {:?} accepted but is not a JSON object after scrubbing: {metadata:?}",
        e.metadata
    );
}

/// The sink's encoding, and what every stage behind it decodes, give the event back; the detector
/// takes the sessionized record.
fn round_trips(event: &RawEvent<'_>) {
    let bytes = match encode_to_vec(event) {
        Ok(bytes) => bytes,
        Err(e) => panic!("an accepted event does not encode: {e}"),
    };
    let decoded: RawEvent<'static> = match decode(&bytes) {
        Ok(d) => d,
        Err(e) => panic!("an accepted event does not decode: {e}"),
    };
    assert_eq!(&decoded, event, "decode(encode(event)) differs");
    match decode_via_value::<RawEvent<'static>>(&bytes) {
        Ok(d) => assert_eq!(&d, event, "apache-avro's decoder gives another event"),
        Err(e) => panic!("apache-avro does not decode an accepted event: {e}"),
    }
    let session_key = format!("{}#{}", decoded.session_id, decoded.timestamp);
    let sessionized = Sessionized {
        view_id: Cow::Owned(format!("{session_key}:v0")),
        session_key: Cow::Owned(session_key),
        session_start: decoded.timestamp,
        event: decoded,
        ..Sessionized::default()
    };
    super::session::detects(&sessionized);
}
