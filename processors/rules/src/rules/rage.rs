//! R1 rage click (docs/detection.md "R1 rage click").
//!
//! A burst is consecutive clicks in one tab and view where each click is on the burst's element key
//! (or, for non-interactive or unkeyed targets, within `rage_radius_px` of the burst centroid —
//! not chained, so a drifting cursor does not extend it), each gap ≤ `rage_max_gap_ms` and the
//! whole burst ≤ `rage_max_span_ms`. A click that does not join closes the burst and starts the
//! next one. A closed burst of ≥ `rage_min_clicks` clicks is one candidate (one signal per burst).
//! It is `unresponsive` (issue-worthy tier B) when none of its first `rage_unresponsive_clicks`
//! clicks got a visible target-relevant response within `rage_unresponsive_ms` (a request alone
//! proves the click was received, not that the user saw anything).

use std::borrow::Cow;

use crate::event::{EventKind, Target};
use crate::judge::{self, build_signal, check, Class, Cx, Decided, Draft, KeyMatch, Out};
use crate::keys;
use crate::kind::SignalKind;
use crate::liveness::{self, ScanOpts};
use crate::suppress::{self, Suppression};

struct Burst<'e> {
    tab: Option<&'e str>,
    view: &'e str,
    /// `tab` and `view` interned (see [`Cx::tab`]).
    tab_k: u32,
    view_k: u32,
    active: bool,
    /// Click positions (indices into `cx.clicks`).
    members: Vec<usize>,
    key: Option<u64>,
    first_interactive: bool,
    first_ts: i64,
    last_ts: i64,
    sum_x: f64,
    sum_y: f64,
    n_xy: u32,
    /// Start of the train this burst belongs to: bursts chain while the gap from the previous
    /// burst's last click is ≤ the max gap, because whether a click joins depends on the burst it
    /// meets. A longer gap (or a new view) resets: what follows no longer depends on the past.
    train_start: i64,
}

impl Burst<'_> {
    fn bound(&self, gap: i64, span: i64) -> i64 {
        self.last_ts.saturating_add(gap).min(self.first_ts.saturating_add(span))
    }

    fn centroid(&self) -> Option<(f64, f64)> {
        (self.n_xy > 0).then(|| (self.sum_x / f64::from(self.n_xy), self.sum_y / f64::from(self.n_xy)))
    }
}

pub(crate) fn run<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>) {
    let cfg = cx.rules.config();
    let (gap, span) = (cfg.rage_max_gap_ms, cfg.rage_max_span_ms);
    let mut tabs: Vec<Burst<'e>> = Vec::new();
    let mut p = 0usize; // position in cx.clicks
    for (i, e) in cx.ev.iter().enumerate() {
        let tab = e.tab_id.as_deref();
        let (tab_k, view_k) = (cx.tab[i], cx.view[i]);
        let slot = tabs.iter().position(|b| b.tab_k == tab_k);
        if let Some(s) = slot {
            let b = &mut tabs[s];
            if b.active {
                let bound = b.bound(gap, span);
                if e.timestamp_ms > bound {
                    close(cx, out, b, bound);
                } else if view_k != b.view_k {
                    close(cx, out, b, e.timestamp_ms);
                }
            }
        }
        let EventKind::Click { target, .. } = &e.kind else {
            continue;
        };
        if cx.clicks.get(p) != Some(&i) {
            continue; // cannot happen: clicks were collected from the same slice
        }
        let pos = p;
        p += 1;
        let key = cx.click_keys.get(pos).copied().flatten();
        let point = target.point();
        let interactive = suppress::is_interactive(target);
        let s = match slot {
            Some(s) => s,
            None => {
                tabs.push(Burst {
                    tab,
                    view: &e.view_id,
                    tab_k,
                    view_k,
                    active: false,
                    members: Vec::new(),
                    key: None,
                    first_interactive: false,
                    first_ts: 0,
                    last_ts: i64::MIN,
                    sum_x: 0.0,
                    sum_y: 0.0,
                    n_xy: 0,
                    train_start: e.timestamp_ms,
                });
                tabs.len() - 1
            }
        };
        let b = &mut tabs[s];
        if b.active && joins(b, view_k, e.timestamp_ms, key, interactive, point, cfg) {
            b.members.push(pos);
            b.last_ts = e.timestamp_ms;
            if let Some((x, y)) = point {
                b.sum_x += x;
                b.sum_y += y;
                b.n_xy += 1;
            }
            continue;
        }
        if b.active {
            close(cx, out, b, e.timestamp_ms);
        }
        let continues_train =
            b.view_k == view_k && e.timestamp_ms.saturating_sub(b.last_ts) <= gap && b.last_ts != i64::MIN;
        if !continues_train {
            b.train_start = e.timestamp_ms;
        }
        b.view = &e.view_id;
        b.view_k = view_k;
        b.active = true;
        b.members.clear();
        b.members.push(pos);
        b.key = key;
        b.first_interactive = interactive;
        b.first_ts = e.timestamp_ms;
        b.last_ts = e.timestamp_ms;
        (b.sum_x, b.sum_y, b.n_xy) = match point {
            Some((x, y)) => (x, y, 1),
            None => (0.0, 0.0, 0),
        };
    }
    for b in &mut tabs {
        if b.active {
            let bound = b.bound(gap, span);
            close(cx, out, b, bound);
        }
    }
}

