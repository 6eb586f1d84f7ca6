//! Property tests: no input panics; a replayed call emits nothing twice; nothing is emitted before
//! its window closes; the output does not depend on how the stream is cut into calls (with the
//! caller pruning state as `retain_from_ms` allows); state drains once a session goes quiet.

use std::borrow::Cow;
use std::collections::BTreeMap;

use friction_rules::{
    detect, detect_counting, Detection, Event, EventKind, Horizon, LogLevel, Modifiers, MouseButton, NavigationKind,
    Rules, SignalKind, Target,
};
use proptest::prelude::*;

/// One step of a generated session, applied after a gap.
#[derive(Debug, Clone)]
enum Op {
    Click { key: u8, x: u8, disabled: bool, modifier: bool, submit: bool, plain: bool },
    Mutation { near: bool },
    Network { status: Option<u16>, tagged: bool, post: bool },
    Error,
    Scroll(i16),
    Selection(u8),
    Visibility(bool),
    Input { field: u8, invalid: bool },
    Submit,
    Nav { route: u8, kind: u8 },
    Log(u8),
    Tab(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 0u8..6, any::<bool>(), prop::bool::weighted(0.1), prop::bool::weighted(0.1), prop::bool::weighted(0.2))
            .prop_map(|(key, x, d, modifier, submit, plain)| Op::Click {
                key,
                x,
                disabled: d && key == 3,
                modifier,
                submit,
                plain
            }),
        3 => any::<bool>().prop_map(|near| Op::Mutation { near }),
        1 => (prop::option::of(prop::sample::select(vec![200u16, 404, 500, 503])), any::<bool>(), any::<bool>())
            .prop_map(|(status, tagged, post)| Op::Network { status, tagged, post }),
        1 => Just(Op::Error),
        1 => (-1200i16..1200).prop_map(Op::Scroll),
        1 => (0u8..3).prop_map(Op::Selection),
        1 => any::<bool>().prop_map(Op::Visibility),
        2 => (0u8..3, prop::bool::weighted(0.3)).prop_map(|(field, invalid)| Op::Input { field, invalid }),
        1 => Just(Op::Submit),
        2 => (0u8..3, 0u8..6).prop_map(|(route, kind)| Op::Nav { route, kind }),
        1 => (0u8..6).prop_map(Op::Log),
        1 => any::<bool>().prop_map(Op::Tab),
    ]
}

fn session() -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((prop_oneof![3 => 0i64..700, 2 => 0i64..2500, 1 => 2500i64..12_000], op()), 0..60)
}

const ROUTES: [&str; 3] = ["/products", "/products/42", "/login"];

