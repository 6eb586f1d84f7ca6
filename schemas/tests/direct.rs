//! The direct decoder (Avro datum straight into the Rust types) against the `Value` path it replaces
//! (`decode_via_value`: apache-avro's reader, then `from_value`), for every family: generated
//! records round-trip and both paths agree; arbitrary, cut and mutated datums never panic and the
//! two paths agree on what they accept.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;

use apache_avro::types::Value;
use friction_schemas::event::{
    Click, Context, Custom, ErrorInfo, Input, LogLine, Mutation, Navigation, Network, Scroll, Selection, Submit,
    Target, Visibility,
};
use friction_schemas::registry::{Registry, MAX_DECODE_ALLOCATION};
use friction_schemas::{
    decode, decode_direct, decode_via_value, embeddable_event_datum, encode_direct,
    encode_sessionized_with_event_datum, encode_to_vec, encode_via_avro, ApiKeyRecord, CodecError, EpisodeMember,
    EvidenceRecord, EvidenceSample, IncidentChange, RawEvent, Record, SessionSummary, Sessionized, SignalRecord,
};
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies

fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => "[a-z0-9:/#._-]{0,12}", 1 => any::<String>(), 1 => Just(String::new())].boxed()
}

fn cow() -> BoxedStrategy<Cow<'static, str>> {
    text().prop_map(Cow::Owned).boxed()
}

fn ocow() -> BoxedStrategy<Option<Cow<'static, str>>> {
    of(cow()).boxed()
}

/// Any double but NaN (NaN != NaN would fail the comparisons, not the decoder).
fn double() -> BoxedStrategy<f64> {
    prop_oneof![any::<f64>().prop_filter("not NaN", |x| !x.is_nan()), Just(0.0), Just(-0.0), Just(f64::INFINITY)]
        .boxed()
}

fn long() -> BoxedStrategy<i64> {
    prop_oneof![any::<i64>(), -1_000i64..1_000, Just(i64::MIN), Just(i64::MAX)].boxed()
}

fn int() -> BoxedStrategy<i32> {
    prop_oneof![any::<i32>(), -100i32..100, Just(i32::MIN), Just(i32::MAX)].boxed()
}

fn strings() -> BoxedStrategy<Vec<String>> {
    vec(text(), 0..4).boxed()
}

fn target() -> BoxedStrategy<Target<'static>> {
    (
        (ocow(), ocow(), ocow(), ocow(), ocow(), ocow()),
        (of(double()), of(double()), of(any::<bool>()), of(any::<bool>()), ocow(), of(any::<bool>())),
        vec(cow(), 0..3),
    )
        .prop_map(|((r#type, selector, key, tag, role, text), (x, y, interactive, disabled, href, new_tab), ignore)| {
            Target { r#type, selector, key, tag, role, text, x, y, interactive, disabled, href, new_tab, ignore }
        })
        .boxed()
}

fn raw_event() -> BoxedStrategy<RawEvent<'static>> {
    let head =
        ((cow(), cow(), cow(), any::<bool>(), cow()), (long(), long(), long(), of(long()), long(), any::<bool>()));
    let strings = (ocow(), ocow(), ocow(), ocow(), ocow(), ocow(), cow());
    let parts = (
        of(target()),
        of((int(), vec(cow(), 0..3)).prop_map(|(button, modifiers)| Click { button, modifiers })),
        of((ocow(), ocow(), cow()).prop_map(|(from, to, kind)| Navigation { from, to, kind })),
        of((long(), any::<bool>()).prop_map(|(count, near_target)| Mutation { count, near_target })),
        of((cow(), cow(), of(int()), of(double()), ocow()).prop_map(
            |(method, url, status, duration_ms, initiator)| Network { method, url, status, duration_ms, initiator },
        )),
        of((ocow(), cow(), ocow(), ocow()).prop_map(|(r#type, message, stack, fingerprint)| ErrorInfo {
            r#type,
            message,
            stack,
            fingerprint,
        })),
        of((double(), double()).prop_map(|(dy, y)| Scroll { dy, y })),
        of(long().prop_map(|length| Selection { length })),
        of(cow().prop_map(|state| Visibility { state })),
        of((cow(), ocow(), any::<bool>()).prop_map(|(field_key, length_bucket, invalid)| Input {
            field_key,
            length_bucket,
            invalid,
        })),
        of(cow().prop_map(|form_key| Submit { form_key })),
        of(cow().prop_map(|name| Custom { name })),
    );
    let tail = (
        of((cow(), cow(), cow(), btree_map(cow(), cow(), 0..4))
            .prop_map(|(service, level, message, attributes)| LogLine { service, level, message, attributes })),
        (ocow(), ocow(), ocow(), ocow(), ocow()).prop_map(|(ip, user_agent, browser, os, device)| Context {
            ip,
            user_agent,
            browser,
            os,
            device,
        }),
    );
    (head, strings, parts, tail)
        .prop_map(
            |(
                (
                    (project_id, session_id, event_id, event_id_derived, event_type),
                    (timestamp, client_timestamp, received_at, sent_at, clock_skew_ms, timestamp_clamped),
                ),
                (user_id, tab_id, view_id, url, route, release, metadata),
                (
                    target,
                    click,
                    navigation,
                    mutation,
                    network,
                    error,
                    scroll,
                    selection,
                    visibility,
                    input,
                    submit,
                    custom,
                ),
                (log, context),
            )| RawEvent {
                project_id,
                session_id,
                event_id,
                event_id_derived,
                event_type,
                timestamp,
                client_timestamp,
                received_at,
                sent_at,
                clock_skew_ms,
                timestamp_clamped,
                user_id,
                tab_id,
                view_id,
                url,
                route,
                release,
                target,
                click,
                navigation,
                mutation,
                network,
                error,
                scroll,
                selection,
                visibility,
                input,
                submit,
                custom,
                log,
                metadata,
                context,
            },
        )
        .boxed()
}

