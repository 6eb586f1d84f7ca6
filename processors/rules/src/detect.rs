//! The entry point: build the judging context, run every rule over one session's events, compose
//! episodes, and emit what the horizon allows.

use crate::config::Rules;
use crate::episode;
use crate::event::Event;
use crate::judge::{emitted, Class, Cx, Decided, KeyMatch, Out};
use crate::rules;
use crate::signal::{Detection, Horizon, PendingKey, PendingPlace, Signal};

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
    // Only a caller that may retract (one that asked for every open episode) looks at these.
    let pending = if horizon.provisional_all { out.records.as_slice() } else { &[] };
    for r in pending.iter().filter(|r| r.decided.is_pending()) {
        let key = match r.key {
            KeyMatch::Exact(h) => PendingKey::Hash(h),
            KeyMatch::Prefix(p) => PendingKey::Prefix(p),
        };
        let place = PendingPlace { tab_id: r.tab.map(str::to_owned), view_id: r.view.to_owned(), key };
        if !det.pending.contains(&place) {
            det.pending.push(place);
        }
    }
    let order = |s: &Signal| (s.start_ms, crate::signal::episode_priority(s.kind, s.unresponsive), s.id.clone());
    det.signals.sort_by_cached_key(order);
    det.undetermined.sort_by_cached_key(order);
    det.suppressed.sort_by_cached_key(|s| order(&s.candidate));
    det.episodes.sort_by_cached_key(|e| (e.start_ms, e.id.clone()));
    Some(det)
}
