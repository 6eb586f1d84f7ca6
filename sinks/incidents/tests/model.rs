//! The incident decisions: counting, confirmation window, regression, scoring, status changes,
//! and (property tests) that the order of signals, replays and batching do not change the final
//! incident. Signals are counted by the stage's own [`apply_batch`] in an in-memory SQLite store.

use std::collections::HashSet;

use friction_incidents::apply_batch;
use friction_incidents::model::{
    self, after_signal, release_cmp, score, set_status, window_confirms, IncidentConfig, TransitionError,
};
use friction_schemas::SignalRecord;
use friction_store::{Incident, IncidentStatus, Store};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000;

fn signal(id: &str, session: &str, user: Option<&str>, start_ms: i64, release: Option<&str>) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: "p1".into(),
        fingerprint: "fp1".into(),
        kind: "rage_click".into(),
        unresponsive: true,
        label: "rage_click:unresponsive".into(),
        session_id: session.into(),
        view_id: "v1".into(),
        route_template: "/checkout".into(),
        element_key: "button#pay".into(),
        start_ms,
        end_ms: start_ms + 1500,
        user_id: user.map(String::from),
        release: release.map(String::from),
        ..Default::default()
    }
}

/// Counts `batches` one after the other with the stage's own code ([`apply_batch`], at time 0) in
/// a fresh in-memory SQLite store, and returns the stored incident of the first signal.
fn run_batches(batches: &[Vec<SignalRecord>]) -> Incident {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Store::connect("sqlite::memory:").await.expect("store");
        store.migrate().await.expect("migrate");
        let config = IncidentConfig::default();
        for batch in batches {
            apply_batch(&store, batch, &config, 0).await.expect("apply");
        }
        let first = batches.iter().flatten().next().expect("at least one signal");
        let incident = store.incident(model::incident_id(first)).await.expect("read").expect("incident");
        store.close().await;
        incident
    })
}

/// Each signal in a batch of its own, in order.
fn run(signals: &[SignalRecord]) -> Incident {
    run_batches(&signals.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>())
}

#[test]
fn three_sessions_within_a_day_confirm_and_each_session_counts_once() {
    let signals = vec![
        signal("a1", "s1", Some("alice"), 0, Some("1.0")),
        signal("a2", "s1", Some("alice"), 10_000, Some("1.0")),
        signal("b1", "s2", None, HOUR, Some("1.1")),
    ];
    let inc = run(&signals);
    assert_eq!(inc.status, IncidentStatus::Open, "two sessions do not confirm");
    assert_eq!((inc.occurrences, inc.sessions, inc.users), (3, 2, 2));

    let mut more = signals.clone();
    more.push(signal("c1", "s3", Some("carol"), 2 * HOUR, Some("1.10")));
    let inc = run(&more);
    assert_eq!(inc.status, IncidentStatus::Confirmed);
    assert_eq!((inc.occurrences, inc.sessions, inc.users), (4, 3, 3));
    assert_eq!(inc.releases, vec!["1.0", "1.1", "1.10"]);
    assert_eq!(inc.latest_release.as_deref(), Some("1.10"));
    assert_eq!(inc.first_seen_ms, 0);
    assert_eq!(inc.last_seen_ms, 2 * HOUR + 1500);
    assert_eq!(inc.labels, vec!["rage_click", "rage_click:unresponsive"]);
    assert!(inc.title.contains("unresponsive") && inc.title.contains("/checkout"), "{}", inc.title);
}

#[test]
fn sessions_spread_over_more_than_a_day_do_not_confirm() {
    let inc = run(&[
        signal("a", "s1", None, 0, None),
        signal("b", "s2", None, 20 * HOUR, None),
        signal("c", "s3", None, 45 * HOUR, None),
    ]);
    assert_eq!(inc.status, IncidentStatus::Open);
    assert_eq!(inc.sessions, 3);
}

