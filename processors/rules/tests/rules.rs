//! Behaviour of each rule: positives, negatives and boundaries exactly at the thresholds.

mod common;

use common::{at, button, kinds, one, Session};
use friction_rules::{
    detect, episode_priority, Horizon, LogLevel, Modifiers, MouseButton, NavigationKind, RuleConfig, Rules, SignalKind,
    Suppression, Target,
};
use SignalKind::*;

fn div(x: f64, y: f64) -> Target<'static> {
    Target { tag: Some("div".into()), x: Some(x), y: Some(y), ..Target::default() }
}

fn rules(f: impl FnOnce(&mut RuleConfig)) -> Rules {
    let mut c = RuleConfig::default();
    f(&mut c);
    Rules::new(c).expect("valid config")
}

// ---------------------------------------------------------------- rage click

#[test]
fn rage_on_dead_button_is_one_unresponsive_episode() {
    let mut s = Session::new("/checkout");
    s.click(1000, button("pay")).click(1300, button("pay")).click(1600, button("pay")).click(1900, button("pay"));
    s.tick(20_000);
    let d = s.run();
    assert_eq!(kinds(&d.signals), vec![RageClick, DeadClick]);
    let rage = one(&d, RageClick);
    assert!(rage.unresponsive);
    assert_eq!(rage.evidence.measurements["click_count"], 4.0);
    assert_eq!(rage.evidence.measurements["span_ms"], 900.0);
    assert_eq!(rage.evidence.event_ids.len(), 4);
    assert_eq!(d.episodes.len(), 1);
    let ep = &d.episodes[0];
    assert_eq!(ep.primary, RageClick);
    assert!(ep.unresponsive);
    assert_eq!(ep.labels, vec!["rage_click:unresponsive", "dead_click"]);
    assert_eq!(ep.signals.len(), 2);
    assert_eq!(ep.route_template, "/checkout");
}

#[test]
fn two_clicks_are_not_rage() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(1200, button("b")).tick(20_000);
    assert!(s.run().signals.iter().all(|x| x.kind != RageClick));
}

#[test]
fn rage_gap_boundary() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(2000, button("b")).click(3000, button("b")).tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == RageClick).count(), 1, "gaps of exactly 1000 ms");
    let mut s = Session::default();
    s.click(1000, button("b")).click(2001, button("b")).click(3002, button("b")).tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == RageClick).count(), 0, "gaps of 1001 ms");
}

#[test]
fn rage_span_boundary() {
    let r = rules(|c| c.rage_max_span_ms = 1500);
    let mut s = Session::default();
    s.click(1000, button("b")).click(1750, button("b")).click(2500, button("b")).tick(20_000);
    assert_eq!(s.run_with(&r).signals.iter().filter(|x| x.kind == RageClick).count(), 1, "span exactly 1500");
    let mut s = Session::default();
    s.click(1000, button("b")).click(1750, button("b")).click(2501, button("b")).tick(20_000);
    assert_eq!(s.run_with(&r).signals.iter().filter(|x| x.kind == RageClick).count(), 0, "span 1501");
}

#[test]
fn one_signal_per_burst() {
    let mut s = Session::default();
    for i in 0..6 {
        s.click(1000 + i * 200, button("b"));
    }
    s.tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == RageClick).count(), 1);
}

#[test]
fn rage_radius_on_non_interactive_targets() {
    // centroid of (100,100),(100,100) is (100,100); third click 30 px away joins, 31 does not.
    let mut s = Session::default();
    s.click(1000, div(100.0, 100.0)).click(1200, div(100.0, 100.0)).click(1400, div(130.0, 100.0)).tick(20_000);
    let d = s.run();
    assert_eq!(d.signals.iter().filter(|x| x.kind == RageClick).count(), 1);
    assert!((one(&d, RageClick).evidence.measurements["max_distance_px"] - 20.0).abs() < 1e-9);
    let mut s = Session::default();
    s.click(1000, div(100.0, 100.0)).click(1200, div(100.0, 100.0)).click(1400, div(131.0, 100.0)).tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == RageClick).count(), 0);
}

