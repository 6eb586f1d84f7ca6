//! The entry point: run every rule over one session's events and emit what the horizon allows.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::config::Rules;
use crate::episode;
use crate::event::{Event, EventKind};
use crate::keys;
use crate::rules;
use crate::signal::{Detection, Evidence, Horizon, Signal, SignalKind};
use crate::suppress::Suppression;

/// Version of the rule logic, recorded in evidence. Bump when a rule's behaviour changes.
/// 2: a click on another element ends a click's liveness window; rage tier B needs a visible
/// response; benign JS errors and late unnamed failed requests are not error clicks.
pub const RULE_VERSION: u32 = 2;

/// When a candidate's verdict became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decided {
    /// At this event time.
    At(i64),
    /// When the session closed (its window was still open).
    AtClose,
    /// Not yet; would be decided at the given time if no new event arrived (`None`: only by a
    /// future event or the session closing).
    Pending(Option<i64>),
}

impl Decided {
    pub(crate) fn is_pending(self) -> bool {
        matches!(self, Self::Pending(_))
    }

    pub(crate) fn at_ms(self) -> Option<i64> {
        match self {
            Self::At(t) => Some(t),
            _ => None,
        }
    }

    /// The later of two decisions: pending dominates, then session close, then the later time.
    pub(crate) fn max(self, other: Self) -> Self {
        match (self, other) {
            (Self::Pending(a), Self::Pending(b)) => Self::Pending(match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            }),
            (p @ Self::Pending(_), _) | (_, p @ Self::Pending(_)) => p,
            (Self::AtClose, _) | (_, Self::AtClose) => Self::AtClose,
            (Self::At(a), Self::At(b)) => Self::At(a.max(b)),
        }
    }
}

/// Per-call context shared by the rules.
pub(crate) struct Cx<'e, 'a> {
    pub ev: &'e [Event<'a>],
    pub rules: &'e Rules,
    pub h: Horizon,
    /// Indices of click events, in order.
    pub clicks: Vec<usize>,
    /// Element-key hash per click (parallel to `clicks`) when the key identifies one element
    /// (the SDK's key or a selector); `None` for empty or tag-only keys, which never make two
    /// clicks "the same element".
    pub click_keys: Vec<Option<u64>>,
    /// Hash of the reported element key per click, whatever its source (groups records and
    /// episodes exactly as signals are keyed).
    pub click_rec: Vec<u64>,
    /// Tab of each event interned to a small integer (0: no tab), so rules compare integers
    /// instead of id strings.
    pub tab: Vec<u32>,
    /// View of each event interned to a small integer.
    pub view: Vec<u32>,
    /// Candidates anchored before this were judged by earlier calls and may lack their look-back
    /// context (the caller pruned events): they are skipped.
    pub skip_before: Option<i64>,
    /// Candidates decided at or before `emitted_through_ms` were emitted by an earlier call: only
    /// their records (and, for issue-kind signals, stubs for episodes) are built.
    pub light: bool,
    /// Suppressed and undetermined candidates are counted, not built: they are emitted with their
    /// kind, element key and times only (see [`detect_counting`]).
    pub count_only: bool,
}

