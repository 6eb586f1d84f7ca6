//! R4 form struggle (docs/detection.md "R4 form struggle").
//!
//! - `form_abandon`: inputs in ≥ `form_abandon_min_fields` fields, ≥ `form_abandon_min_ms` from the
//!   first input to the view's last event, then the view or session ends with no submit. A submit,
//!   or a POST/PUT/PATCH request (forms sent by script), ends the form. Search fields are ignored.
//!   Reported on the last field touched (`field:<fieldKey>`), never values.
//! - `validation_loop`: ≥ `validation_loop_min_submits` submit attempts in a row (a submit event or
//!   a click on a submit control; attempts within `validation_window_ms` are one) each followed by
//!   an invalid field within `validation_window_ms`. After a loop is reported the count starts over.

use std::borrow::Cow;

use crate::event::{Event, EventKind};
use crate::judge::{self, build_signal, check, Class, Cx, Decided, Draft, KeyMatch, Out};
use crate::keys;
use crate::kind::SignalKind;
use crate::suppress::{self, Suppression};

const FIELD_PREFIX: &str = "field:";
const FORM_PREFIX: &str = "form:";
const MAX_DISTINCT: usize = 8;

#[derive(Default)]
struct Seg {
    first: usize,
    last_input: usize,
    inputs: u32,
    fields: [u64; MAX_DISTINCT],
    n_fields: usize,
}

struct Attempt<'e> {
    start_ts: i64,
    start_idx: usize,
    invalid: bool,
    form_key: Option<&'e str>,
    click_idx: Option<usize>,
}

struct TabState<'e> {
    tab: Option<&'e str>,
    view: &'e str,
    /// `tab` and `view` interned (see [`Cx::tab`]).
    tab_k: u32,
    view_k: u32,
    last_ts: i64,
    seg: Option<Seg>,
    attempt: Option<Attempt<'e>>,
    /// Consecutive invalid attempts and their (attempt, invalid-field) event indices.
    chain: u32,
    chain_events: Vec<usize>,
    chain_anchor: Option<(usize, Option<&'e str>, Option<usize>)>,
}

impl<'e> TabState<'e> {
    fn new(tab: Option<&'e str>, view: &'e str, (tab_k, view_k): (u32, u32), ts: i64) -> Self {
        Self {
            tab,
            view,
            tab_k,
            view_k,
            last_ts: ts,
            seg: None,
            attempt: None,
            chain: 0,
            chain_events: Vec::new(),
            chain_anchor: None,
        }
    }

    fn reset_view(&mut self, view: &'e str, view_k: u32, ts: i64) {
        self.view = view;
        self.view_k = view_k;
        self.last_ts = ts;
        self.seg = None;
        self.attempt = None;
        self.chain = 0;
        self.chain_events.clear();
        self.chain_anchor = None;
    }
}

fn ignored_field(key: &str, words: &[String]) -> bool {
    let k = key.as_bytes();
    words.iter().any(|w| {
        let w = w.as_bytes();
        !w.is_empty() && k.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w))
    })
}

fn is_submit_control(e: &Event<'_>) -> bool {
    e.click_target().is_some_and(|t| t.r#type.as_deref().is_some_and(|ty| ty.trim().eq_ignore_ascii_case("submit")))
}

pub(crate) fn run<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>) {
    let mut tabs: Vec<TabState<'e>> = Vec::new();
    for (i, e) in cx.ev.iter().enumerate() {
        let (tab_k, view_k) = (cx.tab[i], cx.view[i]);
        let s = if let Some(s) = tabs.iter().position(|t| t.tab_k == tab_k) {
            s
        } else {
            tabs.push(TabState::new(e.tab_id.as_deref(), &e.view_id, (tab_k, view_k), e.timestamp_ms));
            tabs.len() - 1
        };
        let st = &mut tabs[s];
        if st.view_k != view_k {
            end_view(cx, out, st, Some(e.timestamp_ms));
            st.reset_view(&e.view_id, view_k, e.timestamp_ms);
        }
        st.last_ts = st.last_ts.max(e.timestamp_ms);
        match &e.kind {
            EventKind::Input { field_key, invalid, .. } => {
                // Validity feedback right after a submit attempt is the form talking, not the
                // user typing: it feeds the validation loop, not the engagement of a new segment.
                if *invalid && invalid_field(cx, out, st, i) {
                    continue;
                }
                if ignored_field(field_key, &cx.rules.form_ignore_words) {
                    continue;
                }
                let seg = st.seg.get_or_insert_with(|| Seg { first: i, ..Seg::default() });
                seg.inputs += 1;
                seg.last_input = i;
                let h = keys::fnv(field_key);
                if seg.n_fields < MAX_DISTINCT && !seg.fields[..seg.n_fields].contains(&h) {
                    seg.fields[seg.n_fields] = h;
                    seg.n_fields += 1;
                }
            }
            EventKind::Submit { form_key } => {
                close_segment(cx, out, st, e.timestamp_ms);
                attempt(cx, out, st, (i, e.timestamp_ms), form_key.as_deref(), None);
            }
            EventKind::Network { method, .. }
                if ["POST", "PUT", "PATCH"].iter().any(|m| method.trim().eq_ignore_ascii_case(m)) =>
            {
                close_segment(cx, out, st, e.timestamp_ms);
            }
            EventKind::Click { .. } if is_submit_control(e) => {
                attempt(cx, out, st, (i, e.timestamp_ms), None, Some(i));
            }
            _ => {}
        }
    }
    for st in &mut tabs {
        end_view(cx, out, st, None);
    }
}

