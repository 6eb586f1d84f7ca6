//! The scenario suite: labelled sessions, one readable JSON file per scenario in `tests/scenarios/`.
//!
//! Each file states the signals it must produce and nothing else (kinds, and optionally element
//! keys, the unresponsive tier and episodes), the suppressed candidates with their reasons, and how
//! many undetermined clicks. True-negative scenarios (`tn_*`) also name what a naive rule would flag
//! (`naiveFlags`: PostHog-style rage — 3 clicks each ≤ 1 s and < 30 px apart; dead — no mutation or
//! navigation within 1 s; u-turn — A → B → A within 7 s; form abandon — any input, then leave); the
//! test checks that the naive rule does flag it (so the scenario is a real false-positive class)
//! and that we do not.
//!
//! Event shorthand: `t` is milliseconds from the session start; ids, sequence numbers, views (a new
//! one per pageview, per tab) and routes are filled in as the sessionizer would; `tab` sets `tabId`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use friction_rules::{detect, Detection, Event, EventKind, Horizon, RuleConfig, Rules, SignalKind};
use serde_json::{json, Map, Value};

const BASE_MS: i64 = 1_700_000_000_000;

struct Scenario {
    file: String,
    events: Vec<Event<'static>>,
    rules: Rules,
    expect: Value,
}

fn load(path: &PathBuf) -> Scenario {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let rules = match doc.get("config") {
        Some(c) => Rules::new(serde_json::from_value::<RuleConfig>(c.clone()).expect("config parses")).expect("valid"),
        None => Rules::default(),
    };
    // Per tab: (view number, current route).
    let mut tabs: BTreeMap<String, (u32, String)> = BTreeMap::new();
    let mut events = Vec::new();
    for (i, raw) in doc["events"].as_array().expect("events array").iter().enumerate() {
        let mut e: Map<String, Value> = raw.as_object().expect("event object").clone();
        let t = e.remove("t").and_then(|v| v.as_i64()).expect("t");
        let tab = e.remove("tab").and_then(|v| v.as_str().map(str::to_owned));
        let state = tabs.entry(tab.clone().unwrap_or_default()).or_insert((0, String::new()));
        if e.get("type") == Some(&json!("pageview")) {
            let route = e.get("route").or_else(|| e.get("to")).and_then(Value::as_str).unwrap_or("/").to_owned();
            if !state.1.is_empty() && !e.contains_key("from") {
                e.insert("from".into(), json!(state.1));
            }
            state.0 += 1;
            state.1 = route;
        }
        let view = format!("{}v{}", tab.clone().unwrap_or_default(), state.0);
        let route = state.1.clone();
        e.entry("eventId").or_insert(json!(format!("e{i}")));
        e.insert("sessionId".into(), json!("s1"));
        e.insert("seq".into(), json!(i));
        e.insert("timestampMs".into(), json!(BASE_MS + t));
        e.insert("viewId".into(), json!(view));
        e.entry("route").or_insert(json!(route));
        if let Some(tab) = tab {
            e.insert("tabId".into(), json!(tab));
        }
        let ev: Event<'static> =
            serde_json::from_value(Value::Object(e)).unwrap_or_else(|err| panic!("{file}: event {i}: {err}"));
        events.push(ev);
    }
    Scenario { file, events, rules, expect: doc["expect"].clone() }
}

fn scenarios() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenario dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths.iter().map(load).collect()
}

fn run(s: &Scenario) -> Detection {
    let last = s.events.iter().map(|e| e.timestamp_ms).max().unwrap_or(BASE_MS);
    detect(&s.events, Horizon::closed(last + 60_000), &s.rules)
}

fn kind_name(k: SignalKind) -> String {
    k.as_str().to_owned()
}

// ------------------------------------------------------------------------- naive anchors

