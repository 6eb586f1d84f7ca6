//! The Avro seeds of the corpus (`friction-fuzz seed` writes them): realistic records of every
//! family, encoded with every embedded version of it, each as the `avro_<family>` targets read
//! them (a version byte, then the datum). The events are what the gateway makes of the JSON seeds of
//! `ingest_events` and `ingest_logs`, so the Avro seeds follow the ingest contract.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use apache_avro::types::Value;
use apache_avro::Schema;
use friction_gateway::validate::{validate_events, validate_logs};
use friction_schemas::registry::{Registry, SchemaVersion};
use friction_schemas::{
    ApiKeyRecord, EpisodeMember, EvidenceRecord, EvidenceSample, IncidentChange, RawEvent, Record, SessionSummary,
    Sessionized, SignalRecord,
};
use serde::Serialize;

const EVENTS: &[u8] = include_bytes!("../corpus/ingest_events/seed-every-type.json");
const LOGS: &[u8] = include_bytes!("../corpus/ingest_logs/seed-levels.json");

/// One seed: the target, a file name (without the `seed-` prefix), the bytes.
pub type Seed = (&'static str, String, Vec<u8>);

/// The datum of `record` as written with `version` of its family: the fields that version has
/// (a newer record's extra fields left out), resolved against its schema. `None` when the record
/// cannot be written with that version.
fn datum<T: Serialize>(record: &T, version: &SchemaVersion) -> Option<Vec<u8>> {
    let Ok(Value::Record(fields)) = apache_avro::to_value(record) else { return None };
    let Schema::Record(schema) = &version.schema else { return None };
    let names: HashSet<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let fields = fields.into_iter().filter(|(name, _)| names.contains(name.as_str())).collect();
    let value = Value::Record(fields).resolve(&version.schema).ok()?;
    apache_avro::to_avro_datum(&version.schema, value).ok()
}

/// `record` in every version of its family that can hold it.
fn every_version<T: Record>(target: &'static str, what: &str, record: &T, out: &mut Vec<Seed>) {
    for (index, version) in Registry::get().family(T::FAMILY).into_iter().enumerate() {
        if let Some(datum) = datum(record, version) {
            let mut bytes = vec![index as u8];
            bytes.extend(datum);
            out.push((target, format!("{what}-v{}", version.version), bytes));
        }
    }
}

fn events() -> Vec<RawEvent<'static>> {
    let ctx = crate::targets::ingest::context();
    let mut out: Vec<RawEvent<'static>> = Vec::new();
    for (body, logs) in [(EVENTS, false), (LOGS, true)] {
        let validated = if logs { validate_logs(body, &ctx) } else { validate_events(body, &ctx) };
        if let Ok(v) = validated {
            // Owned: round-trip through the codec.
            out.extend(v.accepted.iter().filter_map(|e| {
                friction_schemas::encode_to_vec(e).ok().and_then(|b| friction_schemas::decode(&b).ok())
            }));
        }
    }
    out
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn evidence() -> EvidenceRecord {
    EvidenceRecord {
        rule: "rage_click".into(),
        rule_version: 3,
        thresholds: BTreeMap::from([("rage_min_clicks".into(), 3.0), ("rage_radius_px".into(), 24.5)]),
        event_ids: strings(&["e1", "e2", "e3"]),
        measurements: BTreeMap::from([("clicks".into(), 4.0), ("span_ms".into(), 900.0)]),
        details: BTreeMap::from([("element".into(), "button#pay".into())]),
        suppressions_checked: strings(&["ignore_selectors", "stepper"]),
        liveness_json: r#"{"mutations":0,"requests":0}"#.into(),
    }
}

fn signal() -> SignalRecord {
    SignalRecord {
        id: "sig-1".into(),
        project_id: "p-fuzz".into(),
        fingerprint: "fp-1".into(),
        kind: "rage_click".into(),
        unresponsive: true,
        label: "Rage click on Pay".into(),
        session_id: "s-1".into(),
        tab_id: Some("t-1".into()),
        view_id: "v-1".into(),
        route_template: "/checkout".into(),
        element_key: "pay".into(),
        start_ms: 1_764_999_991_000,
        end_ms: 1_764_999_991_900,
        decided_at_ms: Some(1_764_999_992_000),
        user_id: Some("u-1".into()),
        release: Some("1.4.0".into()),
        url: Some("https://shop.example/checkout".into()),
        episode_id: Some("ep-1".into()),
        labels: strings(&["rage_click", "dead_click"]),
        evidence: evidence(),
        members: vec![EpisodeMember {
            id: "sig-0".into(),
            kind: "dead_click".into(),
            unresponsive: false,
            label: "Dead click".into(),
            start_ms: 1,
            end_ms: 2,
            rule: "dead_click".into(),
            rule_version: 2,
            event_ids: strings(&["e0"]),
            measurements: BTreeMap::from([("wait_ms".into(), 7000.0)]),
            details: BTreeMap::new(),
        }],
        version: 2,
        retracted: false,
    }
}

/// Every Avro seed.
pub fn avro() -> Vec<Seed> {
    let mut out = Vec::new();
    for (i, event) in events().into_iter().enumerate() {
        let what = format!("{}-{i}", event.event_type);
        every_version("avro_event", &what, &event, &mut out);
        let sessionized = Sessionized {
            session_key: Cow::Owned(format!("{}#{}", event.session_id, event.timestamp)),
            seq: i as i64,
            view_id: Cow::Owned(format!("{}:v0", event.session_id)),
            view_index: 0,
            late: i % 3 == 0,
            session_start: event.timestamp,
            reordered: i % 2 == 0,
            event,
        };
        every_version("avro_sessionized", &what, &sessionized, &mut out);
    }
    let key = ApiKeyRecord {
        key_hash: friction_schemas::hash_api_key("frk_fuzz"),
        key_id: "k-1".into(),
        project_id: "p-fuzz".into(),
        project_name: "shop".into(),
        revoked: false,
        allowed_origins: strings(&["https://shop.example", "*"]),
        rate_limit_per_sec: Some(250.0),
        updated_at: 1_764_999_990_000,
        mac: Some("00".repeat(32)),
    };
    every_version("avro_apikey", "key", &key, &mut out);
    every_version("avro_apikey", "revoked", &ApiKeyRecord { revoked: true, mac: None, ..key }, &mut out);
    let session = SessionSummary {
        project_id: "p-fuzz".into(),
        session_id: "s-1".into(),
        session_key: "s-1#1764999990000".into(),
        start: 1_764_999_990_000,
        end: 1_764_999_992_000,
        duration_ms: 2000,
        events: 12,
        views: 1,
        clicks: 4,
        errors: 1,
        routes: strings(&["/cart", "/checkout"]),
        routes_truncated: false,
        release: Some("1.4.0".into()),
        user_id: Some("u-1".into()),
        close_reason: "inactivity".into(),
        late_events: 0,
        duplicates_dropped: 1,
    };
    every_version("avro_session", "summary", &session, &mut out);
    every_version("avro_signal", "rage", &signal(), &mut out);
    every_version("avro_signal", "retracted", &SignalRecord { retracted: true, version: 3, ..signal() }, &mut out);
    let incident = IncidentChange {
        id: "inc-1".into(),
        project_id: "p-fuzz".into(),
        fingerprint: "fp-1".into(),
        kind: "rage_click".into(),
        labels: strings(&["rage_click"]),
        title: "Rage clicks on Pay at /checkout".into(),
        route_template: "/checkout".into(),
        element_key: "pay".into(),
        status: "confirmed".into(),
        previous_status: Some("candidate".into()),
        change: "confirmed".into(),
        severity: 0.82,
        priority: "high".into(),
        occurrences: 7,
        sessions: 3,
        users: 3,
        first_seen_ms: 1_764_999_991_000,
        last_seen_ms: 1_764_999_999_000,
        confirmed_at_ms: Some(1_764_999_999_500),
        releases: strings(&["1.4.0"]),
        latest_release: Some("1.4.0".into()),
        generation: 1,
        version: 4,
        changed_at_ms: 1_764_999_999_500,
        samples: vec![EvidenceSample {
            signal_id: "sig-1".into(),
            session_id: "s-1".into(),
            user_id: Some("u-1".into()),
            release: None,
            url: Some("https://shop.example/checkout".into()),
            label: "Rage click on Pay".into(),
            start_ms: 1,
            end_ms: 2,
            evidence_json: r#"{"rule":"rage_click"}"#.into(),
        }],
    };
    every_version("avro_incident", "confirmed", &incident, &mut out);
    out
}
