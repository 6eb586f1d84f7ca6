use std::borrow::Cow;
use std::collections::BTreeMap;

use apache_avro::Schema;
use friction_schemas::event::{Click, Context, LogLine, Network, Target};
use friction_schemas::registry::{check_compatibility, Registry};
use friction_schemas::{decode, encode_to_vec, hash_api_key, ApiKeyRecord, CodecError, RawEvent};
use proptest::prelude::*;

fn full_event() -> RawEvent<'static> {
    RawEvent {
        project_id: "p1".into(),
        session_id: "s1".into(),
        event_id: "0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f2a11".into(),
        event_type: "click".into(),
        timestamp: 1_705_312_800_000,
        client_timestamp: 1_705_312_799_000,
        received_at: 1_705_312_801_000,
        sent_at: Some(1_705_312_800_500),
        clock_skew_ms: 500,
        user_id: Some("u1".into()),
        route: Some("/checkout".into()),
        target: Some(Target {
            r#type: Some("button".into()),
            key: Some("checkout-pay".into()),
            x: Some(10.5),
            disabled: Some(false),
            ignore: vec!["rage".into()],
            ..Target::default()
        }),
        click: Some(Click { button: 0, modifiers: vec!["shift".into()] }),
        network: Some(Network {
            method: "POST".into(),
            url: "/api/pay".into(),
            status: None,
            duration_ms: Some(12.0),
            initiator: None,
        }),
        log: Some(LogLine {
            service: "api".into(),
            level: "error".into(),
            message: "boom".into(),
            attributes: BTreeMap::from([(Cow::from("k"), Cow::from("v"))]),
        }),
        metadata: r#"{"a":1}"#.into(),
        context: Context { ip: Some("10.1.2.0".into()), browser: Some("Chrome".into()), ..Context::default() },
        ..RawEvent::default()
    }
}

#[test]
fn event_round_trips_with_single_object_header() {
    let event = full_event();
    let bytes = encode_to_vec(&event).expect("encode");
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    let latest = Registry::get().latest("event").expect("event schema");
    assert_eq!(&bytes[2..10], &latest.fingerprint);
    let back: RawEvent<'static> = decode(&bytes).expect("decode");
    assert_eq!(back, event);
}

#[test]
fn apikey_round_trips_and_hash_is_sha256_hex() {
    let rec = ApiKeyRecord {
        key_hash: hash_api_key("frk_secret"),
        key_id: "k1".into(),
        project_id: "p1".into(),
        project_name: "default".into(),
        revoked: true,
        allowed_origins: vec!["https://shop.example".into()],
        rate_limit_per_sec: Some(100.0),
        updated_at: 42,
        mac: None,
    };
    assert_eq!(rec.key_hash.len(), 64);
    assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let back: ApiKeyRecord = decode(&encode_to_vec(&rec).expect("encode")).expect("decode");
    assert_eq!(back, rec);
}

/// apikey v2 adds `mac`: records a v1 publisher wrote still decode (unsigned), and a signed v2
/// record round-trips with its MAC, which still verifies after the trip.
#[test]
fn apikey_v1_records_decode_as_unsigned_and_v2_keeps_the_mac() {
    let registry = Registry::get();
    let versions = registry.family("apikey");
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2]);
    let v1 = versions[0];
    let mut rec = ApiKeyRecord {
        key_hash: hash_api_key("frk_secret"),
        key_id: "k1".into(),
        project_id: "p1".into(),
        project_name: "default".into(),
        revoked: false,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at: 42,
        mac: None,
    };
    let apache_avro::types::Value::Record(fields) = apache_avro::to_value(&rec).expect("to value") else {
        panic!("not a record")
    };
    let fields: Vec<_> = fields.into_iter().filter(|(n, _)| n != "mac").collect();
    let value = apache_avro::types::Value::Record(fields).resolve(&v1.schema).expect("valid v1 datum");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v1.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v1.schema, value).expect("v1 encode"));
    assert_eq!(decode::<ApiKeyRecord>(&bytes).expect("v1 decodes"), rec);

    friction_schemas::apikey::sign(&mut rec, b"a publisher secret of some length");
    let bytes = encode_to_vec(&rec).expect("encode");
    assert_eq!(bytes[2..10], registry.latest("apikey").expect("apikey").fingerprint);
    let back: ApiKeyRecord = decode(&bytes).expect("decode");
    assert_eq!(back, rec);
    assert_eq!(
        friction_schemas::apikey::verify_mac(&back, b"a publisher secret of some length"),
        friction_schemas::MacCheck::Valid
    );
}

#[test]
fn decode_names_what_is_wrong() {
    assert!(matches!(decode::<RawEvent>(&[0xC3]), Err(CodecError::TooShort(1))));
    assert!(matches!(decode::<RawEvent>(&[0u8; 12]), Err(CodecError::BadMarker)));
    let mut unknown = vec![0xC3, 0x01];
    unknown.extend_from_slice(&[7u8; 8]);
    assert!(matches!(decode::<RawEvent>(&unknown), Err(CodecError::UnknownFingerprint(_))));
    let key = ApiKeyRecord {
        key_hash: "h".into(),
        key_id: "k".into(),
        project_id: "p".into(),
        project_name: "n".into(),
        revoked: false,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at: 1,
        mac: None,
    };
    let bytes = encode_to_vec(&key).expect("encode");
    assert!(matches!(decode::<RawEvent>(&bytes), Err(CodecError::WrongFamily { found: "apikey", expected: "event" })));
    let event = encode_to_vec(&full_event()).expect("encode");
    assert!(matches!(decode::<RawEvent>(&event[..event.len() / 2]), Err(CodecError::Decode(_))));
}

#[test]
fn every_family_evolves_compatibly() {
    let registry = Registry::get();
    let families = registry.families();
    assert!(families.contains(&"event") && families.contains(&"apikey"));
    for family in families {
        let versions = registry.family(family);
        assert!(!versions.is_empty());
        for pair in versions.windows(2) {
            if let Err(why) = check_compatibility(&pair[0].schema, &pair[1].schema) {
                panic!("{family} v{} -> v{}: {why}", pair[0].version, pair[1].version);
            }
        }
    }
}

#[test]
fn compatibility_check_rejects_breaking_changes() {
    let v1 = Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#).expect("v1");
    let added_with_default = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"long","default":0}]}"#,
    )
    .expect("v2");
    let added_without_default = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}"#,
    )
    .expect("v2b");
    let retyped =
        Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#).expect("v2c");
    assert!(check_compatibility(&v1, &added_with_default).is_ok());
    assert!(check_compatibility(&v1, &added_without_default).is_err());
    assert!(check_compatibility(&v1, &retyped).is_err());
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<RawEvent>(&bytes);
    }

    #[test]
    fn decoding_corrupted_events_never_panics(cut in 0usize..400, flip in 10usize..400, bit in 0u8..8) {
        let mut bytes = encode_to_vec(&full_event()).expect("encode");
        let flip = flip % bytes.len();
        bytes[flip] ^= 1 << bit;
        bytes.truncate(cut.min(bytes.len()));
        let _ = decode::<RawEvent>(&bytes);
    }
}