fn sessionized() -> BoxedStrategy<Sessionized<'static>> {
    (raw_event(), cow(), long(), cow(), int(), any::<bool>(), long(), any::<bool>())
        .prop_map(|(event, session_key, seq, view_id, view_index, late, session_start, reordered)| Sessionized {
            event,
            session_key,
            seq,
            view_id,
            view_index,
            late,
            session_start,
            reordered,
        })
        .boxed()
}

fn apikey() -> BoxedStrategy<ApiKeyRecord> {
    (text(), text(), text(), text(), any::<bool>(), strings(), of(double()), long(), of(text()))
        .prop_map(
            |(
                key_hash,
                key_id,
                project_id,
                project_name,
                revoked,
                allowed_origins,
                rate_limit_per_sec,
                updated_at,
                mac,
            )| {
                ApiKeyRecord {
                    key_hash,
                    key_id,
                    project_id,
                    project_name,
                    revoked,
                    allowed_origins,
                    rate_limit_per_sec,
                    updated_at,
                    mac,
                }
            },
        )
        .boxed()
}

fn session() -> BoxedStrategy<SessionSummary> {
    (
        (text(), text(), text(), long(), long(), long(), long(), long(), long(), long()),
        (strings(), any::<bool>(), of(text()), of(text()), text(), long(), long()),
    )
        .prop_map(
            |(
                (project_id, session_id, session_key, start, end, duration_ms, events, views, clicks, errors),
                (routes, routes_truncated, release, user_id, close_reason, late_events, duplicates_dropped),
            )| SessionSummary {
                project_id,
                session_id,
                session_key,
                start,
                end,
                duration_ms,
                events,
                views,
                clicks,
                errors,
                routes,
                routes_truncated,
                release,
                user_id,
                close_reason,
                late_events,
                duplicates_dropped,
            },
        )
        .boxed()
}

fn doubles() -> BoxedStrategy<BTreeMap<String, f64>> {
    btree_map(text(), double(), 0..4).boxed()
}

fn details() -> BoxedStrategy<BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4).boxed()
}

fn evidence() -> BoxedStrategy<EvidenceRecord> {
    (text(), int(), doubles(), strings(), doubles(), details(), strings(), text())
        .prop_map(
            |(
                rule,
                rule_version,
                thresholds,
                event_ids,
                measurements,
                details,
                suppressions_checked,
                liveness_json,
            )| {
                EvidenceRecord {
                    rule,
                    rule_version,
                    thresholds,
                    event_ids,
                    measurements,
                    details,
                    suppressions_checked,
                    liveness_json,
                }
            },
        )
        .boxed()
}

