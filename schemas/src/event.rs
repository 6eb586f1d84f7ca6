//! The raw event envelope on `friction.events.v1` (schema family `event`).
//!
//! Strings are `Cow` so the gateway can encode straight from the request body it parsed, without
//! copying each field; decoded records own their strings (`RawEvent<'static>`). The hand-written
//! decoder of the version every stage reads is at the end ([`hand`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fast;
use crate::record::{CodecError, Record};

type Str<'a> = Cow<'a, str>;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent<'a> {
    pub project_id: Str<'a>,
    pub session_id: Str<'a>,
    pub event_id: Str<'a>,
    pub event_id_derived: bool,
    pub event_type: Str<'a>,
    pub timestamp: i64,
    pub client_timestamp: i64,
    pub received_at: i64,
    pub sent_at: Option<i64>,
    pub clock_skew_ms: i64,
    pub timestamp_clamped: bool,
    pub user_id: Option<Str<'a>>,
    pub tab_id: Option<Str<'a>>,
    pub view_id: Option<Str<'a>>,
    pub url: Option<Str<'a>>,
    pub route: Option<Str<'a>>,
    pub release: Option<Str<'a>>,
    pub target: Option<Target<'a>>,
    pub click: Option<Click<'a>>,
    pub navigation: Option<Navigation<'a>>,
    pub mutation: Option<Mutation>,
    pub network: Option<Network<'a>>,
    pub error: Option<ErrorInfo<'a>>,
    pub scroll: Option<Scroll>,
    pub selection: Option<Selection>,
    pub visibility: Option<Visibility<'a>>,
    pub input: Option<Input<'a>>,
    pub submit: Option<Submit<'a>>,
    pub custom: Option<Custom<'a>>,
    pub log: Option<LogLine<'a>>,
    pub metadata: Str<'a>,
    pub context: Context<'a>,
}

impl Record for RawEvent<'_> {
    const FAMILY: &'static str = "event";

    fn decode_fast(version: u32, datum: &[u8]) -> Option<Result<Self, CodecError>> {
        (version == hand::VERSION).then(|| fast::decode(datum, hand::raw_event))
    }
}

impl RawEvent<'_> {
    /// The Kafka key of this event: `project_id:session_id`, so one session stays on one partition.
    pub fn key(&self) -> String {
        let mut k = String::with_capacity(self.project_id.len() + 1 + self.session_id.len());
        k.push_str(&self.project_id);
        k.push(':');
        k.push_str(&self.session_id);
        k
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target<'a> {
    pub r#type: Option<Str<'a>>,
    pub selector: Option<Str<'a>>,
    pub key: Option<Str<'a>>,
    pub tag: Option<Str<'a>>,
    pub role: Option<Str<'a>>,
    pub text: Option<Str<'a>>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub interactive: Option<bool>,
    pub disabled: Option<bool>,
    pub href: Option<Str<'a>>,
    pub new_tab: Option<bool>,
    pub ignore: Vec<Str<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Click<'a> {
    pub button: i32,
    pub modifiers: Vec<Str<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Navigation<'a> {
    pub from: Option<Str<'a>>,
    pub to: Option<Str<'a>>,
    pub kind: Str<'a>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    pub count: i64,
    pub near_target: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network<'a> {
    pub method: Str<'a>,
    pub url: Str<'a>,
    pub status: Option<i32>,
    pub duration_ms: Option<f64>,
    pub initiator: Option<Str<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo<'a> {
    pub r#type: Option<Str<'a>>,
    pub message: Str<'a>,
    pub stack: Option<Str<'a>>,
    pub fingerprint: Option<Str<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scroll {
    pub dy: f64,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub length: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visibility<'a> {
    pub state: Str<'a>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input<'a> {
    pub field_key: Str<'a>,
    pub length_bucket: Option<Str<'a>>,
    pub invalid: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submit<'a> {
    pub form_key: Str<'a>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Custom<'a> {
    pub name: Str<'a>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine<'a> {
    pub service: Str<'a>,
    pub level: Str<'a>,
    pub message: Str<'a>,
    pub attributes: BTreeMap<Str<'a>, Str<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context<'a> {
    pub ip: Option<Str<'a>>,
    pub user_agent: Option<Str<'a>>,
    pub browser: Option<Str<'a>>,
    pub os: Option<Str<'a>>,
    pub device: Option<Str<'a>>,
}

/// The hand-written decoder of `event` v1 (why: `crate::fast`), field by field in schema order.
pub(crate) mod hand {
    use crate::direct::{Input, Result};
    use crate::fast::{field, opt_string, optional, string, string_map, strings};

    use super::{
        Click, Context, Custom, ErrorInfo, Input as InputEvent, LogLine, Mutation, Navigation, Network, RawEvent,
        Scroll, Selection, Submit, Target, Visibility,
    };

    /// The `event` schema version [`raw_event`] reads.
    pub(crate) const VERSION: u32 = 1;

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
}