fn joins(
    b: &Burst<'_>,
    view_k: u32,
    ts: i64,
    key: Option<u64>,
    interactive: bool,
    point: Option<(f64, f64)>,
    cfg: &crate::RuleConfig,
) -> bool {
    if view_k != b.view_k
        || ts.saturating_sub(b.last_ts) > cfg.rage_max_gap_ms
        || ts.saturating_sub(b.first_ts) > cfg.rage_max_span_ms
    {
        return false;
    }
    if key.is_some() && key == b.key {
        return true;
    }
    // Two different keyed interactive elements are two elements, however close (a `-` and a `+`).
    if interactive && b.first_interactive && key.is_some() && b.key.is_some() {
        return false;
    }
    match (point, b.centroid()) {
        (Some((x, y)), Some((cx_, cy))) => (x - cx_).hypot(y - cy) <= cfg.rage_radius_px,
        _ => false,
    }
}

fn close<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>, b: &mut Burst<'e>, close_t: i64) {
    b.active = false;
    out.trains.push((b.train_start, b.last_ts));
    let cfg = cx.rules.config();
    let Some(&first_pos) = b.members.first() else {
        return;
    };
    let first_idx = cx.clicks[first_pos];
    let first = &cx.ev[first_idx];
    if cx.skip(first.timestamp_ms) {
        return;
    }
    let key_rec = KeyMatch::Exact(cx.click_rec[first_pos]);
    let n = b.members.len();
    #[allow(clippy::cast_possible_truncation)]
    if (n as u64) < u64::from(cfg.rage_min_clicks) {
        out.record(b.tab, b.view, key_rec, first.timestamp_ms, cx.by_time(close_t));
        return;
    }
    let nu = (cfg.rage_unresponsive_clicks as usize).min(n);
    let t_nu = cx.ev[cx.clicks[b.members[nu - 1]]].timestamp_ms;
    let last_ts = b.last_ts;
    let ready = close_t
        .max(t_nu.saturating_add(cfg.rage_unresponsive_ms))
        .max(last_ts.saturating_add(cfg.responsive_repeat_ms))
        .max(last_ts.saturating_add(cfg.selection_liveness_ms));
    let decided = cx.by_time(ready);
    if decided.is_pending() {
        out.record(b.tab, b.view, key_rec, first.timestamp_ms, decided);
        return;
    }
    // Windows cut by the session closing prove nothing: tier B needs the full window.
    let unresp_complete = t_nu.saturating_add(cfg.rage_unresponsive_ms) <= cx.h.watermark_ms;

    // Each scan stops at what the decision time covers, so the evidence never depends on later events.
    let mut delays: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut seen: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut first_scan = None;
    for (k, &mp) in b.members.iter().enumerate() {
        let window =
            if k < nu { cfg.rage_unresponsive_ms.max(cfg.responsive_repeat_ms) } else { cfg.responsive_repeat_ms };
        let ci = cx.clicks[mp];
        let scan = liveness::scan(
            cx,
            ci,
            // Members may have different keys (joined by radius): another click does not end the scan.
            ScanOpts {
                window_ms: window,
                stop_early: false,
                busy: liveness::busy_page(cx, ci),
                until_other_click: false,
            },
        );
        delays.push(scan.first_relevant.map(|(d, _)| d));
        seen.push(scan.first_seen_relevant.map(|(d, _)| d));
        if first_scan.is_none() {
            first_scan = Some(scan);
        }
    }
    let answered = |d: &Option<i64>| d.is_some_and(|d| d <= cfg.rage_unresponsive_ms);
    // Tier B asks whether the user saw anything: a request the click started does not count.
    let unresponsive = unresp_complete && !seen[..nu].iter().any(answered);

    // The members' elements, each once (a burst mostly clicks one): the suppressions below read
    // no click position, and some scan long selectors.
    let mut elements: Vec<&Target<'_>> = Vec::with_capacity(1);
    for t in b.members.iter().filter_map(|&mp| cx.ev[cx.clicks[mp]].click_target()) {
        if !elements.iter().any(|e| e.same_element(t)) {
            elements.push(t);
        }
    }
    let targets = || elements.iter().copied();
    let any_modifier = || {
        b.members.iter().any(|&mp| match &cx.ev[cx.clicks[mp]].kind {
            EventKind::Click { button, modifiers, .. } => suppress::modifier_or_secondary_button(*button, *modifiers),
            _ => false,
        })
    };
    let selection_changed = || {
        let until = last_ts.saturating_add(cfg.selection_liveness_ms);
        cx.ev[first_idx..].iter().zip(&cx.tab[first_idx..]).take_while(|(e, _)| e.timestamp_ms <= until).any(
            |(e, &t)| {
                matches!(e.kind, EventKind::Selection { length } if length > 0)
                    && (t == 0 || b.tab_k == 0 || t == b.tab_k)
            },
        )
    };
    let kind = SignalKind::RageClick;
    let f_ignore = || targets().any(|t| suppress::friction_ignore(t, kind));
    let f_project = || targets().any(|t| suppress::project_ignore_list(Some(t), &first.route, cx.rules));
    let f_disabled = || targets().any(suppress::disabled_control);
    let f_newtab = || targets().any(suppress::new_tab_or_download);
    let f_text = || {
        let sel = selection_changed();
        targets().any(|t| suppress::text_selection(t, sel))
    };
    let f_stepper = || targets().any(|t| suppress::stepper_or_pager(t, cx.rules));
    let f_scroll = || suppress::scroll_during_burst(cx.ev, b.tab, b.first_ts, last_ts);
    let f_repeat = || suppress::responsive_repeat(&delays, cfg.responsive_repeat_ms);
    let mut checked = Vec::new();
    let reason = check(
        &[
            (Suppression::FrictionIgnore, &f_ignore),
            (Suppression::ProjectIgnoreList, &f_project),
            (Suppression::DisabledControl, &f_disabled),
            (Suppression::ModifierOrSecondaryButton, &any_modifier),
            (Suppression::NewTabOrDownload, &f_newtab),
            (Suppression::TextSelection, &f_text),
            (Suppression::StepperOrPager, &f_stepper),
            (Suppression::ScrollDuringBurst, &f_scroll),
            (Suppression::ResponsiveRepeat, &f_repeat),
        ],
        &mut checked,
    );
    let class = reason.map_or(Class::Signal, Class::Suppressed);
    if cx.stub_only(class, decided) {
        let element_key = first.click_target().map(keys::element_key).unwrap_or_default();
        out.stub(cx, class, first, decided, kind, unresponsive, element_key);
        return;
    }

    // Geometry.
    let centroid = b.centroid();
    let mut max_dist: Option<f64> = None;
    let mut max_gap = 0i64;
    let mut prev_ts = b.first_ts;
    let mut event_ids = Vec::with_capacity(n);
    for &mp in &b.members {
        let e = &cx.ev[cx.clicks[mp]];
        event_ids.push(e.event_id.to_string());
        max_gap = max_gap.max(e.timestamp_ms.saturating_sub(prev_ts));
        prev_ts = e.timestamp_ms;
        if let (Some((x, y)), Some((gx, gy))) = (e.click_target().and_then(|t| t.point()), centroid) {
            let d = (x - gx).hypot(y - gy);
            max_dist = Some(max_dist.map_or(d, |m: f64| m.max(d)));
        }
    }

    let mut ev = judge::evidence(kind, cx.rules, event_ids);
    #[allow(clippy::cast_precision_loss)]
    judge::measure(&mut ev, "click_count", n as f64);
    judge::measure_ms(&mut ev, "span_ms", last_ts.saturating_sub(b.first_ts));
    judge::measure_ms(&mut ev, "max_gap_ms", max_gap);
    if let Some(d) = max_dist {
        judge::measure(&mut ev, "max_distance_px", d);
    }
    if let Some(d) = seen[..nu].iter().flatten().min() {
        judge::measure_ms(&mut ev, "first_response_ms", *d);
    }
    judge::detail(&mut ev, "unresponsive_window", if unresp_complete { "complete" } else { "cut" });
    if let Some(s) = &first_scan {
        ev.liveness = s.checks();
    }
    ev.suppressions_checked = checked;
    let element_key = first.click_target().map(keys::element_key).unwrap_or_default();
    let signal = build_signal(
        first,
        decided,
        Draft {
            kind,
            label: if unresponsive { Cow::Borrowed("rage_click:unresponsive") } else { Cow::Borrowed("rage_click") },
            element_key,
            end_ms: last_ts,
            evidence: ev,
            unresponsive,
        },
    );
    debug_assert!(!matches!(decided, Decided::Pending(_)));
    out.outcome(class, first, decided, signal);
}