#[test]
fn distinct_buttons_close_together_are_not_one_burst() {
    let mut s = Session::default();
    s.click(1000, at(button("minus"), 100.0, 100.0))
        .click(1200, at(button("plus"), 110.0, 100.0))
        .click(1400, at(button("minus"), 100.0, 100.0))
        .tick(20_000);
    assert!(s.run().signals.iter().all(|x| x.kind != RageClick));
}

#[test]
fn unresponsive_tier_boundary() {
    // clicks at 1000, 1500, 2000; a response at 2501 answers neither of the first two within 1 s.
    let mk = |resp: i64| {
        let mut s = Session::default();
        s.click(1000, button("b")).click(1500, button("b")).click(2000, button("b")).mutation(resp, true).tick(20_000);
        s.run()
    };
    let d = mk(2501);
    assert!(one(&d, RageClick).unresponsive);
    let d = mk(2500);
    let rage = one(&d, RageClick);
    assert!(!rage.unresponsive, "exactly 1000 ms after the second click is an answer");
    assert_eq!(rage.label, "rage_click");
}

#[test]
fn rage_does_not_span_views() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(1200, button("b"));
    s.nav(1300, "/next", NavigationKind::Push);
    s.click(1400, button("b")).tick(20_000);
    assert!(s.run().signals.iter().all(|x| x.kind != RageClick));
}

#[test]
fn every_signal_records_its_checks() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(1200, button("b")).click(1400, button("b")).tick(20_000);
    let d = s.run();
    let rage = one(&d, RageClick);
    assert_eq!(rage.evidence.suppressions_checked.len(), Suppression::ALL.len());
    assert_eq!(rage.evidence.rule, "rage_click");
    assert_eq!(rage.evidence.rule_version, friction_rules::RULE_VERSION);
    assert_eq!(rage.evidence.thresholds["rage_max_gap_ms"], 1000.0);
    let dead = one(&d, DeadClick);
    assert_eq!(
        dead.evidence.suppressions_checked,
        vec![
            Suppression::FrictionIgnore,
            Suppression::ProjectIgnoreList,
            Suppression::DisabledControl,
            Suppression::ModifierOrSecondaryButton,
            Suppression::NewTabOrDownload
        ]
    );
    assert!(dead.evidence.liveness.iter().all(|c| c.delay_ms.is_none()));
    assert_eq!(dead.evidence.liveness.len(), 10);
}

// ---------------------------------------------------------------- dead / slow / undetermined

fn single(resp: impl FnOnce(&mut Session)) -> friction_rules::Detection {
    let mut s = Session::default();
    s.click(1000, button("save"));
    resp(&mut s);
    s.tick(20_000);
    s.run()
}

#[test]
fn dead_click_and_alive_click() {
    assert_eq!(kinds(&single(|_| {}).signals), vec![DeadClick]);
    assert!(single(|s| {
        s.mutation(1200, true);
    })
    .signals
    .is_empty());
}

#[test]
fn slow_and_dead_boundaries() {
    let d = single(|s| {
        s.mutation(2000, true);
    });
    assert!(d.signals.is_empty(), "response exactly at 1000 ms is alive");
    let d = single(|s| {
        s.mutation(2001, true);
    });
    assert_eq!(one(&d, SlowClick).evidence.measurements["response_ms"], 1001.0);
    let d = single(|s| {
        s.mutation(8000, true);
    });
    assert_eq!(one(&d, SlowClick).evidence.measurements["response_ms"], 7000.0, "exactly 7 s is slow");
    let d = single(|s| {
        s.mutation(8001, true);
    });
    assert_eq!(kinds(&d.signals), vec![DeadClick]);
}

