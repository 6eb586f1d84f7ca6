//! Hand-written decoders for the records every stage reads per event: `event` v1 ([`RawEvent`])
//! and `sessionized` v1 ([`Sessionized`]).
//!
//! The schema-walking decoder ([`crate::direct`]) hands every field to serde by name: a key, a
//! field-name match, an `Option` slot per field and a struct move at the end, ~30 ns a field and
//! ~1.2 µs for a 250-byte sessionized event, as much as the detector's rules and state together.
//! These read the fields in schema order straight into the structs. They are used only for the
//! schema version they were written for (see [`crate::Record::decode_fast`]); any other writer
//! version goes through the schema tree. The decoding tests compare them with the schema tree and
//! with apache-avro on arbitrary, cut and mutated messages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::direct::{DecodeError, Input, Result};
use crate::event::{
    Click, Context, Custom, ErrorInfo, Input as InputEvent, LogLine, Mutation, Navigation, Network, RawEvent, Scroll,
    Selection, Submit, Target, Visibility,
};
use crate::sessionized::Sessionized;

/// The `event` schema version [`raw_event`] reads.
pub(crate) const EVENT_VERSION: u32 = 1;
/// The `sessionized` schema version [`sessionized`] reads.
pub(crate) const SESSIONIZED_VERSION: u32 = 1;

type Str = Cow<'static, str>;

/// Names the field an error happened in, as the schema-walking decoder does.
fn field<T>(name: &'static str, value: Result<T>) -> Result<T> {
    value.map_err(|e| e.in_field(name))
}

fn string(i: &mut Input<'_>) -> Result<Str> {
    Ok(Cow::Owned(i.str()?.to_owned()))
}

/// A `["null", X]` union.
fn optional<'de, T>(i: &mut Input<'de>, value: impl FnOnce(&mut Input<'de>) -> Result<T>) -> Result<Option<T>> {
    match i.union_index(2)? {
        0 => Ok(None),
        _ => value(i).map(Some),
    }
}

fn opt_string(i: &mut Input<'_>) -> Result<Option<Str>> {
    optional(i, string)
}

/// An array of strings, in blocks.
fn strings(i: &mut Input<'_>) -> Result<Vec<Str>> {
    let mut out = Vec::new();
    loop {
        let count = i.block_count("array block count")?;
        if count == 0 {
            return Ok(out);
        }
        for _ in 0..count {
            let index = out.len();
            out.push(string(i).map_err(|e: DecodeError| e.at_index(index))?);
        }
    }
}

/// A map of strings, in blocks (a repeated key keeps its last value).
fn string_map(i: &mut Input<'_>) -> Result<BTreeMap<Str, Str>> {
    let mut out = BTreeMap::new();
    loop {
        let count = i.block_count("map block count")?;
        if count == 0 {
            return Ok(out);
        }
        for _ in 0..count {
            let key = i.str()?;
            let value = string(i).map_err(|e| e.in_field(key))?;
            out.insert(Cow::Owned(key.to_owned()), value);
        }
    }
}

