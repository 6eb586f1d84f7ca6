//! Re-implementations of the anchors' published frustration rules over Friction's event model
//! ([`friction_rules::Event`]), for the quality benchmark. Each follows
//! docs/detection.md "How the anchors detect frustration" (the product is named on each function), which read the
//! products' source at the commits it lists. Where the model lacks something the product sees, the
//! mapping is stated on the function; every choice is made in the anchor's favour when in doubt.
//!
//! Shared mapping:
//! - A `mutation` event is a DOM mutation anywhere on the page (what a `MutationObserver` on the
//!   document sees); its `nearTarget` flag is Friction's SDK's own hint and is ignored here. A
//!   `pageview` also counts as DOM activity (a navigation replaces or re-renders the DOM).
//! - Anchors run per page, so each runs per tab on that tab's events only.
//! - Only primary-button clicks reach the anchors (browsers fire `click` for the primary button).
//! - `data-friction-ignore` (the target's `ignore` list) stands for each anchor's own opt-out
//!   (`.ph-no-rageclick`/`.ph-no-deadclick`, `data-dd-ignore-frustration`, Sentry's
//!   `slowClickIgnoreSelectors`), which a site using that product would set on the same element.
//!   OpenReplay has no such attribute.
//! - Predictions are keyed by [`friction_rules::element_key`] of the clicked target, like ours.

use friction_rules::suppress::is_text_entry;
use friction_rules::{element_key, Event, EventKind, MouseButton, Target};

use crate::corpus::Kind;

/// One predicted signal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pred {
    pub kind: Kind,
    pub key: String,
}

fn pred(out: &mut Vec<Pred>, kind: Kind, t: &Target<'_>) {
    let key = element_key(t);
    if kind == Kind::Rage {
        out.push(Pred { kind: Kind::RageAny, key: key.clone() });
    }
    out.push(Pred { kind, key });
}

