//! Deciding early and correcting later (docs/architecture.md §4 "Time: decide early, settle
//! later"): each correction on its own, and the property that any arrival order within the allowed
//! lateness ends with the same live signals as the events processed in time order.

mod common;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use common::{sessionized, T0};
use friction_detector::{DetectorConfig, PartitionDetector, RulesByProject};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::signal::SignalRecord;
use proptest::prelude::*;

fn cfg() -> DetectorConfig {
    DetectorConfig { session_gap_ms: 60_000, ..DetectorConfig::default() }
}

/// A click on element `key`.
fn click_on(session: &str, seq: i64, ts: i64, key: &str) -> Sessionized<'static> {
    let mut e = sessionized(session, seq, ts, "click");
    if let Some(t) = e.event.target.as_mut() {
        t.key = Some(Cow::Owned(key.to_string()));
    }
    e
}

/// Judges at every `step` of wall time in `(from, to]`, collecting what is published.
fn tick(p: &mut PartitionDetector, from: i64, to: i64, step: i64, out: &mut Vec<SignalRecord>) {
    let rules = RulesByProject::default();
    let mut t = from;
    while t < to {
        t = (t + step).min(to);
        out.extend(p.judge(t, &cfg(), &rules).signals);
    }
}

/// The newest version of each (fingerprint, id): what an incident that applies each id's newest
/// version once holds.
fn newest(records: &[SignalRecord]) -> BTreeMap<(String, String), SignalRecord> {
    let mut m: BTreeMap<(String, String), SignalRecord> = BTreeMap::new();
    for r in records {
        let k = (r.fingerprint.clone(), r.id.clone());
        if m.get(&k).is_none_or(|old| r.version > old.version) {
            m.insert(k, r.clone());
        }
    }
    m
}

