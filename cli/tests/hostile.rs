//! Issue 18, "How it is proven": the hostile-input suite against the real `friction up` (gateway and
//! every stage in one process) on the tansu broker, once per store: SQLite, and PostgreSQL with the
//! warehouse on ClickHouse (docs/architecture.md §5 "Records a store refuses", §6 "Hostile input").
//!
//! Every class of hostile input is posted to `/v1/events` and `/v1/logs`, interleaved with valid
//! traffic whose outcome is known (rage-click sessions that must become incidents, valid events
//! whose strings hold `<script>`, emoji and right-to-left text). Poison written straight to the
//! stages' topics (what an attacker on the broker could do) must become dead letters. Afterwards:
//! `/readyz` is 200 with every stage ready; every accepted event reached the sessionized topic
//! (and ClickHouse, when configured) with times in range and no NUL; every expected incident is
//! there with its strings intact; every refused input got a 4xx whose JSON error names the field,
//! or is a dead letter with its reason in the `error` header; no stage failed
//! (`friction_stage_failures_total` is 0). Then a connection-exhaustion check on the same process:
//! idle connections beyond the gateway's and the console's limits, a normal request and `/readyz`
//! still answer within a second, slow-header and idle connections are closed within their timeouts.
//!
//! The generated strings come from a seeded RNG: the seed is printed and in the report
//! (a fixed seed by default; `FRICTION_HOSTILE_SEED=N` repeats a run, `=random` explores). The report (inputs per class, stages alive, records
//! lost, dead letters by reason) is written to `target/tmp/hostile-report-<store>.txt` and printed.

mod common;

/// The generated strings' seed unless `FRICTION_HOSTILE_SEED` picks another (`random` for a new
/// one each run): a fixed default, so that a run's verdict does not depend on luck.
const DEFAULT_SEED: u64 = 15_744_575_000_791_831_187;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{start_up_with, Up};
use friction_schemas::{decode, Sessionized};
use friction_test_support::kafka::{kafka_properties, read_to_end};
use friction_test_support::payloads::rage_batch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{json, Value};

/// How long any one condition may take (a shared CI machine, a debug build).
const DEADLINE: Duration = Duration::from_secs(40);
/// The gateway's and the console's connection bounds in this test (set low, so that N is small).
const MAX_CONNECTIONS: usize = 8;
const HEADER_TIMEOUT_MS: u64 = 1500;
const IDLE_TIMEOUT_MS: u64 = 1500;
const BODY_TIMEOUT_MS: u64 = 1500;
/// The issue's bound for a request while the listener is full.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
const YEAR_2000_MS: i64 = 946_684_800_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The current year (UTC), from the clock.
fn this_year() -> i64 {
    1970 + now_ms() / (365_2425 * 24 * 3600 / 10)
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    common::wait_within(what, DEADLINE, f)
}

/// One HTTP/1.1 answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A request with raw body bytes and any headers (`Connection: close`). Write errors are ignored
/// (a server may answer 413 and close before reading an oversize body); the answer is read anyway.
fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    let _ = stream.write_all(&bytes);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Answer { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn get(addr: &str, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
    send(addr, "GET", path, &headers, b"")
}

/// A query on ClickHouse's HTTP interface; the answer's body.
fn clickhouse(url: &str, query: &str) -> String {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let a = send(addr, "POST", "/", &[], query.as_bytes());
    assert_eq!(a.status, 200, "ClickHouse: {query}: {}", a.body);
    a.body
}

// ---------------------------------------------------------------------------------------------
// What was sent and what must come of it.

/// What the suite sent and what it expects downstream.
#[derive(Default)]
struct Ledger {
    /// Inputs tried per class.
    tried: BTreeMap<&'static str, usize>,
    /// Answers per status.
    statuses: BTreeMap<u16, usize>,
    /// Event ids the gateway accepted (every event the suite builds carries an `eventId`).
    accepted_ids: BTreeSet<String>,
    /// (event id, text) of valid events whose strings hold `<script>`, emoji or RTL text: each
    /// must come out with the text as sent.
    intact: Vec<(String, String)>,
    /// Log lines accepted (logs carry no event id; each line's message is unique).
    accepted_logs: usize,
    /// Events refused one by one (in a 202 or a 400), each with a message naming its field.
    refused_events: usize,
    /// Requests refused as a whole (4xx with a JSON error body).
    refused_requests: usize,
    /// Failures: a 5xx, an answer without a JSON error, a message that names no field.
    problems: Vec<String>,
    next_id: usize,
    /// Random per run: the event ids of one run are its own.
    id_base: u32,
}

impl Ledger {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.id_base, self.next_id)
    }

    fn count(&mut self, class: &'static str) {
        *self.tried.entry(class).or_default() += 1;
    }

    fn problem(&mut self, class: &str, what: String) {
        self.problems.push(format!("[{class}] {what}"));
    }

    /// Records a batch's answer: accepted events (by the ids in `events`) and refused ones, each
    /// of which must name `fields[i]` (the field the suite broke in event `i`, `!field` when the
    /// event must be refused; `None` for a valid event, which must be accepted).
    fn batch(&mut self, class: &'static str, path: &str, events: &[Value], fields: &[Option<String>], a: &Answer) {
        *self.statuses.entry(a.status).or_default() += 1;
        let v = a.json();
        let list = if path == "/v1/logs" { "logs" } else { "events" };
        if a.status >= 500 || !(a.status == 202 || a.status == 400) {
            self.problem(class, format!("status {} for a batch: {}", a.status, a.body));
            return;
        }
        if a.status == 400 && v["rejected"].as_array().is_none_or(|r| r.is_empty()) {
            // The body as a whole was refused (e.g. a lone surrogate in sentAt).
            self.refused_requests += 1;
            if v["error"]["code"].as_str().is_none() || v["error"]["message"].as_str().is_none_or(str::is_empty) {
                self.problem(class, format!("a 400 without a JSON error: {}", a.body));
            }
            return;
        }
        let rejected: BTreeMap<u64, String> = v["rejected"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["index"].as_u64()?, r["message"].as_str()?.to_string())))
            .collect();
        for (i, e) in events.iter().enumerate() {
            match (rejected.get(&(i as u64)), fields[i].as_deref().map(must_refuse)) {
                (None, Some((true, field))) => {
                    self.problem(class, format!("{list}[{i}] accepted although its {field} is invalid"));
                }
                (Some(message), Some((_, field))) => {
                    self.refused_events += 1;
                    if !message.starts_with(&format!("{list}[{i}].{field}")) {
                        self.problem(
                            class,
                            format!("{list}[{i}]: the message names another field than {field}: {message}"),
                        );
                    }
                }
                (Some(message), None) => {
                    self.refused_events += 1;
                    self.problem(class, format!("{list}[{i}] (valid) refused: {message}"));
                }
                (None, _) => {
                    if path == "/v1/logs" {
                        self.accepted_logs += 1;
                    } else if let Some(id) = e["eventId"].as_str() {
                        self.accepted_ids.insert(id.to_string());
                    }
                }
            }
        }
        if a.status == 400 && rejected.len() != events.len() {
            self.problem(class, format!("a 400 that refuses only part of the batch: {}", a.body));
        }
    }

    /// Records a request that must be refused as a whole with `statuses` and an `error.code` among
    /// `codes`.
    fn refused(&mut self, class: &'static str, a: &Answer, statuses: &[u16], codes: &[&str]) {
        *self.statuses.entry(a.status).or_default() += 1;
        let v = a.json();
        let code = v["error"]["code"].as_str().unwrap_or("");
        let message = v["error"]["message"].as_str().unwrap_or("");
        if !statuses.contains(&a.status) || !codes.contains(&code) || message.is_empty() {
            self.problem(class, format!("wanted {statuses:?} {codes:?}, got {} {}", a.status, a.body));
        } else {
            self.refused_requests += 1;
        }
    }
}

/// (must the event be refused, the field named): `!field` must be refused naming it, `field` may be.
fn must_refuse(field: &str) -> (bool, &str) {
    match field.strip_prefix('!') {
        Some(f) => (true, f),
        None => (false, field),
    }
}

