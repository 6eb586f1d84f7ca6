//! Named suppressions (docs/detection.md "Principles", "Suppressions").
//!
//! Each is a small pure predicate with a stable name. A candidate that one of them matches is not a
//! signal; it is returned as [`crate::Suppressed`] with the name so the caller can count it per
//! reason and tune precision. Every signal records which suppressions were checked.

use serde::{Deserialize, Serialize};

use crate::config::Rules;
use crate::event::{self, Event, EventKind, Modifiers, MouseButton, Target};
use crate::keys;
use crate::kind::SignalKind;

/// The stable names of the suppressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Repeated clicks that select text: text-entry targets, or a selection change during the burst.
    TextSelection,
    /// Steppers, pagers, spin buttons, sliders, carousels arrows, date pickers.
    StepperOrPager,
    /// Every click of the burst visibly changed something (toggles, carousels, galleries).
    ResponsiveRepeat,
    /// The user scrolled during the burst.
    ScrollDuringBurst,
    /// A modifier key or a non-primary button (ctrl-click opens a new tab; context menus).
    ModifierOrSecondaryButton,
    /// Links that open a new tab, download, or hand off to another app (`mailto:`, `tel:`).
    NewTabOrDownload,
    /// A disabled control: reported as `disabled_click` instead.
    DisabledControl,
    /// `data-friction-ignore` on the element or an ancestor.
    FrictionIgnore,
    /// The project's ignore lists (selectors, routes).
    ProjectIgnoreList,
}

impl Suppression {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TextSelection => "text_selection",
            Self::StepperOrPager => "stepper_or_pager",
            Self::ResponsiveRepeat => "responsive_repeat",
            Self::ScrollDuringBurst => "scroll_during_burst",
            Self::ModifierOrSecondaryButton => "modifier_or_secondary_button",
            Self::NewTabOrDownload => "new_tab_or_download",
            Self::DisabledControl => "disabled_control",
            Self::FrictionIgnore => "friction_ignore",
            Self::ProjectIgnoreList => "project_ignore_list",
        }
    }

    /// Every suppression.
    pub const ALL: [Suppression; 9] = [
        Self::TextSelection,
        Self::StepperOrPager,
        Self::ResponsiveRepeat,
        Self::ScrollDuringBurst,
        Self::ModifierOrSecondaryButton,
        Self::NewTabOrDownload,
        Self::DisabledControl,
        Self::FrictionIgnore,
        Self::ProjectIgnoreList,
    ];
}

fn eq_ci(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.trim().eq_ignore_ascii_case(b))
}