#[test]
fn far_mutations_are_weak_evidence() {
    let d = single(|s| {
        s.mutation(2000, false);
    });
    assert!(d.signals.is_empty(), "far mutation within 1 s on a quiet page");
    let d = single(|s| {
        s.mutation(2500, false);
    });
    assert_eq!(kinds(&d.signals), vec![DeadClick], "late far mutation is not a response");
    // ... unless a request the click started is rendering: then it ends the latency.
    let d = single(|s| {
        s.network(1100, "GET", Some(200), None).mutation(3500, false);
    });
    assert_eq!(one(&d, SlowClick).evidence.measurements["response_ms"], 2500.0);
}

#[test]
fn request_only_is_alive() {
    let d = single(|s| {
        s.network(1300, "POST", Some(200), None);
    });
    assert!(d.signals.is_empty());
    // but a request started too late is not the click's
    let d = single(|s| {
        s.network(1501, "GET", Some(200), None);
    });
    assert_eq!(kinds(&d.signals), vec![DeadClick]);
}

#[test]
fn busy_page_only_near_mutations_count() {
    let mut s = Session::default();
    for t in (0..5000).step_by(200) {
        s.mutation(t, false);
    }
    s.click(5000, button("save")).mutation(5200, false).mutation(5600, false).tick(20_000);
    let d = s.run();
    let dead = one(&d, DeadClick);
    assert_eq!(dead.evidence.measurements["busy_page"], 1.0);
    let mut s = Session::default();
    for t in (0..5000).step_by(200) {
        s.mutation(t, false);
    }
    s.click(5000, button("save")).mutation(5150, true).tick(20_000);
    assert!(s.run().signals.is_empty(), "busy page, working button");
}

#[test]
fn hidden_tab_cuts_the_window() {
    let d = single(|s| {
        s.visibility(4000, true);
    });
    assert!(d.signals.is_empty());
    assert_eq!(d.undetermined.len(), 1);
    assert_eq!(d.undetermined[0].kind, Undetermined);
    assert_eq!(d.undetermined[0].evidence.details["cut_by"], "tab_hidden");
    assert!(d.episodes.is_empty(), "undetermined is never an issue");
    // hidden right after the click: it opened a tab or a dialog → alive
    let d = single(|s| {
        s.visibility(1500, true);
    });
    assert!(d.signals.is_empty() && d.undetermined.is_empty());
}

#[test]
fn session_closing_inside_the_window_is_undetermined() {
    let mut s = Session::default();
    s.click(1000, button("save"));
    let d = detect(&s.events, Horizon::closed(4000), &Rules::default());
    assert!(d.signals.is_empty());
    assert_eq!(d.undetermined.len(), 1);
    assert_eq!(d.undetermined[0].evidence.details["cut_by"], "session_closed");
}

#[test]
fn non_actionable_targets_are_never_dead() {
    let mut s = Session::default();
    s.click(1000, div(5.0, 5.0)).tick(20_000);
    assert!(s.run().signals.is_empty());
}

#[test]
fn debounce_folds_repeat_clicks() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(1999, button("b")).tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == DeadClick).count(), 1);
    let mut s = Session::default();
    s.click(1000, button("b")).click(2001, button("b")).tick(20_000);
    assert_eq!(s.run().signals.iter().filter(|x| x.kind == DeadClick).count(), 2);
}

#[test]
fn disabled_control_is_reported_as_disabled_click() {
    let mut t = button("pay");
    t.disabled = true;
    let mut s = Session::default();
    s.click(1000, t).tick(20_000);
    let d = s.run();
    assert_eq!(kinds(&d.signals), vec![DisabledClick]);
    assert_eq!(d.suppressed.len(), 1);
    assert_eq!(d.suppressed[0].reason, Suppression::DisabledControl);
    assert_eq!(d.suppressed[0].candidate.kind, DeadClick);
}

#[test]
fn the_click_that_wakes_the_tab_is_alive() {
    let mut s = Session::default();
    s.visibility(500, false).click(1000, button("b")).tick(20_000);
    assert!(s.run().signals.is_empty());
    let mut s = Session::default();
    s.visibility(0, false).click(1001, button("b")).tick(20_000);
    assert_eq!(kinds(&s.run().signals), vec![DeadClick], "1001 ms before is too early");
}

