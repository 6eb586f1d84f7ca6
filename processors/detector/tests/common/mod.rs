//! Sessionized events for the detector's tests, built the way the sessionizer forwards them.

use std::borrow::Cow;

use friction_schemas::event::{Click, Mutation, Navigation, Target};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::RawEvent;

pub const T0: i64 = 1_705_312_800_000;

pub fn sessionized(session: &str, seq: i64, ts: i64, kind: &str) -> Sessionized<'static> {
    let mut e = RawEvent {
        project_id: "proj".into(),
        session_id: Cow::Owned(session.to_string()),
        event_id: Cow::Owned(format!("{session}-{seq}")),
        event_type: Cow::Owned(kind.to_string()),
        timestamp: ts,
        route: Some("/checkout".into()),
        release: Some("web@1".into()),
        ..RawEvent::default()
    };
    match kind {
        "click" => {
            e.target = Some(Target {
                key: Some("pay-button".into()),
                tag: Some("button".into()),
                interactive: Some(true),
                x: Some(100.0),
                y: Some(200.0),
                ..Target::default()
            });
            e.click = Some(Click { button: 0, modifiers: vec![] });
        }
        "pageview" => e.navigation = Some(Navigation { kind: "load".into(), from: None, to: Some("/checkout".into()) }),
        "mutation" => e.mutation = Some(Mutation { count: 3, near_target: true }),
        _ => {}
    }
    Sessionized {
        event: e,
        session_key: Cow::Owned(format!("{session}#0")),
        seq,
        view_id: Cow::Owned(format!("{session}#0:v0")),
        view_index: 0,
        late: false,
        reordered: false,
        session_start: T0,
    }
}

/// A page load, then 4 clicks 200 ms apart on a button that never responds.
#[allow(dead_code)] // not every test file uses it
pub fn rage_session(session: &str, start: i64) -> Vec<Sessionized<'static>> {
    let mut v = vec![sessionized(session, 0, start, "pageview")];
    for i in 0..4 {
        v.push(sessionized(session, 1 + i, start + 1_000 + i * 200, "click"));
    }
    v
}
