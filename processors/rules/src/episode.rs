//! Episodes (docs/detection.md "R9 episodes"): signals in one session, tab, view and element whose starts fall
//! within `episode_window_ms` of the episode's first signal merge into one episode with one primary
//! kind and all labels, so a rage burst on a dead button is one episode, not seven signals.
//!
//! The window is anchored at the first signal (not chained), so an episode is bounded in time and
//! closes at `first start + window` once every candidate that could still join it is decided.
//! Asked for ([`crate::Horizon::provisional`]), an episode not closed yet is returned too, with the
//! members decided so far.

use std::borrow::Cow;

use crate::judge::{emitted, Class, Cx, Decided, KeyMatch, Out};
use crate::keys;
use crate::signal::{episode_priority, Episode, Signal};

pub(crate) struct Composed {
    /// The episodes due at this call's horizon.
    pub episodes: Vec<Episode>,
    /// The earliest time a pending episode closes if no new event arrives.
    pub wake: Option<i64>,
    /// An episode due now has a member emitted by an earlier call (a stub): compose again with
    /// every member built.
    pub needs_full: bool,
    /// (first, last) start times of each chain: signals on one element with gaps ≤ the window.
    /// A chain's partition into episodes depends only on its own signals.
    pub chains: Vec<(i64, i64)>,
    /// Chain starts of episodes not yet closed (their signals must stay retained).
    pub pinned: Vec<i64>,
}

fn key_matches(k: KeyMatch, key_hash: u64, key: &str) -> bool {
    match k {
        KeyMatch::Exact(h) => h == key_hash,
        KeyMatch::Prefix(p) => key.starts_with(p),
    }
}

pub(crate) fn compose(cx: &Cx<'_, '_>, out: &Out<'_>) -> Composed {
    let window = cx.rules.config().episode_window_ms;
    let mut idx: Vec<usize> = out
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.class == Class::Signal && o.signal.kind.is_issue_kind())
        .map(|(i, _)| i)
        .collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (&out.outcomes[a], &out.outcomes[b]);
        (x.tab, x.view, x.key_hash, x.signal.start_ms, episode_priority(x.signal.kind, x.signal.unresponsive))
            .cmp(&(
                y.tab,
                y.view,
                y.key_hash,
                y.signal.start_ms,
                episode_priority(y.signal.kind, y.signal.unresponsive),
            ))
            .then_with(|| x.signal.id.cmp(&y.signal.id))
    });

    let mut res =
        Composed { episodes: Vec::new(), wake: None, needs_full: false, chains: Vec::new(), pinned: Vec::new() };
    let mut i = 0;
    while i < idx.len() {
        // One group: same tab, view, key.
        let g0 = &out.outcomes[idx[i]];
        let mut j = i;
        while j < idx.len() {
            let o = &out.outcomes[idx[j]];
            if o.tab != g0.tab || o.view != g0.view || o.key_hash != g0.key_hash {
                break;
            }
            j += 1;
        }
        let group = &idx[i..j];
        let mut chain_start = out.outcomes[group[0]].signal.start_ms;
        let mut prev = chain_start;
        let mut k = 0;
        while k < group.len() {
            let first = &out.outcomes[group[k]];
            let a0 = first.signal.start_ms;
            if a0.saturating_sub(prev) > window {
                res.chains.push((chain_start, prev));
                chain_start = a0;
            }
            let a_end = a0.saturating_add(window);
            let mut m = k;
            while m < group.len() && out.outcomes[group[m]].signal.start_ms <= a_end {
                m += 1;
            }
            let members = &group[k..m];
            prev = out.outcomes[members[members.len() - 1]].signal.start_ms;

            // Closed when the window has passed and every candidate that could join (or that
            // precedes it on this element and could reshape the partition) is decided.
            let mut decided = cx.by_time(a_end);
            for r in &out.records {
                if r.tab == first.tab
                    && r.view == first.view
                    && r.anchor_ms <= a_end
                    && key_matches(r.key, first.key_hash, &first.signal.element_key)
                {
                    decided = decided.max(r.decided);
                }
            }
            if decided.is_pending() {
                res.pinned.push(chain_start);
            }
            if let Decided::Pending(Some(t)) = decided {
                res.wake = Some(res.wake.map_or(t, |w| w.min(t)));
            }
            // Closed now, or (asked for) still open with members decided so far: published early
            // and corrected later (docs/architecture.md §4 "Time: decide early, settle later").
            let provisional = cx.h.provisional
                && decided.is_pending()
                && (cx.h.provisional_all
                    || cx.h.emitted_through_ms.is_none()
                    || members.iter().any(|&x| emitted(out.outcomes[x].decided, cx.h)));
            if provisional || emitted(decided, cx.h) {
                if members.iter().any(|&x| out.outcomes[x].stub) {
                    res.needs_full = true;
                    return res;
                }
                let signals: Vec<Signal> = members.iter().map(|&x| out.outcomes[x].signal.clone()).collect();
                res.episodes.push(build(signals, decided, provisional));
            }
            k = m;
        }
        res.chains.push((chain_start, prev));
        i = j;
    }
    res
}

fn build(signals: Vec<Signal>, decided: Decided, provisional: bool) -> Episode {
    let primary_sig =
        signals.iter().min_by_key(|s| (episode_priority(s.kind, s.unresponsive), s.start_ms)).unwrap_or(&signals[0]);
    let primary = primary_sig.kind;
    let unresponsive = signals.iter().any(|s| s.unresponsive);
    let mut labels: Vec<(u8, Cow<'static, str>)> =
        signals.iter().map(|s| (episode_priority(s.kind, s.unresponsive), s.label.clone())).collect();
    labels.sort();
    labels.dedup_by(|a, b| a.1 == b.1);
    let first = &signals[0];
    let first_event = first.evidence.event_ids.first().map_or("", String::as_str);
    Episode {
        id: keys::episode_id(&first.session_id, first.tab_id.as_deref(), &first.element_key, first_event),
        primary,
        unresponsive,
        labels: labels.into_iter().map(|(_, l)| l).collect(),
        session_id: first.session_id.clone(),
        tab_id: first.tab_id.clone(),
        view_id: first.view_id.clone(),
        route_template: first.route_template.clone(),
        element_key: first.element_key.clone(),
        start_ms: first.start_ms,
        end_ms: signals.iter().map(|s| s.end_ms).max().unwrap_or(first.end_ms),
        decided_at_ms: decided.at_ms(),
        provisional,
        signals,
    }
}