#[test]
fn pointerdown_lookback() {
    let mut s = Session::default();
    s.mutation(900, true).click(1000, button("menu")).tick(20_000);
    assert!(s.run().signals.is_empty(), "menu opened on pointerdown, 100 ms before");
    let mut s = Session::default();
    s.mutation(899, true).click(1000, button("menu")).tick(20_000);
    assert_eq!(kinds(&s.run().signals), vec![DeadClick]);
}

#[test]
fn responses_in_another_tab_do_not_count() {
    let mut s = Session::default();
    s.tab("a").click(1000, button("b"));
    s.tab("b").mutation(1100, true);
    s.tab("a").tick(20_000);
    assert_eq!(kinds(&s.run().signals), vec![DeadClick]);
}

// ---------------------------------------------------------------- error click

#[test]
fn js_error_within_a_second() {
    let d = single(|s| {
        s.mutation(1050, true).error(2000);
    });
    let e = one(&d, ErrorClick);
    assert_eq!(e.label, "error_click:js");
    assert_eq!(e.evidence.details["error_fingerprint"], "fp-1");
    assert_eq!(e.evidence.measurements["delay_ms"], 1000.0);
    let d = single(|s| {
        s.mutation(1050, true).error(2001);
    });
    assert!(d.signals.is_empty());
}

#[test]
fn failed_request_started_by_the_click() {
    let d = single(|s| {
        s.network(4000, "POST", Some(502), Some("e1")).mutation(4100, true);
    });
    let e = one(&d, ErrorClick);
    assert_eq!(e.label, "error_click:network");
    assert_eq!(e.evidence.details["status"], "502");
    assert_eq!(e.evidence.details["attribution"], "initiator");
    // untagged: must start within 100 ms (a background poll a little later is coincidence)
    let d = single(|s| {
        s.network(1100, "GET", None, None).mutation(1600, true);
    });
    assert_eq!(one(&d, ErrorClick).evidence.details["status"], "network_error");
    let d = single(|s| {
        s.mutation(1050, true).network(1101, "GET", Some(500), None);
    });
    assert!(d.signals.is_empty(), "{:?}", kinds(&d.signals));
    // 4xx only when configured
    let d = single(|s| {
        s.network(1100, "GET", Some(404), None).mutation(1200, true);
    });
    assert!(d.signals.is_empty());
    let mut s = Session::default();
    s.click(1000, button("save")).network(1100, "GET", Some(404), None).mutation(1200, true).tick(20_000);
    let r = rules(|c| c.error_client_statuses = vec![404]);
    assert_eq!(kinds(&s.run_with(&r).signals), vec![ErrorClick]);
}

#[test]
fn errors_after_clicks_on_plain_content_are_coincidence() {
    let mut s = Session::default();
    s.click(1000, div(1.0, 1.0)).error(1200).tick(20_000);
    assert!(s.run().signals.is_empty());
}

#[test]
fn error_click_wins_the_episode() {
    let d = single(|s| {
        s.error(1200);
    });
    assert_eq!(kinds(&d.signals), vec![DeadClick, ErrorClick]);
    assert_eq!(d.episodes.len(), 1);
    assert_eq!(d.episodes[0].primary, ErrorClick);
    assert_eq!(d.episodes[0].labels, vec!["error_click:js", "dead_click"]);
}

// ---------------------------------------------------------------- u-turn

fn u_turn(back_at: i64, on_b: impl FnOnce(&mut Session)) -> friction_rules::Detection {
    let mut s = Session::new("/products");
    s.nav(1000, "/products/42", NavigationKind::Push);
    on_b(&mut s);
    s.nav(1000 + back_at, "/products", NavigationKind::Pop);
    s.tick(30_000);
    s.run()
}