/// The live signals, without what depends on when they were decided (ids continue the first
/// publication's, which depends on arrival order).
fn live(records: &[SignalRecord]) -> Vec<String> {
    let mut v: Vec<String> = newest(records)
        .into_values()
        .filter(|r| !r.retracted)
        .map(|r| {
            let mut events = r.evidence.event_ids.clone();
            events.sort();
            let mut members: Vec<(String, Vec<String>)> =
                r.members.iter().map(|m| (m.kind.clone(), m.event_ids.clone())).collect();
            members.sort();
            format!(
                "{} {} {} {} unresp={} labels={:?} [{}..{}] events={events:?} members={members:?}",
                r.session_id, r.fingerprint, r.kind, r.element_key, r.unresponsive, r.labels, r.start_ms, r.end_ms
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_late_mutation_retracts_a_published_dead_click() {
    let mut p = PartitionDetector::default();
    let mut out = Vec::new();
    let wall = 9_000_000;
    p.ingest(&sessionized("s1", 0, T0, "pageview"), wall);
    p.ingest(&sessionized("s1", 1, T0 + 1_000, "click"), wall);
    tick(&mut p, wall, wall + 8_000, 100, &mut out);
    let got: Vec<(&str, i64, bool)> = out.iter().map(|r| (r.kind.as_str(), r.version, r.retracted)).collect();
    assert_eq!(got, [("dead_click", 1, false)], "published once the window and the grace passed");
    let id = out[0].id.clone();

    // The batch with the page's answer (300 ms after the click) was in flight.
    p.ingest(&sessionized("s1", 2, T0 + 1_300, "mutation"), wall + 8_000);
    let mut later = Vec::new();
    tick(&mut p, wall + 8_000, wall + 120_000, 100, &mut later);
    let got: Vec<(&str, i64, bool, &str)> =
        later.iter().map(|r| (r.id.as_str(), r.version, r.retracted, r.fingerprint.as_str())).collect();
    assert_eq!(got, [(id.as_str(), 2, true, out[0].fingerprint.as_str())], "retracted under its fingerprint, once");
    assert!(live(&[out, later].concat()).is_empty());
}

#[test]
fn a_late_earlier_click_joins_the_burst_as_a_new_version_not_a_second_signal() {
    let mut p = PartitionDetector::default();
    let mut out = Vec::new();
    let wall = 9_000_000;
    p.ingest(&sessionized("s1", 0, T0, "pageview"), wall);
    // Clicks 2–4 of a burst arrive; the batch with the first one is late.
    for (seq, dt) in [(1, 1_200), (2, 1_400), (3, 1_600)] {
        p.ingest(&click_on("s1", seq, T0 + dt, "pay"), wall);
    }
    tick(&mut p, wall, wall + 1_600, 100, &mut out);
    let first: Vec<(&str, i64)> = out.iter().map(|r| (r.kind.as_str(), r.version)).collect();
    assert_eq!(first, [("rage_click", 1)], "the burst is published before its episode closes");
    let id = out[0].id.clone();
    assert!(!out[0].evidence.event_ids.contains(&"s1-4".to_string()));

    p.ingest(&click_on("s1", 4, T0 + 1_000, "pay"), wall + 1_600);
    tick(&mut p, wall + 1_600, wall + 120_000, 100, &mut out);
    let ids: BTreeSet<&str> = out.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from([id.as_str()]), "one signal id throughout");
    assert!(out.iter().all(|r| !r.retracted), "{:?}", out.iter().map(|r| (r.version, r.retracted)).collect::<Vec<_>>());
    let versions: Vec<i64> = out.iter().map(|r| r.version).collect();
    assert!(versions.windows(2).all(|w| w[1] == w[0] + 1), "versions count up: {versions:?}");
    let last = out.last().expect("records");
    assert!(last.evidence.event_ids.contains(&"s1-4".to_string()), "the late click joined: {:?}", last.evidence);
    assert_eq!(last.start_ms, T0 + 1_000);
}

#[test]
fn a_dead_click_that_turns_into_a_rage_burst_moves_to_the_rage_fingerprint() {
    let mut p = PartitionDetector::default();
    let mut out = Vec::new();
    let wall = 9_000_000;
    p.ingest(&sessionized("s1", 0, T0, "pageview"), wall);
    p.ingest(&click_on("s1", 1, T0 + 1_000, "pay"), wall);
    tick(&mut p, wall, wall + 8_000, 100, &mut out);
    assert_eq!(out.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), ["dead_click"]);
    // Two more clicks 300 ms after the first were in a late batch: it was a rage burst.
    p.ingest(&click_on("s1", 2, T0 + 1_300, "pay"), wall + 8_000);
    p.ingest(&click_on("s1", 3, T0 + 1_600, "pay"), wall + 8_000);
    tick(&mut p, wall + 8_000, wall + 120_000, 100, &mut out);
    let got: Vec<(&str, i64, bool)> = out.iter().map(|r| (r.kind.as_str(), r.version, r.retracted)).collect();
    // The dead-click episode's record is retracted under the dead-click fingerprint, then
    // published under the rage fingerprint (same id).
    assert_eq!(got[..3], [("dead_click", 1, false), ("dead_click", 2, true), ("rage_click", 3, false)], "{got:?}");
    assert_ne!(out[1].fingerprint, out[2].fingerprint);
    assert!(out.iter().all(|r| r.id == out[0].id));
    let live = live(&out);
    assert_eq!(live.len(), 1, "{live:?}");
    assert!(live[0].contains("rage_click"), "{live:?}");
}

#[test]
fn replaying_the_same_arrivals_publishes_the_same_versions() {
    let run = || {
        let mut p = PartitionDetector::default();
        let mut out = Vec::new();
        let wall = 9_000_000;
        p.ingest(&sessionized("s1", 0, T0, "pageview"), wall);
        p.ingest(&click_on("s1", 1, T0 + 1_000, "pay"), wall);
        tick(&mut p, wall, wall + 8_000, 100, &mut out);
        p.ingest(&click_on("s1", 2, T0 + 1_300, "pay"), wall + 8_000);
        p.ingest(&click_on("s1", 3, T0 + 1_600, "pay"), wall + 8_000);
        tick(&mut p, wall + 8_000, wall + 120_000, 100, &mut out);
        out
    };
    assert_eq!(run(), run());
}

/// One session's script: (gap before the event, what it is).
#[derive(Debug, Clone, Copy)]
enum Op {
    Click(u8),
    Mutation,
    Scroll,
    Pause,
}

fn op() -> impl Strategy<Value = (i64, Op)> {
    prop_oneof![
        6 => (100i64..450, (0u8..2).prop_map(Op::Click)),
        2 => (100i64..3_000, (0u8..2).prop_map(Op::Click)),
        2 => (50i64..1_500, Just(Op::Mutation)),
        1 => (50i64..1_500, Just(Op::Scroll)),
        1 => (8_000i64..15_000, Just(Op::Pause)),
    ]
}

/// The events of up to three sessions, each in time order (distinct timestamps).
fn build(scripts: &[Vec<(i64, Op)>]) -> Vec<Sessionized<'static>> {
    let mut all = Vec::new();
    for (n, script) in scripts.iter().enumerate() {
        let session = format!("s{n}");
        let mut ts = T0 + n as i64 * 37;
        let mut seq = 0;
        all.push(sessionized(&session, seq, ts, "pageview"));
        for &(gap, op) in script {
            ts += gap;
            seq += 1;
            let e = match op {
                Op::Click(k) => click_on(&session, seq, ts, ["pay", "buy"][k as usize]),
                Op::Mutation => sessionized(&session, seq, ts, "mutation"),
                Op::Scroll => sessionized(&session, seq, ts, "scroll"),
                Op::Pause => continue,
            };
            all.push(e);
        }
    }
    all
}

/// SDK-like batches: each session's events cut every second, delivered `delay` after the batch's
/// last event (delays cycling through `delays`, so batches overtake each other).
fn deliveries(events: &[Sessionized<'static>], delays: &[i64]) -> Vec<(i64, Vec<Sessionized<'static>>)> {
    let mut by_session: BTreeMap<String, Vec<Sessionized<'static>>> = BTreeMap::new();
    for e in events {
        by_session.entry(e.session_key.to_string()).or_default().push(e.clone());
    }
    let mut batches = Vec::new();
    let mut d = 0;
    for evs in by_session.into_values() {
        let mut cur: Vec<Sessionized<'static>> = Vec::new();
        for e in evs {
            if cur.first().is_some_and(|f| e.event.timestamp - f.event.timestamp > 1_000) {
                let last = cur.last().map_or(0, |l| l.event.timestamp);
                batches.push((last + delays[d % delays.len()], std::mem::take(&mut cur)));
                d += 1;
            }
            cur.push(e);
        }
        if let Some(last) = cur.last().map(|l| l.event.timestamp) {
            batches.push((last + delays[d % delays.len()], cur));
            d += 1;
        }
    }
    batches.sort_by_key(|(at, _)| *at);
    batches
}

/// Delivers batches at their wall times (arrival order numbered like the sessionizer's `seq`),
/// judging every 100 ms, then lets every window pass.
fn run(batches: &[(i64, Vec<Sessionized<'static>>)]) -> Vec<SignalRecord> {
    let mut p = PartitionDetector::default();
    let mut out = Vec::new();
    let mut now = batches.first().map_or(T0, |b| b.0);
    let mut arrival = 0;
    for (at, batch) in batches {
        tick(&mut p, now, *at, 100, &mut out);
        now = now.max(*at);
        for e in batch {
            let mut e = e.clone();
            e.seq = arrival;
            arrival += 1;
            p.ingest(&e, now);
        }
    }
    tick(&mut p, now, now + 20_000, 100, &mut out);
    tick(&mut p, now + 20_000, now + 600_000, 5_000, &mut out);
    assert_eq!(p.open_sessions(), 0, "every session closed");
    out
}

/// A replay: the same arrivals read as fast as possible (one wall-clock instant), judged at commit
/// cycles by event time only, then closed.
fn replay(batches: &[(i64, Vec<Sessionized<'static>>)]) -> Vec<SignalRecord> {
    let rules = RulesByProject::default();
    let mut p = PartitionDetector::default();
    let mut out = Vec::new();
    let now = 1;
    let mut arrival = 0;
    for (_, batch) in batches {
        for e in batch {
            let mut e = e.clone();
            e.seq = arrival;
            arrival += 1;
            p.ingest(&e, now);
        }
        out.extend(p.judge_reading(now, &cfg(), &rules).signals);
    }
    out.extend(p.judge(now + 24 * 3_600_000, &cfg(), &rules).signals);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For any arrival order with batches delayed 0–2 s (overtaking each other), once everything
    /// arrived and every window passed, the live signals equal those of the events processed in
    /// time order; every version of an id is newer than the last, every retraction names a
    /// published id; and a replay of the same arrivals ends the same.
    #[test]
    fn any_arrival_order_settles_on_the_in_order_signals(
        scripts in prop::collection::vec(prop::collection::vec(op(), 3..25), 1..4),
        delays in prop::collection::vec(0i64..2_000, 1..8),
    ) {
        let events = build(&scripts);
        let mut in_order: Vec<(i64, Vec<Sessionized<'static>>)> =
            events.iter().map(|e| (e.event.timestamp, vec![e.clone()])).collect();
        in_order.sort_by_key(|(at, _)| *at);
        let want = live(&run(&in_order));

        let batches = deliveries(&events, &delays);
        let got = run(&batches);
        prop_assert_eq!(&live(&got), &want);

        let mut seen: BTreeMap<(String, String), i64> = BTreeMap::new();
        for r in &got {
            let k = (r.fingerprint.clone(), r.id.clone());
            if let Some(&v) = seen.get(&k) {
                prop_assert!(r.version > v, "versions grow per (fingerprint, id): {} after {}", r.version, v);
            } else {
                prop_assert!(!r.retracted, "a retraction of an id never published under its fingerprint");
            }
            seen.insert(k, r.version);
        }

        prop_assert_eq!(&live(&replay(&batches)), &want);
    }
}