#[test]
fn a_replayed_signal_changes_nothing() {
    let (a, b) = (signal("a", "s1", None, 0, None), signal("b", "s2", None, 5, None));
    let once = run(&[a.clone(), b.clone()]);
    assert_eq!((once.occurrences, once.sessions, once.users), (2, 2, 2));
    // Replays in a later batch, and twice within one batch (a consumer re-reading a range).
    let twice = run_batches(&[vec![a.clone()], vec![b.clone()], vec![a.clone(), b.clone(), a.clone()], vec![b]]);
    assert_eq!(once, twice);
    let in_one_batch = run_batches(&[vec![a.clone(), a]]);
    assert_eq!((in_one_batch.occurrences, in_one_batch.sessions), (1, 1));
}

#[test]
fn window_confirms_needs_distinct_sessions_inside_one_window() {
    let p = |v: &[(i64, &str)]| v.iter().map(|(t, s)| (*t, s.to_string())).collect::<Vec<_>>();
    assert!(!window_confirms(&p(&[(0, "a"), (1, "a"), (2, "b")]), 3, 10));
    assert!(window_confirms(&p(&[(0, "a"), (1, "b"), (10, "c")]), 3, 10));
    assert!(!window_confirms(&p(&[(0, "a"), (1, "b"), (11, "c")]), 3, 10));
    assert!(window_confirms(&p(&[(0, "a"), (11, "b"), (12, "a"), (13, "c")]), 3, 10));
    assert!(!window_confirms(&[], 1, 10));
}

#[test]
fn resolved_incidents_regress_only_in_a_new_release() {
    let mut inc = run(&[
        signal("a", "s1", None, 0, Some("1.0")),
        signal("b", "s2", None, 1, Some("1.0")),
        signal("c", "s3", None, 2, Some("1.0")),
    ]);
    assert_eq!(set_status(&mut inc, IncidentStatus::Resolved, 100), Ok(Some(IncidentStatus::Confirmed)));
    assert_eq!(inc.resolved_releases.as_deref(), Some(&["1.0".to_string()][..]));
    // An old client still on 1.0: stays resolved.
    let old = signal("d", "s4", None, 200, Some("1.0"));
    assert_eq!(after_signal(&mut inc, &old, false, 300), None);
    assert_eq!(inc.status, IncidentStatus::Resolved);
    // 1.1 still has the problem: regressed, a new generation.
    let new = signal("e", "s5", None, 400, Some("1.1"));
    assert_eq!(after_signal(&mut inc, &new, false, 500), Some(IncidentStatus::Resolved));
    assert_eq!((inc.status, inc.generation), (IncidentStatus::Regressed, 2));
}

#[test]
fn without_releases_a_signal_after_the_resolution_regresses() {
    let mut inc = run(&[signal("a", "s1", None, 0, None)]);
    set_status(&mut inc, IncidentStatus::Resolved, 1_000).expect("resolve");
    assert_eq!(after_signal(&mut inc, &signal("b", "s2", None, 500, None), false, 2_000), None);
    assert_eq!(
        after_signal(&mut inc, &signal("c", "s3", None, 1_500, None), false, 2_000),
        Some(IncidentStatus::Resolved)
    );
}

#[test]
fn ignored_incidents_stay_quiet() {
    let mut inc = run(&[signal("a", "s1", None, 0, None)]);
    set_status(&mut inc, IncidentStatus::Ignored, 10).expect("ignore");
    for (i, s) in ["s2", "s3", "s4"].iter().enumerate() {
        let sig = signal(&format!("x{i}"), s, None, 20 + i as i64, None);
        assert_eq!(after_signal(&mut inc, &sig, true, 30), None);
    }
    assert_eq!(inc.status, IncidentStatus::Ignored);
}

#[test]
fn status_changes_people_may_make() {
    let mut inc = run(&[signal("a", "s1", None, 0, None)]);
    assert_eq!(set_status(&mut inc, IncidentStatus::Regressed, 1), Err(TransitionError::RegressedIsAutomatic));
    // An engineer may confirm an incident its policy has not confirmed (issue 17: it used to be refused).
    let mut by_hand = inc.clone();
    assert_eq!(set_status(&mut by_hand, IncidentStatus::Confirmed, 1), Ok(Some(IncidentStatus::Open)));
    assert_eq!(
        (by_hand.status, by_hand.confirmed_at_ms, by_hand.confirmed_manually),
        (IncidentStatus::Confirmed, Some(1), true)
    );
    assert_eq!(set_status(&mut inc, IncidentStatus::Open, 1), Ok(None), "already open");
    assert_eq!(set_status(&mut inc, IncidentStatus::Ignored, 1), Ok(Some(IncidentStatus::Open)));
    assert_eq!(set_status(&mut inc, IncidentStatus::Open, 2), Ok(Some(IncidentStatus::Ignored)));
    inc.confirmed_at_ms = Some(5);
    set_status(&mut inc, IncidentStatus::Resolved, 6).expect("resolve");
    // Reopening a once-confirmed incident puts it back to confirmed.
    assert_eq!(set_status(&mut inc, IncidentStatus::Open, 7), Ok(Some(IncidentStatus::Resolved)));
    assert_eq!(inc.status, IncidentStatus::Confirmed);
    assert_eq!(inc.resolved_at_ms, None);
}