fn member() -> BoxedStrategy<EpisodeMember> {
    (text(), text(), any::<bool>(), text(), long(), long(), text(), int(), strings(), doubles(), details())
        .prop_map(
            |(
                id,
                kind,
                unresponsive,
                label,
                start_ms,
                end_ms,
                rule,
                rule_version,
                event_ids,
                measurements,
                details,
            )| {
                EpisodeMember {
                    id,
                    kind,
                    unresponsive,
                    label,
                    start_ms,
                    end_ms,
                    rule,
                    rule_version,
                    event_ids,
                    measurements,
                    details,
                }
            },
        )
        .boxed()
}

fn signal() -> BoxedStrategy<SignalRecord> {
    (
        (text(), text(), text(), text(), any::<bool>(), text(), text(), of(text()), text(), text(), text()),
        (long(), long(), of(long()), of(text()), of(text()), of(text()), of(text())),
        (strings(), evidence(), vec(member(), 0..3), long(), any::<bool>()),
    )
        .prop_map(
            |(
                (
                    id,
                    project_id,
                    fingerprint,
                    kind,
                    unresponsive,
                    label,
                    session_id,
                    tab_id,
                    view_id,
                    route_template,
                    element_key,
                ),
                (start_ms, end_ms, decided_at_ms, user_id, release, url, episode_id),
                (labels, evidence, members, version, retracted),
            )| SignalRecord {
                id,
                project_id,
                fingerprint,
                kind,
                unresponsive,
                label,
                session_id,
                tab_id,
                view_id,
                route_template,
                element_key,
                start_ms,
                end_ms,
                decided_at_ms,
                user_id,
                release,
                url,
                episode_id,
                labels,
                evidence,
                members,
                version,
                retracted,
            },
        )
        .boxed()
}

fn sample() -> BoxedStrategy<EvidenceSample> {
    (text(), text(), of(text()), of(text()), of(text()), text(), long(), long(), text())
        .prop_map(|(signal_id, session_id, user_id, release, url, label, start_ms, end_ms, evidence_json)| {
            EvidenceSample { signal_id, session_id, user_id, release, url, label, start_ms, end_ms, evidence_json }
        })
        .boxed()
}

fn incident() -> BoxedStrategy<IncidentChange> {
    (
        (text(), text(), text(), text(), strings(), text(), text(), text(), text(), of(text()), text()),
        (double(), text(), long(), long(), long(), long(), long(), of(long()), strings(), of(text())),
        (int(), long(), long(), vec(sample(), 0..3)),
    )
        .prop_map(
            |(
                (
                    id,
                    project_id,
                    fingerprint,
                    kind,
                    labels,
                    title,
                    route_template,
                    element_key,
                    status,
                    previous_status,
                    change,
                ),
                (
                    severity,
                    priority,
                    occurrences,
                    sessions,
                    users,
                    first_seen_ms,
                    last_seen_ms,
                    confirmed_at_ms,
                    releases,
                    latest_release,
                ),
                (generation, version, changed_at_ms, samples),
            )| IncidentChange {
                id,
                project_id,
                fingerprint,
                kind,
                labels,
                title,
                route_template,
                element_key,
                status,
                previous_status,
                change,
                severity,
                priority,
                occurrences,
                sessions,
                users,
                first_seen_ms,
                last_seen_ms,
                confirmed_at_ms,
                releases,
                latest_release,
                generation,
                version,
                changed_at_ms,
                samples,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checks

/// `decode` (the direct path) returns the record, and so does the `Value` path.
fn round_trips<T: Record + PartialEq + Debug>(record: &T) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(record).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let direct: T = decode_direct(&bytes).map_err(|e| TestCaseError::fail(format!("direct: {e}")))?;
    prop_assert_eq!(&direct, record);
    let via_value: T = decode_via_value(&bytes).map_err(|e| TestCaseError::fail(format!("value: {e}")))?;
    prop_assert_eq!(&via_value, record);
    let decoded: T = decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&decoded, record);
    Ok(())
}

/// The direct encoder takes every generated record (it never falls back for this crate's types) and
/// writes exactly apache-avro's bytes, which is also what `encode` returns.
fn encoders_agree<T: Record>(record: &T) -> Result<(), TestCaseError> {
    let mut direct = Vec::new();
    encode_direct(record, &mut direct).map_err(|e| TestCaseError::fail(format!("direct encode: {e}")))?;
    let mut avro = Vec::new();
    encode_via_avro(record, &mut avro).map_err(|e| TestCaseError::fail(format!("avro encode: {e}")))?;
    prop_assert_eq!(&direct, &avro);
    prop_assert_eq!(&encode_to_vec(record).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?, &avro);
    Ok(())
}

/// Both paths on the same (possibly corrupt) message. Whatever the direct decoder accepts, the
/// `Value` path accepts with the same result. The `Value` path accepts more only where apache-avro
/// reads a datum that ends early as nulls (a union index, string or boolean at end of input), which
/// the direct decoder rejects as cut off.
/// `decode` (by hand for the hot records, see `fast.rs`: `event` and `sessionized`) and the schema tree give the same value or
/// the same error, path included.
fn by_hand_agrees<T: Record + PartialEq + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    match (decode::<T>(bytes), decode_direct::<T>(bytes)) {
        (Ok(a), Ok(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
        (a, b) => return Err(TestCaseError::fail(format!("by hand: {a:?}; schema tree: {b:?}"))),
    }
    Ok(())
}

fn paths_agree<T: Record + PartialEq + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    by_hand_agrees::<T>(bytes)?;
    let direct = decode::<T>(bytes);
    let via_value = decode_via_value::<T>(bytes);
    match (&direct, &via_value) {
        // Debug, so that a NaN made by a bit flip compares equal to itself.
        (Ok(a), Ok(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Ok(a), Err(e)) => {
            return Err(TestCaseError::fail(format!("only the direct path accepts: {a:?}; value path: {e}")))
        }
        (Err(CodecError::Decode(why)), Ok(_)) => {
            prop_assert!(why.contains("ends early"), "only the value path accepts; direct: {why}")
        }
        (Err(a), Err(b)) => {
            // Header errors are the same variant on both paths.
            prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b), "{} vs {}", a, b);
        }
        (Err(a), Ok(_)) => return Err(TestCaseError::fail(format!("direct path fails outside the datum: {a}"))),
    }
    Ok(())
}