/// The running pipeline the suite posts to.
struct Target<'a> {
    up: &'a Up,
    ledger: Ledger,
}

impl Target<'_> {
    fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        send(&self.up.gateway, "POST", path, &[("X-API-Key", &self.up.key), ("Content-Type", content_type)], body)
    }

    /// Posts `events` (already holding their ids) with `fields[i]` the field broken in event `i`.
    /// `raw` replaces placeholders in the serialized body (lone surrogates cannot be built as
    /// Rust strings).
    fn post_batch(&mut self, class: &'static str, events: Vec<Value>, fields: Vec<Option<String>>, extra: Value) {
        self.post_list(class, "/v1/events", "events", events, fields, extra);
    }

    fn post_list(
        &mut self,
        class: &'static str,
        path: &str,
        list: &str,
        items: Vec<Value>,
        fields: Vec<Option<String>>,
        extra: Value,
    ) {
        let mut body = extra;
        body[list] = Value::Array(items.clone());
        let text = body.to_string().replace(LONE_HIGH, "\\ud800").replace(LONE_LOW, "\\udc00");
        let a = self.post_raw(path, "application/json", text.as_bytes());
        self.ledger.count(class);
        self.ledger.batch(class, path, &items, &fields, &a);
    }

    /// A valid batch: every event must be accepted.
    fn post_valid(&mut self, class: &'static str, body: &str) {
        let mut v: Value = serde_json::from_str(body).expect("valid body");
        let mut events = v["events"].as_array().cloned().unwrap_or_default();
        for e in &mut events {
            e["eventId"] = json!(self.ledger.id());
        }
        let n = events.len();
        v["events"] = json!([]);
        self.post_batch(class, events, vec![None; n], v);
    }
}

/// Placeholders the serialized body turns into lone surrogate escapes.
const LONE_HIGH: &str = "\u{E000}LONE-HIGH\u{E000}";
const LONE_LOW: &str = "\u{E000}LONE-LOW\u{E000}";

/// Identifiers and keys: a control character, a lone surrogate or too much length refuses the event.
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
/// Free text: control characters other than tab, LF, CR are replaced; lone surrogates and too much
/// length refuse the event.
const TEXT_FIELDS: &[&str] = &["target.text", "error.message", "error.stack", "url", "navigation.to", "network.url"];

/// Sets `path` (dotted) in an event object.
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

/// A valid event (now, its own session) whose type makes `field` meaningful.
fn base_event(id: String, run: &str, field: &str) -> Value {
    let mut e = json!({"eventId": id, "eventType": "click", "timestamp": now_ms(), "sessionId": format!("{run}-h"),
                       "route": "/hostile", "target": {"key": "buy", "type": "button"}});
    let (ty, payload) = match field.split('.').next() {
        Some("error") => ("error", json!({"message": "boom"})),
        Some("input") => ("input", json!({"fieldKey": "email"})),
        Some("submit") => ("submit", json!({"formKey": "checkout"})),
        Some("custom") => ("custom", json!({"name": "n"})),
        Some("network") => ("network", json!({"method": "GET", "url": "https://a.example/x"})),
        Some("navigation") => ("pageview", json!({"kind": "push"})),
        _ => ("click", json!(null)),
    };
    e["eventType"] = json!(ty);
    if ty != "click" {
        e[field.split('.').next().unwrap_or_default()] = payload;
    }
    e
}

/// A valid log line, unique by `n`.
fn base_log(run: &str, n: usize) -> Value {
    json!({"service": format!("{run}-svc"), "level": "info", "message": format!("line {n}"), "timestamp": now_ms(),
           "attributes": {"n": n.to_string()}})
}

/// Any Unicode scalar value, the troublesome ones (controls, BOM, noncharacters, the replacement
/// character, the last plane, quotes) more likely than chance would make them; sometimes a lone
/// surrogate (as a placeholder for its escape).
fn any_piece(rng: &mut StdRng) -> String {
    match rng.random_range(0..12) {
        0..=4 => {
            let c = loop {
                if let Some(c) = char::from_u32(rng.random_range(0..=0x10FFFF)) {
                    break c;
                }
            };
            c.to_string()
        }
        5 | 6 => char::from_u32(rng.random_range(0..0x20)).unwrap_or('\0').to_string(),
        7 => char::from_u32(rng.random_range(0x7f..0xa0)).unwrap_or('\0').to_string(),
        8 => ['\u{FEFF}', '\u{FFFE}', '\u{FFFF}', '\u{FFFD}', '\u{10FFFF}', '\u{2028}', '\u{202E}', '"', '\\', '<']
            [rng.random_range(0..10)]
        .to_string(),
        9 => if rng.random_bool(0.5) { LONE_HIGH } else { LONE_LOW }.to_string(),
        _ => char::from_u32(rng.random_range(0x20..0x7f)).unwrap_or('a').to_string(),
    }
}

fn any_string(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..24);
    (0..n).map(|_| any_piece(rng)).collect()
}