#[test]
fn u_turn_and_its_window() {
    let d = u_turn(3000, |_| {});
    let u = one(&d, UTurn);
    assert_eq!(u.route_template, "/products/:id");
    assert_eq!(u.element_key, "page");
    assert_eq!(u.evidence.details["from_route_template"], "/products");
    assert_eq!(kinds(&u_turn(7000, |_| {}).signals), vec![UTurn], "exactly 7 s");
    assert!(u_turn(7001, |_| {}).signals.is_empty());
}

#[test]
fn u_turn_needs_no_meaningful_interaction() {
    assert_eq!(
        kinds(
            &u_turn(5000, |s| {
                s.click(2000, div(1.0, 1.0));
            })
            .signals
        ),
        vec![UTurn],
        "one click is allowed"
    );
    assert!(u_turn(5000, |s| {
        s.click(2000, div(1.0, 1.0)).click(3000, div(50.0, 50.0));
    })
    .signals
    .iter()
    .all(|x| x.kind != UTurn));
    assert!(u_turn(5000, |s| {
        s.input(2000, "qty", false);
    })
    .signals
    .is_empty());
    assert_eq!(
        kinds(
            &u_turn(5000, |s| {
                s.scroll(2000, 900.0);
            })
            .signals
        ),
        vec![UTurn]
    );
    assert!(u_turn(5000, |s| {
        s.scroll(2000, 500.0).scroll(2500, -401.0);
    })
    .signals
    .is_empty());
}

#[test]
fn redirects_and_auth_hops_are_not_u_turns() {
    let mut s = Session::new("/account");
    s.nav(1000, "/login", NavigationKind::Push);
    s.nav(2000, "/account", NavigationKind::Pop).tick(30_000);
    assert!(s.run().signals.is_empty());
    let mut s = Session::new("/a");
    s.nav(1000, "/b", NavigationKind::Replace);
    s.nav(2000, "/a", NavigationKind::Pop).tick(30_000);
    assert!(s.run().signals.is_empty());
}

// ---------------------------------------------------------------- forms

fn form(end_at: i64, between: impl FnOnce(&mut Session)) -> friction_rules::Detection {
    let mut s = Session::new("/checkout");
    s.input(1000, "email", false).input(2000, "card", false);
    between(&mut s);
    s.tick(end_at - 1);
    s.nav(end_at, "/home", NavigationKind::Push).tick(30_000);
    s.run()
}

#[test]
fn form_abandon_boundary() {
    let d = form(6001, |_| {});
    let f = one(&d, FormAbandon);
    assert_eq!(f.element_key, "field:card");
    assert_eq!(f.evidence.measurements["engagement_ms"], 5000.0);
    assert_eq!(f.evidence.measurements["fields"], 2.0);
    assert!(form(6000, |_| {}).signals.is_empty(), "4999 ms of engagement");
}

#[test]
fn submitted_forms_are_not_abandoned() {
    assert!(form(20_000, |s| {
        s.submit(3000, "checkout");
    })
    .signals
    .is_empty());
    assert!(
        form(20_000, |s| {
            s.network(3000, "POST", Some(200), None);
        })
        .signals
        .is_empty(),
        "sent by script"
    );
}

#[test]
fn search_fields_are_not_forms() {
    let mut s = Session::new("/");
    s.input(1000, "site-search", false).input(9000, "site-search", false);
    s.nav(12_000, "/results", NavigationKind::Push).tick(30_000);
    assert!(s.run().signals.is_empty());
}

#[test]
fn form_abandon_at_session_end() {
    let mut s = Session::new("/signup");
    s.input(1000, "name", false).tick(9000);
    let d = s.run();
    let f = one(&d, FormAbandon);
    assert_eq!(f.decided_at_ms, None, "decided by the session closing");
    assert_eq!(f.evidence.details["ended_by"], "session_end");
}

