//! A frustration signal on `friction.signals.v1` (schema family `signal`), keyed by its incident
//! fingerprint so one incident is counted by one consumer.
//!
//! Since v2 one record stands for one episode (docs/architecture.md §4): `kind`, `label` and `fingerprint` are
//! the primary member's, `labels` lists every member's label and `members` keeps each merged
//! signal's own evidence summary. v1 records decode with both empty.
//!
//! Since v3 a record is one version of its signal (docs/architecture.md §4 "Time: decide early,
//! settle later"): the detector publishes an episode as soon as it is decided and republishes the
//! same `id` with a higher `version` when later events change it, or with `retracted: true` when
//! they contradict it. v1 and v2 records decode as version 1, not retracted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::Record;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalRecord {
    pub id: String,
    pub project_id: String,
    pub fingerprint: String,
    pub kind: String,
    pub unresponsive: bool,
    pub label: String,
    pub session_id: String,
    pub tab_id: Option<String>,
    pub view_id: String,
    pub route_template: String,
    pub element_key: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub user_id: Option<String>,
    pub release: Option<String>,
    pub url: Option<String>,
    pub episode_id: Option<String>,
    /// Every label of the episode, most important first; empty in v1 records.
    #[serde(default)]
    pub labels: Vec<String>,
    pub evidence: EvidenceRecord,
    /// The signals merged into this one (primary included), in start order; empty in v1 records.
    #[serde(default)]
    pub members: Vec<EpisodeMember>,
    /// Which publication of this id this is: 1 first, higher for each correction (v3; older
    /// records decode as 1). Consumers apply a version only if it is newer than the one they hold.
    #[serde(default = "first_version")]
    pub version: i64,
    /// Later events contradicted this signal: it counts nowhere (v3; older records decode as
    /// false). The other fields repeat the last published contents, fingerprint included.
    #[serde(default)]
    pub retracted: bool,
}

fn first_version() -> i64 {
    1
}

impl Default for SignalRecord {
    /// Empty, version 1, live.
    fn default() -> Self {
        SignalRecord {
            id: String::new(),
            project_id: String::new(),
            fingerprint: String::new(),
            kind: String::new(),
            unresponsive: false,
            label: String::new(),
            session_id: String::new(),
            tab_id: None,
            view_id: String::new(),
            route_template: String::new(),
            element_key: String::new(),
            start_ms: 0,
            end_ms: 0,
            decided_at_ms: None,
            user_id: None,
            release: None,
            url: None,
            episode_id: None,
            labels: Vec::new(),
            evidence: EvidenceRecord::default(),
            members: Vec::new(),
            version: first_version(),
            retracted: false,
        }
    }
}

/// One signal merged into an episode record: enough to explain it without the raw events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeMember {
    pub id: String,
    pub kind: String,
    pub unresponsive: bool,
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub rule: String,
    pub rule_version: i32,
    pub event_ids: Vec<String>,
    pub measurements: BTreeMap<String, f64>,
    pub details: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRecord {
    pub rule: String,
    pub rule_version: i32,
    pub thresholds: BTreeMap<String, f64>,
    pub event_ids: Vec<String>,
    pub measurements: BTreeMap<String, f64>,
    pub details: BTreeMap<String, String>,
    pub suppressions_checked: Vec<String>,
    pub liveness_json: String,
}

impl Record for SignalRecord {
    const FAMILY: &'static str = "signal";
}

/// Every kind a signal record carries (docs/architecture.md §3), in the rules' declaration order.
/// The rules' internal `undetermined` never becomes a signal record.
pub const KINDS: [&str; 9] = [
    "rage_click",
    "dead_click",
    "slow_click",
    "disabled_click",
    "error_click",
    "u_turn",
    "form_abandon",
    "validation_loop",
    "server_error",
];