/// The hostile inputs, class by class, with valid traffic between them.
fn hostile_suite(t: &mut Target<'_>, run: &str, seed: u64) {
    let gw = t.up.gateway.clone();
    let valid_rage = |t: &mut Target<'_>, session: &str, button: &str| {
        t.post_valid("valid: rage sessions", &rage_batch(&format!("{run}-{session}"), session, button, now_ms()));
    };

    // The issue's probe: three sessions of rage clicks whose target.key holds a NUL.
    for s in 0..3 {
        let mut v: Value =
            serde_json::from_str(&rage_batch(&format!("{run}-nul-{s}"), "nul", "pay\u{0}now", now_ms())).expect("json");
        let mut events = v["events"].as_array().cloned().unwrap_or_default();
        let fields: Vec<Option<String>> = events
            .iter_mut()
            .map(|e| {
                e["eventId"] = json!(t.ledger.id());
                (e["eventType"] == "click").then(|| "!target.key".to_string())
            })
            .collect();
        v["events"] = json!([]);
        t.post_batch("NUL in target.key (the issue's probe)", events, fields, v);
    }
    valid_rage(t, "script-0", SCRIPT_KEY);

    // Control characters in identifiers and keys: the event is refused naming the field; its
    // valid neighbour is accepted.
    for field in KEY_FIELDS {
        for bad in ["a\u{0}b", "a\u{1f}", "\u{7f}", "x\u{85}y", "tab\there", "line\nbreak", "\u{1b}[31m"] {
            let mut e = base_event(t.ledger.id(), run, field);
            set(&mut e, field, json!(bad));
            let ok = base_event(t.ledger.id(), run, "target.key");
            t.post_batch(
                "control characters in identifiers and keys",
                vec![e, ok],
                vec![Some(format!("!{field}")), None],
                json!({}),
            );
        }
    }
    valid_rage(t, "emoji-0", EMOJI_KEY);

    // Control characters in free text: accepted, replaced.
    for field in TEXT_FIELDS {
        let mut e = base_event(t.ledger.id(), run, field);
        set(&mut e, field, json!("a\u{0}b\u{1b}[31mc\u{7f}d\u{9f}e\tf\ng\rh"));
        t.post_batch("control characters in free text", vec![e], vec![None], json!({}));
    }

    // Lone surrogates, in every kind of field, in metadata and in sentAt.
    for field in KEY_FIELDS.iter().chain(TEXT_FIELDS) {
        for lone in [LONE_HIGH, LONE_LOW] {
            let mut e = base_event(t.ledger.id(), run, field);
            set(&mut e, field, json!(format!("x{lone}y")));
            let ok = base_event(t.ledger.id(), run, "target.key");
            t.post_batch("lone surrogates", vec![e, ok], vec![Some(format!("!{field}")), None], json!({}));
        }
    }
    let mut e = base_event(t.ledger.id(), run, "target.key");
    e["metadata"] = json!({"a": LONE_HIGH});
    t.post_batch("lone surrogates", vec![e], vec![Some("!metadata".into())], json!({}));
    let e = base_event(t.ledger.id(), run, "target.key");
    t.post_batch("lone surrogates", vec![e], vec![Some("!sentAt".into())], json!({"sentAt": LONE_HIGH}));
    let mut bytes = format!(r#"{{"events":[{{"eventType":"focus","timestamp":{},"sessionId":""#, now_ms()).into_bytes();
    bytes.extend_from_slice(&[0xed, 0xa0, 0x80]); // a surrogate encoded as UTF-8: not UTF-8
    bytes.extend_from_slice(br#""}]}"#);
    let a = t.post_raw("/v1/events", "application/json", &bytes);
    t.ledger.count("lone surrogates");
    t.ledger.refused("lone surrogates", &a, &[400], &["bad_request"]);
    valid_rage(t, "rtl-0", RTL_KEY);

    // Over-long strings.
    for (field, len) in [
        ("sessionId", 201),
        ("userId", 201),
        ("release", 201),
        ("target.key", 2049),
        ("route", 2049),
        ("custom.name", 2049),
    ]
    .into_iter()
    .chain([("target.text", 32769), ("error.message", 32769), ("url", 32769)])
    {
        let mut e = base_event(t.ledger.id(), run, field);
        // Two-byte characters where that stays under the 64 KiB an event may take.
        let c = if len > 10_000 { "a" } else { "é" };
        set(&mut e, field, json!(c.repeat(len)));
        let ok = base_event(t.ledger.id(), run, "target.key");
        t.post_batch("over-long strings", vec![e, ok], vec![Some(format!("!{field}")), None], json!({}));
    }

    // Absurd times: `timestamp` far in the future, negative, huge, not a time; `sentAt` likewise.
    for ts in [
        json!("9999-12-31T23:59:59Z"),
        json!(253_402_300_799_999i64),
        json!(1e15),
        json!(i64::MAX),
        json!(-1),
        json!(0),
        json!("1970-01-01T00:00:00Z"),
        json!("not a time"),
        json!(1.5e300),
        json!("2024-02-30T25:61:00Z"),
    ] {
        let mut e = base_event(t.ledger.id(), run, "target.key");
        e["timestamp"] = ts;
        // Accepted (clamped into range and flagged) or refused naming `timestamp`.
        t.post_batch("absurd timestamp", vec![e], vec![Some("timestamp".into())], json!({}));
    }
    for sent_at in [
        json!("9999-12-31T23:59:59Z"),
        json!(253_402_300_799_999i64),
        json!(1e15),
        json!(-5),
        json!(YEAR_2000_MS),
        json!(now_ms() - 300 * DAY_MS),
        json!(now_ms() + 300 * DAY_MS),
    ] {
        let e = base_event(t.ledger.id(), run, "target.key");
        // The sentAt is ignored (events flagged) or the batch is refused naming sentAt.
        t.post_batch("absurd sentAt", vec![e], vec![Some("sentAt".into())], json!({"sentAt": sent_at}));
    }
    valid_rage(t, "script-1", SCRIPT_KEY);

    // Not JSON, or JSON of the wrong shape.
    for body in [
        &b""[..],
        b"{",
        b"[]",
        b"null",
        b"42",
        b"{\"events\": 5}",
        b"{\"events\": [1, 2]}",
        b"{\"events\": [{\"eventType\": \"teleport\", \"timestamp\": 1, \"sessionId\": \"s\"}]}",
        b"\xef\xbb\xbf{\"events\": []}",
        b"\xff\xfe\x00{",
        b"{\"events\": [{\"eventType\": \"click\"}]}",
        b"{\"events\": [{\"eventType\": \"click\", \"timestamp\": 1, \"sessionId\": \"s\", \"target\": {\"x\": \"left\"}}]}",
    ] {
        let a = t.post_raw("/v1/events", "application/json", body);
        t.ledger.count("invalid JSON");
        t.ledger.refused("invalid JSON", &a, &[400], &["bad_request", "no_events", "all_events_rejected"]);
        let a = t.post_raw("/v1/logs", "application/json", body);
        t.ledger.count("invalid JSON");
        t.ledger.refused("invalid JSON", &a, &[400], &["bad_request", "no_events", "all_events_rejected"]);
    }

    // Wrong content types and encodings.
    let one = json!({"events": [base_event(t.ledger.id(), run, "target.key")]}).to_string();
    for ct in [
        "text/html",
        "application/xml",
        "multipart/form-data; boundary=x",
        "image/png",
        "application/x-www-form-urlencoded",
    ] {
        let a = t.post_raw("/v1/events", ct, one.as_bytes());
        t.ledger.count("wrong content type");
        t.ledger.refused("wrong content type", &a, &[415], &["unsupported_media_type"]);
    }
    for encoding in ["br", "deflate", "x-hostile"] {
        let a = send(
            &gw,
            "POST",
            "/v1/events",
            &[("X-API-Key", &t.up.key), ("Content-Type", "application/json"), ("Content-Encoding", encoding)],
            one.as_bytes(),
        );
        t.ledger.count("wrong content type");
        t.ledger.refused("wrong content type", &a, &[415], &["unsupported_media_type"]);
    }
    let a =
        send(&gw, "POST", "/v1/events", &[("X-API-Key", &t.up.key), ("Content-Encoding", "gzip")], b"not gzip at all");
    t.ledger.count("wrong content type");
    t.ledger.refused("wrong content type", &a, &[400, 415], &["bad_request", "unsupported_media_type"]);
    valid_rage(t, "emoji-1", EMOJI_KEY);

    // Oversize: the body, one event, the batch.
    let big = format!(
        r#"{{"events": [{{"eventType": "focus", "timestamp": 1, "sessionId": "s", "metadata": {{"pad": "{}"}}}}]}}"#,
        "x".repeat(1_100_000)
    );
    for path in ["/v1/events", "/v1/logs"] {
        let a = t.post_raw(path, "application/json", big.as_bytes());
        t.ledger.count("oversize bodies");
        t.ledger.refused("oversize bodies", &a, &[413], &["payload_too_large"]);
    }
    let mut e = base_event(t.ledger.id(), run, "target.key");
    e["metadata"] = json!({"pad": "y".repeat(70_000)});
    let a = t.post_raw("/v1/events", "application/json", json!({"events": [e]}).to_string().as_bytes());
    t.ledger.count("oversize bodies");
    t.ledger.refused("oversize bodies", &a, &[413], &["payload_too_large"]);
    let many: Vec<Value> = (0..1001).map(|_| json!({"eventType": "focus", "timestamp": 1, "sessionId": "s"})).collect();
    let a = t.post_raw("/v1/events", "application/json", json!({"events": many}).to_string().as_bytes());
    t.ledger.count("oversize bodies");
    t.ledger.refused("oversize bodies", &a, &[413], &["payload_too_large"]);

    // Deep nesting, in metadata, in log attributes, and as the whole body.
    for depth in [200usize, 5_000, 100_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(
            r#"{{"events": [{{"eventId": "{}", "eventType": "focus", "timestamp": {}, "sessionId": "{run}-deep", "metadata": {{"a": {nested}}}}}]}}"#,
            t.ledger.id(),
            now_ms()
        );
        let a = t.post_raw("/v1/events", "application/json", body.as_bytes());
        t.ledger.count("deep nesting");
        if deep_taken(&mut t.ledger, &a) {
            // Taken as metadata text: then it must come out downstream like any accepted event.
            if let Some(id) = json_id(&body) {
                t.ledger.accepted_ids.insert(id);
            }
        }
        let body = format!(
            r#"{{"logs": [{{"service": "{run}-svc", "level": "info", "message": "deep {depth}", "timestamp": {}, "attributes": {{"a": {nested}}}}}]}}"#,
            now_ms()
        );
        let a = t.post_raw("/v1/logs", "application/json", body.as_bytes());
        t.ledger.count("deep nesting");
        if deep_taken(&mut t.ledger, &a) {
            t.ledger.accepted_logs += a.json()["accepted"].as_u64().unwrap_or(0) as usize;
        }
        let whole = format!("{}{}", "{\"events\":".repeat(depth.min(20_000)), "}".repeat(depth.min(20_000)));
        let a = t.post_raw("/v1/events", "application/json", whole.as_bytes());
        t.ledger.count("deep nesting");
        t.ledger.refused("deep nesting", &a, &[400, 413], &["bad_request", "no_events", "payload_too_large"]);
    }
    valid_rage(t, "rtl-1", RTL_KEY);

    // Requests hyper or the router refuse: a JSON error each.
    let long_uri = format!("/v1/events?x={}", "a".repeat(9 * 1024));
    let many_headers: Vec<(String, String)> = (0..120).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let fat = "v".repeat(40 * 1024);
    for (method, path, headers, statuses, codes) in [
        ("GET", "/v1/events", vec![], &[405][..], &["method_not_allowed"][..]),
        ("DELETE", "/v1/logs", vec![], &[405], &["method_not_allowed"]),
        ("GET", "/v1/%00", vec![], &[404, 400], &["not_found", "bad_request"]),
        ("GET", "/../../etc/passwd", vec![], &[404, 400], &["not_found", "bad_request"]),
        ("POST", long_uri.as_str(), vec![], &[414], &["uri_too_long"]),
        ("POST", "/v1/events", many.clone(), &[431], &["request_header_fields_too_large"]),
        ("POST", "/v1/events", vec![("X-Fat", fat.as_str())], &[431], &["request_header_fields_too_large"]),
        ("POST", "/v1/events?api_key=%00", vec![], &[401], &["invalid_api_key", "missing_api_key"]),
    ] {
        let a = send(&gw, method, path, &headers, one.as_bytes());
        t.ledger.count("HTTP: method, path, URI and header limits");
        t.ledger.refused("HTTP: method, path, URI and header limits", &a, statuses, codes);
    }

    // gzip: a bomb (5 MiB of zeros and more after decompression) is a 413; a valid gzip body is taken.
    let post_gzip = |t: &Target<'_>, body: &[u8]| {
        let headers =
            [("X-API-Key", t.up.key.as_str()), ("Content-Type", "application/json"), ("Content-Encoding", "gzip")];
        send(&gw, "POST", "/v1/events", &headers, &gzip(body))
    };
    let a = post_gzip(t, &vec![b' '; 8 * 1024 * 1024]);
    t.ledger.count("gzip bomb");
    t.ledger.refused("gzip bomb", &a, &[413], &["payload_too_large"]);
    let e = base_event(t.ledger.id(), run, "target.key");
    let a = post_gzip(t, json!({"events": [e.clone()]}).to_string().as_bytes());
    t.ledger.count("valid: gzip");
    t.ledger.batch("valid: gzip", "/v1/events", &[e], &[None], &a);

    // Old times are accepted (backfills): 150 events, each in a month of its own since 2001, in
    // one batch. The warehouse partitions by month; ClickHouse refuses an insert into more than
    // 100 partitions, and the rows must still all arrive (docs/architecture.md §5).
    let events: Vec<Value> = (0..150i64)
        .map(|m| {
            let mut e = base_event(t.ledger.id(), run, "target.key");
            e["timestamp"] = json!(YEAR_2000_MS + 366 * DAY_MS + m * 31 * DAY_MS);
            e["sessionId"] = json!(format!("{run}-months"));
            e
        })
        .collect();
    t.post_batch("valid: times across 150 months", events, vec![None; 150], json!({}));

    // Bad keys (a few: a source with too many failures is throttled, docs/operators.md).
    for key in ["", "frk_not-a-key", "frk_\u{202E}evil"] {
        let a = send(
            &gw,
            "POST",
            "/v1/events",
            &[("X-API-Key", key), ("Content-Type", "application/json")],
            one.as_bytes(),
        );
        t.ledger.count("bad API keys");
        t.ledger.refused("bad API keys", &a, &[401], &["missing_api_key", "invalid_api_key"]);
    }

    // `<script>`, emoji and right-to-left text in every string field of valid events: accepted,
    // kept as sent (checked downstream through the sessionized topic).
    for field in KEY_FIELDS.iter().chain(TEXT_FIELDS) {
        for text in [SCRIPT_KEY, EMOJI_KEY, RTL_KEY] {
            let id = t.ledger.id();
            let mut e = base_event(id.clone(), run, field);
            set(&mut e, field, json!(text));
            t.ledger.intact.push((id, text.to_string()));
            t.post_batch("valid: <script>, emoji, RTL in every field", vec![e], vec![None], json!({}));
        }
    }

    // Generated strings from the whole Unicode range, in random fields of random events.
    let mut rng = StdRng::seed_from_u64(seed);
    let fields: Vec<&str> = KEY_FIELDS.iter().chain(TEXT_FIELDS).copied().collect();
    for _ in 0..150 {
        let n = rng.random_range(1..6);
        let mut events = Vec::new();
        let mut broken = Vec::new();
        for _ in 0..n {
            let field = fields[rng.random_range(0..fields.len())];
            let mut e = base_event(t.ledger.id(), run, field);
            set(&mut e, field, json!(any_string(&mut rng)));
            events.push(e);
            broken.push(Some(field.to_string()));
        }
        t.post_batch("generated Unicode (events)", events, broken, json!({}));
    }
    valid_rage(t, "script-2", SCRIPT_KEY);

    // /v1/logs: the same classes on log lines.
    let mut n = 0usize;
    let mut next = || {
        n += 1;
        n
    };
    for (field, bad) in [
        ("service", json!("svc\u{0}")),
        ("service", json!(format!("x{LONE_HIGH}"))),
        ("service", json!("s".repeat(201))),
        ("message", json!(format!("m{LONE_LOW}"))),
        ("message", json!("m".repeat(32769))),
        ("timestamp", json!("9999-99-99")),
        ("level", json!(42)),
        ("attributes", json!({"k\u{1}": "v"})),
        ("attributes", json!({"k": format!("v{LONE_HIGH}")})),
    ] {
        let mut line = base_log(run, next());
        line[field] = bad;
        let ok = base_log(run, next());
        t.post_list(
            "log lines: hostile fields",
            "/v1/logs",
            "logs",
            vec![line, ok],
            vec![Some(format!("!{field}")), None],
            json!({}),
        );
    }
    for (field, text) in [("message", "NUL\u{0} and ESC\u{1b}[2J"), ("message", SCRIPT_KEY), ("message", RTL_KEY)] {
        let mut line = base_log(run, next());
        line[field] = json!(format!("{text} {}", next()));
        t.post_list("log lines: hostile but legal text", "/v1/logs", "logs", vec![line], vec![None], json!({}));
    }
    for ts in [json!("9999-12-31T23:59:59Z"), json!(-1), json!(1e15)] {
        let mut line = base_log(run, next());
        line["timestamp"] = ts;
        t.post_list(
            "log lines: absurd timestamp",
            "/v1/logs",
            "logs",
            vec![line],
            vec![Some("timestamp".into())],
            json!({}),
        );
    }
    for ct in ["text/html", "application/xml"] {
        let body = json!({"logs": [base_log(run, next())]}).to_string();
        let a = t.post_raw("/v1/logs", ct, body.as_bytes());
        t.ledger.count("wrong content type");
        t.ledger.refused("wrong content type", &a, &[415], &["unsupported_media_type"]);
    }
    for _ in 0..60 {
        let mut line = base_log(run, next());
        let field = ["message", "service", "attr-key", "attr-value"][rng.random_range(0..4)];
        let s = any_string(&mut rng);
        match field {
            "message" => line["message"] = json!(format!("{s} #{}", next())),
            "service" => line["service"] = json!(s),
            "attr-key" => line["attributes"] = json!({ s: "v" }),
            _ => line["attributes"] = json!({"k": s}),
        }
        let named = if field.starts_with("attr") { "attributes" } else { field };
        t.post_list(
            "generated Unicode (log lines)",
            "/v1/logs",
            "logs",
            vec![line],
            vec![Some(named.into())],
            json!({}),
        );
    }
    // A server error whose message holds `<script>`: a confirmed incident at its first line.
    let line = json!({"service": format!("{run}-pos"), "level": "error", "message": SERVER_ERROR,
                      "timestamp": now_ms(), "attributes": {"order": "<b>51234</b>"}});
    t.post_list("valid: server error log line", "/v1/logs", "logs", vec![line], vec![None], json!({}));
    valid_rage(t, "solo", SOLO_KEY);
    valid_rage(t, "emoji-2", EMOJI_KEY);
    valid_rage(t, "rtl-2", RTL_KEY);
}