#[test]
fn validation_loop() {
    let mut s = Session::new("/signup");
    s.submit(1000, "signup").input(1200, "email", true);
    s.submit(3000, "signup").input(3300, "email", true);
    s.tick(30_000);
    let d = s.run();
    let v = one(&d, ValidationLoop);
    assert_eq!(v.element_key, "form:signup");
    assert_eq!(v.evidence.event_ids.len(), 4);
    // a valid attempt in between breaks the loop
    let mut s = Session::new("/signup");
    s.submit(1000, "signup").input(1200, "email", true);
    s.submit(3000, "signup");
    s.submit(6000, "signup").input(6300, "email", true);
    s.tick(30_000);
    assert!(s.run().signals.iter().all(|x| x.kind != ValidationLoop));
    // invalid 1001 ms after the submit is not its answer
    let mut s = Session::new("/signup");
    s.submit(1000, "signup").input(2001, "email", true);
    s.submit(3000, "signup").input(3300, "email", true);
    s.tick(30_000);
    assert!(s.run().signals.iter().all(|x| x.kind != ValidationLoop));
}

#[test]
fn validation_loop_on_submit_clicks_without_submit_events() {
    // native constraint validation blocks the submit event: clicks on the submit control count.
    let mut t = button("signup-submit");
    t.r#type = Some("submit".into());
    let mut s = Session::new("/signup");
    s.click(1000, t.clone()).input(1010, "email", true).mutation(1020, true);
    s.click(4000, t).input(4010, "email", true).mutation(4020, true);
    s.tick(30_000);
    let d = s.run();
    assert_eq!(one(&d, ValidationLoop).element_key, "form:signup-submit");
}

// ---------------------------------------------------------------- server errors

#[test]
fn server_errors_group_by_normalized_message() {
    let mut s = Session::default();
    s.log(1000, LogLevel::Error, "timeout after 3000ms for order 123")
        .log(2000, LogLevel::Fatal, "timeout after 250ms for order 9")
        .log(3000, LogLevel::Warn, "slow query 12ms")
        .tick(30_000);
    let d = s.run();
    assert_eq!(kinds(&d.signals), vec![ServerError, ServerError]);
    assert_eq!(d.signals[0].element_key, d.signals[1].element_key);
    assert_eq!(d.signals[0].element_key, "log:api:timeout after <id> for order <n>");
    assert_eq!(d.episodes.len(), 1);
    let r = rules(|c| c.server_error_min_level = LogLevel::Warn);
    assert_eq!(s.run_with(&r).signals.len(), 3);
}

