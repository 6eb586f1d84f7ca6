//! The detector's partition logic on sessionized events: signals are published once decided, once
//! only, identically after a state restore, and a quiet session is judged by wall-clock time.

mod common;

use std::borrow::Cow;

use common::{rage_session, sessionized, T0};
use friction_detector::{DetectorConfig, PartitionDetector, RulesByProject};
use friction_schemas::sessionized::Sessionized;

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
    // The record's id is the episode's (stable across corrections), first published as version 1.
    assert_eq!(Some(&s.id), s.episode_id.as_ref());
    assert_eq!((s.version, s.retracted), (1, false));
    let rage = s.members.iter().find(|m| m.kind == "rage_click").expect("rage member");
    assert_ne!(s.id, rage.id, "the episode's id, not its primary member's");
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
fn a_quiet_session_publishes_its_dead_click_once_the_window_and_the_grace_have_passed() {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let wall = 9_000_000;
    let cfg = DetectorConfig { early_grace_ms: 500, ..cfg() };
    p.ingest(&sessionized("s3", 0, T0, "pageview"), wall);
    p.ingest(&sessionized("s3", 1, T0 + 1_000, "click"), wall);
    // The 7 s dead-click window runs from the click, on the wall clock from the arrival of the
    // session's newest event (the click), plus the grace for batches in flight.
    assert!(p.judge(wall + 5_000, &cfg, &rules).signals.is_empty());
    assert!(p.judge(wall + 7_499, &cfg, &rules).signals.is_empty());
    // Decided: published at once, although its episode (10 s from the click) is still open.
    let judged = p.judge(wall + 7_500, &cfg, &rules);
    let got: Vec<(&str, i64, bool)> =
        judged.signals.iter().map(|s| (s.kind.as_str(), s.version, s.retracted)).collect();
    assert_eq!(got, vec![("dead_click", 1, false)]);
    // The episode closing later changes nothing: no second record.
    assert!(p.judge(wall + 14_000, &cfg, &rules).signals.is_empty());
    assert!(p.judge(wall + 120_000, &cfg, &rules).signals.is_empty());
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
