//! From request JSON to [`RawEvent`]s: the batch is split into raw events first, so one bad event
//! becomes a `rejected[]` entry naming its field (`events[3].target.x: invalid type ...`) while the
//! rest are accepted. Strings are borrowed from the body; nothing is copied unless it must change
//! (PII scrubbing, an escaped JSON string, a derived id).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use friction_schemas::event::{
    Click, Context, Custom, ErrorInfo, Input, LogLine, Mutation, Navigation, Network, Scroll, Selection, Submit,
    Target, Visibility,
};
use friction_schemas::RawEvent;

use crate::api::{GatewayError, Rejected};
use crate::scrub::{scrub_cow, scrub_json, scrub_opt};
use crate::text::{check_id, check_key, check_key_opt, clean_text, clean_text_opt, has_lone_surrogate_escape};

/// The event types of the ingest contract (docs/architecture.md §3). Anything else is rejected by name.
pub const EVENT_TYPES: &[&str] = &[
    "pageview",
    "click",
    "mutation",
    "network",
    "error",
    "scroll",
    "selection",
    "focus",
    "visibility",
    "input",
    "submit",
    "custom",
];

const NAVIGATION_KINDS: &[&str] = &["load", "push", "pop", "replace", "reload", "hash"];
const LOG_LEVELS: &[(&str, &str)] = &[
    ("trace", "trace"),
    ("debug", "debug"),
    ("info", "info"),
    ("information", "info"),
    ("notice", "info"),
    ("warn", "warn"),
    ("warning", "warn"),
    ("error", "error"),
    ("err", "error"),
    ("fatal", "fatal"),
    ("critical", "fatal"),
    ("crit", "fatal"),
    ("emergency", "fatal"),
    ("alert", "fatal"),
];
/// Timestamps before 2000-01-01 are almost certainly seconds sent as milliseconds.
const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// 9999-12-31T23:59:59.999Z.
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Everything about the request that every event of the batch shares.
pub struct BatchContext<'a> {
    pub project_id: &'a str,
    pub received_at: i64,
    pub skew_tolerance_ms: i64,
    /// A skew larger than this means `sentAt` is absurd: it is ignored (see [`correct_time`]).
    pub max_skew_ms: i64,
    pub max_event_bytes: usize,
    pub max_batch_events: usize,
    pub context: Context<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBatch<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    sent_at: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireLogBatch<'a> {
    #[serde(borrow, default)]
    logs: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: &'a RawValue,
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tab_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    view_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    route: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    release: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    target: Option<WireTarget<'a>>,
    #[serde(default)]
    button: Option<i32>,
    #[serde(borrow, default)]
    modifiers: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    navigation: Option<WireNavigation<'a>>,
    #[serde(default)]
    mutation: Option<WireMutation>,
    #[serde(borrow, default)]
    network: Option<WireNetwork<'a>>,
    #[serde(borrow, default)]
    error: Option<WireError<'a>>,
    #[serde(default)]
    scroll: Option<WireScroll>,
    #[serde(default)]
    selection: Option<WireSelection>,
    #[serde(borrow, default)]
    visibility: Option<WireVisibility<'a>>,
    #[serde(borrow, default)]
    input: Option<WireInput<'a>>,
    #[serde(borrow, default)]
    submit: Option<WireSubmit<'a>>,
    #[serde(borrow, default)]
    custom: Option<WireCustom<'a>>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireTarget<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    selector: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tag: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    x: Option<f64>,
    #[serde(default)]
    y: Option<f64>,
    #[serde(default)]
    interactive: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(borrow, default)]
    href: Option<Cow<'a, str>>,
    #[serde(default)]
    new_tab: Option<bool>,
    #[serde(borrow, default)]
    ignore: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
struct WireNavigation<'a> {
    #[serde(borrow, default)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMutation {
    #[serde(default)]
    count: u32,
    #[serde(default)]
    near_target: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNetwork<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(borrow, default)]
    initiator: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow, default)]
    stack: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fingerprint: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireScroll {
    #[serde(default)]
    dy: f64,
    #[serde(default)]
    y: f64,
}

#[derive(Deserialize)]
struct WireSelection {
    #[serde(default)]
    length: u32,
}