/// Cuts and bit flips of a valid message.
fn mutations_agree<T: Record + PartialEq + Debug>(
    record: &T,
    cut: usize,
    flips: &[(usize, u8)],
) -> Result<(), TestCaseError> {
    let mut bytes = encode_to_vec(record).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let len = bytes.len();
    paths_agree::<T>(&bytes[..10 + cut % (len - 9)])?;
    for &(at, bit) in flips {
        // Past the header: a flipped header is an unknown fingerprint, tested elsewhere.
        let at = 10 + at % (len - 10).max(1);
        if at < len {
            bytes[at] ^= 1 << (bit % 8);
        }
    }
    paths_agree::<T>(&bytes)?;
    paths_agree::<T>(&bytes[..10 + cut % (len - 9)])
}

fn header(family: &str) -> Vec<u8> {
    let latest = Registry::get().latest(family).expect("family");
    let mut out = vec![0xC3, 0x01];
    out.extend_from_slice(&latest.fingerprint);
    out
}

/// Re-encodes a datum with arrays and maps split into blocks as `split` says (a negative count
/// followed by the block's size in bytes on odd choices), which apache-avro's writer never does but
/// other writers may.
fn write_blocky(value: &Value, split: &mut impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    fn long(v: i64, out: &mut Vec<u8>) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            if z < 0x80 {
                out.push(z as u8);
                return;
            }
            out.push((z as u8 & 0x7F) | 0x80);
            z >>= 7;
        }
    }
    fn blocks<T>(
        items: &[T],
        split: &mut impl Iterator<Item = u8>,
        out: &mut Vec<u8>,
        mut write: impl FnMut(&T, &mut dyn Iterator<Item = u8>, &mut Vec<u8>),
    ) {
        let mut rest = items;
        while !rest.is_empty() {
            let choice = split.next().unwrap_or(255);
            let n = (usize::from(choice >> 1) % rest.len()) + 1;
            let mut block = Vec::new();
            for item in &rest[..n] {
                write(item, split, &mut block);
            }
            if choice & 1 == 1 {
                long(-(n as i64), out);
                long(block.len() as i64, out);
            } else {
                long(n as i64, out);
            }
            out.extend_from_slice(&block);
            rest = &rest[n..];
        }
        long(0, out);
    }
    match value {
        Value::Null => {}
        Value::Boolean(b) => out.push(u8::from(*b)),
        Value::Int(i) => long(i64::from(*i), out),
        Value::Long(l) => long(*l, out),
        Value::Float(f) => out.extend_from_slice(&f.to_le_bytes()),
        Value::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        Value::Bytes(b) | Value::Fixed(_, b) => {
            long(b.len() as i64, out);
            out.extend_from_slice(b);
        }
        Value::String(s) => {
            long(s.len() as i64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Enum(i, _) => long(i64::from(*i), out),
        Value::Union(i, v) => {
            long(i64::from(*i), out);
            write_blocky(v, split, out);
        }
        Value::Record(fields) => {
            for (_, v) in fields {
                write_blocky(v, split, out);
            }
        }
        Value::Array(items) => blocks(items, split, out, |v, split, out| write_blocky(v, &mut &mut *split, out)),
        Value::Map(entries) => {
            let entries: Vec<_> = entries.iter().collect();
            blocks(&entries, split, out, |(k, v), split, out| {
                long(k.len() as i64, out);
                out.extend_from_slice(k.as_bytes());
                write_blocky(v, &mut &mut *split, out);
            })
        }
        other => panic!("not in any friction schema: {other:?}"),
    }
}

fn blocky_agrees<T: Record + PartialEq + Debug>(record: &T, split: &[u8]) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(record).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let latest = Registry::get().latest(T::FAMILY).expect("family");
    let value = latest.reader.read_value(&mut &bytes[..]).map_err(|e| TestCaseError::fail(format!("read: {e}")))?;
    let mut blocky = bytes[..10].to_vec();
    write_blocky(&value, &mut split.iter().copied(), &mut blocky);
    let direct: T = decode_direct(&blocky).map_err(|e| TestCaseError::fail(format!("direct: {e}")))?;
    prop_assert_eq!(&direct, record);
    let by_hand: T = decode(&blocky).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&by_hand, record);
    let via_value: T = decode_via_value(&blocky).map_err(|e| TestCaseError::fail(format!("value: {e}")))?;
    prop_assert_eq!(&via_value, record);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The records every stage reads per event decode by hand at their newest versions (a new schema
/// version needs a hand decoder in `event.rs` / `sessionized.rs`, or it silently takes the slower schema tree).
#[test]
fn the_hot_records_decode_by_hand_at_their_newest_versions() {
    let registry = Registry::get();
    let event = registry.latest("event").expect("event").version;
    let sessionized = registry.latest("sessionized").expect("sessionized").version;
    assert!(RawEvent::decode_fast(event, &[]).is_some(), "event v{event}");
    assert!(Sessionized::decode_fast(sessionized, &[]).is_some(), "sessionized v{sessionized}");
    assert!(RawEvent::decode_fast(event + 1, &[]).is_none());
}

#[test]
fn every_newest_version_decodes_directly() {
    let registry = Registry::get();
    for family in registry.families() {
        let latest = registry.latest(family).expect("family");
        assert!(latest.decodes_directly(), "{family} v{} falls back to the Value path", latest.version);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn events_round_trip(r in raw_event()) { round_trips(&r)?; }

    #[test]
    fn encoders_agree_for_every_family(
        e in raw_event(), z in sessionized(), k in apikey(), s in session(), g in signal(), i in incident(),
    ) {
        encoders_agree(&e)?;
        encoders_agree(&z)?;
        encoders_agree(&k)?;
        encoders_agree(&s)?;
        encoders_agree(&g)?;
        encoders_agree(&i)?;
    }

    #[test]
    fn sessionized_round_trip(r in sessionized()) { round_trips(&r)?; }

    /// The sessionizer's pass-through: the input event's datum copied into the output, plus the
    /// seven fields written by hand, is byte for byte what encoding the whole record gives.
    #[test]
    fn sessionized_with_the_event_datum_is_the_full_encoding(r in sessionized()) {
        let input = encode_to_vec(&r.event).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let datum = embeddable_event_datum(&input);
        prop_assert!(datum.is_some(), "the newest sessionized schema embeds the newest event schema");
        let mut passed = Vec::new();
        encode_sessionized_with_event_datum(&r, datum.unwrap_or_default(), &mut passed)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let full = encode_to_vec(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(passed, full);
    }

    #[test]
    fn apikeys_round_trip(r in apikey()) { round_trips(&r)?; }

    #[test]
    fn sessions_round_trip(r in session()) { round_trips(&r)?; }

    #[test]
    fn signals_round_trip(r in signal()) { round_trips(&r)?; }

    #[test]
    fn incidents_round_trip(r in incident()) { round_trips(&r)?; }

    #[test]
    fn arbitrary_datums_never_panic_and_paths_agree(datum in vec(any::<u8>(), 0..300)) {
        for family in ["event", "sessionized", "apikey", "session", "signal", "incident"] {
            let mut bytes = header(family);
            bytes.extend_from_slice(&datum);
            match family {
                "event" => paths_agree::<RawEvent<'static>>(&bytes)?,
                "sessionized" => paths_agree::<Sessionized<'static>>(&bytes)?,
                "apikey" => paths_agree::<ApiKeyRecord>(&bytes)?,
                "session" => paths_agree::<SessionSummary>(&bytes)?,
                "signal" => paths_agree::<SignalRecord>(&bytes)?,
                _ => paths_agree::<IncidentChange>(&bytes)?,
            }
        }
    }
}

/// Per family: arrays and maps in arbitrary blocks; cut and mutated messages.
macro_rules! family_fuzz {
    ($blocky:ident, $mutated:ident, $strategy:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn $blocky(r in $strategy, split in vec(any::<u8>(), 0..64)) {
                blocky_agrees(&r, &split)?;
            }

            #[test]
            fn $mutated(r in $strategy, cut in any::<usize>(), flips in vec((any::<usize>(), any::<u8>()), 1..4)) {
                mutations_agree(&r, cut, &flips)?;
            }
        }
    };
}

family_fuzz!(event_blocks, event_mutations, raw_event().boxed());
family_fuzz!(sessionized_blocks, sessionized_mutations, sessionized().boxed());
family_fuzz!(apikey_blocks, apikey_mutations, apikey().boxed());
family_fuzz!(session_blocks, session_mutations, session().boxed());
family_fuzz!(signal_blocks, signal_mutations, signal().boxed());
family_fuzz!(incident_blocks, incident_mutations, incident().boxed());

fn apikey_fixture() -> ApiKeyRecord {
    ApiKeyRecord {
        key_hash: "h".into(),
        key_id: "k".into(),
        project_id: "p".into(),
        project_name: "n".into(),
        revoked: false,
        allowed_origins: vec!["https://a.example".into()],
        rate_limit_per_sec: Some(5.0),
        updated_at: 1,
        mac: None,
    }
}

#[test]
fn trailing_bytes_are_ignored_by_both_paths() {
    let mut bytes = encode_to_vec(&apikey_fixture()).expect("encode");
    bytes.extend_from_slice(b"trailing");
    assert_eq!(decode::<ApiKeyRecord>(&bytes).expect("direct"), apikey_fixture());
    assert_eq!(decode_via_value::<ApiKeyRecord>(&bytes).expect("value"), apikey_fixture());
}

#[test]
fn corrupt_lengths_are_errors_not_allocations() {
    // keyHash with a length of 2^40, then of the limit plus one, then negative; an array count of
    // 2^40 after four valid strings and a boolean.
    let zigzag = |v: i64| {
        let mut out = Vec::new();
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8 & 0x7F) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
        out
    };
    let limit = i64::try_from(MAX_DECODE_ALLOCATION).expect("limit fits");
    for (len, expect) in [(1i64 << 40, "exceeds the decode limit"), (limit + 1, "exceeds"), (-3, "negative length")] {
        let mut bytes = header("apikey");
        bytes.extend(zigzag(len));
        bytes.extend_from_slice(b"abc");
        let err = decode::<ApiKeyRecord>(&bytes).expect_err("corrupt length");
        assert!(matches!(&err, CodecError::Decode(why) if why.contains(expect) && why.contains("keyHash")), "{err}");
    }
    let mut bytes = header("apikey");
    for _ in 0..4 {
        bytes.extend(zigzag(1));
        bytes.push(b'x');
    }
    bytes.push(0);
    bytes.extend(zigzag(1 << 40));
    let err = decode::<ApiKeyRecord>(&bytes).expect_err("corrupt count");
    assert!(matches!(&err, CodecError::Decode(why) if why.contains("allowedOrigins")), "{err}");
    // A count within the limit but far beyond the data: cut off, nothing reserved for it.
    let mut bytes = header("apikey");
    for _ in 0..4 {
        bytes.extend(zigzag(1));
        bytes.push(b'x');
    }
    bytes.push(0);
    bytes.extend(zigzag(limit));
    let err = decode::<ApiKeyRecord>(&bytes).expect_err("cut off");
    assert!(
        matches!(&err, CodecError::Decode(why) if why.contains("ends early") && why.contains("allowedOrigins[0]")),
        "{err}"
    );
}

#[test]
fn errors_name_what_is_wrong_and_where() {
    let bytes = encode_to_vec(&apikey_fixture()).expect("encode");
    // revoked is at 10 + 4 * 2: flip it to 2.
    let mut bad_bool = bytes.clone();
    assert_eq!(bad_bool[18], 0);
    bad_bool[18] = 2;
    let err = decode::<ApiKeyRecord>(&bad_bool).expect_err("bad bool");
    assert_eq!(err.to_string(), "avro decoding failed: invalid boolean byte 0x02 at revoked");
    // A union index of 2 for rateLimitPerSec (after the array: count 1, 17 bytes + len, 0).
    let mut bad_union = bytes.clone();
    let at = 19 + 1 + 1 + "https://a.example".len() + 1;
    assert_eq!(bad_union[at], 2, "union index 1");
    bad_union[at] = 4;
    let err = decode::<ApiKeyRecord>(&bad_union).expect_err("bad union");
    assert_eq!(
        err.to_string(),
        "avro decoding failed: union branch index 2 out of range (the union has 2) at rateLimitPerSec"
    );
    let mut bad_utf8 = bytes;
    bad_utf8[11] = 0xFF;
    let err = decode::<ApiKeyRecord>(&bad_utf8).expect_err("bad utf8");
    assert!(err.to_string().contains("not valid UTF-8") && err.to_string().ends_with("at keyHash"), "{err}");
}

#[test]
fn a_v1_signal_still_goes_through_resolution() {
    let registry = Registry::get();
    let v1 = &registry.family("signal")[0];
    assert_eq!(v1.version, 1);
    let record = SignalRecord { id: "s".into(), ..SignalRecord::default() };
    let Value::Record(fields) = apache_avro::to_value(&record).expect("to value") else { panic!("not a record") };
    let fields: Vec<(String, Value)> = fields.into_iter().filter(|(n, _)| n != "labels" && n != "members").collect();
    let value = Value::Record(fields).resolve(&v1.schema).expect("valid v1 datum");
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&v1.fingerprint);
    bytes.extend(apache_avro::to_avro_datum(&v1.schema, value).expect("v1 encode"));
    assert_eq!(decode::<SignalRecord>(&bytes).expect("decode"), record);
    assert!(decode_direct::<SignalRecord>(&bytes).is_err(), "v1 is resolved, not decoded directly");
}