/// A segment that ended in a submit: not abandoned.
fn close_segment<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>, st: &mut TabState<'e>, ts: i64) {
    if let Some(seg) = st.seg.take() {
        let first = &cx.ev[seg.first];
        // A segment is judged as a whole: never keep half of one (see `Out::trains`).
        out.trains.push((first.timestamp_ms, ts));
        if !cx.skip(first.timestamp_ms) {
            out.record(st.tab, st.view, KeyMatch::Prefix(FIELD_PREFIX), first.timestamp_ms, cx.by_event(ts));
        }
    }
}

fn attempt<'e>(
    cx: &Cx<'e, '_>,
    out: &mut Out<'e>,
    st: &mut TabState<'e>,
    (i, ts): (usize, i64),
    form_key: Option<&'e str>,
    click: Option<usize>,
) {
    let window = cx.rules.config().validation_window_ms;
    if let Some(a) = &mut st.attempt {
        if ts.saturating_sub(a.start_ts) <= window {
            a.form_key = a.form_key.or(form_key);
            a.click_idx = a.click_idx.or(click);
            return;
        }
        if !a.invalid {
            // The previous attempt went through: the loop, if any, is broken, and that decides
            // the chain's candidate (a decision time later than any watermark it was pending at).
            if let Some((anchor_idx, ..)) = st.chain_anchor {
                let anchor = &cx.ev[anchor_idx];
                out.trains.push((anchor.timestamp_ms, ts));
                if !cx.skip(anchor.timestamp_ms) {
                    out.record(st.tab, st.view, KeyMatch::Prefix(FORM_PREFIX), anchor.timestamp_ms, cx.by_event(ts));
                }
            }
            st.chain = 0;
            st.chain_events.clear();
            st.chain_anchor = None;
        }
    }
    st.attempt = Some(Attempt { start_ts: ts, start_idx: i, invalid: false, form_key, click_idx: click });
    // Whether this attempt anchors a validation chain is known only once its window has passed
    // (an invalid field may still come): until then an episode on a form key must not close.
    if !cx.skip(ts) {
        out.record(st.tab, st.view, KeyMatch::Prefix(FORM_PREFIX), ts, cx.by_time(ts.saturating_add(window)));
    }
}

