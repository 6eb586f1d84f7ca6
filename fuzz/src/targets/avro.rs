//! Both Avro decoders on every record type the stages read: the input's first byte picks the writer
//! version of the family (every embedded version, so older writers go through schema resolution),
//! the rest is the datum after the single-object header.
//!
//! Properties (where they hold, as `friction-schemas`' tests state them):
//! - `decode` (by hand for `event` and `sessionized`, else the compiled schema tree) and the schema
//!   tree alone (`decode_direct`) give the same value or the same error, for the newest version;
//! - whatever `decode` accepts, apache-avro's `Value` path (`decode_via_value`) accepts with the
//!   same value; it may accept more only where it reads a datum that ends early as nulls;
//! - a decoded record encodes, and decodes back to itself;
//! - for `event`: a message that is exactly the encoding of its record passes through the
//!   sessionizer (its datum copied into `sessionized`) byte for byte as the full encoding.

use std::fmt::Debug;
use std::time::Instant;

use friction_schemas::apikey::verify_mac;
use friction_schemas::registry::Registry;
use friction_schemas::{
    decode, decode_direct, decode_via_value, embeddable_event_datum, encode_sessionized_with_event_datum,
    encode_to_vec, ApiKeyRecord, CodecError, IncidentChange, RawEvent, Record, SessionSummary, Sessionized,
    SignalRecord,
};

use super::{outcome, Outcome};

/// Varints on the boundaries (zigzag: `01` is -1, `02` is 1), union indexes, lengths far beyond the
/// data, and short strings.
pub const AVRO_DICTIONARY: &[&[u8]] = &[
    &[0x00],
    &[0x01],
    &[0x02],
    &[0x03],
    &[0x04],
    &[0x7F],
    &[0x80, 0x01],
    &[0xFE, 0xFF, 0xFF, 0xFF, 0x0F],
    &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
    &[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
    &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
    &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
    &[0x80, 0x80, 0x80, 0x80, 0x10],
    &[0x02, b'a'],
    &[0x06, b'a', b'b', b'c'],
    &[0x02, 0xFF],
    &[0x04, 0xC3, 0x28],
    &[0x02, 0x00],
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x7F],
    &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x7F],
    &[0x03, 0x04, 0x02, b'k', 0x02, b'v', 0x00],
];

/// A single-object message of `family`'s version chosen by `data[0]`, with `data[1..]` as datum;
/// also the writer's version and whether it is the newest.
pub fn message(family: &str, data: &[u8]) -> (u32, bool, Vec<u8>) {
    let versions = Registry::get().family(family);
    let (choice, datum) = data.split_first().map_or((0, &[][..]), |(c, d)| (usize::from(*c), d));
    let writer = versions[choice % versions.len()];
    let newest = versions.last().is_some_and(|v| v.version == writer.version);
    let mut bytes = Vec::with_capacity(10 + datum.len());
    bytes.extend_from_slice(&[0xC3, 0x01]);
    bytes.extend_from_slice(&writer.fingerprint);
    bytes.extend_from_slice(datum);
    (writer.version, newest, bytes)
}

/// Runs both decoders and the properties; returns the decoded record, if any, and the outcome.
fn decoders<T: Record + Debug>(family: &str, data: &[u8]) -> (Option<T>, Vec<u8>, Outcome) {
    let (version, newest, bytes) = message(family, data);
    let decoded = decode::<T>(&bytes);
    if newest {
        let tree = decode_direct::<T>(&bytes);
        match (&decoded, &tree) {
            // Debug, so that a NaN compares equal to itself.
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "by hand and schema tree differ"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "by hand and schema tree fail differently"),
            (a, b) => panic!("by hand: {a:?}; schema tree: {b:?}"),
        }
    }
    let via_value = decode_via_value::<T>(&bytes);
    match (&decoded, &via_value) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "decode and apache-avro differ"),
        (Ok(a), Err(e)) => panic!("only decode accepts: {a:?}; apache-avro: {e}"),
        (Err(CodecError::Decode(why)), Ok(_)) => {
            assert!(why.contains("ends early"), "only apache-avro accepts; decode: {why}")
        }
        (Err(_), Err(_)) => {}
        (Err(a), Ok(_)) => panic!("decode fails outside the datum: {a}"),
    }
    let label = match &decoded {
        Ok(_) => format!("v{version}:ok"),
        Err(e) => format!("v{version}:{e}"),
    };
    let decoded = decoded.ok();
    if let Some(record) = &decoded {
        re_encodes(record);
    }
    (decoded, bytes, outcome(&label))
}