#[derive(Deserialize)]
struct WireVisibility<'a> {
    #[serde(borrow)]
    state: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireInput<'a> {
    #[serde(borrow)]
    field_key: Cow<'a, str>,
    #[serde(borrow, default)]
    length_bucket: Option<Cow<'a, str>>,
    #[serde(default)]
    invalid: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSubmit<'a> {
    #[serde(borrow)]
    form_key: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireCustom<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireLog<'a> {
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow)]
    level: Cow<'a, str>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: &'a RawValue,
    #[serde(borrow, default)]
    attributes: Option<BTreeMap<Cow<'a, str>, &'a RawValue>>,
    /// The client's id for the line (a UUID), as `eventId` on events: friction-logwatch derives it
    /// from the file and the byte offset, so a line re-sent after a restart keeps its id.
    #[serde(borrow, default, rename = "eventId")]
    event_id: Option<Cow<'a, str>>,
}

/// The events of a batch that passed validation, and the ones that did not.
pub struct Validated<'a> {
    pub accepted: Vec<RawEvent<'a>>,
    /// For each accepted event, its index in the request.
    pub indices: Vec<usize>,
    pub rejected: Vec<Rejected>,
}

/// Parses JSON; only when that fails is it parsed again with path tracking, so the error names the
/// field (`target.x: invalid type ...`) without slowing the common case.
fn parse_with_path<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    if let Ok(value) = serde_json::from_str::<T>(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let mut inner = e.into_inner().to_string();
        if inner.contains("hex escape") {
            // serde_json's words for a lone surrogate (`"\ud800"`): say what it is.
            inner.push_str(" (a \\uD800-\\uDFFF escape must be one half of a surrogate pair)");
        }
        if path == "." || path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

fn body_str(body: &[u8]) -> Result<&str, GatewayError> {
    std::str::from_utf8(body).map_err(|e| GatewayError::BadRequest(format!("body is not valid UTF-8: {e}")))
}

/// Parses a timestamp: RFC 3339 text or epoch milliseconds.
pub fn parse_timestamp(raw: &RawValue) -> Result<i64, String> {
    let text = raw.get();
    let ms = if text.starts_with('"') {
        let s: Cow<str> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let t = OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| format!("{s:?} is not an RFC 3339 date-time ({e})"))?;
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    } else if let Ok(ms) = text.parse::<i64>() {
        ms
    } else if let Ok(f) = text.parse::<f64>() {
        if !f.is_finite() {
            return Err(format!("{text} is not a finite number"));
        }
        f.trunc() as i64
    } else {
        return Err(format!("expected RFC 3339 text or epoch milliseconds, got {text}"));
    };
    if ms < MIN_TIMESTAMP_MS {
        return Err(format!("{ms} is before the year 2000: send epoch milliseconds, not seconds"));
    }
    if ms > MAX_TIMESTAMP_MS {
        return Err(format!("{ms} is after the year 9999"));
    }
    Ok(ms)
}