fn any_ci(a: Option<&str>, list: &[&str]) -> bool {
    a.is_some_and(|a| list.iter().any(|b| a.trim().eq_ignore_ascii_case(b)))
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle_lower.as_bytes());
    let Some((first, rest)) = needle.split_first() else { return false };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else { return false };
    // ASCII case-insensitive substring without allocating; the rest is compared only where the
    // first byte matches (selectors are long, hints are many: this runs for every rage burst).
    hay.iter().take(last_start + 1).enumerate().any(|(i, b)| {
        b.eq_ignore_ascii_case(first) && hay.get(i + 1..i + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

const TEXT_INPUT_TYPES: &[&str] =
    &["text", "search", "email", "url", "tel", "password", "number", "date", "time", "datetime-local", "month", "week"];

/// Text-entry targets: textarea, text-like inputs, select, contenteditable, textbox/searchbox/combobox.
/// Repeated clicks there are caret placement and double/triple-click selection, never rage, and
/// they never "respond" visibly, so they are not dead-click candidates either.
pub fn is_text_entry(t: &Target<'_>) -> bool {
    let tag = t.tag.as_deref();
    if eq_ci(tag, "textarea") || eq_ci(tag, "select") {
        return true;
    }
    if eq_ci(tag, "input") {
        return match t.r#type.as_deref() {
            None => true, // an input without type is a text input
            Some(ty) => any_ci(Some(ty), TEXT_INPUT_TYPES),
        };
    }
    if any_ci(t.role.as_deref(), &["textbox", "searchbox", "combobox"]) {
        return true;
    }
    t.selector.as_deref().is_some_and(|s| contains_ci(s, "contenteditable"))
}

/// Targets whose reactions the DOM does not show (canvas, media, embeds): never dead.
pub fn is_unobservable(t: &Target<'_>) -> bool {
    any_ci(t.tag.as_deref(), &["canvas", "video", "audio", "embed", "object", "iframe", "svg"])
        && t.interactive != Some(true)
}

const ACTIONABLE_ROLES: &[&str] = &[
    "button",
    "link",
    "menuitem",
    "menuitemcheckbox",
    "menuitemradio",
    "tab",
    "option",
    "switch",
    "checkbox",
    "radio",
    "treeitem",
];

const ACTIONABLE_INPUT_TYPES: &[&str] = &["submit", "button", "checkbox", "radio", "image", "reset", "file", "color"];

/// "Actionable" element (docs/detection.md "Eligible targets"): a, button, summary, clickable inputs,
/// actionable ARIA roles, or anything the SDK flagged interactive (onclick, cursor:pointer);
/// never text entry or unobservable surfaces, and never an in-page `#anchor` link (its response
/// is a scroll that does not happen when the anchor is already in view).
pub fn is_actionable(t: &Target<'_>) -> bool {
    if is_text_entry(t) || is_unobservable(t) {
        return false;
    }
    if let Some(h) = t.href.as_deref().map(str::trim) {
        if h.len() > 1 && h.starts_with('#') {
            return false;
        }
    }
    if t.interactive == Some(true) {
        return true;
    }
    let tag = t.tag.as_deref();
    if any_ci(tag, &["a", "button", "summary"]) {
        return true;
    }
    if eq_ci(tag, "input") && any_ci(t.r#type.as_deref(), ACTIONABLE_INPUT_TYPES) {
        return true;
    }
    any_ci(t.role.as_deref(), ACTIONABLE_ROLES)
}

/// Whether the target counts as interactive for rage grouping (radius joins need a
/// non-interactive target; two distinct buttons 20 px apart are not one element).
pub(crate) fn is_interactive(t: &Target<'_>) -> bool {
    t.interactive.unwrap_or_else(|| is_actionable(t) || is_text_entry(t))
}

/// `text_selection`: the target is text entry, or the selection changed during the burst.
pub fn text_selection(target: &Target<'_>, selection_changed: bool) -> bool {
    selection_changed || is_text_entry(target)
}

/// `stepper_or_pager`: number inputs and ranges, spinbutton/slider roles, date/time pickers,
/// element text matching the project's stepper texts (symbols exactly, words as substrings), or a
/// selector/key containing a stepper hint (`pagination`, `carousel`, ...).
pub fn stepper_or_pager(target: &Target<'_>, rules: &Rules) -> bool {
    if eq_ci(target.tag.as_deref(), "input")
        && any_ci(target.r#type.as_deref(), &["number", "range", "date", "time", "datetime-local", "month", "week"])
    {
        return true;
    }
    if any_ci(target.role.as_deref(), &["spinbutton", "slider", "scrollbar"]) {
        return true;
    }
    if let Some(text) = target.text.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if rules.stepper_symbols.iter().any(|t| text == t) || rules.stepper_words.iter().any(|t| contains_ci(text, t)) {
            return true;
        }
    }
    for hay in [target.selector.as_deref(), target.key.as_deref()].into_iter().flatten() {
        if rules.stepper_hints.iter().any(|h| contains_ci(hay, h)) {
            return true;
        }
    }
    false
}

/// `responsive_repeat`: every click got a response within `within_ms` (its first response delay
/// is given per click; `None` = none seen). An empty burst is not responsive.
pub fn responsive_repeat(first_response_delays: &[Option<i64>], within_ms: i64) -> bool {
    !first_response_delays.is_empty() && first_response_delays.iter().all(|d| d.is_some_and(|d| d <= within_ms))
}

/// `scroll_during_burst`: a scroll in the tab between the first and last click (inclusive).
pub fn scroll_during_burst(events: &[Event<'_>], tab: Option<&str>, first_ms: i64, last_ms: i64) -> bool {
    let start = events.partition_point(|e| e.timestamp_ms < first_ms);
    events.get(start..).unwrap_or(&[]).iter().take_while(|e| e.timestamp_ms <= last_ms).any(|e| {
        matches!(e.kind, EventKind::Scroll { dy, .. } if dy != 0.0) && event::same_tab(e.tab_id.as_deref(), tab)
    })
}

/// `modifier_or_secondary_button`: any modifier key or a non-primary button.
pub fn modifier_or_secondary_button(button: MouseButton, modifiers: Modifiers) -> bool {
    button != MouseButton::Primary || modifiers.any()
}

/// `new_tab_or_download`: `target` other than `_self`, `a[download]`, or a link handled outside
/// the page (`mailto:`, `tel:`, `sms:`, other non-web schemes).
pub fn new_tab_or_download(target: &Target<'_>) -> bool {
    if target.new_tab || target.download {
        return true;
    }
    let Some(href) = target.href.as_deref().map(str::trim) else {
        return false;
    };
    match href.find(':') {
        Some(p)
            if p > 0
                && href.as_bytes()[..p]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) =>
        {
            let scheme = &href[..p];
            !(scheme.eq_ignore_ascii_case("http")
                || scheme.eq_ignore_ascii_case("https")
                || scheme.eq_ignore_ascii_case("javascript"))
        }
        _ => false,
    }
}

/// `disabled_control`: `disabled` or `aria-disabled`.
pub fn disabled_control(target: &Target<'_>) -> bool {
    target.disabled
}

/// `friction_ignore`: `data-friction-ignore` (resolved by the SDK into `target.ignore`) names this
/// kind. Accepted tokens: empty or `all`; `rage`; `dead` (dead, slow, disabled, undetermined);
/// `error`; or the kind's own name (with `_` or `-`).
pub fn friction_ignore(target: &Target<'_>, kind: SignalKind) -> bool {
    target.ignore.iter().any(|tok| {
        let tok = tok.trim();
        if tok.is_empty() || tok.eq_ignore_ascii_case("all") || tok == "true" {
            return true;
        }
        let family = match kind {
            SignalKind::RageClick => "rage",
            SignalKind::DeadClick | SignalKind::SlowClick | SignalKind::DisabledClick | SignalKind::Undetermined => {
                "dead"
            }
            SignalKind::ErrorClick => "error",
            SignalKind::ValidationLoop | SignalKind::FormAbandon => "form",
            SignalKind::UTurn => "navigation",
            SignalKind::ServerError => "server",
        };
        if tok.eq_ignore_ascii_case(family) {
            return true;
        }
        let name = kind.as_str();
        tok.len() == name.len()
            && tok.bytes().zip(name.bytes()).all(|(a, b)| a.eq_ignore_ascii_case(&b) || (a == b'-' && b == b'_'))
    })
}

/// `project_ignore_list`: the target matches one of the project's ignored selectors, or the route
/// (raw or templated) matches one of its ignored route globs.
pub fn project_ignore_list(target: Option<&Target<'_>>, route: &str, rules: &Rules) -> bool {
    let cfg = &rules.cfg;
    if let Some(t) = target {
        if !cfg.ignore_selectors.is_empty() && cfg.ignore_selectors.iter().any(|s| selector_matches(t, s.trim())) {
            return true;
        }
    }
    if cfg.ignore_routes.is_empty() {
        return false;
    }
    if cfg.ignore_routes.iter().any(|g| glob_match(g.trim(), route)) {
        return true;
    }
    let template = keys::route_template(route);
    cfg.ignore_routes.iter().any(|g| glob_match(g.trim(), &template))
}

/// Whether an ignored selector matches a target: equal to its selector or element key, or present
/// in its selector path as a whole part (a following identifier character would extend it).
pub(crate) fn selector_matches(t: &Target<'_>, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    if t.key.as_deref().is_some_and(|k| k.trim() == pattern) {
        return true;
    }
    let Some(sel) = t.selector.as_deref() else {
        return false;
    };
    if sel.trim() == pattern {
        return true;
    }
    let pb = pattern.as_bytes();
    let starts_with_sigil = matches!(pb.first(), Some(b'.' | b'#' | b'['));
    let sb = sel.as_bytes();
    let mut from = 0;
    while let Some(pos) = sel.get(from..).and_then(|s| s.find(pattern)) {
        let start = from + pos;
        let end = start + pattern.len();
        let before_ok =
            starts_with_sigil || start == 0 || matches!(sb[start - 1], b' ' | b'>' | b'+' | b'~' | b'\t' | b'\n');
        let after_ok = end >= sb.len() || !(sb[end].is_ascii_alphanumeric() || matches!(sb[end], b'-' | b'_'));
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while from < sel.len() && !sel.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Glob match where `*` matches any run of characters (including `/`). Iterative, no allocation,
/// linear-ish backtracking (the classic two-pointer wildcard algorithm).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleConfig;

    proptest::proptest! {
        /// The first-byte scan finds exactly what comparing every window finds.
        #[test]
        fn contains_ci_is_an_ascii_case_insensitive_substring_search(
            hay in "[a-cA-C\\-_ é]{0,12}",
            needle in "[a-c\\- é]{0,4}",
        ) {
            let every_window = !needle.is_empty()
                && hay.len() >= needle.len()
                && hay.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
            proptest::prop_assert_eq!(contains_ci(&hay, &needle), every_window);
        }
    }

    fn t() -> Target<'static> {
        Target::default()
    }

    #[test]
    fn text_selection_predicate() {
        let input = Target { tag: Some("input".into()), ..t() };
        let textarea = Target { tag: Some("TEXTAREA".into()), ..t() };
        let search = Target { tag: Some("input".into()), r#type: Some("search".into()), ..t() };
        let editable = Target { selector: Some("div[contenteditable=true]".into()), ..t() };
        let para = Target { tag: Some("p".into()), ..t() };
        let submit = Target { tag: Some("input".into()), r#type: Some("submit".into()), ..t() };
        for x in [&input, &textarea, &search, &editable] {
            assert!(text_selection(x, false), "{x:?}");
        }
        assert!(!text_selection(&para, false));
        assert!(text_selection(&para, true), "selection during the burst");
        assert!(!text_selection(&submit, false));
    }

    #[test]
    fn stepper_or_pager_predicate() {
        let rules = Rules::default();
        let plus = Target { tag: Some("button".into()), text: Some("+".into()), ..t() };
        let next = Target { tag: Some("button".into()), text: Some("Next page".into()), ..t() };
        let number = Target { tag: Some("input".into()), r#type: Some("number".into()), ..t() };
        let slider = Target { role: Some("slider".into()), ..t() };
        let pager = Target { selector: Some("nav.pagination > a".into()), ..t() };
        let date = Target { key: Some("checkout-datepicker-day".into()), ..t() };
        for x in [&plus, &next, &number, &slider, &pager, &date] {
            assert!(stepper_or_pager(x, &rules), "{x:?}");
        }
        let pay = Target { tag: Some("button".into()), text: Some("Pay now".into()), ..t() };
        // symbols match exactly: "C++ guide" is not a stepper
        let cpp = Target { tag: Some("a".into()), text: Some("C++ guide".into()), ..t() };
        assert!(!stepper_or_pager(&pay, &rules));
        assert!(!stepper_or_pager(&cpp, &rules));
    }

    #[test]
    fn responsive_repeat_predicate() {
        assert!(responsive_repeat(&[Some(50), Some(10), Some(300)], 300));
        assert!(!responsive_repeat(&[Some(50), None, Some(30)], 300));
        assert!(!responsive_repeat(&[Some(50), Some(301)], 300));
        assert!(!responsive_repeat(&[], 300));
    }

    #[test]
    fn scroll_during_burst_predicate() {
        let ev = |ts: i64, kind: EventKind<'static>| Event::new(format!("e{ts}"), "s", "v", 0, ts, "/", kind);
        let events =
            vec![ev(0, EventKind::Focus), ev(100, EventKind::Scroll { dy: 40.0, y: 40.0 }), ev(900, EventKind::Focus)];
        assert!(scroll_during_burst(&events, None, 0, 500));
        assert!(scroll_during_burst(&events, None, 100, 100), "inclusive bounds");
        assert!(!scroll_during_burst(&events, None, 200, 800));
        let other_tab = vec![ev(100, EventKind::Scroll { dy: 40.0, y: 40.0 }).with_tab("b")];
        assert!(!scroll_during_burst(&other_tab, Some("a"), 0, 500));
    }

    #[test]
    fn modifier_predicate() {
        assert!(!modifier_or_secondary_button(MouseButton::Primary, Modifiers::default()));
        assert!(modifier_or_secondary_button(MouseButton::Middle, Modifiers::default()));
        assert!(modifier_or_secondary_button(MouseButton::Secondary, Modifiers::default()));
        assert!(modifier_or_secondary_button(MouseButton::Primary, Modifiers { meta: true, ..Modifiers::default() }));
    }

    #[test]
    fn new_tab_predicate() {
        assert!(new_tab_or_download(&Target { new_tab: true, ..t() }));
        assert!(new_tab_or_download(&Target { download: true, ..t() }));
        assert!(new_tab_or_download(&Target { href: Some("mailto:help@example.com".into()), ..t() }));
        assert!(new_tab_or_download(&Target { href: Some("tel:+123".into()), ..t() }));
        assert!(!new_tab_or_download(&Target { href: Some("https://example.com/a:b".into()), ..t() }));
        assert!(!new_tab_or_download(&Target { href: Some("/orders?x=a:b".into()), ..t() }));
        assert!(!new_tab_or_download(&t()));
    }

    #[test]
    fn disabled_predicate() {
        assert!(disabled_control(&Target { disabled: true, ..t() }));
        assert!(!disabled_control(&t()));
    }

    #[test]
    fn friction_ignore_predicate() {
        let with = |toks: &[&'static str]| Target { ignore: toks.iter().map(|s| (*s).into()).collect(), ..t() };
        assert!(friction_ignore(&with(&["all"]), SignalKind::DeadClick));
        assert!(friction_ignore(&with(&[""]), SignalKind::ErrorClick));
        assert!(friction_ignore(&with(&["rage"]), SignalKind::RageClick));
        assert!(!friction_ignore(&with(&["rage"]), SignalKind::DeadClick));
        assert!(friction_ignore(&with(&["dead"]), SignalKind::SlowClick));
        assert!(friction_ignore(&with(&["error-click"]), SignalKind::ErrorClick));
        assert!(!friction_ignore(&with(&[]), SignalKind::RageClick));
    }

    #[test]
    fn project_ignore_list_predicate() {
        let rules = Rules::new(RuleConfig {
            ignore_selectors: vec![".carousel".into(), "video-player".into(), "canvas".into()],
            ignore_routes: vec!["/admin/*".into(), "/orders/:id/print".into()],
            ..RuleConfig::default()
        })
        .expect("valid");
        let sel = |s: &'static str| Target { selector: Some(s.into()), ..t() };
        assert!(project_ignore_list(Some(&sel("div.carousel > button")), "/", &rules));
        assert!(!project_ignore_list(Some(&sel("div.carousel-wrapper > button")), "/", &rules));
        assert!(project_ignore_list(Some(&sel("main canvas")), "/", &rules));
        assert!(!project_ignore_list(Some(&sel("main canvas2")), "/", &rules));
        assert!(project_ignore_list(Some(&Target { key: Some("video-player".into()), ..t() }), "/", &rules));
        assert!(project_ignore_list(None, "/admin/users", &rules));
        assert!(project_ignore_list(None, "/orders/991/print", &rules), "matched via template");
        assert!(!project_ignore_list(None, "/orders/991", &rules));
        assert!(!project_ignore_list(Some(&sel("button.pay")), "/checkout", &rules));
    }

    #[test]
    fn glob() {
        assert!(glob_match("/admin/*", "/admin/x/y"));
        assert!(glob_match("*", ""));
        assert!(glob_match("/a*c", "/abbbc"));
        assert!(!glob_match("/a*c", "/abbbd"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exact/more"));
    }

    #[test]
    fn actionable() {
        let b = |tag: &'static str| Target { tag: Some(tag.into()), ..t() };
        assert!(is_actionable(&b("button")));
        assert!(is_actionable(&b("A")));
        assert!(!is_actionable(&b("div")));
        assert!(is_actionable(&Target { interactive: Some(true), ..b("div") }));
        assert!(!is_actionable(&b("canvas")));
        assert!(!is_actionable(&b("textarea")));
        assert!(!is_actionable(&Target { href: Some("#pricing".into()), ..b("a") }));
        assert!(is_actionable(&Target { href: Some("#".into()), ..b("a") }));
        assert!(is_actionable(&Target { role: Some("tab".into()), ..b("li") }));
    }
}