/// Hostile requests to the console API: control characters and lone surrogates in ids and query
/// parameters, bad bodies. Each must be a 4xx with a JSON error, never a 5xx.
fn console_suite(t: &mut Target<'_>, admin: &str) {
    let console = t.up.console.clone();
    let auth = format!("Bearer {admin}");
    let class = "console: hostile ids, parameters, bodies";
    for path in [
        "/v1/incidents/%00",
        "/v1/incidents/x%00y",
        "/v1/incidents/%ED%A0%80",
        "/v1/incidents?route=%00",
        "/v1/incidents?project=%00",
        "/v1/incidents?route=/a%1B[2J",
        "/v1/incidents?status=%3Cscript%3E",
        "/v1/incidents?kind=%00",
        "/v1/incidents?limit=-1",
        "/v1/incidents?limit=99999999999999999999",
        "/v1/incidents?cursor=%00%FF",
        "/v1/incidents?%00=1",
        "/v1/analytics/top-elements?project=%00",
        "/v1/analytics/frustration-rate?project=default&from=%00",
        "/v1/analytics/frustration-rate?project=default&route=%00",
    ] {
        let a = send(&console, "GET", path, &[("Authorization", &auth)], b"");
        t.ledger.count(class);
        t.ledger.refused(class, &a, &[400, 404, 503], &["bad_request", "not_found", "unavailable"]);
    }
    for (path, body) in [
        ("/v1/incidents/%00", r#"{"status": "resolved"}"#.to_string()),
        ("/v1/incidents/nope", r#"{"status": "<script>"}"#.to_string()),
        ("/v1/incidents/nope", r#"{"status": "resolved", "note": "\u0000"}"#.to_string()),
        ("/v1/incidents/nope", format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000))),
        ("/v1/incidents/nope", "{".to_string()),
    ] {
        let a = send(
            &console,
            "PATCH",
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        );
        t.ledger.count(class);
        t.ledger.refused(class, &a, &[400, 404], &["bad_request", "not_found"]);
    }
}

/// A deeply nested body the gateway may take (202, true) or refuse as a whole with a JSON 400 or 413.
fn deep_taken(ledger: &mut Ledger, a: &Answer) -> bool {
    if a.status == 202 {
        *ledger.statuses.entry(202).or_default() += 1;
        return true;
    }
    ledger.refused("deep nesting", a, &[400, 413], &["bad_request", "all_events_rejected", "payload_too_large"]);
    false
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).expect("gzip");
    z.finish().expect("gzip")
}