/// The session's events split by tab (events without a tab form their own group), in order.
fn by_tab<'s, 'a>(events: &'s [Event<'a>]) -> Vec<Vec<&'s Event<'a>>> {
    let mut tabs: Vec<(Option<&str>, Vec<&Event<'a>>)> = Vec::new();
    for e in events {
        let t = e.tab_id.as_deref();
        match tabs.iter_mut().find(|(k, _)| *k == t) {
            Some((_, v)) => v.push(e),
            None => tabs.push((t, vec![e])),
        }
    }
    tabs.into_iter().map(|(_, v)| v).collect()
}

fn click<'s, 'a>(e: &'s Event<'a>) -> Option<&'s Target<'a>> {
    match &e.kind {
        EventKind::Click { button: MouseButton::Primary, target, .. } => Some(target),
        _ => None,
    }
}

fn modified(e: &Event<'_>) -> bool {
    matches!(&e.kind, EventKind::Click { modifiers, .. } if modifiers.any())
}

fn dom_activity(e: &Event<'_>) -> bool {
    matches!(e.kind, EventKind::Mutation { .. } | EventKind::Pageview { .. })
}

/// The element opted out of `family` (`rage`, `dead`, `error`) with the product's own attribute.
fn opted_out(t: &Target<'_>, family: &str) -> bool {
    t.ignore.iter().any(|s| {
        let s = s.trim();
        s.is_empty() || s.eq_ignore_ascii_case("all") || s == "true" || s.eq_ignore_ascii_case(family)
    })
}

fn is_link(t: &Target<'_>) -> bool {
    t.href.is_some() || t.tag.as_deref().is_some_and(|x| x.eq_ignore_ascii_case("a"))
}

fn tag_is(t: &Target<'_>, tags: &[&str]) -> bool {
    t.tag.as_deref().is_some_and(|x| tags.iter().any(|y| x.eq_ignore_ascii_case(y)))
}

/// PostHog (docs/detection.md "PostHog"; posthog-js `rageclick.ts`,
/// `dead-clicks-autocapture.ts`, defaults as of config date 2026-05-30, the most precise ones).
///
/// - Rage: a run grows while each click is < 30 px (Manhattan) and < 1000 ms from the previous
///   one, else restarts; fires once when the run reaches 3. Not captured when the element opted
///   out, its text/aria-label is in the content ignore list (`next previous prev > < + - − –`,
///   symbols exact, words as substrings) or it is text entry (`ignore_text_selection`).
/// - Dead: every click except on links (`<a>` or inside one), with a modifier key, opted out, or
///   on a node clicked in the last 1 s. Alive if a mutation comes < 2500 ms after, a scroll or a
///   selection change < 100 ms after, or a visibility change within ±1000 ms; dead otherwise
///   (a late mutation or the 2750 ms absolute timeout).
pub fn posthog(events: &[Event<'_>]) -> Vec<Pred> {
    let mut out = Vec::new();
    for tab in by_tab(events) {
        // Rage.
        let mut run: Vec<(i64, f64, f64)> = Vec::new();
        let mut fired = false;
        for e in &tab {
            let Some(t) = click(e) else { continue };
            let (x, y) = t.point().unwrap_or((0.0, 0.0));
            let ts = e.timestamp_ms;
            match run.last() {
                Some(&(pt, px, py)) if (x - px).abs() + (y - py).abs() < 30.0 && ts - pt < 1000 => {
                    run.push((ts, x, y));
                }
                _ => {
                    run.clear();
                    run.push((ts, x, y));
                    fired = false;
                }
            }
            if run.len() == 3 && !fired {
                fired = true;
                if !opted_out(t, "rage") && !posthog_content_ignored(t) && !is_text_entry(t) {
                    pred(&mut out, Kind::Rage, t);
                }
            }
        }
        // Dead.
        let mut last_click_on: Vec<(String, i64)> = Vec::new();
        for (i, e) in tab.iter().enumerate() {
            let Some(t) = click(e) else { continue };
            let key = element_key(t);
            let ts = e.timestamp_ms;
            let recent = last_click_on.iter().any(|(k, at)| *k == key && ts - *at <= 1000);
            match last_click_on.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = ts,
                None => last_click_on.push((key, ts)),
            }
            if is_link(t) || modified(e) || opted_out(t, "dead") || recent {
                continue;
            }
            let woke = tab[..i]
                .iter()
                .rev()
                .take_while(|o| ts - o.timestamp_ms <= 1000)
                .any(|o| matches!(o.kind, EventKind::Visibility { .. }));
            let mut alive = woke;
            for o in &tab[i + 1..] {
                let d = o.timestamp_ms - ts;
                if d > 2750 || alive {
                    break;
                }
                alive = match o.kind {
                    EventKind::Mutation { .. } | EventKind::Pageview { .. } => d < 2500,
                    EventKind::Scroll { .. } | EventKind::Selection { .. } => d < 100,
                    EventKind::Visibility { .. } => d <= 1000,
                    _ => false,
                };
            }
            if !alive {
                pred(&mut out, Kind::Dead, t);
            }
        }
    }
    out
}

fn posthog_content_ignored(t: &Target<'_>) -> bool {
    let Some(text) = t.text.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return false;
    };
    let lower = text.to_lowercase();
    ["next", "previous", "prev"].iter().any(|w| lower.contains(w)) || [">", "<", "+", "-", "−", "–"].contains(&text)
}