impl<'e, 'a> Cx<'e, 'a> {
    fn new(ev: &'e [Event<'a>], h: Horizon, rules: &'e Rules, light: bool, count_only: bool) -> Self {
        let mut clicks = Vec::new();
        let mut click_keys = Vec::new();
        let mut click_rec = Vec::new();
        let mut tab = Vec::with_capacity(ev.len());
        let mut view = Vec::with_capacity(ev.len());
        let (mut tabs, mut views) = (Interner::default(), Interner::default());
        for (i, e) in ev.iter().enumerate() {
            tab.push(e.tab_id.as_deref().map_or(0, |t| tabs.get(t) + 1));
            view.push(views.get(&e.view_id));
            if let EventKind::Click { target, .. } = &e.kind {
                clicks.push(i);
                let (h, src) = keys::element_key_hash(target);
                click_keys.push((src == keys::KeySource::Identifying).then_some(h));
                click_rec.push(h);
            }
        }
        let skip_before = h.retained_from_ms.map(|r| r.saturating_add(rules.max_lookback_ms()));
        Self { ev, rules, h, clicks, click_keys, click_rec, tab, view, skip_before, light, count_only }
    }

    /// Whether events `i` and `j` are in the same tab (an event without a tab matches every tab,
    /// see [`crate::liveness::same_tab`]).
    pub(crate) fn same_tab(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.tab[i], self.tab[j]);
        a == 0 || b == 0 || a == b
    }

    /// Whether events `i` and `j` have the same tab id (both none counts as the same).
    pub(crate) fn tab_eq(&self, i: usize, j: usize) -> bool {
        self.tab[i] == self.tab[j]
    }

    /// Whether events `i` and `j` are in the same view.
    pub(crate) fn view_eq(&self, i: usize, j: usize) -> bool {
        self.view[i] == self.view[j]
    }

    /// Whether a candidate decided at `decided` was emitted by an earlier call (chained calls
    /// emit everything decided in `(emitted_through_ms, watermark_ms]`): then only what episodes
    /// need is kept, see [`Out::stub`].
    pub(crate) fn already_emitted(&self, decided: Decided) -> bool {
        self.light && matches!(decided, Decided::At(t) if self.h.emitted_through_ms.is_some_and(|a| t <= a))
    }

    /// Whether a candidate of `class` decided at `decided` gets only a stub ([`Out::stub`]): it was
    /// emitted by an earlier call, or it is not a signal and this call only counts those.
    pub(crate) fn stub_only(&self, class: Class, decided: Decided) -> bool {
        self.already_emitted(decided) || (self.count_only && class != Class::Signal)
    }

    /// Decided by an event at `t` that is in the slice.
    pub(crate) fn by_event(&self, t: i64) -> Decided {
        if t <= self.h.watermark_ms || self.h.session_closed {
            Decided::At(t)
        } else {
            Decided::Pending(Some(t))
        }
    }

    /// Decided when event time reaches `t` (a window end).
    pub(crate) fn by_time(&self, t: i64) -> Decided {
        if t <= self.h.watermark_ms {
            Decided::At(t)
        } else if self.h.session_closed {
            Decided::AtClose
        } else {
            Decided::Pending(Some(t))
        }
    }

    /// Reported element-key hash of the click at event index `i`; `None` if it is not a click.
    pub(crate) fn click_rec_at(&self, i: usize) -> Option<u64> {
        let p = self.clicks.binary_search(&i).ok()?;
        self.click_rec.get(p).copied()
    }

    pub(crate) fn skip(&self, anchor_ms: i64) -> bool {
        self.skip_before.is_some_and(|s| anchor_ms < s)
    }

    /// The earliest time anything not yet emitted can still depend on, before look-back.
    pub(crate) fn base_ms(&self) -> i64 {
        let r = self.rules.config();
        self.h.watermark_ms.saturating_sub(r.episode_window_ms).saturating_sub(self.rules.max_decision_ms())
    }
}

/// Small integers for the few distinct ids of a session (tabs, views), in order of appearance.
#[derive(Default)]
struct Interner<'s> {
    seen: Vec<&'s str>,
    last: u32,
}

impl<'s> Interner<'s> {
    fn get(&mut self, s: &'s str) -> u32 {
        // Consecutive events mostly share their id: try the last one first.
        if self.seen.get(self.last as usize).is_some_and(|l| eq_short(l, s)) {
            return self.last;
        }
        let k = match self.seen.iter().position(|x| eq_short(x, s)) {
            Some(k) => k,
            None => {
                self.seen.push(s);
                self.seen.len() - 1
            }
        };
        self.last = u32::try_from(k).unwrap_or(u32::MAX);
        self.last
    }
}