#[test]
fn server_errors_with_a_pattern_name_group_by_the_pattern() {
    let mut s = Session::default();
    s.log_with(
        1000,
        LogLevel::Error,
        "MISSING_PRICE product 999 order A-17",
        r#"{"pattern":"MISSING_PRICE","product":"999"}"#,
    )
    .log_with(2000, LogLevel::Error, "no price for SKU-1000 in cart", r#"{"pattern":"MISSING_PRICE","product":"1000"}"#)
    .log(3000, LogLevel::Error, "no price for SKU-1000 in cart")
    .tick(30_000);
    let d = s.run();
    assert_eq!(kinds(&d.signals), vec![ServerError, ServerError, ServerError]);
    assert_eq!(d.signals[0].element_key, "log:api:pattern:MISSING_PRICE");
    assert_eq!(d.signals[0].element_key, d.signals[1].element_key);
    assert_eq!(d.signals[0].fingerprint("p"), d.signals[1].fingerprint("p"));
    // Without the attribute the message decides, as before.
    assert_eq!(d.signals[2].element_key, "log:api:no price for <id> in cart");
}

// ---------------------------------------------------------------- suppressions, one by one

fn burst_with(target: Target<'static>, extra: impl FnOnce(&mut Session)) -> friction_rules::Detection {
    let mut s = Session::default();
    s.click(1000, target.clone()).click(1200, target.clone()).click(1400, target);
    extra(&mut s);
    s.tick(20_000);
    s.run()
}

fn rage_reason(d: &friction_rules::Detection) -> Option<Suppression> {
    assert!(d.signals.iter().all(|x| x.kind != RageClick), "rage must be suppressed: {:#?}", d.signals);
    d.suppressed.iter().find(|x| x.candidate.kind == RageClick).map(|x| x.reason)
}

#[test]
fn each_suppression_removes_a_rage_burst() {
    let mut b = button("b");
    b.ignore = vec!["rage".into()];
    assert_eq!(rage_reason(&burst_with(b, |_| {})), Some(Suppression::FrictionIgnore));

    let r = rules(|c| c.ignore_selectors = vec!["b".into()]);
    let mut s = Session::default();
    s.click(1000, button("b")).click(1200, button("b")).click(1400, button("b")).tick(20_000);
    assert_eq!(rage_reason(&s.run_with(&r)), Some(Suppression::ProjectIgnoreList));

    let mut b = button("b");
    b.disabled = true;
    assert_eq!(rage_reason(&burst_with(b, |_| {})), Some(Suppression::DisabledControl));

    let mut s = Session::default();
    let ctrl = Modifiers { ctrl: true, ..Modifiers::default() };
    s.click_with(1000, button("b"), MouseButton::Primary, ctrl)
        .click_with(1200, button("b"), MouseButton::Primary, ctrl)
        .click_with(1400, button("b"), MouseButton::Primary, ctrl)
        .tick(20_000);
    assert_eq!(rage_reason(&s.run()), Some(Suppression::ModifierOrSecondaryButton));

    let mut b = button("b");
    b.download = true;
    assert_eq!(rage_reason(&burst_with(b, |_| {})), Some(Suppression::NewTabOrDownload));

    assert_eq!(
        rage_reason(&burst_with(div(10.0, 10.0), |s| {
            s.selection(1450, 42);
        })),
        Some(Suppression::TextSelection)
    );

    let mut b = button("b");
    b.text = Some("+".into());
    assert_eq!(rage_reason(&burst_with(b, |_| {})), Some(Suppression::StepperOrPager));

    assert_eq!(
        rage_reason(&burst_with(button("b"), |s| {
            s.scroll(1300, 120.0);
        })),
        Some(Suppression::ScrollDuringBurst)
    );
}

#[test]
fn responsive_repeat_needs_every_click_answered() {
    let toggle = |last_resp: i64| {
        let mut s = Session::default();
        s.click(1000, button("like")).mutation(1050, true);
        s.click(1400, button("like")).mutation(1450, true);
        s.click(1800, button("like")).mutation(last_resp, true);
        s.tick(20_000);
        s.run()
    };
    assert_eq!(rage_reason(&toggle(2100)), Some(Suppression::ResponsiveRepeat), "300 ms exactly");
    let d = toggle(2101);
    let rage = one(&d, RageClick);
    assert!(!rage.unresponsive);
}

// ---------------------------------------------------------------- episodes

#[test]
fn episodes_merge_within_the_window_anchored_at_the_first_signal() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(11_000, button("b")).click(21_001, button("b")).tick(40_000);
    let d = s.run();
    assert_eq!(d.signals.iter().filter(|x| x.kind == DeadClick).count(), 3);
    assert_eq!(d.episodes.len(), 2);
    assert_eq!(d.episodes[0].signals.len(), 2, "0 s and exactly +10 s merge");
    assert_eq!(d.episodes[1].signals.len(), 1);
}

#[test]
fn episodes_are_per_element() {
    let mut s = Session::default();
    s.click(1000, button("a")).click(3000, button("b")).tick(30_000);
    assert_eq!(s.run().episodes.len(), 2);
}