/// Datadog RUM (docs/detection.md "Datadog RUM"; browser-sdk `computeFrustration`, `clickChain`,
/// `trackClickActions`, `waitPageActivityEnd`).
///
/// - Click chain: consecutive clicks on the same target, each ≤ 100 px (Euclidean) and ≤ 1000 ms
///   from the previous. Rage: the chain has 3 clicks within some 1 s window and no click of it
///   changed the selection or scrolled (a selection or scroll between the first click and 100 ms
///   after the last). A rage chain is one action that also carries `dead_click` if any of its
///   clicks was dead and `error_click` if any had an error; otherwise each click is judged alone.
/// - Dead: the target is not excluded (text entry, select, contenteditable, canvas, `a[href]`),
///   no page activity (mutation, request start, navigation) started within 100 ms after the click
///   (or ≤ 100 ms before it: activity triggered on pointerdown), and no input, scroll or selection
///   within 100 ms; never when the click's chain changed the selection (double/triple-click).
/// - Error: an error during the action's lifetime. The lifetime is 100 ms without activity; with
///   activity it lasts while activity continues (mutations, requests until they complete) with
///   gaps ≤ 100 ms, then 100 ms more, at most 10 s. Errors are JS errors and failed requests
///   (5xx or network error, counted when they complete), as RUM collects both.
pub fn datadog(events: &[Event<'_>]) -> Vec<Pred> {
    let mut out = Vec::new();
    for tab in by_tab(events) {
        let clicks: Vec<usize> = tab.iter().enumerate().filter(|(_, e)| click(e).is_some()).map(|(i, _)| i).collect();
        let dead: Vec<bool> = clicks.iter().map(|&i| datadog_dead(&tab, i)).collect();
        let err: Vec<bool> = clicks.iter().map(|&i| datadog_error(&tab, i)).collect();
        let mut k = 0;
        while k < clicks.len() {
            // Grow the chain.
            let mut m = k + 1;
            while m < clicks.len() {
                let (a, b) = (tab[clicks[m - 1]], tab[clicks[m]]);
                let (ta, tb) = (click(a).map(element_key), click(b).map(element_key));
                let (pa, pb) = (click(a).and_then(|t| t.point()), click(b).and_then(|t| t.point()));
                let near = match (pa, pb) {
                    (Some((x1, y1)), Some((x2, y2))) => (x1 - x2).hypot(y1 - y2) <= 100.0,
                    _ => true,
                };
                if ta != tb || !near || b.timestamp_ms - a.timestamp_ms > 1000 {
                    break;
                }
                m += 1;
            }
            let chain = &clicks[k..m];
            let first_t = tab[chain[0]].timestamp_ms;
            let last_t = tab[chain[chain.len() - 1]].timestamp_ms;
            let three_in_a_second = chain.windows(3).any(|w| tab[w[2]].timestamp_ms - tab[w[0]].timestamp_ms <= 1000);
            let in_chain = |e: &Event<'_>| e.timestamp_ms >= first_t && e.timestamp_ms <= last_t + 100;
            let selection = tab.iter().any(|e| in_chain(e) && matches!(e.kind, EventKind::Selection { length: 1.. }));
            let scroll = tab.iter().any(|e| in_chain(e) && matches!(e.kind, EventKind::Scroll { .. }));
            let selection_or_scroll = selection || scroll;
            let target = click(tab[chain[0]]).cloned().unwrap_or_default();
            if three_in_a_second && !selection_or_scroll && !opted_out(&target, "rage") {
                pred(&mut out, Kind::Rage, &target);
                if (k..m).any(|j| dead[j]) && !opted_out(&target, "dead") {
                    pred(&mut out, Kind::Dead, &target);
                }
                if (k..m).any(|j| err[j]) && !opted_out(&target, "error") {
                    pred(&mut out, Kind::Error, &target);
                }
            } else {
                for j in k..m {
                    let t = click(tab[clicks[j]]).cloned().unwrap_or_default();
                    // A selection change anywhere in the chain (double/triple-click) rules out dead.
                    if dead[j] && !selection && !opted_out(&t, "dead") {
                        pred(&mut out, Kind::Dead, &t);
                    }
                    if err[j] && !opted_out(&t, "error") {
                        pred(&mut out, Kind::Error, &t);
                    }
                }
            }
            k = m;
        }
    }
    out
}

fn datadog_dead(tab: &[&Event<'_>], i: usize) -> bool {
    let e = tab[i];
    let Some(t) = click(e) else { return false };
    if is_text_entry(t) || tag_is(t, &["canvas"]) || t.href.is_some() {
        return false;
    }
    let ts = e.timestamp_ms;
    let before = tab[..i]
        .iter()
        .rev()
        .take_while(|o| ts - o.timestamp_ms <= 100)
        .any(|o| matches!(o.kind, EventKind::Mutation { .. }));
    if before {
        return false;
    }
    for o in &tab[i + 1..] {
        if o.timestamp_ms - ts > 100 {
            break;
        }
        match o.kind {
            EventKind::Mutation { .. }
            | EventKind::Pageview { .. }
            | EventKind::Network { .. }
            | EventKind::Input { .. }
            | EventKind::Scroll { .. }
            | EventKind::Selection { length: 1.. } => return false,
            _ => {}
        }
    }
    true
}

fn datadog_error(tab: &[&Event<'_>], i: usize) -> bool {
    let ts = tab[i].timestamp_ms;
    // Activity intervals starting after the click: (start, end).
    let mut acts: Vec<(i64, i64)> = Vec::new();
    for o in &tab[i + 1..] {
        if o.timestamp_ms - ts > 10_000 {
            break;
        }
        match &o.kind {
            EventKind::Mutation { .. } | EventKind::Pageview { .. } => acts.push((o.timestamp_ms, o.timestamp_ms)),
            EventKind::Network { duration_ms, .. } => {
                acts.push((o.timestamp_ms, o.timestamp_ms + duration_ms.unwrap_or(0) as i64));
            }
            _ => {}
        }
    }
    let end = match acts.first() {
        Some(&(s, e)) if s - ts <= 100 => {
            let mut cur = e;
            for &(s2, e2) in &acts[1..] {
                if s2 > cur + 100 {
                    break;
                }
                cur = cur.max(e2);
            }
            (cur + 100).min(ts + 10_000)
        }
        _ => ts + 100,
    };
    tab[i + 1..].iter().take_while(|o| o.timestamp_ms <= end).any(|o| match &o.kind {
        EventKind::Error { .. } => true,
        EventKind::Network { status, duration_ms, .. } => {
            let failed = status.is_none_or(|s| s == 0 || s >= 500);
            failed && o.timestamp_ms + duration_ms.unwrap_or(0) as i64 <= end
        }
        _ => false,
    })
}

/// Sentry Session Replay (docs/detection.md "Sentry Session Replay": SDK `ClickDetector`, backend classification).
///
/// - Eligible clicks: `button`, `a`, `input[type=submit|button]`; not `a[download]`, not links
///   opening another window, not opted out. A click on a node within 1 s of a pending click on it
///   is not a new click; every click on the node during the window counts in `clickCount`.
/// - Handled: a mutation within 3000 ms or a scroll within 300 ms. Otherwise, after 7 s: if a
///   mutation came between 3 and 7 s, `endReason = mutation` (not dead); if none, `timeout`.
/// - Backend: dead = timeout with `timeAfterClickMs ≥ 7000`; rage = dead with `clickCount ≥ 5`.
pub fn sentry(events: &[Event<'_>]) -> Vec<Pred> {
    let mut out = Vec::new();
    for tab in by_tab(events) {
        let mut last_added: Vec<(String, i64)> = Vec::new();
        for (i, e) in tab.iter().enumerate() {
            let Some(t) = click(e) else { continue };
            let button_like = tag_is(t, &["button", "a"])
                || (tag_is(t, &["input"])
                    && t.r#type
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case("submit") || x.eq_ignore_ascii_case("button")));
            if !button_like || t.download || t.new_tab || opted_out(t, "dead") || opted_out(t, "rage") {
                continue;
            }
            let key = element_key(t);
            let ts = e.timestamp_ms;
            if last_added.iter().any(|(k, at)| *k == key && ts - *at <= 1000) {
                continue;
            }
            match last_added.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = ts,
                None => last_added.push((key.clone(), ts)),
            }
            let mut count = 1;
            let mut first_mutation: Option<i64> = None;
            let mut scrolled = false;
            for o in &tab[i + 1..] {
                let d = o.timestamp_ms - ts;
                if d > 7000 {
                    break;
                }
                if let Some(ot) = click(o) {
                    if element_key(ot) == key {
                        count += 1;
                    }
                }
                if dom_activity(o) && first_mutation.is_none() {
                    first_mutation = Some(d);
                }
                if matches!(o.kind, EventKind::Scroll { .. }) && d <= 300 {
                    scrolled = true;
                }
            }
            let handled = scrolled || first_mutation.is_some_and(|d| d <= 3000);
            let timeout = first_mutation.is_none();
            if !handled && timeout {
                pred(&mut out, Kind::Dead, t);
                if count >= 5 {
                    pred(&mut out, Kind::Rage, t);
                }
            }
        }
    }
    out
}

/// OpenReplay server heuristics (docs/detection.md "OpenReplay"; `backend/pkg/handlers/web/clickRage.go`,
/// `deadClick.go`).
///
/// - Click label: the element's text (our masked `text`), else its key — what the tracker sends
///   as the label; clicks with an empty label are skipped.
/// - click_rage: consecutive clicks with the same label, each < 300 ms after the previous; an
///   issue when a run of ≥ 3 ends.
/// - dead_click: after a labelled click (not on an input target), the next "reaction" (DOM
///   mutation, document creation, focus, input value) or the next click decides it: dead if it
///   came ≥ 1234 ms after the click (or never, by the session's end).
pub fn openreplay(events: &[Event<'_>]) -> Vec<Pred> {
    let mut out = Vec::new();
    for tab in by_tab(events) {
        // Rage.
        let mut run: Vec<&Event<'_>> = Vec::new();
        let mut run_label = String::new();
        let close = |run: &mut Vec<&Event<'_>>, out: &mut Vec<Pred>| {
            if run.len() >= 3 {
                if let Some(t) = run.first().and_then(|e| click(e)) {
                    pred(out, Kind::Rage, t);
                }
            }
            run.clear();
        };
        for e in &tab {
            let Some(t) = click(e) else { continue };
            let label = openreplay_label(t);
            if label.is_empty() {
                close(&mut run, &mut out);
                continue;
            }
            let joins = run.last().is_some_and(|p| label == run_label && e.timestamp_ms - p.timestamp_ms < 300);
            if !joins {
                close(&mut run, &mut out);
                run_label = label;
            }
            run.push(e);
        }
        close(&mut run, &mut out);

        // Dead.
        let mut last_click: Option<&Event<'_>> = None;
        let build = |last_click: &mut Option<&Event<'_>>, now: i64, out: &mut Vec<Pred>| {
            if let Some(c) = last_click.take() {
                if c.timestamp_ms + 1234 <= now {
                    if let Some(t) = click(c) {
                        pred(out, Kind::Dead, t);
                    }
                }
            }
        };
        let mut now = 0;
        for e in &tab {
            now = e.timestamp_ms;
            match &e.kind {
                EventKind::Click { .. } => {
                    let Some(t) = click(e) else { continue };
                    if openreplay_label(t).is_empty() {
                        continue;
                    }
                    build(&mut last_click, now, &mut out);
                    if is_text_entry(t) {
                        continue;
                    }
                    last_click = Some(e);
                }
                EventKind::Mutation { .. }
                | EventKind::Pageview { .. }
                | EventKind::Focus
                | EventKind::Input { .. } => {
                    build(&mut last_click, now, &mut out);
                }
                _ => {}
            }
        }
        build(&mut last_click, now, &mut out);
    }
    out
}

fn openreplay_label(t: &Target<'_>) -> String {
    t.text.as_deref().or(t.key.as_deref()).or(t.selector.as_deref()).map(str::trim).unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use friction_rules::{NavigationKind, Target};

    use super::*;
    use crate::corpus::{Builder, BASE_MS};

    fn button(key: &'static str) -> Target<'static> {
        Target {
            key: Some(Cow::Borrowed(key)),
            tag: Some(Cow::Borrowed("button")),
            x: Some(200.0),
            y: Some(300.0),
            interactive: Some(true),
            ..Target::default()
        }
    }

    fn has(p: &[Pred], kind: Kind, key: &str) -> bool {
        p.iter().any(|x| x.kind == kind && x.key == key)
    }

    #[test]
    fn five_clicks_on_a_dead_button() {
        let mut b = Builder::new("s");
        b.nav(0, "/checkout", NavigationKind::Load);
        for i in 0..5 {
            b.click(1000 + i * 250, button("pay"));
        }
        b.custom(20_000, "heartbeat");
        let ev = b.finish(BASE_MS);
        for (name, p) in [("posthog", posthog(&ev)), ("datadog", datadog(&ev)), ("sentry", sentry(&ev))] {
            assert!(has(&p, Kind::Rage, "pay") && has(&p, Kind::Dead, "pay"), "{name}: {p:?}");
        }
        // OpenReplay: gaps of 250 ms < 300 ms make a run; each next click "decides" the previous
        // one instantly, so only the last click can be dead.
        let p = openreplay(&ev);
        assert!(has(&p, Kind::Rage, "pay") && has(&p, Kind::Dead, "pay"), "{p:?}");
    }

    #[test]
    fn a_quick_response_is_alive_for_everyone() {
        let mut b = Builder::new("s");
        b.nav(0, "/", NavigationKind::Load);
        b.click(1000, button("save"));
        b.mutation(1030, true, 2);
        b.custom(20_000, "heartbeat");
        let ev = b.finish(BASE_MS);
        for p in [posthog(&ev), datadog(&ev), sentry(&ev), openreplay(&ev)] {
            assert!(p.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn datadog_error_click_needs_the_error_in_the_action() {
        let mut b = Builder::new("s");
        b.nav(0, "/", NavigationKind::Load);
        b.click(1000, button("a"));
        b.error(1050, "TypeError", "x", "fp");
        b.click(5000, button("b"));
        b.error(5600, "TypeError", "x", "fp"); // after the 100 ms lifetime of an inactive click
        b.custom(20_000, "heartbeat");
        let p = datadog(&b.finish(BASE_MS));
        assert!(has(&p, Kind::Error, "a") && !has(&p, Kind::Error, "b"), "{p:?}");
    }
}
