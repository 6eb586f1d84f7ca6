//! Per-click verdicts: R2 dead / slow / undetermined, disabled click, and R3 error click.
//!
//! A click is a dead-click candidate when its target is actionable and no click on the same
//! element (same tab and view) came within `click_debounce_ms` before it — so a rage burst is one
//! candidate, judged on its first click. The verdict comes from the first *visible* response:
//! within `slow_after_ms` alive; within `dead_window_ms` slow (with its latency); none, but a request
//! the click started: alive (the app reacted where we cannot see); none at all: dead — unless the
//! tab was hidden or the session closed inside the window: undetermined, never dead. A click on
//! another element ends the window early: with nothing visible before it the click is dead if the
//! user waited at least `dead_abandon_after_ms`, undetermined if not.

use std::borrow::Cow;

use crate::event::{EventKind, Target};
use crate::judge::{self, build_signal, check, Class, Cx, Decided, Draft, KeyMatch, Out};
use crate::keys;
use crate::kind::SignalKind;
use crate::liveness::{self, ScanOpts};
use crate::suppress::{self, Suppression};

pub(crate) fn run<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>) {
    let errors = attribute_failures(cx);
    for (p, &i) in cx.clicks.iter().enumerate() {
        let e = &cx.ev[i];
        let EventKind::Click { button, modifiers, target } = &e.kind else {
            continue;
        };
        if cx.skip(e.timestamp_ms) {
            continue;
        }
        let key_rec = KeyMatch::Exact(cx.click_rec[p]);
        let modified = suppress::modifier_or_secondary_button(*button, *modifiers);
        error_click(cx, out, p, target, errors[p], key_rec);

        if folded(cx, p) {
            continue;
        }
        if target.disabled {
            disabled_click(cx, out, i, target, modified);
        }
        if suppress::is_actionable(target) {
            dead_or_slow(cx, out, i, target, modified, key_rec);
        }
    }
}

/// Whether click `p` follows another click on the same element within the debounce time.
fn folded(cx: &Cx<'_, '_>, p: usize) -> bool {
    let Some(key) = cx.click_keys[p] else {
        return false;
    };
    let e = &cx.ev[cx.clicks[p]];
    let from = e.timestamp_ms.saturating_sub(cx.rules.config().click_debounce_ms);
    for q in (0..p).rev() {
        let o = &cx.ev[cx.clicks[q]];
        if o.timestamp_ms < from {
            break;
        }
        if cx.click_keys[q] == Some(key)
            && cx.view_eq(cx.clicks[q], cx.clicks[p])
            && cx.tab_eq(cx.clicks[q], cx.clicks[p])
        {
            return true;
        }
    }
    false
}

fn disabled_click<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>, i: usize, target: &Target<'_>, modified: bool) {
    let e = &cx.ev[i];
    let kind = SignalKind::DisabledClick;
    let decided = cx.by_event(e.timestamp_ms);
    if decided.is_pending() {
        out.record(e.tab_id.as_deref(), &e.view_id, KeyMatch::Exact(cx.click_keys_hash(i)), e.timestamp_ms, decided);
        return;
    }
    let mut checked = Vec::new();
    let reason = check(
        &[
            (Suppression::FrictionIgnore, &|| suppress::friction_ignore(target, kind)),
            (Suppression::ProjectIgnoreList, &|| suppress::project_ignore_list(Some(target), &e.route, cx.rules)),
            (Suppression::ModifierOrSecondaryButton, &|| modified),
        ],
        &mut checked,
    );
    let class = reason.map_or(Class::Signal, Class::Suppressed);
    if cx.stub_only(class, decided) {
        out.stub(cx, class, e, decided, kind, false, keys::element_key(target));
        return;
    }
    let mut ev = judge::evidence(kind, cx.rules, vec![e.event_id.to_string()]);
    ev.suppressions_checked = checked;
    let signal = build_signal(
        e,
        decided,
        Draft {
            kind,
            label: Cow::Borrowed("disabled_click"),
            element_key: keys::element_key(target),
            end_ms: e.timestamp_ms,
            evidence: ev,
            unresponsive: false,
        },
    );
    out.outcome(class, e, decided, signal);
}

