//! The binary session state: every event kind round-trips exactly, it is several times smaller
//! than the JSON it replaces, JSON written by older versions still restores, and corrupt values are
//! errors, never panics.

use std::borrow::Cow;

use friction_detector::convert::SessionContext;
use friction_detector::corrections::Published;
use friction_detector::state::{decode, encode, SessionState, StateError};
use friction_detector::PartitionDetector;
use friction_rules::{Event, EventKind, LogLevel, Modifiers, MouseButton, NavigationKind, Target};
use friction_schemas::signal::SignalRecord;
use proptest::prelude::*;

const T0: i64 = 1_705_312_800_000;

fn ev(i: u64, ts: i64, kind: EventKind<'static>) -> Event<'static> {
    Event {
        event_id: Cow::Owned(format!("0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f{i:04}")),
        session_id: "s1#0".into(),
        tab_id: Some("t1".into()),
        view_id: "s1#0:v0".into(),
        seq: i,
        timestamp_ms: ts,
        route: "/orders/123/pay".into(),
        url: None,
        kind,
    }
}

fn click(x: f64) -> EventKind<'static> {
    EventKind::Click {
        button: MouseButton::Primary,
        modifiers: Modifiers::default(),
        target: Target {
            selector: Some("main > form > button.pay".into()),
            key: Some("pay-button".into()),
            tag: Some("button".into()),
            text: Some("Pay now".into()),
            x: Some(x),
            y: Some(300.0),
            interactive: Some(true),
            ..Target::default()
        },
    }
}

fn every_kind() -> SessionState {
    let kinds = vec![
        EventKind::Pageview { navigation: NavigationKind::Push, from: Some("/cart".into()), to: Some("/pay".into()) },
        click(200.0),
        click(200.5),
        EventKind::Click {
            button: MouseButton::Secondary,
            modifiers: Modifiers { alt: true, ctrl: false, meta: true, shift: true },
            target: Target {
                x: Some(-0.0),
                y: Some(f64::NAN),
                interactive: Some(false),
                disabled: true,
                href: Some("/download/report.pdf".into()),
                new_tab: true,
                download: true,
                ignore: vec!["rage".into(), "dead".into()],
                r#type: Some("submit".into()),
                role: Some("button".into()),
                ..Target::default()
            },
        },
        EventKind::Mutation { count: 12, near_target: true },
        EventKind::Network {
            method: "POST".into(),
            url: "/api/pay".into(),
            status: Some(502),
            duration_ms: Some(1234),
            initiator: Some("0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f0001".into()),
        },
        EventKind::Network {
            method: "GET".into(),
            url: "/api/x".into(),
            status: None,
            duration_ms: None,
            initiator: None,
        },
        EventKind::Error { error_type: "TypeError".into(), message: "x is undefined".into(), fingerprint: None },
        EventKind::Scroll { dy: -120.25, y: 1e300 },
        EventKind::Selection { length: 42 },
        EventKind::Focus,
        EventKind::Visibility { hidden: true },
        EventKind::Input { field_key: "email".into(), length_bucket: 6, invalid: true },
        EventKind::Submit { form_key: None },
        EventKind::Custom { name: "heartbeat".into() },
        EventKind::Log {
            service: "api".into(),
            level: LogLevel::Fatal,
            message: "db down".into(),
            attributes: "".into(),
        },
        EventKind::Log {
            service: "pos".into(),
            level: LogLevel::Error,
            message: "MISSING_PRICE".into(),
            attributes: r#"{"productId":"999"}"#.into(),
        },
    ];
    let events = kinds.into_iter().enumerate().map(|(i, k)| ev(i as u64, T0 + 137 * i as i64, k)).collect();
    SessionState {
        context: SessionContext { project_id: "proj".into(), user_id: Some("u1".into()), release: None },
        events,
        emitted_through_ms: Some(T0 - 5),
        retained_from_ms: None,
        last_event_ms: T0 + 137 * 15,
        next_decision_ms: Some(T0 + 7_000),
        touched: true,
        early_through_ms: Some(T0 + 2_000),
        reopened: true,
        newest_arrival_wall_ms: 1_700_000_000_123,
        published: vec![Published {
            episode_id: "ep-1".into(),
            digest: 0xdead_beef,
            final_at_ms: None,
            record: SignalRecord {
                id: "ep-0".into(),
                kind: "dead_click".into(),
                fingerprint: "fp".into(),
                version: 3,
                retracted: true,
                ..SignalRecord::default()
            },
        }],
        dirty: false,
    }
}

/// Equality that treats NaN as equal to itself (the encoding keeps its exact bits).
fn same(a: &SessionState, b: &SessionState) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn every_event_kind_round_trips() {
    let st = every_kind();
    let bytes = encode(&st);
    let back = decode(&bytes).expect("decodes");
    assert!(same(&st, &back), "{st:?}\n{back:?}");
    // -0.0 and NaN keep their bits.
    let EventKind::Click { target, .. } = &back.events[3].kind else { panic!("not a click") };
    assert!(target.x.is_some_and(|x| x == 0.0 && x.is_sign_negative()));
    assert!(target.y.is_some_and(f64::is_nan));
}

#[test]
fn binary_state_is_several_times_smaller_than_json() {
    // A rage burst: a pageview and eight clicks on one button, as kept while its windows are open.
    let mut st = every_kind();
    st.events = (0..9).map(|i| ev(i, T0 + 250 * i as i64, if i == 0 { click(10.0) } else { click(200.0) })).collect();
    let bin = encode(&st).len();
    let json = serde_json::to_vec(&st).expect("json").len();
    assert!(bin * 3 < json, "binary {bin} B vs JSON {json} B");
    assert!(bin <= 1024, "{bin} B for a 9-event session is above the 1 KiB target");
}

#[test]
fn json_state_of_older_versions_still_restores() {
    let st = every_kind();
    let json = serde_json::to_vec(&SessionState { events: st.events[..3].to_vec(), ..st.clone() }).expect("json");
    let mut p = PartitionDetector::default();
    p.restore("s1#0", Some(&json)).expect("json restores");
    p.restore("s2#0", Some(&encode(&st))).expect("binary restores");
    assert_eq!(p.open_sessions(), 2);
    assert!(p.restore("s3#0", Some(&[0x01, 0x02])).is_err());
}

#[test]
fn corrupt_values_are_errors() {
    let bytes = encode(&every_kind());
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "a value cut at {cut} decoded");
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(decode(&extra).err(), Some(StateError::Bad("trailing bytes")));
    let mut v2 = bytes;
    v2[1] = 99;
    assert_eq!(decode(&v2).err(), Some(StateError::Version(99)));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = vec![0xF7, 1];
        bytes.extend(tail);
        let _ = decode(&bytes);
    }
}