/// An invalid field: returns whether it answered a submit attempt (validation feedback).
fn invalid_field<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>, st: &mut TabState<'e>, i: usize) -> bool {
    let cfg = cx.rules.config();
    let ts = cx.ev[i].timestamp_ms;
    let Some(a) = &mut st.attempt else {
        return false;
    };
    if ts.saturating_sub(a.start_ts) > cfg.validation_window_ms {
        return false;
    }
    if a.invalid {
        return true;
    }
    a.invalid = true;
    st.chain += 1;
    st.chain_events.push(a.start_idx);
    st.chain_events.push(i);
    if st.chain_anchor.is_none() {
        st.chain_anchor = Some((a.start_idx, a.form_key, a.click_idx));
    }
    if st.chain < cfg.validation_loop_min_submits {
        return true;
    }
    // The loop is complete: report it and start over, so each chain is judged on its own.
    let Some((anchor_idx, form_key, click_idx)) = st.chain_anchor.take() else {
        return true;
    };
    let chain_events = std::mem::take(&mut st.chain_events);
    let chain = std::mem::replace(&mut st.chain, 0);
    let anchor = &cx.ev[anchor_idx];
    out.trains.push((anchor.timestamp_ms, ts));
    if cx.skip(anchor.timestamp_ms) {
        return true;
    }
    let decided = cx.by_event(ts);
    let form_key = form_key.or(a.form_key);
    let key = match (form_key, click_idx.and_then(|c| cx.ev[c].click_target())) {
        (Some(k), _) if !k.trim().is_empty() => format!("{FORM_PREFIX}{}", k.trim()),
        (_, Some(t)) => format!("{FORM_PREFIX}{}", keys::element_key(t)),
        _ => format!("{FORM_PREFIX}form"),
    };
    if decided.is_pending() {
        out.record(st.tab, st.view, KeyMatch::Prefix(FORM_PREFIX), anchor.timestamp_ms, decided);
        return true;
    }
    let kind = SignalKind::ValidationLoop;
    let target = click_idx.and_then(|c| cx.ev[c].click_target());
    let mut checked = Vec::new();
    let reason = check(
        &[
            (Suppression::FrictionIgnore, &|| target.is_some_and(|t| suppress::friction_ignore(t, kind))),
            (Suppression::ProjectIgnoreList, &|| suppress::project_ignore_list(target, &anchor.route, cx.rules)),
        ],
        &mut checked,
    );
    let class = reason.map_or(Class::Signal, Class::Suppressed);
    if cx.stub_only(class, decided) {
        out.stub(cx, class, anchor, decided, kind, false, key);
        return true;
    }
    let ids = chain_events.iter().map(|&j| cx.ev[j].event_id.to_string()).collect();
    let mut ev = judge::evidence(kind, cx.rules, ids);
    ev.suppressions_checked = checked;
    judge::measure(&mut ev, "invalid_submits", f64::from(chain));
    judge::measure_ms(&mut ev, "span_ms", ts.saturating_sub(anchor.timestamp_ms));
    let signal = build_signal(
        anchor,
        decided,
        Draft {
            kind,
            label: Cow::Borrowed("validation_loop"),
            element_key: key,
            end_ms: ts,
            evidence: ev,
            unresponsive: false,
        },
    );
    out.outcome(class, anchor, decided, signal);
    true
}

/// The view ended at `at` (`None`: at the end of the slice — the session's end if it is closed).
fn end_view<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>, st: &mut TabState<'e>, at: Option<i64>) {
    let decided = match at {
        Some(t) => cx.by_event(t),
        None if cx.h.session_closed => Decided::AtClose,
        None => Decided::Pending(None),
    };
    // An open validation chain that never reached the loop is decided with the view.
    if let Some((anchor_idx, ..)) = st.chain_anchor {
        let a = &cx.ev[anchor_idx];
        out.trains.push((a.timestamp_ms, at.unwrap_or(st.last_ts)));
        if !cx.skip(a.timestamp_ms) {
            out.record(st.tab, st.view, KeyMatch::Prefix(FORM_PREFIX), a.timestamp_ms, decided);
        }
    }
    let Some(seg) = st.seg.take() else {
        return;
    };
    let first = &cx.ev[seg.first];
    out.trains.push((first.timestamp_ms, at.unwrap_or(st.last_ts)));
    if cx.skip(first.timestamp_ms) {
        return;
    }
    let cfg = cx.rules.config();
    let engagement = st.last_ts.saturating_sub(first.timestamp_ms);
    let abandoned = engagement >= cfg.form_abandon_min_ms && seg.n_fields >= cfg.form_abandon_min_fields as usize;
    if decided.is_pending() || !abandoned {
        out.record(st.tab, st.view, KeyMatch::Prefix(FIELD_PREFIX), first.timestamp_ms, decided);
        return;
    }
    let last = &cx.ev[seg.last_input];
    let field = match &last.kind {
        EventKind::Input { field_key, .. } => field_key.trim(),
        _ => "",
    };
    let kind = SignalKind::FormAbandon;
    let mut checked = Vec::new();
    let reason = check(
        &[(Suppression::ProjectIgnoreList, &|| suppress::project_ignore_list(None, &first.route, cx.rules))],
        &mut checked,
    );
    let class = reason.map_or(Class::Signal, Class::Suppressed);
    if cx.stub_only(class, decided) {
        out.stub(cx, class, first, decided, kind, false, format!("{FIELD_PREFIX}{field}"));
        return;
    }
    let mut ev = judge::evidence(kind, cx.rules, vec![first.event_id.to_string(), last.event_id.to_string()]);
    ev.suppressions_checked = checked;
    judge::measure_ms(&mut ev, "engagement_ms", engagement);
    judge::measure(&mut ev, "inputs", f64::from(seg.inputs));
    #[allow(clippy::cast_precision_loss)]
    judge::measure(&mut ev, "fields", seg.n_fields as f64);
    judge::detail(&mut ev, "ended_by", if at.is_some() { "navigation" } else { "session_end" });
    let signal = build_signal(
        first,
        decided,
        Draft {
            kind,
            label: Cow::Borrowed("form_abandon"),
            element_key: format!("{FIELD_PREFIX}{field}"),
            end_ms: st.last_ts,
            evidence: ev,
            unresponsive: false,
        },
    );
    out.outcome(class, first, decided, signal);
}