fn target(i: &mut Input<'_>) -> Result<Target<'static>> {
    Ok(Target {
        r#type: field("type", opt_string(i))?,
        selector: field("selector", opt_string(i))?,
        key: field("key", opt_string(i))?,
        tag: field("tag", opt_string(i))?,
        role: field("role", opt_string(i))?,
        text: field("text", opt_string(i))?,
        x: field("x", optional(i, Input::f64))?,
        y: field("y", optional(i, Input::f64))?,
        interactive: field("interactive", optional(i, Input::boolean))?,
        disabled: field("disabled", optional(i, Input::boolean))?,
        href: field("href", opt_string(i))?,
        new_tab: field("newTab", optional(i, Input::boolean))?,
        ignore: field("ignore", strings(i))?,
    })
}

fn click(i: &mut Input<'_>) -> Result<Click<'static>> {
    Ok(Click { button: field("button", i.int("int"))?, modifiers: field("modifiers", strings(i))? })
}

fn navigation(i: &mut Input<'_>) -> Result<Navigation<'static>> {
    Ok(Navigation {
        from: field("from", opt_string(i))?,
        to: field("to", opt_string(i))?,
        kind: field("kind", string(i))?,
    })
}

fn mutation(i: &mut Input<'_>) -> Result<Mutation> {
    Ok(Mutation { count: field("count", i.long("long"))?, near_target: field("nearTarget", i.boolean())? })
}

fn network(i: &mut Input<'_>) -> Result<Network<'static>> {
    Ok(Network {
        method: field("method", string(i))?,
        url: field("url", string(i))?,
        status: field("status", optional(i, |i| i.int("int")))?,
        duration_ms: field("durationMs", optional(i, Input::f64))?,
        initiator: field("initiator", opt_string(i))?,
    })
}

fn error(i: &mut Input<'_>) -> Result<ErrorInfo<'static>> {
    Ok(ErrorInfo {
        r#type: field("type", opt_string(i))?,
        message: field("message", string(i))?,
        stack: field("stack", opt_string(i))?,
        fingerprint: field("fingerprint", opt_string(i))?,
    })
}

fn scroll(i: &mut Input<'_>) -> Result<Scroll> {
    Ok(Scroll { dy: field("dy", i.f64())?, y: field("y", i.f64())? })
}

fn input(i: &mut Input<'_>) -> Result<InputEvent<'static>> {
    Ok(InputEvent {
        field_key: field("fieldKey", string(i))?,
        length_bucket: field("lengthBucket", opt_string(i))?,
        invalid: field("invalid", i.boolean())?,
    })
}

fn log(i: &mut Input<'_>) -> Result<LogLine<'static>> {
    Ok(LogLine {
        service: field("service", string(i))?,
        level: field("level", string(i))?,
        message: field("message", string(i))?,
        attributes: field("attributes", string_map(i))?,
    })
}

fn context(i: &mut Input<'_>) -> Result<Context<'static>> {
    Ok(Context {
        ip: field("ip", opt_string(i))?,
        user_agent: field("userAgent", opt_string(i))?,
        browser: field("browser", opt_string(i))?,
        os: field("os", opt_string(i))?,
        device: field("device", opt_string(i))?,
    })
}

/// One `event` v1 datum.
pub(crate) fn raw_event(i: &mut Input<'_>) -> Result<RawEvent<'static>> {
    Ok(RawEvent {
        project_id: field("projectId", string(i))?,
        session_id: field("sessionId", string(i))?,
        event_id: field("eventId", string(i))?,
        event_id_derived: field("eventIdDerived", i.boolean())?,
        event_type: field("eventType", string(i))?,
        timestamp: field("timestamp", i.long("long"))?,
        client_timestamp: field("clientTimestamp", i.long("long"))?,
        received_at: field("receivedAt", i.long("long"))?,
        sent_at: field("sentAt", optional(i, |i| i.long("long")))?,
        clock_skew_ms: field("clockSkewMs", i.long("long"))?,
        timestamp_clamped: field("timestampClamped", i.boolean())?,
        user_id: field("userId", opt_string(i))?,
        tab_id: field("tabId", opt_string(i))?,
        view_id: field("viewId", opt_string(i))?,
        url: field("url", opt_string(i))?,
        route: field("route", opt_string(i))?,
        release: field("release", opt_string(i))?,
        target: field("target", optional(i, target))?,
        click: field("click", optional(i, click))?,
        navigation: field("navigation", optional(i, navigation))?,
        mutation: field("mutation", optional(i, mutation))?,
        network: field("network", optional(i, network))?,
        error: field("error", optional(i, error))?,
        scroll: field("scroll", optional(i, scroll))?,
        selection: field("selection", optional(i, |i| Ok(Selection { length: field("length", i.long("long"))? })))?,
        visibility: field("visibility", optional(i, |i| Ok(Visibility { state: field("state", string(i))? })))?,
        input: field("input", optional(i, input))?,
        submit: field("submit", optional(i, |i| Ok(Submit { form_key: field("formKey", string(i))? })))?,
        custom: field("custom", optional(i, |i| Ok(Custom { name: field("name", string(i))? })))?,
        log: field("log", optional(i, log))?,
        metadata: field("metadata", string(i))?,
        context: field("context", context(i))?,
    })
}

/// One `sessionized` v1 datum.
pub(crate) fn sessionized(i: &mut Input<'_>) -> Result<Sessionized<'static>> {
    Ok(Sessionized {
        event: field("event", raw_event(i))?,
        session_key: field("sessionKey", string(i))?,
        seq: field("seq", i.long("long"))?,
        view_id: field("viewId", string(i))?,
        view_index: field("viewIndex", i.int("int"))?,
        late: field("late", i.boolean())?,
        session_start: field("sessionStart", i.long("long"))?,
    })
}

/// Runs `read` over `datum` (bytes after the datum are ignored, as everywhere).
pub(crate) fn decode<T>(datum: &[u8], read: fn(&mut Input<'_>) -> Result<T>) -> Result<T, crate::CodecError> {
    read(&mut Input { data: datum }).map_err(|e| crate::CodecError::Decode(e.to_string()))
}
