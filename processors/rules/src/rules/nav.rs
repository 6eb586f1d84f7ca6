//! R5 u-turn (docs/detection.md "R5 u-turn"): A → B, then back to A within `u_turn_max_ms`, with
//! no meaningful interaction on B (at most `u_turn_max_clicks` clicks, no input or submit, no text
//! selected, at most `u_turn_max_scroll_px` scrolled). Redirect hops (`replace` navigations) and
//! auth/SSO routes are never u-turns.

use std::borrow::Cow;

use crate::event::{EventKind, NavigationKind};
use crate::judge::{self, build_signal, check, Class, Cx, Draft, KeyMatch, Out};
use crate::keys;
use crate::kind::SignalKind;
use crate::suppress::{self, Suppression};

/// The element key of page-level signals.
pub(crate) const PAGE_KEY: &str = "page";

/// (path without trailing slash, hash route) of a route or URL, for "same page" comparisons.
fn page_parts(s: &str) -> (&str, &str) {
    let s = s.trim();
    let s = match s.find("://") {
        Some(p) => {
            let rest = s.get(p + 3..).unwrap_or("");
            rest.find(['/', '?', '#']).map_or("/", |q| rest.get(q..).unwrap_or("/"))
        }
        None => s,
    };
    let (before, frag) = match s.find('#') {
        Some(p) => (s.get(..p).unwrap_or(""), s.get(p + 1..).unwrap_or("")),
        None => (s, ""),
    };
    let path = before.split('?').next().unwrap_or("");
    let path = path.trim_end_matches('/');
    let hash = if frag.starts_with('/') || frag.starts_with("!/") {
        frag.split('?').next().unwrap_or("").trim_end_matches('/')
    } else {
        ""
    };
    (path, hash)
}

fn has_word(route: &str, words: &[String]) -> bool {
    let r = route.as_bytes();
    words.iter().any(|w| {
        let w = w.as_bytes();
        !w.is_empty() && r.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w))
    })
}

pub(crate) fn run<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>) {
    let cfg = cx.rules.config();
    let base = cx.base_ms();
    let page_key = keys::fnv(PAGE_KEY);
    for (i, p1) in cx.ev.iter().enumerate() {
        let EventKind::Pageview { navigation, from, .. } = &p1.kind else {
            continue;
        };
        if matches!(navigation, NavigationKind::Reload | NavigationKind::Hash) {
            continue; // staying on the page
        }
        let tab = p1.tab_id.as_deref();
        // A: where the navigation came from: its `from`, else the page of the previous event in the tab.
        let prev = cx.ev[..i].iter().enumerate().rev().find(|&(j, _)| cx.same_tab(j, i) && !cx.view_eq(j, i));
        if p1.timestamp_ms >= base {
            if let Some((_, e)) = prev {
                out.interest.push(e.timestamp_ms);
            }
        }
        if cx.skip(p1.timestamp_ms) {
            continue;
        }
        let a_route: &str = match from.as_deref() {
            Some(f) if !f.trim().is_empty() => f,
            _ => match prev {
                Some((_, e)) => &e.route,
                None => continue,
            },
        };
        let b_route: &str = &p1.route;
        if page_parts(a_route) == page_parts(b_route) || page_parts(a_route) == ("", "") {
            continue;
        }
        let end = p1.timestamp_ms.saturating_add(cfg.u_turn_max_ms);
        let (mut clicks, mut inputs, mut selected, mut scroll) = (0u32, 0u32, false, 0f64);
        let mut p2 = None;
        for (j, e) in cx.ev.iter().enumerate().skip(i + 1) {
            if e.timestamp_ms > end {
                break;
            }
            if !cx.same_tab(j, i) {
                continue;
            }
            if !cx.view_eq(j, i)
                || matches!(e.kind, EventKind::Pageview { navigation: nk, .. } if !matches!(nk, NavigationKind::Hash))
            {
                p2 = Some(j);
                break;
            }
            match &e.kind {
                EventKind::Click { .. } => clicks += 1,
                EventKind::Input { .. } | EventKind::Submit { .. } => inputs += 1,
                EventKind::Selection { length } if *length > 0 => selected = true,
                EventKind::Scroll { dy, .. } if dy.is_finite() => scroll += dy.abs(),
                _ => {}
            }
        }
        let key = KeyMatch::Exact(page_key);
        let Some(j) = p2 else {
            out.record(tab, &p1.view_id, key, p1.timestamp_ms, cx.by_time(end));
            continue;
        };
        let p2e = &cx.ev[j];
        let decided = cx.by_event(p2e.timestamp_ms);
        let back_kind = match &p2e.kind {
            EventKind::Pageview { navigation, .. } => Some(*navigation),
            _ => None,
        };
        let is_u_turn = page_parts(&p2e.route) == page_parts(a_route)
            && !matches!(navigation, NavigationKind::Replace)
            && !matches!(back_kind, Some(NavigationKind::Replace | NavigationKind::Reload))
            && clicks <= cfg.u_turn_max_clicks
            && inputs == 0
            && !selected
            && scroll <= cfg.u_turn_max_scroll_px
            && !has_word(a_route, &cx.rules.u_turn_words)
            && !has_word(b_route, &cx.rules.u_turn_words);
        if !is_u_turn || decided.is_pending() {
            out.record(tab, &p1.view_id, key, p1.timestamp_ms, decided);
            continue;
        }
        let kind = SignalKind::UTurn;
        let mut checked = Vec::new();
        let reason = check(
            &[(Suppression::ProjectIgnoreList, &|| {
                suppress::project_ignore_list(None, b_route, cx.rules)
                    || suppress::project_ignore_list(None, a_route, cx.rules)
            })],
            &mut checked,
        );
        let class = reason.map_or(Class::Signal, Class::Suppressed);
        if cx.stub_only(class, decided) {
            out.stub(cx, class, p1, decided, kind, false, PAGE_KEY.to_owned());
            continue;
        }
        let mut ev = judge::evidence(kind, cx.rules, vec![p1.event_id.to_string(), p2e.event_id.to_string()]);
        ev.suppressions_checked = checked;
        judge::measure_ms(&mut ev, "dwell_ms", p2e.timestamp_ms.saturating_sub(p1.timestamp_ms));
        judge::measure(&mut ev, "clicks", f64::from(clicks));
        judge::measure(&mut ev, "scroll_px", scroll);
        judge::detail(&mut ev, "from_route_template", keys::route_template(a_route));
        if let Some(k) = back_kind {
            judge::detail(
                &mut ev,
                "back_navigation",
                match k {
                    NavigationKind::Load => "load",
                    NavigationKind::Push => "push",
                    NavigationKind::Pop => "pop",
                    NavigationKind::Replace => "replace",
                    NavigationKind::Reload => "reload",
                    NavigationKind::Hash => "hash",
                },
            );
        }
        let signal = build_signal(
            p1,
            decided,
            Draft {
                kind,
                label: Cow::Borrowed("u_turn"),
                element_key: PAGE_KEY.to_owned(),
                end_ms: p2e.timestamp_ms,
                evidence: ev,
                unresponsive: false,
            },
        );
        out.outcome(class, p1, decided, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::page_parts;

    #[test]
    fn same_page_comparison() {
        assert_eq!(page_parts("/a/"), page_parts("https://x.example/a?q=1"));
        assert_ne!(page_parts("/app#/a"), page_parts("/app#/b"));
        assert_eq!(page_parts("/a#section"), page_parts("/a"));
    }
}