#[test]
fn priority_order() {
    let order = [
        episode_priority(ErrorClick, false),
        episode_priority(RageClick, true),
        episode_priority(DeadClick, false),
        episode_priority(SlowClick, false),
        episode_priority(RageClick, false),
        episode_priority(UTurn, false),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // slow beats behavioural rage in one episode: a slow click on b (answered after 1.5 s), then a
    // burst on b that the page answers.
    let mut s = Session::default();
    s.click(1000, button("b")).mutation(2500, true);
    s.click(4000, button("b")).click(4200, button("b")).click(4400, button("b")).mutation(4450, true);
    s.tick(30_000);
    let d = s.run();
    assert_eq!(kinds(&d.signals), vec![RageClick, SlowClick]);
    assert!(!one(&d, RageClick).unresponsive);
    assert_eq!(d.episodes.len(), 1, "{:?}", d.episodes);
    let ep = &d.episodes[0];
    assert_eq!((ep.primary, ep.unresponsive), (SlowClick, false));
    assert_eq!(ep.labels, vec!["slow_click", "rage_click"]);
}

// ---------------------------------------------------------------- ids and horizon

#[test]
fn ids_are_deterministic() {
    let mut s = Session::default();
    s.click(1000, button("b")).click(1200, button("b")).click(1400, button("b")).error(1500).tick(20_000);
    let a = s.run();
    let b = s.run();
    assert_eq!(a, b);
    let ids: std::collections::BTreeSet<_> = a.signals.iter().map(|x| x.id.clone()).collect();
    assert_eq!(ids.len(), a.signals.len(), "distinct signals, distinct ids");
    // another session, same shape: different ids
    let mut other = s.events.clone();
    for e in &mut other {
        e.session_id = "s2".into();
    }
    let c = detect(&other, Horizon::closed(80_000), &Rules::default());
    assert!(c.signals.iter().all(|x| !ids.contains(&x.id)));
    assert_eq!(a.signals[0].id.len(), 32);
}

#[test]
fn nothing_is_emitted_before_its_window_closes() {
    let mut s = Session::default();
    s.click(1000, button("b")).tick(9000);
    let r = Rules::default();
    let early = detect(&s.events, Horizon::open(7999), &r);
    assert!(early.signals.is_empty());
    assert_eq!(early.next_decision_ms, Some(8000));
    let h = Horizon::open(7999).next(8000, false);
    let now = detect(&s.events, h, &r);
    assert_eq!(kinds(&now.signals), vec![DeadClick]);
    assert!(now.episodes.is_empty(), "the episode waits for its 10 s");
    let h = h.next(11_000, false);
    let later = detect(&s.events, h, &r);
    assert!(later.signals.is_empty(), "not emitted twice");
    assert_eq!(later.episodes.len(), 1);
    assert_eq!(later.episodes[0].decided_at_ms, Some(11_000));
}

#[test]
fn fingerprints_use_primary_kind_route_template_and_key() {
    let mut s = Session::new("/orders/123");
    s.click(1000, button("cancel")).tick(20_000);
    let d = s.run();
    let ep = &d.episodes[0];
    assert_eq!(ep.fingerprint("p1"), friction_rules::fingerprint("p1", DeadClick, "/orders/:id", "cancel"));
    let mut s2 = Session::new("/orders/999");
    s2.click(5000, button("cancel")).tick(30_000);
    assert_eq!(s2.run().episodes[0].fingerprint("p1"), ep.fingerprint("p1"));
}

#[test]
fn an_episode_stays_open_while_a_submit_can_still_start_a_validation_chain() {
    // A validation loop (two invalid submits), then a third submit just before the episode's
    // window ends whose invalid field comes only after it: that submit anchors a new chain inside
    // the window, so the episode may close only once its validation window has passed.
    let mut s = Session::new("/signup");
    s.submit(1_000, "signup").input(1_050, "email", true);
    s.submit(3_000, "signup").input(3_050, "email", true);
    s.submit(10_900, "signup");
    let before_invalid = s.events.len();
    s.input(11_500, "email", true).nav(14_000, "/done", NavigationKind::Push).tick(20_000);
    let rules = Rules::default();

    let whole = s.run();
    assert_eq!(whole.episodes.len(), 1, "{:?}", whole.episodes);
    // The watermark passes the window end (another session's events) before the invalid field.
    let h1 = Horizon::open(11_200);
    let first = detect(&s.events[..before_invalid], h1, &rules);
    let h2 = h1.next(s.last_ts() + 60_000, true);
    let second = detect(&s.events, h2, &rules);
    let ids: Vec<&str> = first.episodes.iter().chain(&second.episodes).map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec![whole.episodes[0].id.as_str()], "emitted once, as in one call");
}