fn json_id(body: &str) -> Option<String> {
    let start = body.find("\"eventId\": \"")? + "\"eventId\": \"".len();
    Some(body[start..].split('"').next()?.to_string())
}

/// Keys of the valid rage-click sessions: three sessions each must confirm one incident.
const SCRIPT_KEY: &str = "<script>alert(\"pay\")</script>";
const EMOJI_KEY: &str = "💳 pay now 👩🏽‍💻";
const RTL_KEY: &str = "שלם עכשיו \u{202B}ادفع\u{202C}";
/// One session only: an open incident.
const SOLO_KEY: &str = "<img src=x onerror=alert(1)>";
const SERVER_ERROR: &str = "<script>alert(1)</script> MISSING_PRICE: product 999 has no price";

// ---------------------------------------------------------------------------------------------
// Poison straight on the stages' topics.

/// Writes undecodable records to each stage's input topic; returns the dead letters expected per
/// stage.
fn poison_topics(brokers: &str, prefix: &str, warehouse: bool) -> BTreeMap<String, usize> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for p in kafka_properties() {
        if let Some((k, v)) = p.split_once('=') {
            config.set(k, v);
        }
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    let poison: [&[u8]; 3] = [b"\x00\x01 not avro", b"\xc3\x01\xff\xff\xff\xff\xff\xff\xff\xffgarbage", b""];
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let inputs: [(&str, &[&str]); 4] = [
        ("friction.events.v1", &["friction-sessionizer"]),
        ("friction.sessionized.v1", &["friction-detector", "friction-warehouse"]),
        ("friction.signals.v1", &["friction-incidents", "friction-warehouse"]),
        ("friction.incidents.v1", &["friction-exporter", "friction-warehouse"]),
    ];
    for (topic, stages) in inputs {
        let topic = format!("{prefix}{topic}");
        for payload in poison {
            producer.send(BaseRecord::to(&topic).key("poison:key").payload(payload)).expect("enqueue poison");
        }
        for stage in stages.iter().filter(|s| warehouse || !s.contains("warehouse")) {
            *expected.entry(format!("{prefix}{stage}")).or_default() += poison.len();
        }
    }
    producer.flush(Duration::from_secs(15)).expect("poison delivered");
    expected
}

/// The issue's probe behind the gateway's back: three sessions of rage clicks whose target.key
/// holds a NUL, written as valid Avro events straight to the events topic (what a writer on the
/// broker could do; the gateway refuses them). Returns their event ids.
fn nul_rage_behind_the_gateway(prefix: &str, project_id: &str, run: &str) -> Vec<String> {
    use friction_schemas::event::{Click, Navigation, Target as EventTarget};
    use friction_schemas::{encode_to_vec, RawEvent};
    use std::borrow::Cow;
    let producer: ThreadedProducer<DefaultProducerContext> =
        friction_runtime::kafka::producer_config(&friction_test_support::kafka::kafka())
            .expect("producer config")
            .create()
            .expect("producer");
    let topic = format!("{prefix}friction.events.v1");
    let mut ids = Vec::new();
    let t0 = now_ms() - 1900;
    for s in 0..3 {
        let session = format!("{run}-nul-avro-{s}");
        for i in 0..5i64 {
            let ts = if i == 0 { t0 } else { t0 + 700 + i * 300 };
            let mut e = RawEvent {
                project_id: Cow::Owned(project_id.to_string()),
                session_id: Cow::Owned(session.clone()),
                event_id: Cow::Owned(format!("{session}-{i}")),
                event_type: if i == 0 { "pageview" } else { "click" }.into(),
                timestamp: ts,
                client_timestamp: ts,
                received_at: now_ms(),
                user_id: Some(Cow::Owned(format!("nul-user-{s}"))),
                route: Some("/checkout".into()),
                release: Some("1.4.0".into()),
                metadata: "{}".into(),
                ..RawEvent::default()
            };
            if i == 0 {
                e.navigation = Some(Navigation { kind: "load".into(), from: None, to: Some("/checkout".into()) });
            } else {
                e.target = Some(EventTarget {
                    r#type: Some("button".into()),
                    tag: Some("button".into()),
                    key: Some(NUL_KEY.into()),
                    text: Some("Pay\u{0}".into()),
                    interactive: Some(true),
                    x: Some(200.0),
                    y: Some(300.0),
                    ..EventTarget::default()
                });
                e.click = Some(Click::default());
            }
            let payload = encode_to_vec(&e).expect("encode");
            producer.send(BaseRecord::to(&topic).key(&e.key()).payload(&payload)).expect("enqueue");
            ids.push(e.event_id.to_string());
        }
    }
    producer.flush(Duration::from_secs(15)).expect("delivered");
    ids
}

/// The key of the rage sessions written behind the gateway's back.
const NUL_KEY: &str = "pay\u{0}now";