enum Verdict {
    Alive,
    Slow(i64, &'static str),
    Dead,
    Undetermined(&'static str),
}

fn dead_or_slow<'e>(
    cx: &Cx<'e, '_>,
    out: &mut Out<'e>,
    i: usize,
    target: &Target<'_>,
    modified: bool,
    key_rec: KeyMatch,
) {
    let cfg = cx.rules.config();
    let e = &cx.ev[i];
    let t0 = e.timestamp_ms;
    let busy = liveness::busy_page(cx, i);
    let scan = liveness::scan(
        cx,
        i,
        ScanOpts { window_ms: cfg.dead_window_ms, stop_early: true, busy, until_other_click: true },
    );
    let network = scan.first_network.is_some();
    let (verdict, decided) = if let Some((d, _, src)) = scan.first_visible {
        let dec = cx.by_event(t0.saturating_add(d));
        if d <= cfg.slow_after_ms {
            (Verdict::Alive, dec)
        } else {
            (Verdict::Slow(d, src.as_str()), dec)
        }
    } else if let Some((tc, _)) = scan.cut {
        let v = if network { Verdict::Alive } else { Verdict::Undetermined("tab_hidden") };
        (v, cx.by_event(tc))
    } else if let Some((tn, _)) = scan.next_click {
        let v = if network {
            Verdict::Alive
        } else if tn.saturating_sub(t0) >= cfg.dead_abandon_after_ms {
            Verdict::Dead
        } else {
            Verdict::Undetermined("next_click")
        };
        (v, cx.by_event(tn))
    } else {
        let dec = cx.by_time(t0.saturating_add(cfg.dead_window_ms));
        let v = match (dec, network) {
            (_, true) => Verdict::Alive,
            (Decided::AtClose, false) => Verdict::Undetermined("session_closed"),
            _ => Verdict::Dead,
        };
        (v, dec)
    };
    if decided.is_pending() || matches!(verdict, Verdict::Alive) {
        out.record(e.tab_id.as_deref(), &e.view_id, key_rec, t0, decided);
        return;
    }
    let (kind, class_if_kept) = match verdict {
        Verdict::Slow(..) => (SignalKind::SlowClick, Class::Signal),
        Verdict::Dead => (SignalKind::DeadClick, Class::Signal),
        Verdict::Undetermined(_) | Verdict::Alive => (SignalKind::Undetermined, Class::Undetermined),
    };
    let mut checked = Vec::new();
    let reason = check(
        &[
            (Suppression::FrictionIgnore, &|| suppress::friction_ignore(target, kind)),
            (Suppression::ProjectIgnoreList, &|| suppress::project_ignore_list(Some(target), &e.route, cx.rules)),
            (Suppression::DisabledControl, &|| suppress::disabled_control(target)),
            (Suppression::ModifierOrSecondaryButton, &|| modified),
            (Suppression::NewTabOrDownload, &|| suppress::new_tab_or_download(target)),
        ],
        &mut checked,
    );
    let class = reason.map_or(class_if_kept, Class::Suppressed);
    if cx.stub_only(class, decided) {
        out.stub(cx, class, e, decided, kind, false, keys::element_key(target));
        return;
    }
    // Evidence: every liveness source with its first delay (a full scan; only for reported
    // clicks), up to the decision and no further, so the evidence is the same whenever it is built.
    let ended = scan.cut.or(scan.next_click);
    let evidence_window = match verdict {
        Verdict::Slow(d, _) => d,
        Verdict::Undetermined(_) | Verdict::Dead => ended.map_or(cfg.dead_window_ms, |(tc, _)| tc.saturating_sub(t0)),
        Verdict::Alive => cfg.dead_window_ms,
    };
    let full = liveness::scan(
        cx,
        i,
        ScanOpts { window_ms: evidence_window, stop_early: false, busy, until_other_click: true },
    );
    let mut ev = judge::evidence(kind, cx.rules, vec![e.event_id.to_string()]);
    ev.liveness = full.checks();
    ev.suppressions_checked = checked;
    judge::measure(&mut ev, "busy_page", if busy { 1.0 } else { 0.0 });
    let mut end = t0;
    match verdict {
        Verdict::Slow(d, src) => {
            judge::measure_ms(&mut ev, "response_ms", d);
            judge::detail(&mut ev, "response_source", src);
            if let Some((_, j, _)) = scan.first_visible {
                ev.event_ids.push(cx.ev[j].event_id.to_string());
            }
            end = t0.saturating_add(d);
        }
        Verdict::Dead => match scan.next_click {
            Some((tn, j)) => {
                // The user gave up and clicked elsewhere: observed until then. That click is not
                // part of this signal, so it is named in details, not in the event ids.
                judge::measure_ms(&mut ev, "observed_ms", tn.saturating_sub(t0));
                judge::detail(&mut ev, "ended_by", "click_elsewhere");
                judge::detail(&mut ev, "ended_by_event_id", cx.ev[j].event_id.to_string());
            }
            None => judge::measure_ms(&mut ev, "observed_ms", cfg.dead_window_ms),
        },
        Verdict::Undetermined(why) => {
            judge::detail(&mut ev, "cut_by", why);
            if let Some((tn, j)) = scan.next_click {
                judge::measure_ms(&mut ev, "observed_ms", tn.saturating_sub(t0));
                judge::detail(&mut ev, "ended_by_event_id", cx.ev[j].event_id.to_string());
            } else if let Some((tc, j)) = scan.cut {
                judge::measure_ms(&mut ev, "observed_ms", tc.saturating_sub(t0));
                ev.event_ids.push(cx.ev[j].event_id.to_string());
                end = tc;
            }
        }
        Verdict::Alive => {}
    }
    let label = Cow::Borrowed(kind.as_str());
    let signal = build_signal(
        e,
        decided,
        Draft { kind, label, element_key: keys::element_key(target), end_ms: end, evidence: ev, unresponsive: false },
    );
    out.outcome(class, e, decided, signal);
}

/// For each click (by position), the first failure attributed to it: a JS error within
/// `error_window_ms` after it (to the most recent click in the same tab and view) unless its message is on the
/// benign list, or a failed request it started (named by `initiator`, within the dead window; or,
/// unnamed, started within `error_unnamed_request_ms` after the most recent click).
fn attribute_failures(cx: &Cx<'_, '_>) -> Vec<Option<usize>> {
    let cfg = cx.rules.config();
    let mut res = vec![None; cx.clicks.len()];
    for (i, e) in cx.ev.iter().enumerate() {
        let (limit, initiator) = match &e.kind {
            EventKind::Error { message, .. } if !cx.rules.benign_error(message) => (cfg.error_window_ms, None),
            EventKind::Network { status, initiator, .. } if failed(*status, &cfg.error_client_statuses) => {
                (cfg.error_unnamed_request_ms, initiator.as_deref())
            }
            _ => continue,
        };
        // Clicks up to the failure's time, including one stamped in the same millisecond but
        // recorded after it: a handler that throws runs before the SDK's bubbling click listener,
        // so the error can come first in the stream.
        let before = cx.clicks.partition_point(|&c| c < i || cx.ev[c].timestamp_ms <= e.timestamp_ms);
        let mut found = None;
        for q in (0..before).rev() {
            let c = &cx.ev[cx.clicks[q]];
            let d = e.timestamp_ms.saturating_sub(c.timestamp_ms);
            if let Some(id) = initiator {
                if d > cfg.dead_window_ms {
                    break;
                }
                if c.event_id == id && d >= 0 {
                    found = Some(q);
                    break;
                }
            } else {
                if d > limit {
                    break;
                }
                // Same tab and same view: a click that navigated away does not own the next
                // page's errors.
                if d >= 0 && cx.same_tab(cx.clicks[q], i) && cx.view_eq(cx.clicks[q], i) {
                    found = Some(q);
                    break;
                }
            }
        }
        if let Some(q) = found {
            let Some(target) = cx.ev[cx.clicks[q]].click_target() else {
                continue;
            };
            // A click on plain content near a background error is coincidence; a named initiator is proof.
            let eligible = !target.disabled && (initiator.is_some() || suppress::is_actionable(target));
            if eligible && res[q].is_none() {
                res[q] = Some(i);
            }
        }
    }
    res
}

fn failed(status: Option<u16>, client: &[u16]) -> bool {
    match status {
        None | Some(0) => true,
        Some(s) => s >= 500 || client.contains(&s),
    }
}

fn error_click<'e>(
    cx: &Cx<'e, '_>,
    out: &mut Out<'e>,
    p: usize,
    target: &Target<'_>,
    failure: Option<usize>,
    key_rec: KeyMatch,
) {
    let cfg = cx.rules.config();
    let e = &cx.ev[cx.clicks[p]];
    let Some(fi) = failure else {
        // Nothing yet: a named request can still fail until the dead window ends.
        let horizon = cfg.error_window_ms.max(cfg.network_initiated_ms).max(cfg.dead_window_ms);
        let decided = cx.by_time(e.timestamp_ms.saturating_add(horizon));
        out.record(e.tab_id.as_deref(), &e.view_id, key_rec, e.timestamp_ms, decided);
        return;
    };
    let f = &cx.ev[fi];
    // A failure recorded before its click (same millisecond) is judged just after that
    // millisecond: only then can a consumer have seen both.
    let decided = cx.by_event(if fi < cx.clicks[p] { f.timestamp_ms.saturating_add(1) } else { f.timestamp_ms });
    if decided.is_pending() {
        out.record(e.tab_id.as_deref(), &e.view_id, key_rec, e.timestamp_ms, decided);
        return;
    }
    let kind = SignalKind::ErrorClick;
    let mut checked = Vec::new();
    let reason = check(
        &[
            (Suppression::FrictionIgnore, &|| suppress::friction_ignore(target, kind)),
            (Suppression::ProjectIgnoreList, &|| suppress::project_ignore_list(Some(target), &e.route, cx.rules)),
        ],
        &mut checked,
    );
    let class = reason.map_or(Class::Signal, Class::Suppressed);
    if cx.stub_only(class, decided) {
        out.stub(cx, class, e, decided, kind, false, keys::element_key(target));
        return;
    }
    let mut ev = judge::evidence(kind, cx.rules, vec![e.event_id.to_string(), f.event_id.to_string()]);
    ev.suppressions_checked = checked;
    judge::measure_ms(&mut ev, "delay_ms", f.timestamp_ms.saturating_sub(e.timestamp_ms));
    let label = match &f.kind {
        EventKind::Network { method, url, status, initiator, .. } => {
            judge::detail(&mut ev, "method", method.to_ascii_uppercase());
            judge::detail(&mut ev, "url_template", keys::route_template(url));
            judge::detail(&mut ev, "status", status.map_or_else(|| "network_error".to_owned(), |s| s.to_string()));
            judge::detail(&mut ev, "attribution", if initiator.is_some() { "initiator" } else { "timing" });
            "error_click:network"
        }
        EventKind::Error { error_type, fingerprint, .. } => {
            if !error_type.is_empty() {
                judge::detail(&mut ev, "error_type", error_type.as_ref());
            }
            if let Some(fp) = fingerprint {
                judge::detail(&mut ev, "error_fingerprint", fp.as_ref());
            }
            "error_click:js"
        }
        _ => "error_click",
    };
    let signal = build_signal(
        e,
        decided,
        Draft {
            kind,
            label: Cow::Borrowed(label),
            element_key: keys::element_key(target),
            end_ms: f.timestamp_ms,
            evidence: ev,
            unresponsive: false,
        },
    );
    out.outcome(class, e, decided, signal);
}

impl Cx<'_, '_> {
    /// Element-key hash of the click at event index `i` (empty key hashed as "").
    fn click_keys_hash(&self, i: usize) -> u64 {
        let p = self.clicks.partition_point(|&c| c < i);
        self.click_rec.get(p).copied().unwrap_or_else(|| keys::fnv(""))
    }
}