/// String equality without a `memcmp` call for ids of up to 16 bytes (two overlapping word
/// compares); longer ones compare as usual.
fn eq_short(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word =
        |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_ne_bytes);
    match n {
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// How a candidate's key is known: exactly, or only its namespace (form abandonment reports the
/// last field touched, unknown until the view ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMatch {
    Exact(u64),
    Prefix(&'static str),
}

/// Every candidate, signal or not, so episodes can tell when no more members can appear.
#[derive(Debug, Clone)]
pub(crate) struct Record<'e> {
    pub tab: Option<&'e str>,
    pub view: &'e str,
    pub key: KeyMatch,
    pub anchor_ms: i64,
    pub decided: Decided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Signal,
    Suppressed(Suppression),
    Undetermined,
}

/// A decided candidate with a verdict worth reporting.
#[derive(Debug, Clone)]
pub(crate) struct Outcome<'e> {
    pub class: Class,
    pub tab: Option<&'e str>,
    pub view: &'e str,
    pub key_hash: u64,
    pub decided: Decided,
    pub signal: Signal,
    /// Emitted by an earlier call: `signal` has only kind, label, key and times (see [`Out::stub`]).
    pub stub: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Out<'e> {
    pub records: Vec<Record<'e>>,
    pub outcomes: Vec<Outcome<'e>>,
    /// (start, last) of click trains: bursts chained without a reset (see `rules::rage`).
    pub trains: Vec<(i64, i64)>,
    /// Times that must stay retained (context events of candidates not yet decided).
    pub interest: Vec<i64>,
}

impl<'e> Out<'e> {
    pub(crate) fn record(
        &mut self,
        tab: Option<&'e str>,
        view: &'e str,
        key: KeyMatch,
        anchor_ms: i64,
        decided: Decided,
    ) {
        self.records.push(Record { tab, view, key, anchor_ms, decided });
    }

    /// Records a decided candidate and its outcome.
    pub(crate) fn outcome(&mut self, class: Class, e: &'e Event<'_>, decided: Decided, signal: Signal) {
        let key_hash = keys::fnv(&signal.element_key);
        self.record(e.tab_id.as_deref(), &e.view_id, KeyMatch::Exact(key_hash), signal.start_ms, decided);
        self.outcomes.push(Outcome {
            class,
            tab: e.tab_id.as_deref(),
            view: &e.view_id,
            key_hash,
            decided,
            signal,
            stub: false,
        });
    }

    /// A candidate anchored at `e` that gets no evidence, ids or copies ([`Cx::stub_only`]): its
    /// record; for an issue-kind signal an earlier call emitted, a stub outcome (kind, key, start)
    /// that episodes need to partition their element's signals (an episode with a stub member that
    /// is due now makes [`detect`] run again without stubs); for a suppressed or undetermined
    /// candidate that is only counted, a brief outcome that is emitted like a full one.
    #[allow(clippy::too_many_arguments)] // one call shape at nine sites; a struct would only wrap it
    pub(crate) fn stub(
        &mut self,
        cx: &Cx<'_, '_>,
        class: Class,
        e: &'e Event<'_>,
        decided: Decided,
        kind: SignalKind,
        unresponsive: bool,
        element_key: String,
    ) {
        let key_hash = keys::fnv(&element_key);
        self.record(e.tab_id.as_deref(), &e.view_id, KeyMatch::Exact(key_hash), e.timestamp_ms, decided);
        let counted = class != Class::Signal && !cx.already_emitted(decided);
        if !counted && (class != Class::Signal || !kind.is_issue_kind()) {
            return;
        }
        let signal = Signal {
            id: String::new(),
            kind,
            unresponsive,
            label: Cow::Borrowed(""),
            session_id: String::new(),
            tab_id: None,
            view_id: String::new(),
            route_template: String::new(),
            url: None,
            element_key,
            start_ms: e.timestamp_ms,
            end_ms: e.timestamp_ms,
            decided_at_ms: decided.at_ms(),
            evidence: Evidence::default(),
        };
        self.outcomes.push(Outcome {
            class,
            tab: e.tab_id.as_deref(),
            view: &e.view_id,
            key_hash,
            decided,
            signal,
            stub: !counted,
        });
    }
}