/// The one place where the paths differ: apache-avro reads a union index at the end of the input
/// as branch 0 (`null`), so an event cut inside its trailing `context` (five optional strings)
/// decodes on the `Value` path, with the cut-off fields `None`. The direct decoder says it is cut.
#[test]
fn a_datum_cut_in_trailing_optional_fields_is_an_error() {
    let event =
        RawEvent { context: Context { device: Some("phone".into()), ..Context::default() }, ..RawEvent::default() };
    let bytes = encode_to_vec(&event).expect("encode");
    let cut = &bytes[..bytes.len() - "phone".len() - 2];
    let lenient = decode_via_value::<RawEvent>(cut).expect("the value path accepts the cut datum");
    assert_eq!(lenient.context.device, None);
    let err = decode::<RawEvent>(cut).expect_err("cut");
    assert_eq!(
        err.to_string(),
        "avro decoding failed: the datum ends early: union branch index is cut off at context.device"
    );
}

#[test]
fn only_messages_of_the_embedded_event_version_pass_through() {
    let event = RawEvent { project_id: "p".into(), session_id: "s".into(), ..RawEvent::default() };
    let input = encode_to_vec(&event).expect("encode");
    assert!(embeddable_event_datum(&input).is_some());
    // Another family's message, a cut header, a bad marker: never passed through.
    let summary = encode_to_vec(&SessionSummary::default()).expect("encode");
    assert!(embeddable_event_datum(&summary).is_none());
    assert!(embeddable_event_datum(&input[..5]).is_none());
    let mut bad = input.clone();
    bad[0] = 0;
    assert!(embeddable_event_datum(&bad).is_none());
}