#[test]
fn score_grows_with_users_and_weights_kind_and_route() {
    let config = IncidentConfig::default();
    let mut inc = run(&[signal("a", "s1", None, 0, None)]);
    inc.users = 1;
    let (one, _) = score(&inc, &config);
    inc.users = 100;
    let (many, priority) = score(&inc, &config);
    assert!(many > one, "{many} > {one}");
    // log1p(100) × 0.9 (unresponsive rage) × 2 (checkout) ≈ 8.307
    assert!((many - 8.307).abs() < 0.001, "{many}");
    assert_eq!(priority, "P1");
    inc.route_template = "/checkouts-archive".into();
    let (elsewhere, _) = score(&inc, &config);
    assert!((elsewhere - many / 2.0).abs() < 0.001, "prefix match is by path segment: {elsewhere}");
    inc.users = 3;
    assert_eq!(score(&inc, &config).1, "P2", "few users are never P1");
    inc.kind = "error_click".into();
    inc.labels = vec!["error_click".into()];
    assert!(score(&inc, &config).0 > 1.0);
}

#[test]
fn samples_are_the_earliest_and_bounded() {
    let signals: Vec<SignalRecord> =
        (0..25).rev().map(|i| signal(&format!("id{i:02}"), &format!("s{i}"), None, i * 1000, None)).collect();
    let inc = run(&signals);
    assert_eq!(inc.samples.len(), 10);
    let ids: Vec<&str> = inc.samples.iter().map(|s| s.signal_id.as_str()).collect();
    assert_eq!(ids, (0..10).map(|i| format!("id{i:02}")).collect::<Vec<_>>());
}

#[test]
fn releases_compare_in_natural_order() {
    use std::cmp::Ordering::*;
    assert_eq!(release_cmp("1.10.0", "1.9.2"), Greater);
    assert_eq!(release_cmp("v9", "v10"), Less);
    assert_eq!(release_cmp("1.0", "1.0"), Equal);
    assert_eq!(release_cmp("1.0", "1.0-rc1"), Less);
    assert_eq!(release_cmp("2024-01-05", "2024-01-10"), Less);
}

#[test]
fn invalid_signals_are_named() {
    let mut s = signal("a", "s1", None, 0, None);
    s.kind = "rage".into();
    assert!(model::validate(&s).expect_err("invalid").to_string().contains("\"rage\""));
    let mut s = signal("a", "", None, 0, None);
    s.session_id = " ".into();
    assert!(model::validate(&s).expect_err("invalid").to_string().contains("sessionId"));
    let mut s = signal("a", "s1", None, 10, None);
    s.end_ms = 5;
    assert!(model::validate(&s).is_err());
    assert!(model::validate(&signal("a", "s1", None, 0, None)).is_ok());
}