/// Builds a signal anchored at event `anchor`.
pub(crate) struct Draft {
    pub kind: SignalKind,
    pub label: Cow<'static, str>,
    pub element_key: String,
    pub end_ms: i64,
    pub evidence: Evidence,
    pub unresponsive: bool,
}

pub(crate) fn build_signal(anchor: &Event<'_>, decided: Decided, d: Draft) -> Signal {
    let id = keys::signal_id(&anchor.session_id, anchor.tab_id.as_deref(), d.kind, &d.element_key, &anchor.event_id);
    Signal {
        id,
        kind: d.kind,
        unresponsive: d.unresponsive,
        label: d.label,
        session_id: anchor.session_id.to_string(),
        tab_id: anchor.tab_id.as_deref().map(str::to_owned),
        view_id: anchor.view_id.to_string(),
        route_template: keys::route_template(&anchor.route),
        url: anchor.url.as_deref().map(str::to_owned),
        element_key: d.element_key,
        start_ms: anchor.timestamp_ms,
        end_ms: d.end_ms.max(anchor.timestamp_ms),
        decided_at_ms: decided.at_ms(),
        evidence: d.evidence,
    }
}

#[allow(clippy::cast_precision_loss)]
fn ms(v: i64) -> f64 {
    v as f64
}

/// The thresholds a rule uses, by config field name.
pub(crate) fn thresholds(kind: SignalKind, rules: &Rules) -> BTreeMap<Cow<'static, str>, f64> {
    let c = rules.config();
    let mut m: BTreeMap<Cow<'static, str>, f64> = BTreeMap::new();
    let mut put = |k: &'static str, v: f64| {
        m.insert(Cow::Borrowed(k), v);
    };
    match kind {
        SignalKind::RageClick => {
            put("rage_min_clicks", f64::from(c.rage_min_clicks));
            put("rage_max_gap_ms", ms(c.rage_max_gap_ms));
            put("rage_max_span_ms", ms(c.rage_max_span_ms));
            put("rage_radius_px", c.rage_radius_px);
            put("rage_unresponsive_ms", ms(c.rage_unresponsive_ms));
            put("rage_unresponsive_clicks", f64::from(c.rage_unresponsive_clicks));
            put("responsive_repeat_ms", ms(c.responsive_repeat_ms));
        }
        SignalKind::DeadClick | SignalKind::SlowClick | SignalKind::Undetermined | SignalKind::DisabledClick => {
            put("dead_window_ms", ms(c.dead_window_ms));
            put("dead_abandon_after_ms", ms(c.dead_abandon_after_ms));
            put("slow_after_ms", ms(c.slow_after_ms));
            put("click_debounce_ms", ms(c.click_debounce_ms));
            put("far_mutation_ms", ms(c.far_mutation_ms));
            put("network_initiated_ms", ms(c.network_initiated_ms));
            put("scroll_liveness_ms", ms(c.scroll_liveness_ms));
            put("selection_liveness_ms", ms(c.selection_liveness_ms));
            put("focus_liveness_ms", ms(c.focus_liveness_ms));
            put("visibility_liveness_ms", ms(c.visibility_liveness_ms));
            put("pointerdown_lookback_ms", ms(c.pointerdown_lookback_ms));
            put("busy_window_ms", ms(c.busy_window_ms));
            put("busy_mutations_per_sec", c.busy_mutations_per_sec);
        }
        SignalKind::ErrorClick => {
            put("error_window_ms", ms(c.error_window_ms));
            put("error_unnamed_request_ms", ms(c.error_unnamed_request_ms));
            put("dead_window_ms", ms(c.dead_window_ms));
        }
        SignalKind::UTurn => {
            put("u_turn_max_ms", ms(c.u_turn_max_ms));
            put("u_turn_max_clicks", f64::from(c.u_turn_max_clicks));
            put("u_turn_max_scroll_px", c.u_turn_max_scroll_px);
        }
        SignalKind::FormAbandon => {
            put("form_abandon_min_ms", ms(c.form_abandon_min_ms));
            put("form_abandon_min_fields", f64::from(c.form_abandon_min_fields));
        }
        SignalKind::ValidationLoop => {
            put("validation_loop_min_submits", f64::from(c.validation_loop_min_submits));
            put("validation_window_ms", ms(c.validation_window_ms));
        }
        SignalKind::ServerError => {}
    }
    m
}