/// A client's `eventId`: a UUID, in its canonical hyphenated form.
fn client_event_id(id: Cow<'_, str>) -> Result<Cow<'_, str>, (&'static str, String)> {
    let parsed = uuid::Uuid::try_parse(&id).map_err(|_| ("invalid_field", format!("eventId: {id:?} is not a UUID")))?;
    let canonical = parsed.hyphenated().to_string();
    Ok(if canonical == id.as_ref() { id } else { Cow::Owned(canonical) })
}

/// A deterministic id for an event sent without `eventId`: the same event content (retried by the
/// client) gets the same id, so downstream dedup removes the copy. Formatted as a UUID (version 8).
pub fn derived_event_id(project_id: &str, session_id: &str, raw: &str) -> String {
    let mut h = Sha256::new();
    h.update(project_id.as_bytes());
    h.update([0]);
    h.update(session_id.as_bytes());
    h.update([0]);
    h.update(raw.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// The outcome of [`correct_time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrectedTime {
    /// The event time to use: always within [2000-01-01, `received_at`].
    pub timestamp: i64,
    /// The skew applied (`received_at - sentAt`); 0 when none was measured or it was ignored.
    pub clock_skew_ms: i64,
    /// The time had to be moved (still in the future after correction, before the year 2000) or
    /// `sentAt` was ignored as absurd.
    pub clamped: bool,
}

/// Applies the batch's clock-skew correction and clamps the result into the accepted range.
///
/// A skew above `tolerance_ms` is applied; a skew above `max_skew_ms` (a `sentAt` in the year 9999,
/// say) is ignored and flagged, so no `sentAt` can move a time outside [2000-01-01, `received_at`].
pub fn correct_time(
    client_ms: i64,
    sent_at: Option<i64>,
    received_at: i64,
    tolerance_ms: i64,
    max_skew_ms: i64,
) -> CorrectedTime {
    let measured = sent_at.map(|s| received_at.saturating_sub(s)).unwrap_or(0);
    let absurd = measured.saturating_abs() > max_skew_ms;
    let skew = if absurd { 0 } else { measured };
    let mut ts = if skew.abs() > tolerance_ms { client_ms.saturating_add(skew) } else { client_ms };
    let mut clamped = absurd;
    if ts > received_at {
        ts = received_at;
        clamped = true;
    }
    if ts < MIN_TIMESTAMP_MS {
        ts = MIN_TIMESTAMP_MS.min(received_at);
        clamped = true;
    }
    CorrectedTime { timestamp: ts, clock_skew_ms: skew, clamped }
}

fn reject(index: usize, code: &'static str, message: String) -> Rejected {
    Rejected { index, code, message: format!("events[{index}].{message}") }
}

/// Validates a `POST /v1/events` body (already decompressed).
pub fn validate_events<'a>(body: &'a [u8], ctx: &BatchContext<'a>) -> Result<Validated<'a>, GatewayError> {
    let text = body_str(body)?;
    let batch: WireBatch<'a> = parse_with_path(text)
        .map_err(|e| GatewayError::BadRequest(format!("body is not a valid events batch: {e}")))?;
    let raw_events = batch.events.ok_or(GatewayError::NoEvents("events"))?;
    if raw_events.is_empty() {
        return Err(GatewayError::NoEvents("events"));
    }
    if raw_events.len() > ctx.max_batch_events {
        return Err(GatewayError::TooLarge(format!(
            "batch has {} events; the limit is {} per request",
            raw_events.len(),
            ctx.max_batch_events
        )));
    }
    let sent_at = match batch.sent_at {
        Some(raw) => Some(parse_timestamp(raw).map_err(|e| GatewayError::BadRequest(format!("sentAt: {e}")))?),
        None => None,
    };
    let mut out = Validated {
        accepted: Vec::with_capacity(raw_events.len()),
        indices: Vec::with_capacity(raw_events.len()),
        rejected: Vec::new(),
    };
    for (index, raw) in raw_events.into_iter().enumerate() {
        if raw.get().len() > ctx.max_event_bytes {
            return Err(GatewayError::TooLarge(format!(
                "events[{index}] is {} bytes; the limit is {} per event",
                raw.get().len(),
                ctx.max_event_bytes
            )));
        }
        match validate_event(raw, sent_at, ctx) {
            Ok(event) => {
                out.accepted.push(event);
                out.indices.push(index);
            }
            Err((code, message)) => out.rejected.push(reject(index, code, message)),
        }
    }
    Ok(out)
}

fn validate_event<'a>(
    raw: &'a RawValue,
    sent_at: Option<i64>,
    ctx: &BatchContext<'a>,
) -> Result<RawEvent<'a>, (&'static str, String)> {
    let text = raw.get();
    if !text.starts_with('{') {
        return Err(("invalid_event", "event must be a JSON object".into()));
    }
    let wire: WireEvent<'a> = match parse_with_path(text) {
        Ok(w) => w,
        Err(e) => {
            let e = e.strip_prefix('.').map(str::to_string).unwrap_or(e);
            return Err(("invalid_field", e));
        }
    };
    if !EVENT_TYPES.contains(&wire.event_type.as_ref()) {
        return Err((
            "unknown_event_type",
            format!("eventType: unknown event type {:?}; expected one of {}", wire.event_type, EVENT_TYPES.join(", ")),
        ));
    }
    let invalid = |m: String| ("invalid_field", m);
    check_id("sessionId", &wire.session_id).map_err(invalid)?;
    for (name, value) in
        [("userId", &wire.user_id), ("tabId", &wire.tab_id), ("viewId", &wire.view_id), ("release", &wire.release)]
    {
        if let Some(v) = value {
            check_id(name, v).map_err(invalid)?;
        }
    }
    let client_ts = parse_timestamp(wire.timestamp).map_err(|e| ("invalid_timestamp", format!("timestamp: {e}")))?;
    let (event_id, derived) = match wire.event_id {
        Some(id) => (client_event_id(id)?, false),
        None => (Cow::Owned(derived_event_id(ctx.project_id, &wire.session_id, text)), true),
    };
    let required = |present: bool, field: &str| {
        if present {
            Ok(())
        } else {
            Err(("missing_payload", format!("{field}: required for eventType {:?}", wire.event_type)))
        }
    };
    match wire.event_type.as_ref() {
        "pageview" => required(wire.navigation.is_some(), "navigation")?,
        "click" => required(wire.target.is_some(), "target")?,
        "network" => required(wire.network.is_some(), "network")?,
        "error" => required(wire.error.is_some(), "error")?,
        "visibility" => required(wire.visibility.is_some(), "visibility")?,
        "input" => required(wire.input.is_some(), "input")?,
        "submit" => required(wire.submit.is_some(), "submit")?,
        "custom" => required(wire.custom.is_some(), "custom")?,
        _ => {}
    }
    if let Some(nav) = &wire.navigation {
        if !NAVIGATION_KINDS.contains(&nav.kind.as_ref()) {
            return Err(invalid(format!(
                "navigation.kind: {:?} is not one of {}",
                nav.kind,
                NAVIGATION_KINDS.join(", ")
            )));
        }
    }
    if let Some(v) = &wire.visibility {
        if v.state != "hidden" && v.state != "visible" {
            return Err(invalid(format!("visibility.state: {:?} is not hidden or visible", v.state)));
        }
    }
    if let Some(m) = &wire.metadata {
        if !m.get().starts_with('{') {
            return Err(invalid("metadata: must be a JSON object".into()));
        }
        if has_lone_surrogate_escape(m.get()) {
            return Err(invalid("metadata: holds a lone surrogate escape (\\uD800-\\uDFFF not in a pair)".into()));
        }
    }
    let CorrectedTime { timestamp, clock_skew_ms, clamped: timestamp_clamped } =
        correct_time(client_ts, sent_at, ctx.received_at, ctx.skew_tolerance_ms, ctx.max_skew_ms);

    let mut event = RawEvent {
        project_id: Cow::Borrowed(ctx.project_id),
        session_id: wire.session_id,
        event_id,
        event_id_derived: derived,
        event_type: wire.event_type,
        timestamp,
        client_timestamp: client_ts,
        received_at: ctx.received_at,
        sent_at,
        clock_skew_ms,
        timestamp_clamped,
        user_id: wire.user_id,
        tab_id: wire.tab_id,
        view_id: wire.view_id,
        url: wire.url,
        route: wire.route,
        release: wire.release,
        target: wire.target.map(|t| Target {
            r#type: t.kind,
            selector: t.selector,
            key: t.key,
            tag: t.tag,
            role: t.role,
            text: t.text,
            x: t.x,
            y: t.y,
            interactive: t.interactive,
            disabled: t.disabled,
            href: t.href,
            new_tab: t.new_tab,
            ignore: t.ignore.unwrap_or_default(),
        }),
        click: None,
        navigation: wire.navigation.map(|n| Navigation { from: n.from, to: n.to, kind: n.kind }),
        mutation: wire.mutation.map(|m| Mutation { count: i64::from(m.count), near_target: m.near_target }),
        network: wire.network.map(|n| Network {
            method: n.method,
            url: n.url,
            status: n.status.map(i32::from),
            duration_ms: n.duration_ms,
            initiator: n.initiator,
        }),
        error: wire.error.map(|e| ErrorInfo {
            r#type: e.kind,
            message: e.message,
            stack: e.stack,
            fingerprint: e.fingerprint,
        }),
        scroll: wire.scroll.map(|s| Scroll { dy: s.dy, y: s.y }),
        selection: wire.selection.map(|s| Selection { length: i64::from(s.length) }),
        visibility: wire.visibility.map(|v| Visibility { state: v.state }),
        input: wire.input.map(|i| Input { field_key: i.field_key, length_bucket: i.length_bucket, invalid: i.invalid }),
        submit: wire.submit.map(|s| Submit { form_key: s.form_key }),
        custom: wire.custom.map(|c| Custom { name: c.name }),
        log: None,
        metadata: wire.metadata.map(|m| Cow::Borrowed(m.get())).unwrap_or(Cow::Borrowed("{}")),
        context: ctx.context.clone(),
    };
    if event.event_type == "click" || wire.button.is_some() || wire.modifiers.is_some() {
        event.click = Some(Click { button: wire.button.unwrap_or(0), modifiers: wire.modifiers.unwrap_or_default() });
    }
    check_fields(&mut event).map_err(invalid)?;
    scrub_event(&mut event);
    Ok(event)
}