fn arb_signals() -> impl Strategy<Value = Vec<SignalRecord>> {
    prop::collection::vec(
        (0u8..12, 0u8..6, prop::option::of(0u8..4), 0i64..(72 * HOUR), prop::option::of(0u8..5)),
        1..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(id, session, user, start, release)| {
                let user = user.map(|u| format!("user{u}"));
                let release = release.map(|r| format!("1.{r}"));
                // The same id always carries the same content (ids are content hashes).
                let start = start - start % HOUR + i64::from(id) * 1000;
                let session = format!("s{}", (u32::from(id) + u32::from(session)) % 7);
                signal(&format!("sig{id}"), &session, user.as_deref(), start, release.as_deref())
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The order signals arrive in (and replays among them) does not change the final incident.
    #[test]
    fn order_does_not_change_the_incident(signals in arb_signals(), seed in any::<u64>()) {
        // Signals with equal ids must be equal; keep the first of each id.
        let mut seen = HashSet::new();
        let signals: Vec<SignalRecord> = signals.into_iter().filter(|s| seen.insert(s.id.clone())).collect();
        let mut shuffled = signals.clone();
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        // Replays: some signals again at the end.
        let replays: Vec<SignalRecord> = shuffled.iter().step_by(3).cloned().collect();
        shuffled.extend(replays);
        // Batches of 1 to 5 signals, as the stage's batching cuts them.
        let mut batches = Vec::new();
        let mut rest = shuffled.as_slice();
        while !rest.is_empty() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (batch, tail) = rest.split_at(((rng >> 33) as usize % 5 + 1).min(rest.len()));
            batches.push(batch.to_vec());
            rest = tail;
        }
        let a = run(&signals);
        let mut b = run_batches(&batches);
        // The title and kind come from the first signal, equal for all here; the version counts
        // the batches that changed the incident.
        b.version = a.version;
        prop_assert_eq!(a.occurrences, signals.len() as i64);
        prop_assert_eq!(&a, &b);
    }
}

#[test]
fn nul_in_stored_text_is_replaced_and_nothing_else_changes() {
    let clean = SignalRecord {
        id: "s1".into(),
        project_id: "p".into(),
        fingerprint: "f".into(),
        kind: "dead_click".into(),
        session_id: "sess".into(),
        element_key: "pay".into(),
        user_id: Some("ann".into()),
        ..SignalRecord::default()
    };
    let mut unchanged = clean.clone();
    assert!(!friction_incidents::model::replace_nul(&mut unchanged));
    assert_eq!(unchanged, clean);

    let mut dirty = SignalRecord {
        session_id: "se\0ss".into(),
        element_key: "pay\0\0now".into(),
        route_template: "/\0".into(),
        user_id: Some("\0".into()),
        release: Some("1.0\0".into()),
        labels: vec!["kept\0as JSON".into()],
        ..clean.clone()
    };
    assert!(friction_incidents::model::replace_nul(&mut dirty));
    assert_eq!(dirty.session_id, "se\u{FFFD}ss");
    assert_eq!(dirty.element_key, "pay\u{FFFD}\u{FFFD}now");
    assert_eq!(dirty.route_template, "/\u{FFFD}");
    assert_eq!(dirty.user_id.as_deref(), Some("\u{FFFD}"));
    assert_eq!(dirty.release.as_deref(), Some("1.0\u{FFFD}"));
    assert_eq!(dirty.labels, vec!["kept\0as JSON".to_string()], "stored as JSON, which escapes NUL");
    assert_eq!((dirty.id.as_str(), dirty.fingerprint.as_str()), ("s1", "f"));
}

/// Signal ids each published in 1 to 3 versions (a later version may move the signal to another
/// session or start, or retract it), as the detector corrects itself (docs/architecture.md §4
/// "Time: decide early, settle later").
fn arb_versions() -> impl Strategy<Value = Vec<SignalRecord>> {
    prop::collection::vec(
        (0u8..6, 1i64..4, prop::collection::vec((0u8..5, 0i64..(30 * HOUR), any::<bool>()), 3)),
        1..12,
    )
    .prop_map(|raw| {
        let mut out = Vec::new();
        for (id, versions, contents) in raw {
            for (v, (session, start, retract)) in contents.into_iter().take(versions as usize).enumerate() {
                let mut s = signal(&format!("sig{id}"), &format!("s{session}"), None, start, None);
                s.version = v as i64 + 1;
                s.retracted = retract && v > 0;
                out.push(s);
            }
        }
        // One publication per (id, version): the first drawn.
        let mut seen = HashSet::new();
        out.retain(|s| seen.insert((s.id.clone(), s.version)));
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any delivery order of the versions (replays included, any batching) gives the incident of
    /// the in-order run, whose counts are those of the newest version of each signal.
    #[test]
    fn versions_in_any_order_converge(signals in arb_versions(), seed in any::<u64>()) {
        let mut in_order = signals.clone();
        in_order.sort_by_key(|s| s.version);
        let mut shuffled = signals.clone();
        let mut rng = seed;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let replays: Vec<SignalRecord> = shuffled.iter().step_by(2).cloned().collect();
        shuffled.extend(replays);
        let mut batches = Vec::new();
        let mut rest = shuffled.as_slice();
        while !rest.is_empty() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (batch, tail) = rest.split_at(((rng >> 33) as usize % 4 + 1).min(rest.len()));
            batches.push(batch.to_vec());
            rest = tail;
        }
        let a = run(&in_order);
        let mut b = run_batches(&batches);
        b.version = a.version;
        // What the newest versions say.
        let mut newest: std::collections::BTreeMap<&str, &SignalRecord> = Default::default();
        for s in &signals {
            let e = newest.entry(s.id.as_str()).or_insert(s);
            if s.version > e.version { *e = s; }
        }
        let live: Vec<&&SignalRecord> = newest.values().filter(|s| !s.retracted).collect();
        let sessions: HashSet<&str> = live.iter().map(|s| s.session_id.as_str()).collect();
        prop_assert_eq!(a.occurrences, live.len() as i64);
        prop_assert_eq!(a.sessions, sessions.len() as i64);
        prop_assert!(a.samples.iter().all(|s| live.iter().any(|l| l.id == s.signal_id && l.start_ms == s.start_ms)));
        prop_assert_eq!(a.samples.len(), live.len().min(10));
        prop_assert_eq!(&a, &b);
    }
}

#[test]
fn confirmation_policies_by_kind() {
    use friction_incidents::model::{policy_confirms, ConfirmationPolicy, ServerErrorConfirmation};
    use friction_store::ConfirmationPoint;
    let point = |t: i64, s: &str, level: Option<&str>| ConfirmationPoint {
        start_ms: t,
        session_id: s.into(),
        log_level: level.map(String::from),
    };
    let policy = ConfirmationPolicy::default();
    let log = |level| vec![point(0, "log:pos", Some(level))];
    assert!(policy_confirms(&policy, "server_error", &log("error")));
    assert!(policy_confirms(&policy, "server_error", &log("fatal")));
    assert!(!policy_confirms(&policy, "server_error", &log("warn")), "warn does not confirm at once");
    let warns: Vec<_> = ["a", "b", "c"].iter().map(|s| point(0, s, Some("warn"))).collect();
    assert!(!policy_confirms(&policy, "server_error", &warns), "nor by count");
    let sessions = ConfirmationPolicy { server_error: ServerErrorConfirmation::Sessions, ..policy };
    assert!(!policy_confirms(&sessions, "server_error", &log("fatal")), "a sessions policy counts sessions");
    assert!(policy_confirms(&sessions, "server_error", &warns));
    // Browser kinds: distinct sessions in the window; a level means nothing there.
    assert!(!policy_confirms(&policy, "rage_click", &log("error")));
    assert!(policy_confirms(&policy, "rage_click", &warns));
    let two = ConfirmationPolicy { min_sessions: 2, ..policy };
    assert!(policy_confirms(&two, "dead_click", &warns[..2]));
}

#[test]
fn judge_confirmation_confirms_and_unconfirms_but_not_by_hand() {
    use friction_incidents::model::judge_confirmation;
    let mut inc = run(&[signal("a", "s1", None, 0, None)]);
    assert_eq!(judge_confirmation(&mut inc, false, 1), None);
    assert_eq!(judge_confirmation(&mut inc, true, 2), Some(IncidentStatus::Open));
    assert_eq!((inc.status, inc.confirmed_at_ms), (IncidentStatus::Confirmed, Some(2)));
    assert_eq!(judge_confirmation(&mut inc, false, 3), Some(IncidentStatus::Confirmed));
    assert_eq!((inc.status, inc.confirmed_at_ms), (IncidentStatus::Open, None));
    set_status(&mut inc, IncidentStatus::Confirmed, 4).expect("by hand");
    assert_eq!(judge_confirmation(&mut inc, false, 5), None, "a person's confirmation stands");
    set_status(&mut inc, IncidentStatus::Resolved, 6).expect("resolve");
    assert_eq!(judge_confirmation(&mut inc, true, 7), None, "resolved stays resolved");
}