/// A fresh evidence record for `kind`.
pub(crate) fn evidence(kind: SignalKind, rules: &Rules, event_ids: Vec<String>) -> Evidence {
    Evidence {
        rule: Cow::Borrowed(kind.as_str()),
        rule_version: RULE_VERSION,
        thresholds: thresholds(kind, rules),
        event_ids,
        ..Evidence::default()
    }
}

pub(crate) fn measure(ev: &mut Evidence, name: &'static str, v: f64) {
    ev.measurements.insert(Cow::Borrowed(name), v);
}

pub(crate) fn measure_ms(ev: &mut Evidence, name: &'static str, v: i64) {
    measure(ev, name, ms(v));
}

pub(crate) fn detail(ev: &mut Evidence, name: &'static str, v: impl Into<String>) {
    ev.details.insert(Cow::Borrowed(name), v.into());
}

/// Runs the suppression checks in order; returns the first match and fills `checked`.
pub(crate) fn check(
    checks: &[(Suppression, &dyn Fn() -> bool)],
    checked: &mut Vec<Suppression>,
) -> Option<Suppression> {
    for (s, f) in checks {
        checked.push(*s);
        if f() {
            return Some(*s);
        }
    }
    None
}

pub(crate) fn emitted(decided: Decided, h: Horizon) -> bool {
    let after = h.emitted_through_ms;
    match decided {
        Decided::At(t) => after.is_none_or(|a| t > a) && (t <= h.watermark_ms || h.session_closed),
        Decided::AtClose => h.session_closed,
        Decided::Pending(_) => false,
    }
}