/// Every dead letter on the prefixed dead-letter topic (3 partitions): (stage, error).
fn dead_letters(topic: &str) -> Vec<(String, String)> {
    let header = |m: &rdkafka::message::OwnedMessage, name: &str| {
        m.headers()
            .and_then(|h| h.iter().find(|x| x.key == name).and_then(|x| x.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    read_to_end(topic, 3, Duration::from_secs(20)).iter().map(|m| (header(m, "stage"), header(m, "error"))).collect()
}

/// Every record on the prefixed sessionized topic (12 partitions).
fn sessionized(topic: &str) -> Vec<Sessionized<'static>> {
    read_to_end(topic, 12, Duration::from_secs(30)).iter().filter_map(|m| decode(m.payload()?).ok()).collect()
}

// ---------------------------------------------------------------------------------------------
// The run.

struct Store {
    name: &'static str,
    database_url: Option<String>,
    clickhouse: Option<(String, String)>,
}

fn prometheus_values(text: &str, metric: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            Some((labels[metric.len()..].to_string(), value.parse().ok()?))
        })
        .collect()
}

fn run_suite(store: Store) {
    let Some(brokers) = friction_test_support::kafka::brokers_or_skip("the hostile-input suite") else { return };
    let started = Instant::now();
    let seed: u64 = match std::env::var("FRICTION_HOSTILE_SEED").ok().as_deref().map(str::trim) {
        Some("random") => rand::random(),
        Some(n) => n.parse().unwrap_or_else(|_| panic!("FRICTION_HOSTILE_SEED={n:?} is neither a number nor `random`")),
        None => DEFAULT_SEED,
    };
    println!("hostile-input suite ({}): seed {seed} (FRICTION_HOSTILE_SEED={seed} repeats it)", store.name);
    let run = format!("hr{:08x}", rand::random::<u32>());
    let prefix = format!("{run}.");
    let dir = tempfile::tempdir().expect("tmp");
    let properties = kafka_properties().join(",");
    let max = MAX_CONNECTIONS.to_string();
    let header = HEADER_TIMEOUT_MS.to_string();
    let idle = IDLE_TIMEOUT_MS.to_string();
    let body_timeout = BODY_TIMEOUT_MS.to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("FRICTION_BROKERS", &brokers),
        ("FRICTION_KAFKA_PROPERTIES", &properties),
        ("FRICTION_TOPIC_PREFIX", &prefix),
        ("FRICTION_RATE_LIMIT_BURST", "1000000"),
        ("FRICTION_RATE_LIMIT_PER_SEC", "1000000"),
        ("FRICTION_GATEWAY_MAX_CONNECTIONS", &max),
        ("FRICTION_GATEWAY_HEADER_READ_TIMEOUT_MS", &header),
        ("FRICTION_GATEWAY_IDLE_TIMEOUT_MS", &idle),
        ("FRICTION_GATEWAY_BODY_READ_TIMEOUT_MS", &body_timeout),
        ("FRICTION_ADMIN_MAX_CONNECTIONS", &max),
        ("FRICTION_ADMIN_HEADER_READ_TIMEOUT_MS", &header),
        ("FRICTION_ADMIN_IDLE_TIMEOUT_MS", &idle),
    ];
    if let Some(url) = &store.database_url {
        env.push(("DATABASE_URL", url));
    }
    if let Some((url, db)) = &store.clickhouse {
        env.push(("CLICKHOUSE_URL", url));
        env.push(("CLICKHOUSE_DATABASE", db));
    }
    let mut up = start_up_with(dir.path(), &env);
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).expect("admin token").trim().to_owned();
    let mut stages = vec!["sessionizer", "detector", "incidents", "exporter"];
    if store.clickhouse.is_some() {
        stages.push("warehouse");
    }
    wait_for("every stage ready before the suite", || {
        let a = get(&up.console, "/readyz", None);
        if a.status == 200 {
            Ok(())
        } else {
            Err(format!("{} {}", a.status, a.body))
        }
    });

    // 1. The hostile inputs and the valid traffic between them, then poison on the topics.
    let mut target = Target { up: &up, ledger: Ledger { id_base: rand::random(), ..Ledger::default() } };
    hostile_suite(&mut target, &run, seed);
    console_suite(&mut target, &admin);
    let ledger = std::mem::take(&mut target.ledger);
    for p in ledger.problems.iter().take(20) {
        println!("problem: {p}");
    }
    let expected_dead = poison_topics(&brokers, &prefix, store.clickhouse.is_some());
    let posted_at = Instant::now();

    // 2. Expected outcomes: the incidents.
    let incidents = |query: &str| -> Vec<Value> {
        let a = get(&up.console, &format!("/v1/incidents?limit=200{query}"), Some(&admin));
        assert_eq!(a.status, 200, "{}", a.body);
        // Served as JSON only: the `<script>` keys it holds are data, never markup.
        let json = a.headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
        assert!(json, "{:?}", a.headers);
        a.json()["incidents"].as_array().cloned().unwrap_or_default()
    };
    let mut expected_incidents =
        vec![(SCRIPT_KEY, "confirmed"), (EMOJI_KEY, "confirmed"), (RTL_KEY, "confirmed"), (SOLO_KEY, "open")];
    let found = wait_for("the expected incidents", || {
        let all = incidents("");
        let mut found = Vec::new();
        for (key, status) in &expected_incidents {
            match all.iter().find(|i| i["elementKey"] == *key && i["kind"] == "rage_click" && i["status"] == *status) {
                Some(i) => found.push(i.clone()),
                None => {
                    let m = get(&up.console, "/metrics", None).body;
                    let m: Vec<&str> = m
                        .lines()
                        .filter(|l| {
                            !l.starts_with('#')
                                && (l.contains("detector")
                                    || l.contains("sessionizer_late")
                                    || l.contains("processed_total")
                                    || l.contains("dead_letters"))
                        })
                        .collect();
                    return Err(format!(
                        "none for {key:?} {status}; have {}; metrics {m:#?}",
                        serde_json::to_string(&all).unwrap_or_default()
                    ));
                }
            }
        }
        match all.iter().find(|i| i["kind"] == "server_error" && i["status"] == "confirmed") {
            Some(i) => found.push(i.clone()),
            None => return Err("no confirmed server_error".into()),
        }
        Ok(found)
    });
    expected_incidents.push(("server error", "confirmed"));

    // The issue's probe again, behind the gateway's back: the stages must take it (the incidents
    // stage stores U+FFFD for the NUL, docs/architecture.md §5) or dead-letter it, never stop.
    let project_id = found[0]["projectId"].as_str().expect("projectId").to_owned();
    let nul_ids = nul_rage_behind_the_gateway(&prefix, &project_id, &run);
    let nul_incident = wait_for("the NUL rage sessions written to the events topic as an incident", || {
        let all = incidents("");
        all.iter()
            .find(|i| i["elementKey"] == "pay\u{FFFD}now" && i["status"] == "confirmed" && i["sessions"] == 3)
            .cloned()
            .ok_or_else(|| serde_json::to_string(&all).unwrap_or_default())
    });
    let mut ledger = ledger;
    ledger.accepted_ids.extend(nul_ids.iter().cloned());
    let ledger = ledger;
    for (i, (key, _)) in found.iter().zip(&expected_incidents) {
        if *key == "server error" {
            continue;
        }
        assert_eq!(i["elementKey"], *key, "kept as sent: {i}");
        assert!(i["title"].as_str().unwrap_or("").contains(key), "the title holds the key as sent: {i}");
        let sessions = if *key == SOLO_KEY { 1 } else { 3 };
        assert_eq!(i["sessions"], sessions, "{i}");
    }
    let all = incidents("");
    for i in &all {
        let text = i.to_string();
        assert!(!text.contains("\\u0000"), "no NUL in any incident: {text}");
        assert!(
            i["elementKey"] != "pay\u{0}now" && !text.contains("pay\\u0000now"),
            "the NUL probe made no incident: {text}"
        );
        for field in ["firstSeen", "lastSeen"] {
            // RFC 3339, from the year 2000 to now (the issue's far-future sentAt made it "-250658957657997").
            let year: i64 = i[field].as_str().and_then(|t| t.get(..4)).and_then(|y| y.parse().ok()).unwrap_or(0);
            assert!((2000..=this_year() + 1).contains(&year), "{field} in range: {text}");
        }
    }

    // 3. Every accepted event reached the sessionized topic, intact and in range.
    let sessionized_topic = format!("{prefix}friction.sessionized.v1");
    let (seen_ids, seen_logs, bad_records) = wait_for("every accepted event on the sessionized topic", || {
        let records = sessionized(&sessionized_topic);
        let ids: BTreeMap<String, String> = records
            .iter()
            .map(|s| (s.event.event_id.to_string(), serde_json::to_string(&s.event).unwrap_or_default()))
            .collect();
        let logs: BTreeSet<String> =
            records.iter().filter(|s| s.event.log.is_some()).map(|s| s.event.event_id.to_string()).collect();
        let missing = ledger.accepted_ids.iter().filter(|id| !ids.contains_key(*id)).count();
        if missing == 0 && logs.len() >= ledger.accepted_logs {
            let bad: Vec<String> = records
                .iter()
                .filter_map(|s| {
                    let text = serde_json::to_string(&s.event).unwrap_or_default();
                    let e = &s.event;
                    let in_range = (YEAR_2000_MS..=e.received_at).contains(&e.timestamp);
                    // Only the events written behind the gateway's back may hold a NUL.
                    let nul = text.contains("\\u0000") && !nul_ids.iter().any(|id| *id == e.event_id);
                    (!in_range || nul).then(|| text.chars().take(300).collect())
                })
                .collect();
            Ok((ids, logs.len(), bad))
        } else {
            Err(format!(
                "{missing} accepted events and {} log lines missing",
                ledger.accepted_logs.saturating_sub(logs.len())
            ))
        }
    });
    assert!(bad_records.is_empty(), "records out of range or with a NUL: {bad_records:#?}");
    for (id, text) in &ledger.intact {
        let record = seen_ids.get(id).map(String::as_str).unwrap_or_default();
        let quoted = serde_json::to_string(text).unwrap_or_default();
        assert!(record.contains(quoted.trim_matches('"')), "{id}: {text:?} not kept as sent: {record}");
    }
    let lost_events = ledger.accepted_ids.iter().filter(|id| !seen_ids.contains_key(*id)).count();
    let lost_logs = ledger.accepted_logs.saturating_sub(seen_logs);

    // ... and ClickHouse, when configured: every accepted event is a row.
    let mut warehouse_rows = None;
    if let Some((url, db)) = &store.clickhouse {
        let ids = wait_for("every accepted event in ClickHouse", || {
            let body = clickhouse(url, &format!("SELECT event_id FROM {db}.events FORMAT TabSeparated"));
            let ids: BTreeSet<String> = body.lines().map(str::to_string).collect();
            let missing = ledger.accepted_ids.difference(&ids).count();
            if missing == 0 {
                Ok(ids)
            } else {
                let m = get(&up.console, "/metrics", None).body;
                let m: Vec<&str> = m
                    .lines()
                    .filter(|l| !l.starts_with('#') && l.contains("friction_warehouse_") && !l.contains("quantile"))
                    .collect();
                Err(format!("{missing} of {} accepted events not in {db}.events; {m:#?}", ledger.accepted_ids.len()))
            }
        });
        let range = clickhouse(
            url,
            &format!("SELECT min(timestamp_ms), max(timestamp_ms) FROM {db}.events FORMAT TabSeparated"),
        );
        let times: Vec<i64> = range.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        assert!(
            times.len() == 2 && times[0] >= YEAR_2000_MS && times[1] <= now_ms() + 60_000,
            "times in range: {range}"
        );
        // The valid rage sessions' keys, as sent (none holds a single quote).
        let keys = [SCRIPT_KEY, EMOJI_KEY, RTL_KEY].map(|k| format!("'{}'", k.replace('\\', "\\\\")));
        let intact = clickhouse(
            url,
            &format!(
                "SELECT uniqExact(target_key) FROM {db}.events WHERE target_key IN ({}) FORMAT TabSeparated",
                keys.join(",")
            ),
        );
        assert_eq!(intact.trim(), "3", "the <script>, emoji and RTL keys are rows as sent");
        warehouse_rows = Some(ids.len());
    }

    // 4. Dead letters: every poison record, by stage, each with its reason.
    let deadletter_topic = format!("{prefix}friction.deadletter.v1");
    let letters = wait_for("the dead letters of every stage", || {
        let letters = dead_letters(&deadletter_topic);
        let mut by_stage: BTreeMap<String, usize> = BTreeMap::new();
        for (stage, _) in &letters {
            *by_stage.entry(stage.clone()).or_default() += 1;
        }
        if by_stage == expected_dead {
            Ok(letters)
        } else {
            Err(format!("dead letters by stage {by_stage:?}, expected {expected_dead:?}"))
        }
    });
    for (stage, error) in &letters {
        assert!(!error.is_empty(), "a dead letter of {stage} without a reason");
    }

    // 5. Alive: /readyz 200 with every stage, no stage failure counted, the process running.
    let ready = get(&up.console, "/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let checks = ready.json()["checks"].clone();
    for stage in &stages {
        assert_eq!(checks[*stage], true, "{stage} ready: {}", ready.body);
    }
    let metrics = get(&up.console, "/metrics", None).body;
    let failures = prometheus_values(&metrics, "friction_stage_failures_total");
    assert_eq!(failures.len(), stages.len(), "one failure counter per stage: {failures:?}");
    assert!(failures.iter().all(|(_, v)| *v == 0.0), "no stage failed: {failures:?}");
    assert!(up.child.try_wait().expect("wait").is_none(), "friction up still runs");
    let log: Vec<String> = up.stderr_rx.try_iter().collect();
    let failed: Vec<&String> = log.iter().filter(|l| l.contains("stage failed") || l.contains("panicked")).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let suite_took = started.elapsed();

    // 6. Connection exhaustion on the same process.
    let exhaustion = exhaust_connections(&up);

    // The report.
    let mut report = String::new();
    let _ =
        writeln!(report, "hostile-input suite against `friction up` ({}; tansu; topic prefix {prefix})", store.name);
    let _ = writeln!(report, "seed: {seed} (FRICTION_HOSTILE_SEED={seed} repeats the generated strings)");
    if let Some((_, db)) = &store.clickhouse {
        let _ = writeln!(report, "warehouse: ClickHouse database {db}");
    }
    let _ = writeln!(report, "inputs tried per class (requests):");
    for (class, n) in &ledger.tried {
        let _ = writeln!(report, "  {n:>5}  {class}");
    }
    let _ = writeln!(report, "answers by status: {:?}", ledger.statuses);
    let _ = writeln!(report, "events/lines refused one by one, naming the field: {}", ledger.refused_events);
    let _ = writeln!(report, "requests refused as a whole (4xx, JSON error): {}", ledger.refused_requests);
    let _ = writeln!(
        report,
        "accepted: {} events, {} log lines; on the sessionized topic: {} of them; records lost: {}",
        ledger.accepted_ids.len(),
        ledger.accepted_logs,
        ledger.accepted_ids.len() - lost_events + seen_logs.min(ledger.accepted_logs),
        lost_events + lost_logs
    );
    if let Some(rows) = warehouse_rows {
        let _ = writeln!(report, "ClickHouse events rows (distinct ids): {rows}, every accepted event among them");
    }
    let _ = writeln!(report, "incidents: {} in all; expected ones found:", all.len());
    for i in &found {
        let _ = writeln!(report, "  {} {} sessions={} title={}", i["kind"], i["status"], i["sessions"], i["title"]);
    }
    let _ = writeln!(
        report,
        "NUL rage sessions written behind the gateway ({} events): incident {} {} sessions={} elementKey={}",
        nul_ids.len(),
        nul_incident["kind"],
        nul_incident["status"],
        nul_incident["sessions"],
        nul_incident["elementKey"]
    );
    let _ = writeln!(report, "dead letters by stage and reason (poison written to the topics):");
    let mut reasons: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (stage, error) in &letters {
        let short: String = error.chars().take(90).collect();
        *reasons.entry((stage.clone(), short)).or_default() += 1;
    }
    for ((stage, error), n) in &reasons {
        let _ = writeln!(report, "  {n:>3}  {stage}: {error}");
    }
    let mut refusals = Vec::new();
    for metric in [
        "friction_incidents_nul_replaced_total",
        "friction_incidents_signals_refused_total",
        "friction_warehouse_rows_refused_total",
        "friction_warehouse_insert_retries_total",
        "friction_sessionizer_late_events_total",
    ] {
        let total = prometheus_values(&metrics, metric).iter().fold(0.0, |sum, (_, v)| sum + v);
        refusals.push(format!("{metric} {total}"));
    }
    let _ = writeln!(report, "store refusals and repairs: {}", refusals.join(", "));
    let _ = writeln!(report, "stages alive (/readyz 200): {}", stages.join(", "));
    let _ = writeln!(report, "stage failures (friction_stage_failures_total): {failures:?}");
    let _ = writeln!(report, "connection exhaustion: {exhaustion}");
    let _ = writeln!(report, "problems: {}", ledger.problems.len());
    for p in &ledger.problems {
        let _ = writeln!(report, "  {p}");
    }
    let _ = writeln!(
        report,
        "suite took {:.1} s (waits after posting: {:.1} s)",
        suite_took.as_secs_f64(),
        posted_at.elapsed().as_secs_f64()
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-report-{}.txt", store.name));
    std::fs::write(&path, &report).expect("report written");
    println!("{report}report: {}", path.display());

    assert!(ledger.problems.is_empty(), "{:#?}", ledger.problems);
    assert_eq!(lost_events + lost_logs, 0, "records lost");

    common::sigterm(&up.child);
    let status = common::wait_exit(&mut up.child, Duration::from_secs(30));
    assert!(status.success(), "friction up stops cleanly after the suite: {status:?}");
}

/// Opens idle connections beyond the gateway's and the console's limits, then checks that a
/// normal request, the gateway's `/healthz` and the console's `/readyz` answer within a second,
/// and that slow-header and idle connections are closed within their timeouts. A summary line.
fn exhaust_connections(up: &Up) -> String {
    let n = MAX_CONNECTIONS * 3;
    let mut idle: Vec<TcpStream> = Vec::new();
    for addr in [&up.gateway, &up.console] {
        for _ in 0..n {
            idle.push(TcpStream::connect(addr).expect("connect"));
        }
    }
    let timed = |what: &str, f: &dyn Fn() -> Answer, want: u16| {
        let t = Instant::now();
        let a = f();
        let took = t.elapsed();
        assert_eq!(a.status, want, "{what} with {n} idle connections per listener: {}", a.body);
        assert!(took < ANSWER_WITHIN, "{what} answered in {took:?} with {n} idle connections per listener");
        took
    };
    let health = timed("gateway /healthz", &|| get(&up.gateway, "/healthz", None), 200);
    let ready = timed("console /readyz", &|| get(&up.console, "/readyz", None), 200);
    let schema = timed("gateway GET /v1/schema/events.json", &|| get(&up.gateway, "/v1/schema/events.json", None), 200);
    let body = rage_batch("exhaustion", "x", "x", now_ms());
    let t = Instant::now();
    let a = send(
        &up.gateway,
        "POST",
        "/v1/events",
        &[("X-API-Key", &up.key), ("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 202, "a POST with idle connections open: {}", a.body);
    let post = t.elapsed();

    // Slow header: a request line and half a header, then nothing.
    let closed_within = |addr: &str, send_first: &[u8]| {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let t = Instant::now();
        let _ = s.write_all(send_first);
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        t.elapsed()
    };
    let limit = Duration::from_millis(HEADER_TIMEOUT_MS.max(IDLE_TIMEOUT_MS)) + Duration::from_secs(3);
    // Slow body: the head and 10 of the 100 bytes it announces, then nothing: a JSON 408.
    let slow_body = {
        let mut s = TcpStream::connect(&up.gateway).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let t = Instant::now();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"events\":",
            up.key
        );
        let _ = s.write_all(head.as_bytes());
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        let took = t.elapsed();
        let response = String::from_utf8_lossy(&response).into_owned();
        assert!(response.starts_with("HTTP/1.1 408"), "slow body: {response}");
        assert!(response.contains("request_timeout"), "slow body: {response}");
        assert!(
            took < Duration::from_millis(BODY_TIMEOUT_MS) + Duration::from_secs(3),
            "slow body answered after {took:?}"
        );
        took
    };
    let slow_gw = closed_within(&up.gateway, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Api-");
    let slow_console = closed_within(&up.console, b"GET /readyz HTTP/1.1\r\nHo");
    let idle_gw = closed_within(&up.gateway, b"");
    let idle_console = closed_within(&up.console, b"");
    for (what, took) in [
        ("slow header, gateway", slow_gw),
        ("slow header, console", slow_console),
        ("idle, gateway", idle_gw),
        ("idle, console", idle_console),
    ] {
        assert!(took < limit, "{what}: closed after {took:?}, timeouts {HEADER_TIMEOUT_MS}/{IDLE_TIMEOUT_MS} ms");
    }
    // The idle connections opened first are all closed by now, by the limit or the idle timeout.
    let mut still_open = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_millis(limit.as_millis() as u64))).expect("timeout");
        let mut buf = [0u8; 64];
        if let Err(e) = s.read(&mut buf) {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                still_open += 1;
            }
        }
    }
    assert_eq!(still_open, 0, "idle connections left open past the timeouts");
    let metrics = get(&up.console, "/metrics", None).body;
    let closed = prometheus_values(&metrics, "friction_http_idle_closed_total");
    format!(
        "{n} idle connections per listener (limit {MAX_CONNECTIONS}); gateway /healthz {health:?}, console /readyz {ready:?}, \
         schema {schema:?}, POST {post:?}; slow header closed after {slow_gw:?} (gateway) / {slow_console:?} (console), \
         idle after {idle_gw:?} / {idle_console:?} (timeouts {HEADER_TIMEOUT_MS}/{IDLE_TIMEOUT_MS} ms); slow body: 408 after \
         {slow_body:?} (timeout {BODY_TIMEOUT_MS} ms); idle closed: {closed:?}"
    )
}