fn naive_rage(ev: &[Event<'_>]) -> bool {
    let mut run = 0;
    let mut prev: Option<(i64, f64, f64)> = None;
    for e in ev {
        if let EventKind::Click { target, .. } = &e.kind {
            let (x, y) = target.point().unwrap_or((0.0, 0.0));
            run = match prev {
                Some((t, px, py)) if e.timestamp_ms - t < 1000 && (x - px).abs() + (y - py).abs() < 30.0 => run + 1,
                _ => 1,
            };
            prev = Some((e.timestamp_ms, x, y));
            if run >= 3 {
                return true;
            }
        }
    }
    false
}

fn naive_dead(ev: &[Event<'_>]) -> bool {
    ev.iter().enumerate().any(|(i, c)| {
        matches!(c.kind, EventKind::Click { .. })
            && !ev[i + 1..].iter().take_while(|e| e.timestamp_ms - c.timestamp_ms <= 1000).any(|e| {
                matches!(e.kind, EventKind::Mutation { .. } | EventKind::Pageview { .. }) && e.tab_id == c.tab_id
            })
    })
}

fn naive_u_turn(ev: &[Event<'_>]) -> bool {
    let pvs: Vec<&Event<'_>> = ev.iter().filter(|e| matches!(e.kind, EventKind::Pageview { .. })).collect();
    pvs.windows(3)
        .any(|w| w[0].route == w[2].route && w[1].route != w[0].route && w[2].timestamp_ms - w[1].timestamp_ms <= 7000)
}

fn naive_form_abandon(ev: &[Event<'_>]) -> bool {
    ev.iter().any(|e| matches!(e.kind, EventKind::Input { .. }))
        && !ev.iter().any(|e| matches!(e.kind, EventKind::Submit { .. }))
}

fn naive_flags(kind: &str, ev: &[Event<'_>]) -> bool {
    match kind {
        "rage_click" => naive_rage(ev),
        "dead_click" => naive_dead(ev),
        "u_turn" => naive_u_turn(ev),
        "form_abandon" => naive_form_abandon(ev),
        other => panic!("no naive rule for {other}"),
    }
}

// ------------------------------------------------------------------------- checks

fn check(s: &Scenario) -> Vec<String> {
    let d = run(s);
    let mut errs = Vec::new();
    let exp = &s.expect;

    // Signals: exactly the listed kinds (as a multiset), and listed attributes where given.
    let mut want: Vec<String> =
        exp["signals"].as_array().into_iter().flatten().map(|x| x["kind"].as_str().unwrap_or("?").to_owned()).collect();
    let mut got: Vec<String> = d.signals.iter().map(|x| kind_name(x.kind)).collect();
    want.sort();
    got.sort();
    if want != got {
        errs.push(format!("signals: want {want:?}, got {got:?}"));
    }
    for w in exp["signals"].as_array().into_iter().flatten() {
        let kind = w["kind"].as_str().unwrap_or("?");
        let matching: Vec<_> = d.signals.iter().filter(|x| x.kind.as_str() == kind).collect();
        let ok = matching.iter().any(|x| {
            w.get("unresponsive").is_none_or(|u| u.as_bool() == Some(x.unresponsive))
                && w.get("elementKey").is_none_or(|k| k.as_str() == Some(x.element_key.as_str()))
        });
        if !ok && !matching.is_empty() {
            errs.push(format!(
                "no {kind} matches {w}: {:?}",
                matching.iter().map(|x| (&x.element_key, x.unresponsive)).collect::<Vec<_>>()
            ));
        }
    }
    // Suppressed: exactly the listed (kind, reason) pairs.
    let mut want: Vec<(String, String)> = exp["suppressed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (x["kind"].as_str().unwrap_or("?").to_owned(), x["reason"].as_str().unwrap_or("?").to_owned()))
        .collect();
    let mut got: Vec<(String, String)> =
        d.suppressed.iter().map(|x| (kind_name(x.candidate.kind), x.reason.as_str().to_owned())).collect();
    want.sort();
    got.sort();
    if want != got {
        errs.push(format!("suppressed: want {want:?}, got {got:?}"));
    }
    let und = exp["undetermined"].as_u64().unwrap_or(0) as usize;
    if d.undetermined.len() != und {
        errs.push(format!("undetermined: want {und}, got {}", d.undetermined.len()));
    }
    // Episodes, when stated.
    if let Some(eps) = exp.get("episodes").and_then(Value::as_array) {
        if eps.len() != d.episodes.len() {
            errs.push(format!("episodes: want {}, got {}", eps.len(), d.episodes.len()));
        }
        for (w, g) in eps.iter().zip(&d.episodes) {
            if w["primary"].as_str() != Some(g.primary.as_str()) {
                errs.push(format!("episode primary: want {}, got {:?}", w["primary"], g.primary));
            }
            if let Some(u) = w.get("unresponsive").and_then(Value::as_bool) {
                if u != g.unresponsive {
                    errs.push(format!("episode unresponsive: want {u}"));
                }
            }
            if let Some(l) = w.get("labels").and_then(Value::as_array) {
                let want: Vec<&str> = l.iter().filter_map(Value::as_str).collect();
                let got: Vec<&str> = g.labels.iter().map(|x| x.as_ref()).collect();
                if want != got {
                    errs.push(format!("episode labels: want {want:?}, got {got:?}"));
                }
            }
        }
    }
    // Every episode is made of reported signals; no undetermined click ever is one.
    for ep in &d.episodes {
        if ep.signals.iter().any(|x| !x.kind.is_issue_kind()) {
            errs.push("an episode contains an undetermined signal".into());
        }
    }
    // The detector publishes one record per episode: every signal must be in exactly one, or it
    // would be lost (or counted twice) downstream.
    for x in &d.signals {
        let n = d.episodes.iter().filter(|ep| ep.signals.iter().any(|m| m.id == x.id)).count();
        if n != 1 {
            errs.push(format!("signal {} ({}) is in {n} episodes, not one", x.id, x.kind.as_str()));
        }
    }
    let members: usize = d.episodes.iter().map(|ep| ep.signals.len()).sum();
    if members != d.signals.len() {
        errs.push(format!("episodes hold {members} signals, {} were reported", d.signals.len()));
    }
    // The false-positive class is real (a naive rule flags it) and we do not flag it.
    for k in exp.get("naiveFlags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !naive_flags(k, &s.events) {
            errs.push(format!("naive rule does not flag {k}: the scenario shows nothing"));
        }
        if d.signals.iter().any(|x| x.kind.as_str() == k) {
            errs.push(format!("we flag {k} like the naive rule does"));
        }
    }
    errs
}

#[test]
fn every_scenario_produces_exactly_its_labels() {
    let all = scenarios();
    assert!(all.len() >= 30, "scenario files missing: {}", all.len());
    let mut failures = Vec::new();
    for s in &all {
        for e in check(s) {
            failures.push(format!("{}: {e}", s.file));
        }
    }
    assert!(failures.is_empty(), "{} scenario failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_suppression_has_a_true_negative_scenario() {
    let all = scenarios();
    let mut seen = std::collections::BTreeSet::new();
    for s in &all {
        for r in run(s).suppressed {
            seen.insert(r.reason);
        }
    }
    for r in friction_rules::Suppression::ALL {
        assert!(seen.contains(&r), "no scenario exercises {}", r.as_str());
    }
}

#[test]
fn every_kind_has_a_true_positive_scenario() {
    let all = scenarios();
    let mut seen = std::collections::BTreeSet::new();
    for s in all.iter().filter(|s| s.file.starts_with("tp_")) {
        for x in run(s).signals {
            seen.insert(x.kind);
        }
    }
    for k in SignalKind::ALL.into_iter().filter(|k| k.is_issue_kind()) {
        assert!(seen.contains(&k), "no true-positive scenario for {}", k.as_str());
    }
}

#[test]
fn scenarios_give_the_same_answer_event_by_event() {
    // Feed each scenario one event at a time with the watermark at that event: same union.
    for s in scenarios() {
        let one = run(&s);
        let last = s.events.iter().map(|e| e.timestamp_ms).max().unwrap_or(BASE_MS);
        let mut h: Option<Horizon> = None;
        let mut ids = Vec::new();
        let mut eps = Vec::new();
        for i in 0..s.events.len() {
            let w = s.events[i].timestamp_ms;
            let hz = h.map_or(Horizon::open(w), |p| p.next(w, false));
            let d = detect(&s.events[..=i], hz, &s.rules);
            ids.extend(d.signals.into_iter().map(|x| x.id));
            eps.extend(d.episodes.into_iter().map(|x| x.id));
            h = Some(hz);
        }
        let hz = h.map_or(Horizon::closed(last + 60_000), |p| p.next(last + 60_000, true));
        let d = detect(&s.events, hz, &s.rules);
        ids.extend(d.signals.into_iter().map(|x| x.id));
        eps.extend(d.episodes.into_iter().map(|x| x.id));
        ids.sort();
        eps.sort();
        let mut want: Vec<String> = one.signals.into_iter().map(|x| x.id).collect();
        let mut want_eps: Vec<String> = one.episodes.into_iter().map(|x| x.id).collect();
        want.sort();
        want_eps.sort();
        assert_eq!(ids, want, "{}", s.file);
        assert_eq!(eps, want_eps, "{}", s.file);
    }
}
