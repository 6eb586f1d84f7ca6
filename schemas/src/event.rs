//! The raw event envelope on `friction.events.v1` (schema family `event`).
//!
//! Strings are `Cow` so the gateway can encode straight from the request body it parsed, without
//! copying each field; decoded records own their strings (`RawEvent<'static>`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::Record;

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

    fn decode_fast(version: u32, datum: &[u8]) -> Option<Result<Self, crate::CodecError>> {
        (version == crate::fast::EVENT_VERSION).then(|| crate::fast::decode(datum, crate::fast::raw_event))
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
