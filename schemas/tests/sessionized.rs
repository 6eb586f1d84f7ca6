use apache_avro::types::Value;
use apache_avro::Schema;
use friction_schemas::event::{Navigation, Target};
use friction_schemas::registry::Registry;
use friction_schemas::sessionized::{CLOSE_INACTIVITY, CLOSE_MAX_DURATION};
use friction_schemas::{decode, encode_to_vec, CodecError, RawEvent, SessionSummary, Sessionized};

fn event() -> RawEvent<'static> {
    RawEvent {
        project_id: "p1".into(),
        session_id: "s1".into(),
        event_id: "e-1".into(),
        event_type: "pageview".into(),
        timestamp: 1_705_312_800_000,
        client_timestamp: 1_705_312_800_000,
        received_at: 1_705_312_800_100,
        view_id: Some("client-view".into()),
        route: Some("/checkout".into()),
        navigation: Some(Navigation { from: Some("/cart".into()), to: Some("/checkout".into()), kind: "push".into() }),
        target: Some(Target { key: Some("k".into()), ..Target::default() }),
        metadata: "{}".into(),
        ..RawEvent::default()
    }
}

#[test]
fn sessionized_round_trips_with_its_own_fingerprint() {
    let record = Sessionized {
        event: event(),
        session_key: "s1#1705312800000".into(),
        seq: 7,
        view_id: "client-view".into(),
        view_index: 2,
        late: true,
        session_start: 1_705_312_700_000,
        reordered: true,
    };
    let bytes = encode_to_vec(&record).expect("encode");
    let latest = Registry::get().latest("sessionized").expect("sessionized schema");
    assert_eq!(latest.version, 2);
    assert_eq!(&bytes[2..10], &latest.fingerprint);
    let back: Sessionized<'static> = decode(&bytes).expect("decode");
    assert_eq!(back, record);
    assert_eq!(back.key(), "p1:s1");
}

#[test]
fn summary_round_trips() {
    let summary = SessionSummary {
        project_id: "p1".into(),
        session_id: "log:api".into(),
        session_key: "log:api#5".into(),
        start: 5,
        end: 65,
        duration_ms: 60,
        events: 3,
        views: 1,
        clicks: 1,
        errors: 2,
        routes: vec!["/a".into(), "/b".into()],
        routes_truncated: true,
        release: Some("1.2.3".into()),
        user_id: None,
        close_reason: CLOSE_MAX_DURATION.into(),
        late_events: 1,
        duplicates_dropped: 4,
    };
    let back: SessionSummary = decode(&encode_to_vec(&summary).expect("encode")).expect("decode");
    assert_eq!(back, summary);
    assert_eq!(back.key(), "p1:log:api");
    assert_ne!(CLOSE_INACTIVITY, CLOSE_MAX_DURATION);
}

#[test]
fn families_are_not_confused() {
    let summary = SessionSummary { close_reason: CLOSE_INACTIVITY.into(), ..SessionSummary::default() };
    let bytes = encode_to_vec(&summary).expect("encode");
    assert!(matches!(
        decode::<Sessionized>(&bytes),
        Err(CodecError::WrongFamily { found: "session", expected: "sessionized" })
    ));
    let raw = encode_to_vec(&event()).expect("encode");
    assert!(matches!(decode::<SessionSummary>(&raw), Err(CodecError::WrongFamily { .. })));
}

/// The `event` field is a copy of the event schema (embedded schemas are parsed one by one, so it
/// cannot reference `friction.v1.RawEvent` by name). The copy must not drift from the original.
#[test]
fn embedded_event_record_is_the_newest_event_schema() {
    let registry = Registry::get();
    let event = &registry.latest("event").expect("event").schema;
    let sessionized = &registry.latest("sessionized").expect("sessionized").schema;
    let Schema::Record(record) = sessionized else { panic!("sessionized is not a record") };
    let field = record.fields.iter().find(|f| f.name == "event").expect("event field");
    assert_eq!(field.schema.canonical_form(), event.canonical_form());
}

#[test]
fn every_summary_field_is_documented() {
    for family in ["session", "sessionized"] {
        let schema = &Registry::get().latest(family).expect("schema").schema;
        let Schema::Record(record) = schema else { panic!("{family} is not a record") };
        assert!(record.doc.is_some(), "{family} has no doc");
        let undocumented: Vec<_> = record
            .fields
            .iter()
            .filter(|f| f.doc.is_none() && !matches!(f.name.as_str(), "projectId"))
            .map(|f| f.name.clone())
            .collect();
        assert!(undocumented.is_empty(), "{family}: undocumented fields {undocumented:?}");
    }
}

/// A record written before `reordered` existed (v1) reads as not reordered, everything else as
/// written.
#[test]
fn a_v1_record_decodes_as_not_reordered() {
    let record = Sessionized {
        event: event(),
        session_key: "s1#1705312800000".into(),
        seq: 3,
        view_id: "client-view".into(),
        view_index: 1,
        late: true,
        session_start: 1_705_312_800_000,
        reordered: true,
    };
    let registry = Registry::get();
    let v1 = &registry.family("sessionized")[0];
    assert_eq!(v1.version, 1);
    // What a v1 writer put on the wire: the same record without `reordered`.
    let Value::Record(fields) = apache_avro::to_value(&record).expect("to value") else { panic!("not a record") };
    let fields: Vec<(String, Value)> = fields.into_iter().filter(|(n, _)| n != "reordered").collect();
    let value = Value::Record(fields).resolve(&v1.schema).expect("valid v1 datum");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v1.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v1.schema, value).expect("v1 encode"));

    let got: Sessionized<'static> = decode(&bytes).expect("v1 data decodes");
    assert_eq!(got, Sessionized { reordered: false, ..record });
}