/// A decoded record encodes, and decodes back to itself.
fn re_encodes<T: Record + Debug>(record: &T) {
    let bytes = match encode_to_vec(record) {
        Ok(b) => b,
        Err(e) => panic!("a decoded record does not encode: {e}: {record:?}"),
    };
    match decode::<T>(&bytes) {
        Ok(again) => assert_eq!(format!("{again:?}"), format!("{record:?}"), "decode(encode(x)) != x"),
        Err(e) => panic!("a re-encoded record does not decode: {e}: {record:?}"),
    }
}

pub fn event(data: &[u8]) -> Outcome {
    let (decoded, bytes, out) = decoders::<RawEvent<'static>>("event", data);
    if let Some(event) = decoded {
        passes_through(event, &bytes);
    }
    out
}

/// The sessionizer's pass-through equals the full encoding for a canonical message.
fn passes_through(event: RawEvent<'static>, message: &[u8]) {
    let canonical = encode_to_vec(&event).is_ok_and(|b| b == message);
    let Some(datum) = embeddable_event_datum(message) else { return };
    if !canonical {
        return;
    }
    let record = Sessionized { session_key: "s#1".into(), view_id: "s#1:v0".into(), event, ..Sessionized::default() };
    let mut passed = Vec::new();
    if let Err(e) = encode_sessionized_with_event_datum(&record, datum, &mut passed) {
        panic!("pass-through refused a canonical event: {e}");
    }
    match encode_to_vec(&record) {
        Ok(full) => assert_eq!(passed, full, "pass-through and full encoding differ"),
        Err(e) => panic!("a sessionized record of a decoded event does not encode: {e}"),
    }
}

pub fn sessionized(data: &[u8]) -> Outcome {
    let (decoded, _, out) = decoders::<Sessionized<'static>>("sessionized", data);
    if let Some(s) = decoded {
        super::session::detects(&s);
    }
    out
}

pub fn apikey(data: &[u8]) -> Outcome {
    let (decoded, _, out) = decoders::<ApiKeyRecord>("apikey", data);
    if let Some(record) = decoded {
        let _ = verify_mac(&record, b"fuzz-secret-0123456789abcdef0123");
        // The gateway's key store and rate limiter take what the topic holds.
        let store = friction_gateway::KeyStore::new();
        let key_hash = record.key_hash.clone();
        let _ = store.admit(record);
        if let Some(entry) = store.lookup(&key_hash) {
            let limiter = friction_gateway::ratelimit::RateLimiter::new(1000.0, 2000.0);
            let _ = limiter.check(&key_hash, 1000, entry.rate_limit_per_sec, Instant::now());
        }
    }
    out
}

pub fn session(data: &[u8]) -> Outcome {
    decoders::<SessionSummary>("session", data).2
}

pub fn signal(data: &[u8]) -> Outcome {
    let (decoded, _, out) = decoders::<SignalRecord>("signal", data);
    if let Some(signal) = decoded {
        counts(signal);
    }
    out
}

/// The incidents stage's pure steps for one signal it read (`friction_incidents::model`): checked,
/// NUL replaced, a new incident, its sample and release, confirmation, score, regression.
fn counts(mut signal: SignalRecord) {
    use friction_incidents::model;
    model::replace_nul(&mut signal);
    assert!(
        !signal.id.contains('\0') && !signal.fingerprint.contains('\0') && !signal.session_id.contains('\0'),
        "a NUL is left for the store"
    );
    if model::validate(&signal).is_err() {
        return;
    }
    let config = model::IncidentConfig::default();
    let now = signal.end_ms.saturating_add(1);
    let mut incident = model::new_incident(&signal, now);
    let _ = model::contribution(&signal);
    let _ = model::user_key(&signal);
    let _ = model::log_level(&signal);
    model::apply_versions(&mut incident, &[&signal], &config);
    let points = [(signal.start_ms, signal.session_id.clone()), (signal.end_ms, "other".to_string())];
    let confirms = model::window_confirms(&points, 2, 86_400_000);
    let _ = model::after_signal(&mut incident, &signal, confirms, now);
    model::rescore(&mut incident, &config);
    assert!(incident.severity.is_finite(), "severity {} for {signal:?}", incident.severity);
    let _ = model::regresses(&incident, &signal);
}

pub fn incident(data: &[u8]) -> Outcome {
    decoders::<IncidentChange>("incident", data).2
}
