//! Signal v2 (episodes): one record per episode with every label and member; v1 records, written
//! by a detector that published each member separately, still decode (with both lists empty).

use std::collections::BTreeMap;

use apache_avro::types::Value;
use friction_schemas::registry::Registry;
use friction_schemas::{decode, encode_to_vec, EpisodeMember, EvidenceRecord, SignalRecord};

fn episode_record() -> SignalRecord {
    SignalRecord {
        id: "sig-1".into(),
        project_id: "p1".into(),
        fingerprint: "f".repeat(32),
        kind: "rage_click".into(),
        unresponsive: true,
        label: "rage_click:unresponsive".into(),
        session_id: "s1#0".into(),
        view_id: "s1#0:v0".into(),
        route_template: "/checkout".into(),
        element_key: "pay".into(),
        start_ms: 1_000,
        end_ms: 8_000,
        episode_id: Some("ep-1".into()),
        labels: vec!["rage_click:unresponsive".into(), "dead_click".into()],
        evidence: EvidenceRecord {
            rule: "rage_click".into(),
            rule_version: 1,
            event_ids: vec!["e1".into(), "e2".into(), "e3".into()],
            liveness_json: "[]".into(),
            ..EvidenceRecord::default()
        },
        members: vec![
            EpisodeMember {
                id: "sig-1".into(),
                kind: "rage_click".into(),
                unresponsive: true,
                label: "rage_click:unresponsive".into(),
                start_ms: 1_000,
                end_ms: 1_600,
                rule: "rage_click".into(),
                rule_version: 1,
                event_ids: vec!["e1".into(), "e2".into(), "e3".into()],
                measurements: BTreeMap::from([("clicks".to_string(), 3.0)]),
                details: BTreeMap::new(),
            },
            EpisodeMember {
                id: "sig-2".into(),
                kind: "dead_click".into(),
                label: "dead_click".into(),
                start_ms: 1_000,
                end_ms: 8_000,
                rule: "dead_click".into(),
                rule_version: 1,
                event_ids: vec!["e1".into()],
                ..EpisodeMember::default()
            },
        ],
        ..SignalRecord::default()
    }
}

#[test]
fn an_episode_record_round_trips_with_its_labels_and_members() {
    let r = episode_record();
    let bytes = encode_to_vec(&r).expect("encode");
    let latest = Registry::get().latest("signal").expect("signal family");
    assert_eq!(latest.version, 3);
    assert_eq!(bytes[2..10], latest.fingerprint, "written with the newest version");
    assert_eq!(decode::<SignalRecord>(&bytes).expect("decode"), r);
}

#[test]
fn a_v1_record_decodes_with_empty_labels_and_members() {
    let r = episode_record();
    let registry = Registry::get();
    let v1 = &registry.family("signal")[0];
    assert_eq!(v1.version, 1);
    // What a v1 writer put on the wire: the same record without the v2 fields.
    let Value::Record(fields) = apache_avro::to_value(&r).expect("to value") else { panic!("not a record") };
    let fields: Vec<(String, Value)> = fields.into_iter().filter(|(n, _)| n != "labels" && n != "members").collect();
    let value = Value::Record(fields).resolve(&v1.schema).expect("valid v1 datum");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v1.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v1.schema, value).expect("v1 encode"));

    let got = decode::<SignalRecord>(&bytes).expect("v1 data decodes");
    assert!(got.labels.is_empty() && got.members.is_empty());
    assert_eq!(got, SignalRecord { labels: vec![], members: vec![], ..r });
}

#[test]
fn a_v2_record_decodes_as_version_one_not_retracted() {
    let r = SignalRecord { version: 7, retracted: true, ..episode_record() };
    let registry = Registry::get();
    let v2 = &registry.family("signal")[1];
    assert_eq!(v2.version, 2);
    // What a v2 writer put on the wire: the same record without the v3 fields.
    let Value::Record(fields) = apache_avro::to_value(&r).expect("to value") else { panic!("not a record") };
    let fields: Vec<(String, Value)> = fields.into_iter().filter(|(n, _)| n != "version" && n != "retracted").collect();
    let value = Value::Record(fields).resolve(&v2.schema).expect("valid v2 datum");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v2.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v2.schema, value).expect("v2 encode"));

    let got = decode::<SignalRecord>(&bytes).expect("v2 data decodes");
    assert_eq!(got, SignalRecord { version: 1, retracted: false, ..r });
}
