//! The detector's partition logic on sessionized events: signals are emitted once their window is
//! closed in event time, once only, identically after a state restore, and a quiet partition still
//! judges its last click by wall-clock idle time.

use std::borrow::Cow;

use friction_detector::{DetectorConfig, PartitionDetector, RulesByProject};
use friction_schemas::event::{Click, Mutation, Navigation, Target};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::RawEvent;

const T0: i64 = 1_705_312_800_000;

fn sessionized(session: &str, seq: i64, ts: i64, kind: &str) -> Sessionized<'static> {
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
fn rage_session(session: &str, start: i64) -> Vec<Sessionized<'static>> {
    let mut v = vec![sessionized(session, 0, start, "pageview")];
    for i in 0..4 {
        v.push(sessionized(session, 1 + i, start + 1_000 + i * 200, "click"));
    }
    v
}

fn cfg() -> DetectorConfig {
    DetectorConfig { session_gap_ms: 60_000, ..DetectorConfig::default() }
}

#[test]
fn an_unresponsive_rage_burst_becomes_a_signal_once_its_window_closes() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 1_000_000;
    for s in rage_session("s1", T0) {
        p.ingest(&s, wall);
    }
    // Nothing later in event time yet: the windows are still open.
    let early = p.judge(wall, &cfg(), &rules);
    assert!(early.signals.is_empty(), "{:?}", early.signals.iter().map(|s| &s.kind).collect::<Vec<_>>());

    // Another session's event moves the partition's event time 20 s on.
    p.ingest(&sessionized("other", 0, T0 + 21_000, "pageview"), wall + 10);
    let judged = p.judge(wall + 10, &cfg(), &rules);
    let kinds: Vec<(&str, bool)> = judged.signals.iter().map(|s| (s.kind.as_str(), s.unresponsive)).collect();
    assert!(kinds.contains(&("rage_click", true)), "{kinds:?}");
    let rage = judged.signals.iter().find(|s| s.kind == "rage_click").expect("rage");
    assert_eq!(rage.project_id, "proj");
    assert_eq!(rage.element_key, "pay-button");
    assert_eq!(rage.route_template, "/checkout");
    assert_eq!(rage.release.as_deref(), Some("web@1"));
    assert_eq!(rage.fingerprint.len(), 32);
    assert!(rage.evidence.event_ids.len() >= 3, "{:?}", rage.evidence);
    assert!(!rage.evidence.suppressions_checked.is_empty());
    assert!(rage.evidence.thresholds.contains_key("rage_min_clicks") || !rage.evidence.thresholds.is_empty());

    // Judging again emits nothing twice.
    let again = p.judge(wall + 20, &cfg(), &rules);
    assert!(again.signals.iter().all(|s| s.id != rage.id));
}

#[test]
fn a_signal_carries_the_url_of_its_page_not_the_sessions_latest() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 1_000_000;
    let at = |mut s: Sessionized<'static>, url: &str| {
        s.event.url = Some(Cow::Owned(url.to_string()));
        s
    };
    for s in rage_session("s1", T0) {
        p.ingest(&at(s, "https://shop.example/checkout?step=pay"), wall);
    }
    // The user gives up and goes elsewhere before the burst is judged.
    let mut away = at(sessionized("s1", 5, T0 + 3_000, "pageview"), "https://shop.example/help");
    away.view_id = Cow::Borrowed("s1#0:v1");
    away.event.route = Some("/help".into());
    p.ingest(&away, wall);
    p.ingest(&sessionized("other", 0, T0 + 30_000, "pageview"), wall + 10);
    let judged = p.judge(wall + 10, &cfg(), &rules);
    let rage = judged.signals.iter().find(|s| s.kind == "rage_click").expect("rage");
    assert_eq!(rage.url.as_deref(), Some("https://shop.example/checkout?step=pay"));
    assert_eq!(rage.route_template, "/checkout");
}

#[test]
fn a_rage_burst_on_a_dead_button_is_published_as_one_episode_with_both_labels() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 7_000_000;
    for s in rage_session("s5", T0) {
        p.ingest(&s, wall);
    }
    p.ingest(&sessionized("other", 0, T0 + 21_000, "pageview"), wall);
    let judged = p.judge(wall, &cfg(), &rules);
    let mine: Vec<_> = judged.signals.iter().filter(|s| s.session_id == "s5#0").collect();
    assert_eq!(mine.len(), 1, "{:?}", mine.iter().map(|s| (&s.kind, &s.labels)).collect::<Vec<_>>());
    let s = mine[0];
    // Primary by episode priority: unresponsive rage > dead.
    assert_eq!((s.kind.as_str(), s.unresponsive, s.label.as_str()), ("rage_click", true, "rage_click:unresponsive"));
    assert_eq!(s.labels, vec!["rage_click:unresponsive".to_string(), "dead_click".to_string()]);
    assert!(s.episode_id.is_some());
    let kinds: Vec<&str> = s.members.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"rage_click") && kinds.contains(&"dead_click"), "{kinds:?}");
    // The primary's id (deterministic) and fingerprint.
    let rage = s.members.iter().find(|m| m.kind == "rage_click").expect("rage member");
    assert_eq!(s.id, rage.id);
    let clicks: Vec<String> = (1..=4).map(|i| format!("s5-{i}")).collect();
    for c in &clicks {
        assert!(s.evidence.event_ids.contains(c), "{c} missing from {:?}", s.evidence.event_ids);
    }
    let dead = s.members.iter().find(|m| m.kind == "dead_click").expect("dead member");
    assert!(dead.event_ids.iter().all(|e| s.evidence.event_ids.contains(e)), "dead click's events are carried");

    // The same stream again (a replay) gives the same record.
    let mut again = PartitionDetector::default();
    for e in rage_session("s5", T0) {
        again.ingest(&e, wall);
    }
    again.ingest(&sessionized("other", 0, T0 + 21_000, "pageview"), wall);
    let replay = again.judge(wall, &cfg(), &rules);
    let r = replay.signals.iter().find(|x| x.session_id == "s5#0").expect("replayed");
    assert_eq!(r, s);
}