/// Judges everything decidable in one session's events at the given horizon.
///
/// # Contract
/// - `events` are one session's events ordered by `(timestamp_ms, seq)` as the sessionizer emits
///   them. They must include every event with `timestamp_ms <= horizon.watermark_ms`; later ones
///   may be present too. Out-of-order input never panics but is out of contract.
/// - Every candidate gets a decision time that depends only on the events (never on the
///   watermark). A call returns the items decided in `(emitted_through_ms, watermark_ms]`, or every
///   item decided after `emitted_through_ms` if the session is closed. Chain calls with
///   [`Horizon::next`] and each signal, suppressed candidate and episode is emitted exactly once,
///   whatever the batching; the union equals one call over the closed session.
/// - Nothing is emitted whose window is still open at the watermark: a dead click waits for its
///   7 s, a rage burst for its gap to elapse, an episode for its 10 s and all its candidates.
/// - The caller may drop events with `timestamp_ms < retain_from_ms` of the result, provided it
///   passes that value as `retained_from_ms` next time.
/// - Ids are deterministic, so even re-running the same horizon twice is harmless downstream.
pub fn detect(events: &[Event<'_>], horizon: Horizon, rules: &Rules) -> Detection {
    detect_counted_or_built(events, horizon, rules, false)
}

/// [`detect`] for a caller that only counts suppressed and undetermined candidates (the stage,
/// which meters them by reason): those carry their kind, element key and times, and no id,
/// label or evidence, which is most of what building a candidate costs. Signals and episodes
/// are the same as [`detect`]'s; so are the suppressions and the number of candidates.
pub fn detect_counting(events: &[Event<'_>], horizon: Horizon, rules: &Rules) -> Detection {
    detect_counted_or_built(events, horizon, rules, true)
}

fn detect_counted_or_built(events: &[Event<'_>], horizon: Horizon, rules: &Rules, count_only: bool) -> Detection {
    // First without rebuilding what earlier calls emitted; an episode due now with a member
    // emitted earlier needs that member in full: then once more, building everything.
    match detect_with(events, horizon, rules, true, count_only) {
        Some(d) => d,
        None => detect_with(events, horizon, rules, false, count_only).unwrap_or_default(),
    }
}

/// `None` if `light` and an episode due now has a stub member.
fn detect_with(
    events: &[Event<'_>],
    horizon: Horizon,
    rules: &Rules,
    light: bool,
    count_only: bool,
) -> Option<Detection> {
    let cx = Cx::new(events, horizon, rules, light, count_only);
    let mut out = Out::default();
    rules::rage::run(&cx, &mut out);
    rules::click::run(&cx, &mut out);
    rules::nav::run(&cx, &mut out);
    rules::form::run(&cx, &mut out);
    rules::server::run(&cx, &mut out);
    let composed = episode::compose(&cx, &out);
    if composed.needs_full {
        return None;
    }

    let mut det = Detection::default();
    let mut next: Option<i64> = None;
    let mut wake = |d: Decided| {
        if let Decided::Pending(Some(t)) = d {
            next = Some(next.map_or(t, |n: i64| n.min(t)));
        }
    };
    for r in &out.records {
        wake(r.decided);
    }
    det.next_decision_ms = match (next, composed.wake) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    // Retention: everything that can still matter, widened so that no click train or episode
    // chain is cut in the middle (their later parts depend on their starts).
    let mut interest = cx.base_ms();
    for r in out.records.iter().filter(|r| r.decided.is_pending()) {
        interest = interest.min(r.anchor_ms);
    }
    for &t in out.interest.iter().chain(composed.pinned.iter()) {
        interest = interest.min(t);
    }
    loop {
        let mut changed = false;
        for &(start, last) in out.trains.iter().chain(composed.chains.iter()) {
            if last >= interest && start < interest {
                interest = start;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    det.retain_from_ms = interest.saturating_sub(rules.max_lookback_ms()).min(horizon.watermark_ms);
    if let Some(prev) = horizon.retained_from_ms {
        // Never ask for events the caller no longer has.
        det.retain_from_ms = det.retain_from_ms.max(prev);
    }

    for o in out.outcomes {
        if o.stub || !emitted(o.decided, horizon) {
            continue;
        }
        match o.class {
            Class::Signal => det.signals.push(o.signal),
            Class::Undetermined => det.undetermined.push(o.signal),
            Class::Suppressed(reason) => det.suppressed.push(crate::signal::Suppressed { reason, candidate: o.signal }),
        }
    }
    det.episodes = composed.episodes;
    let order = |s: &Signal| (s.start_ms, crate::signal::episode_priority(s.kind, s.unresponsive), s.id.clone());
    det.signals.sort_by_cached_key(order);
    det.undetermined.sort_by_cached_key(order);
    det.suppressed.sort_by_cached_key(|s| order(&s.candidate));
    det.episodes.sort_by_cached_key(|e| (e.start_ms, e.id.clone()));
    Some(det)
}

#[cfg(test)]
mod tests {
    use super::eq_short;

    #[test]
    fn eq_short_is_string_equality() {
        let ids = [
            "",
            "a",
            "t1",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "s000123:t1v0",
            "s000123:t1v1",
            "s000124:t1v0",
            "s000123#1764000000000:t1v0",
            "s000123#1764000000000:t1v1",
            "x000123#1764000000000:t1v0",
            "s000123#1764000000000:t1v0x",
            "0123456789abcdef",
            "0123456789abcdeg",
            "1123456789abcdef",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(eq_short(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
