//! An incident change on `friction.incidents.v1` (schema family `incident`), keyed by incident id.
//! Each record is the incident's full state after the change, so the newest record per key is all a
//! consumer (the exporter, the warehouse) needs.

use serde::{Deserialize, Serialize};

use crate::record::Record;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentChange {
    pub id: String,
    pub project_id: String,
    pub fingerprint: String,
    pub kind: String,
    pub labels: Vec<String>,
    pub title: String,
    pub route_template: String,
    pub element_key: String,
    pub status: String,
    pub previous_status: Option<String>,
    pub change: String,
    pub severity: f64,
    pub priority: String,
    pub occurrences: i64,
    pub sessions: i64,
    pub users: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    pub releases: Vec<String>,
    pub latest_release: Option<String>,
    pub generation: i32,
    pub version: i64,
    pub changed_at_ms: i64,
    pub samples: Vec<EvidenceSample>,
}

/// One evidence sample kept with an incident: a signal that counted, with its evidence as JSON.
/// The same type is stored with the incident (`friction-store`, as camelCase JSON) and published
/// in this record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSample {
    pub signal_id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub release: Option<String>,
    pub url: Option<String>,
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The signal's evidence (rule, thresholds, event ids, measurements, suppressions), JSON text.
    pub evidence_json: String,
}

impl Record for IncidentChange {
    const FAMILY: &'static str = "incident";
}