#[test]
fn restored_state_continues_exactly_like_the_original() {
    let rules = RulesByProject::default();
    let wall = 5_000_000;
    let events = rage_session("s2", T0);
    let (first, rest) = events.split_at(3);

    let mut original = PartitionDetector::default();
    for s in first {
        original.ingest(s, wall);
    }
    let _ = original.judge(wall, &cfg(), &rules);
    let mut restored = PartitionDetector::default();
    for (key, value) in original.take_changes() {
        restored.restore(&key, value.as_deref()).expect("restore");
    }
    let run = |p: &mut PartitionDetector| {
        for s in rest {
            p.ingest(s, wall + 5);
        }
        p.ingest(&sessionized("other", 0, T0 + 30_000, "pageview"), wall + 6);
        let mut ids: Vec<String> = p.judge(wall + 6, &cfg(), &rules).signals.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let a = run(&mut original);
    let b = run(&mut restored);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert!(restored.restore("broken", Some(b"{not json")).is_err());
}

#[test]
fn a_quiet_partition_judges_its_last_click_by_idle_wall_time() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 9_000_000;
    p.ingest(&sessionized("s3", 0, T0, "pageview"), wall);
    p.ingest(&sessionized("s3", 1, T0 + 1_000, "click"), wall);
    // 5 s of wall time: within the 7 s dead-click window (plus the 2 s grace): undecided.
    assert!(p.judge(wall + 5_000, &cfg(), &rules).signals.is_empty());
    // 12 s: the dead click is decided, but its episode (10 s from the click) is still open.
    assert!(p.judge(wall + 12_000, &cfg(), &rules).signals.is_empty());
    // 14 s later the episode has closed in event time through idle advancement.
    let judged = p.judge(wall + 14_000, &cfg(), &rules);
    let kinds: Vec<&str> = judged.signals.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["dead_click"], "{kinds:?}");
}

#[test]
fn a_click_that_gets_a_response_is_not_a_signal_and_sessions_close() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 2_000_000;
    p.ingest(&sessionized("s4", 0, T0, "pageview"), wall);
    p.ingest(&sessionized("s4", 1, T0 + 1_000, "click"), wall);
    p.ingest(&sessionized("s4", 2, T0 + 1_100, "mutation"), wall);
    p.ingest(&sessionized("other", 0, T0 + 120_000, "pageview"), wall);
    let judged = p.judge(wall, &cfg(), &rules);
    assert!(
        judged.signals.iter().all(|s| !s.session_id.starts_with("s4")),
        "{:?}",
        judged.signals.iter().map(|s| &s.kind).collect::<Vec<_>>()
    );
    // The session ended more than the gap ago in event time: its state is gone (a tombstone).
    let changes = p.take_changes();
    assert!(
        changes.iter().any(|(k, v)| k == "s4#0" && v.is_none()),
        "{:?}",
        changes.iter().map(|(k, v)| (k, v.is_some())).collect::<Vec<_>>()
    );
}

#[test]
fn an_event_tied_with_the_newest_time_of_another_session_is_still_in_time() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 3_000_000;
    p.ingest(&sessionized("a", 0, T0, "pageview"), wall);
    p.ingest(&sessionized("a", 1, T0 + 1_000, "click"), wall);
    // Another session reaches exactly the end of the click's 7 s window first...
    p.ingest(&sessionized("b", 0, T0 + 8_000, "pageview"), wall);
    let judged = p.judge(wall, &cfg(), &rules);
    assert!(judged.signals.iter().all(|s| s.session_id != "a#0"), "decided before its own events of that millisecond");
    // ...then the click's response, in the same millisecond: a slow click, not a dead one.
    p.ingest(&sessionized("a", 2, T0 + 8_000, "mutation"), wall);
    p.ingest(&sessionized("b", 1, T0 + 20_000, "pageview"), wall);
    let kinds: Vec<String> =
        p.judge(wall, &cfg(), &rules).signals.into_iter().filter(|s| s.session_id == "a#0").map(|s| s.kind).collect();
    assert_eq!(kinds, vec!["slow_click".to_string()]);
}

/// A commit cycle in the middle of a backlog is not a quiet partition: `flush_state` judges by
/// event time only, and the idle advance waits for `on_tick` (which the runtime calls only for a
/// partition read to its end).
#[test]
fn a_commit_cycle_does_not_advance_the_watermark_by_idle_time() {
    use friction_detector::DetectorHandler;
    use friction_runtime::stage::{Outputs, StageHandler};

    let mut handler = DetectorHandler::new(cfg(), RulesByProject::default());
    // Arrived at wall time 0: by the real clock, hours of "idleness" ago.
    for s in rage_session("s1", T0) {
        let payload = friction_schemas::encode_to_vec(&s).expect("encode");
        let mut out = Outputs::default();
        handler.on_message(0, 0, None, &payload, 0, &mut out).expect("ingest");
    }
    let mut out = Outputs::default();
    handler.flush_state(&mut out);
    assert_eq!(out.len(), 0, "no signal from a commit cycle: the burst's windows are still open in event time");
    let mut out = Outputs::default();
    handler.on_tick(0, friction_runtime::now_ms(), &mut out);
    assert_eq!(out.len(), 1, "the tick of a quiet partition judges the burst");
}