/// Builds events the way the sessionizer would: ordered, ids, seq, per-tab views.
fn build(ops: &[(i64, Op)]) -> Vec<Event<'static>> {
    let mut out: Vec<Event<'static>> = Vec::new();
    let mut t = 1_000_000i64;
    let mut tab = 0usize;
    let mut views = [(1u32, "/products".to_owned()), (1u32, "/products".to_owned())];
    let mut last_click: Option<String> = None;
    for (gap, op) in ops {
        t += gap;
        if let Op::Tab(b) = op {
            tab = usize::from(*b);
            continue;
        }
        let kind = match op {
            Op::Click { key, x, disabled, modifier, submit, plain } => EventKind::Click {
                button: MouseButton::Primary,
                modifiers: Modifiers { ctrl: *modifier, ..Modifiers::default() },
                target: Target {
                    tag: Some(Cow::Borrowed(if *plain { "p" } else { "button" })),
                    key: (!*plain).then(|| Cow::Owned(format!("k{key}"))),
                    x: Some(f64::from(*x) * 12.0),
                    y: Some(50.0),
                    disabled: *disabled,
                    r#type: submit.then_some(Cow::Borrowed("submit")),
                    ..Target::default()
                },
            },
            Op::Mutation { near } => EventKind::Mutation { count: 1, near_target: *near },
            Op::Network { status, tagged, post } => EventKind::Network {
                method: Cow::Borrowed(if *post { "POST" } else { "GET" }),
                url: Cow::Borrowed("/api/x/1"),
                status: *status,
                duration_ms: Some(50),
                initiator: if *tagged { last_click.clone().map(Cow::Owned) } else { None },
            },
            Op::Error => EventKind::Error {
                error_type: Cow::Borrowed("TypeError"),
                message: Cow::Borrowed("boom"),
                fingerprint: None,
            },
            Op::Scroll(dy) => EventKind::Scroll { dy: f64::from(*dy), y: 0.0 },
            Op::Selection(l) => EventKind::Selection { length: u32::from(*l) },
            Op::Visibility(h) => EventKind::Visibility { hidden: *h },
            Op::Input { field, invalid } => {
                EventKind::Input { field_key: Cow::Owned(format!("f{field}")), length_bucket: 1, invalid: *invalid }
            }
            Op::Submit => EventKind::Submit { form_key: Some(Cow::Borrowed("form")) },
            Op::Nav { route, kind } => {
                let from = views[tab].1.clone();
                views[tab].0 += 1;
                views[tab].1 = ROUTES[usize::from(*route)].to_owned();
                EventKind::Pageview {
                    navigation: [
                        NavigationKind::Load,
                        NavigationKind::Push,
                        NavigationKind::Pop,
                        NavigationKind::Pop,
                        NavigationKind::Replace,
                        NavigationKind::Reload,
                    ][usize::from(*kind)],
                    from: Some(Cow::Owned(from)),
                    to: None,
                }
            }
            Op::Log(l) => EventKind::Log {
                service: Cow::Borrowed("api"),
                level: [
                    LogLevel::Trace,
                    LogLevel::Debug,
                    LogLevel::Info,
                    LogLevel::Warn,
                    LogLevel::Error,
                    LogLevel::Fatal,
                ][usize::from(*l)],
                message: Cow::Owned(format!("failed order {t}")),
                attributes: Cow::Borrowed(""),
            },
            Op::Tab(_) => continue,
        };
        let seq = out.len() as u64;
        let id = format!("e{seq}");
        if matches!(kind, EventKind::Click { .. }) {
            last_click = Some(id.clone());
        }
        let mut e = Event::new(id, "s", format!("t{tab}v{}", views[tab].0), seq, t, views[tab].1.clone(), kind);
        e.tab_id = Some(Cow::Owned(format!("t{tab}")));
        out.push(e);
    }
    out
}

/// Everything a detection emitted, keyed by id, for set comparisons.
#[derive(Debug, Default, PartialEq)]
struct Emitted {
    signals: BTreeMap<String, String>,
    suppressed: BTreeMap<String, String>,
    undetermined: BTreeMap<String, String>,
    episodes: BTreeMap<String, String>,
}

impl Emitted {
    fn add(&mut self, d: &Detection) -> Result<(), TestCaseError> {
        for s in &d.signals {
            prop_assert!(self.signals.insert(s.id.clone(), format!("{s:?}")).is_none(), "signal emitted twice: {s:?}");
        }
        for s in &d.suppressed {
            let k = format!("{}:{}", s.candidate.id, s.reason.as_str());
            prop_assert!(self.suppressed.insert(k, format!("{s:?}")).is_none(), "suppressed twice: {s:?}");
        }
        for s in &d.undetermined {
            prop_assert!(self.undetermined.insert(s.id.clone(), format!("{s:?}")).is_none(), "undetermined twice");
        }
        for e in &d.episodes {
            prop_assert!(self.episodes.insert(e.id.clone(), format!("{e:?}")).is_none(), "episode twice: {e:?}");
        }
        Ok(())
    }
}

impl Emitted {
    fn diff(&self, want: &Emitted) -> String {
        let mut out = String::new();
        for (name, a, b) in [
            ("signal", &self.signals, &want.signals),
            ("suppressed", &self.suppressed, &want.suppressed),
            ("undetermined", &self.undetermined, &want.undetermined),
            ("episode", &self.episodes, &want.episodes),
        ] {
            for (k, v) in a {
                match b.get(k) {
                    None => out.push_str(&format!("extra {name}: {v}\n")),
                    Some(w) if w != v => out.push_str(&format!("{name} differs:\n  got  {v}\n  want {w}\n")),
                    _ => {}
                }
            }
            for (k, v) in b {
                if !a.contains_key(k) {
                    out.push_str(&format!("missing {name}: {v}\n"));
                }
            }
        }
        out
    }
}