/// SQLite in the data directory, tansu.
#[test]
fn hostile_input_never_stops_a_stage_sqlite() {
    run_suite(Store { name: "sqlite", database_url: None, clickhouse: None });
}

/// PostgreSQL in a fresh schema, the warehouse on ClickHouse in a fresh database, tansu.
#[test]
fn hostile_input_never_stops_a_stage_postgres_clickhouse() {
    if friction_test_support::kafka::brokers_or_skip("the hostile-input suite").is_none() {
        return;
    }
    let Some(admin_url) = friction_test_support::postgres_url("the hostile-input suite on PostgreSQL") else { return };
    let schema = format!("friction_hostile_{:016x}", rand::random::<u64>());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let exec = |sql: String| {
        rt.block_on(async {
            let store = friction_store::Store::connect(&admin_url).await.expect("postgres reachable");
            sqlx::raw_sql(&sql).execute(store.pool()).await.expect("schema");
            store.close().await;
        })
    };
    exec(format!("CREATE SCHEMA {schema}"));
    let clickhouse = friction_test_support::clickhouse_url("the hostile-input suite's warehouse")
        .map(|url| (url, friction_test_support::unique_with("friction_hostile", '_')));
    let database_url = friction_test_support::postgres_schema_url(&admin_url, &schema);
    let result = std::panic::catch_unwind(|| {
        run_suite(Store { name: "postgres", database_url: Some(database_url), clickhouse: clickhouse.clone() })
    });
    exec(format!("DROP SCHEMA {schema} CASCADE"));
    if let Some((url, db)) = &clickhouse {
        clickhouse_drop(url, db);
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn clickhouse_drop(url: &str, db: &str) {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let _ = send(addr, "POST", "/", &[], format!("DROP DATABASE IF EXISTS {db}").as_bytes());
}