/// Checks every key and cleans every free text of an event (see [`crate::text`]); the error names
/// the field. Identifiers (`sessionId`, `userId`, ...) are checked before, on the wire values.
fn check_fields(e: &mut RawEvent<'_>) -> Result<(), String> {
    check_key_opt("route", &e.route)?;
    clean_text_opt("url", &mut e.url)?;
    if let Some(t) = e.target.as_mut() {
        check_key_opt("target.key", &t.key)?;
        check_key_opt("target.selector", &t.selector)?;
        check_key_opt("target.type", &t.r#type)?;
        check_key_opt("target.tag", &t.tag)?;
        check_key_opt("target.role", &t.role)?;
        for (i, kind) in t.ignore.iter().enumerate() {
            check_key(&format!("target.ignore[{i}]"), kind)?;
        }
        clean_text_opt("target.text", &mut t.text)?;
        clean_text_opt("target.href", &mut t.href)?;
    }
    if let Some(c) = e.click.as_ref() {
        for (i, m) in c.modifiers.iter().enumerate() {
            check_key(&format!("modifiers[{i}]"), m)?;
        }
    }
    if let Some(n) = e.navigation.as_mut() {
        clean_text_opt("navigation.from", &mut n.from)?;
        clean_text_opt("navigation.to", &mut n.to)?;
    }
    if let Some(n) = e.network.as_mut() {
        check_key("network.method", &n.method)?;
        check_key_opt("network.initiator", &n.initiator)?;
        clean_text("network.url", &mut n.url)?;
    }
    if let Some(err) = e.error.as_mut() {
        check_key_opt("error.type", &err.r#type)?;
        check_key_opt("error.fingerprint", &err.fingerprint)?;
        clean_text("error.message", &mut err.message)?;
        clean_text_opt("error.stack", &mut err.stack)?;
    }
    if let Some(i) = e.input.as_ref() {
        check_key("input.fieldKey", &i.field_key)?;
        check_key_opt("input.lengthBucket", &i.length_bucket)?;
    }
    if let Some(s) = e.submit.as_ref() {
        check_key("submit.formKey", &s.form_key)?;
    }
    if let Some(c) = e.custom.as_ref() {
        check_key("custom.name", &c.name)?;
    }
    if let Some(l) = e.log.as_mut() {
        clean_text("message", &mut l.message)?;
        for (k, v) in l.attributes.iter_mut() {
            check_key("attributes", k)?;
            clean_text(&format!("attributes.{k}"), v)?;
        }
    }
    Ok(())
}

/// Scrubs every free-text field that could carry PII.
fn scrub_event(e: &mut RawEvent<'_>) {
    scrub_opt(&mut e.url);
    scrub_opt(&mut e.route);
    scrub_json(&mut e.metadata);
    if let Some(t) = e.target.as_mut() {
        scrub_opt(&mut t.text);
        scrub_opt(&mut t.href);
        scrub_opt(&mut t.selector);
    }
    if let Some(n) = e.navigation.as_mut() {
        scrub_opt(&mut n.from);
        scrub_opt(&mut n.to);
    }
    if let Some(n) = e.network.as_mut() {
        scrub_cow(&mut n.url);
    }
    if let Some(err) = e.error.as_mut() {
        scrub_cow(&mut err.message);
        scrub_opt(&mut err.stack);
    }
    if let Some(l) = e.log.as_mut() {
        scrub_cow(&mut l.message);
        for v in l.attributes.values_mut() {
            scrub_cow(v);
        }
    }
}

/// Validates a `POST /v1/logs` body. Each line becomes an event of type `log` in session
/// `log:<service>`, so the detector sees a service's lines in order.
pub fn validate_logs<'a>(body: &'a [u8], ctx: &BatchContext<'a>) -> Result<Validated<'a>, GatewayError> {
    let text = body_str(body)?;
    let batch: WireLogBatch<'a> =
        parse_with_path(text).map_err(|e| GatewayError::BadRequest(format!("body is not a valid logs batch: {e}")))?;
    let raw_logs = batch.logs.ok_or(GatewayError::NoEvents("logs"))?;
    if raw_logs.is_empty() {
        return Err(GatewayError::NoEvents("logs"));
    }
    if raw_logs.len() > ctx.max_batch_events {
        return Err(GatewayError::TooLarge(format!(
            "batch has {} log lines; the limit is {} per request",
            raw_logs.len(),
            ctx.max_batch_events
        )));
    }
    let mut out = Validated {
        accepted: Vec::with_capacity(raw_logs.len()),
        indices: Vec::with_capacity(raw_logs.len()),
        rejected: Vec::new(),
    };
    for (index, raw) in raw_logs.into_iter().enumerate() {
        if raw.get().len() > ctx.max_event_bytes {
            return Err(GatewayError::TooLarge(format!(
                "logs[{index}] is {} bytes; the limit is {} per line",
                raw.get().len(),
                ctx.max_event_bytes
            )));
        }
        match validate_log(raw, ctx) {
            Ok(e) => {
                out.accepted.push(e);
                out.indices.push(index);
            }
            Err((code, message)) => {
                out.rejected.push(Rejected { index, code, message: format!("logs[{index}].{message}") })
            }
        }
    }
    Ok(out)
}

fn validate_log<'a>(raw: &'a RawValue, ctx: &BatchContext<'a>) -> Result<RawEvent<'a>, (&'static str, String)> {
    let text = raw.get();
    let wire: WireLog<'a> =
        parse_with_path(text).map_err(|e| ("invalid_field", e.strip_prefix('.').map(str::to_string).unwrap_or(e)))?;
    check_id("service", &wire.service).map_err(|m| ("invalid_field", m))?;
    let lowered = wire.level.to_ascii_lowercase();
    let level =
        LOG_LEVELS.iter().find(|(alias, _)| *alias == lowered).map(|(_, canonical)| *canonical).ok_or_else(|| {
            (
                "invalid_field",
                format!("level: {:?} is not a log level (trace, debug, info, warn, error, fatal)", wire.level),
            )
        })?;
    let ts = parse_timestamp(wire.timestamp).map_err(|e| ("invalid_timestamp", format!("timestamp: {e}")))?;
    let CorrectedTime { timestamp, clock_skew_ms, clamped: timestamp_clamped } =
        correct_time(ts, None, ctx.received_at, ctx.skew_tolerance_ms, ctx.max_skew_ms);
    let mut attributes = BTreeMap::new();
    for (k, v) in wire.attributes.unwrap_or_default() {
        let value: Cow<'a, str> = if v.get().starts_with('"') {
            serde_json::from_str::<Cow<'a, str>>(v.get())
                .map_err(|e| ("invalid_field", format!("attributes.{k}: {e}")))?
        } else if v.get().starts_with('{') || v.get().starts_with('[') {
            return Err(("invalid_field", format!("attributes.{k}: must be a string, number or boolean")));
        } else {
            Cow::Borrowed(v.get())
        };
        attributes.insert(k, value);
    }
    let session_id = format!("log:{}", wire.service);
    let (event_id, event_id_derived) = match wire.event_id {
        Some(id) => (client_event_id(id)?, false),
        None => (Cow::Owned(derived_event_id(ctx.project_id, &session_id, text)), true),
    };
    let mut event = RawEvent {
        project_id: Cow::Borrowed(ctx.project_id),
        session_id: Cow::Owned(session_id),
        event_id,
        event_id_derived,
        event_type: Cow::Borrowed("log"),
        timestamp,
        client_timestamp: ts,
        received_at: ctx.received_at,
        clock_skew_ms,
        timestamp_clamped,
        log: Some(LogLine { service: wire.service, level: Cow::Borrowed(level), message: wire.message, attributes }),
        metadata: Cow::Borrowed("{}"),
        context: ctx.context.clone(),
        ..RawEvent::default()
    };
    check_fields(&mut event).map_err(|m| ("invalid_field", m))?;
    scrub_event(&mut event);
    Ok(event)
}