fn check_watermark(d: &Detection, h: Horizon, rules: &Rules) -> Result<(), TestCaseError> {
    let c = rules.config();
    let w = h.watermark_ms;
    for s in d.signals.iter().chain(d.undetermined.iter()).chain(d.suppressed.iter().map(|s| &s.candidate)) {
        let at = s.decided_at_ms;
        prop_assert!(h.session_closed || at.is_some_and(|t| t <= w), "emitted {s:?} at watermark {w}");
        if let Some(t) = at {
            prop_assert!(h.emitted_through_ms.is_none_or(|a| t > a), "re-emitted {s:?}");
            match s.kind {
                SignalKind::DeadClick => {
                    // At the window end, or when the user clicked elsewhere after giving up.
                    if s.evidence.details.get("ended_by").map(String::as_str) == Some("click_elsewhere") {
                        prop_assert!(t >= s.start_ms + c.dead_abandon_after_ms && t <= s.start_ms + c.dead_window_ms);
                    } else {
                        prop_assert_eq!(t, s.start_ms + c.dead_window_ms);
                    }
                }
                SignalKind::SlowClick => {
                    prop_assert!(t > s.start_ms + c.slow_after_ms && t <= s.start_ms + c.dead_window_ms);
                }
                SignalKind::RageClick => prop_assert!(t >= s.end_ms + c.responsive_repeat_ms),
                _ => prop_assert!(t >= s.start_ms),
            }
        }
    }
    for e in &d.episodes {
        prop_assert!(h.session_closed || e.decided_at_ms.is_some_and(|t| t <= w));
        if let Some(t) = e.decided_at_ms {
            prop_assert!(t >= e.start_ms + c.episode_window_ms, "episode closed early: {e:?}");
        }
        for s in &e.signals {
            prop_assert!(s.start_ms - e.start_ms <= c.episode_window_ms);
            prop_assert_eq!(&s.element_key, &e.element_key);
            prop_assert_eq!(&s.view_id, &e.view_id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn batching_and_pruning_do_not_change_the_output(
        ops in session(),
        cuts in prop::collection::vec((0i64..6000, 0i64..3000), 1..30),
    ) {
        let rules = Rules::default();
        let events = build(&ops);
        let last = events.last().map_or(1_000_000, |e| e.timestamp_ms);
        let end = last + 60_000;
        let one = detect(&events, Horizon::closed(end), &rules);
        let mut expected = Emitted::default();
        expected.add(&one)?;

        let mut got = Emitted::default();
        let mut h: Option<Horizon> = None;
        let mut w = events.first().map_or(1_000_000, |e| e.timestamp_ms) - 1;
        let mut retained_from: Option<i64> = None;
        for (step, lookahead) in cuts {
            w += step;
            if w >= end {
                break;
            }
            let slice: Vec<Event<'static>> = events
                .iter()
                .filter(|e| e.timestamp_ms <= w + lookahead && retained_from.is_none_or(|r| e.timestamp_ms >= r))
                .cloned()
                .collect();
            let mut hz = match h {
                None => Horizon::open(w),
                Some(prev) => prev.next(w, false),
            };
            if let Some(r) = retained_from {
                hz = hz.with_retained_from(r);
            }
            let d = detect(&slice, hz, &rules);
            check_watermark(&d, hz, &rules)?;
            prop_assert!(d.retain_from_ms <= w);
            got.add(&d)?;
            retained_from = Some(d.retain_from_ms);
            h = Some(hz);
        }
        let slice: Vec<Event<'static>> = events
            .iter()
            .filter(|e| retained_from.is_none_or(|r| e.timestamp_ms >= r))
            .cloned()
            .collect();
        let mut hz = match h {
            None => Horizon::closed(end),
            Some(prev) => prev.next(end, true),
        };
        if let Some(r) = retained_from {
            hz = hz.with_retained_from(r);
        }
        let d = detect(&slice, hz, &rules);
        check_watermark(&d, hz, &rules)?;
        got.add(&d)?;
        let diff = got.diff(&expected);
        prop_assert!(diff.is_empty(), "batched output differs from one pass:\n{}", diff);
    }

    /// A replay, as the detector stage makes one after a restart. From the state before a call
    /// (its result was not committed) the call is repeated and gives exactly the same output, ids
    /// included, which downstream deduplicates. From the state after it (committed: emitted through
    /// its watermark, events pruned to `retain_from_ms`) the same call emits nothing again, and the
    /// session then goes on to exactly what one uninterrupted pass gives.
    #[test]
    fn a_replayed_call_emits_nothing_twice(ops in session(), w in 0i64..80_000, closed in any::<bool>()) {
        let rules = Rules::default();
        let events = build(&ops);
        let h = Horizon { emitted_through_ms: None, watermark_ms: 1_000_000 + w, session_closed: closed, retained_from_ms: None, provisional: false, provisional_all: false, settled_ms: None };
        let first = detect(&events, h, &rules);
        check_watermark(&first, h, &rules)?;
        prop_assert_eq!(&detect(&events, h, &rules), &first, "replayed from the state before the call");
        if closed {
            // A closed session's state is deleted with the commit: nothing is replayed after it.
            return Ok(());
        }
        let kept = |from: i64| -> Vec<Event<'static>> { events.iter().filter(|e| e.timestamp_ms >= from).cloned().collect() };
        let again_h = h.next(h.watermark_ms, false).with_retained_from(first.retain_from_ms);
        let again = detect(&kept(first.retain_from_ms), again_h, &rules);
        check_watermark(&again, again_h, &rules)?;
        let mut got = Emitted::default();
        got.add(&first)?;
        // `add` fails on anything emitted a second time.
        got.add(&again)?;
        let end = events.last().map_or(h.watermark_ms, |e| e.timestamp_ms.max(h.watermark_ms)) + 60_000;
        let rest_h = again_h.next(end, true).with_retained_from(again.retain_from_ms);
        let rest = detect(&kept(again.retain_from_ms), rest_h, &rules);
        check_watermark(&rest, rest_h, &rules)?;
        got.add(&rest)?;
        let mut want = Emitted::default();
        want.add(&detect(&events, Horizon::closed(end), &rules))?;
        let diff = got.diff(&want);
        prop_assert!(diff.is_empty(), "output around the replay differs from one pass:\n{}", diff);
    }

    /// Counting suppressed and undetermined candidates instead of building them changes nothing
    /// else: the same signals, episodes, decision times and retention, and the same candidates by
    /// kind, reason and time, also when an earlier call has emitted part of the session.
    #[test]
    fn counting_rejects_gives_the_same_detection(
        ops in session(), w in 0i64..80_000, before in 0i64..40_000, closed in any::<bool>(),
    ) {
        let rules = Rules::default();
        let events = build(&ops);
        let h = Horizon {
            emitted_through_ms: Some(1_000_000 + w - before),
            watermark_ms: 1_000_000 + w,
            session_closed: closed,
            retained_from_ms: None,
            provisional: false,
            provisional_all: false,
            settled_ms: None,
        };
        for h in [h, Horizon { emitted_through_ms: None, ..h }] {
            let full = detect(&events, h, &rules);
            let counted = detect_counting(&events, h, &rules);
            prop_assert_eq!(&counted.signals, &full.signals);
            prop_assert_eq!(&counted.episodes, &full.episodes);
            prop_assert_eq!(counted.next_decision_ms, full.next_decision_ms);
            prop_assert_eq!(counted.retain_from_ms, full.retain_from_ms);
            let brief = |c: &friction_rules::Signal| (c.kind, c.element_key.clone(), c.start_ms, c.decided_at_ms);
            let mut a: Vec<_> = counted.suppressed.iter().map(|x| (x.reason, brief(&x.candidate))).collect();
            let mut b: Vec<_> = full.suppressed.iter().map(|x| (x.reason, brief(&x.candidate))).collect();
            a.sort_by_key(|x| format!("{x:?}"));
            b.sort_by_key(|x| format!("{x:?}"));
            prop_assert_eq!(a, b);
            let mut a: Vec<_> = counted.undetermined.iter().map(brief).collect();
            let mut b: Vec<_> = full.undetermined.iter().map(brief).collect();
            a.sort_by_key(|x| format!("{x:?}"));
            b.sort_by_key(|x| format!("{x:?}"));
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn state_drains_when_the_session_goes_quiet(ops in session()) {
        let rules = Rules::default();
        let events: Vec<_> = build(&ops)
            .into_iter()
            .filter(|e| !matches!(e.kind, EventKind::Input { .. }))
            .collect();
        let last = events.last().map_or(0, |e| e.timestamp_ms);
        let d = detect(&events, Horizon::open(last + 60_000), &rules);
        prop_assert!(d.retain_from_ms > last, "retain_from {} ≤ last event {}", d.retain_from_ms, last);
        prop_assert_eq!(d.next_decision_ms, None);
    }

    #[test]
    fn no_input_panics(
        raw in prop::collection::vec(
            (any::<i64>(), 0u8..14, any::<u16>(), ".{0,12}", any::<bool>(), prop::option::of(any::<f64>())),
            0..40,
        ),
        w in any::<i64>(),
        after in prop::option::of(any::<i64>()),
        retained in prop::option::of(any::<i64>()),
        closed in any::<bool>(),
    ) {
        let events: Vec<Event<'static>> = raw
            .into_iter()
            .enumerate()
            .map(|(i, (ts, k, n, s, b, f))| {
                let cow = || Cow::Owned(s.clone());
                let kind = match k {
                    0 => EventKind::Click {
                        button: MouseButton::from_dom(n % 5),
                        modifiers: Modifiers { shift: b, ..Modifiers::default() },
                        target: Target {
                            selector: Some(cow()),
                            key: b.then(cow),
                            tag: Some(cow()),
                            role: Some(cow()),
                            text: Some(cow()),
                            x: f,
                            y: f,
                            interactive: Some(b),
                            disabled: n % 7 == 0,
                            href: Some(cow()),
                            new_tab: false,
                            download: false,
                            ignore: vec![cow()],
                            r#type: Some(cow()),
                        },
                    },
                    1 => EventKind::Pageview { navigation: NavigationKind::Pop, from: b.then(cow), to: Some(cow()) },
                    2 => EventKind::Mutation { count: u32::from(n), near_target: b },
                    3 => EventKind::Network { method: cow(), url: cow(), status: b.then_some(n), duration_ms: None, initiator: b.then(cow) },
                    4 => EventKind::Error { error_type: cow(), message: cow(), fingerprint: Some(cow()) },
                    5 => EventKind::Scroll { dy: f.unwrap_or(f64::NAN), y: f.unwrap_or(0.0) },
                    6 => EventKind::Selection { length: u32::from(n) },
                    7 => EventKind::Focus,
                    8 => EventKind::Visibility { hidden: b },
                    9 => EventKind::Input { field_key: cow(), length_bucket: 0, invalid: b },
                    10 => EventKind::Submit { form_key: b.then(cow) },
                    11 => EventKind::Custom { name: cow() },
                    12 => EventKind::Log { service: cow(), level: LogLevel::Fatal, message: cow(), attributes: cow() },
                    _ => EventKind::Pageview { navigation: NavigationKind::Replace, from: None, to: None },
                };
                let mut e = Event::new(s.clone(), "s", if b { s.clone() } else { "v".to_owned() }, i as u64, ts, s.clone(), kind);
                if n % 3 == 0 {
                    e.tab_id = Some(Cow::Owned(s.clone()));
                }
                e
            })
            .collect();
        let h = Horizon { emitted_through_ms: after, watermark_ms: w, session_closed: closed, retained_from_ms: retained, provisional: false, provisional_all: false, settled_ms: None };
        let _ = detect(&events, h, &Rules::default());
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.timestamp_ms);
        let _ = detect(&sorted, h, &Rules::default());
    }
}
