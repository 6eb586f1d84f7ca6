//! A labelled corpus of synthetic browser sessions for the detector benchmarks (and any test that
//! wants realistic sessions): real frustration mixed with every known false-positive class, with
//! human-plausible timings and jitter, generated from a fixed seed.
//!
//! Each session is a landing page, some ordinary browsing (clicks on working controls, scrolling,
//! link navigation, search typing, idle clicks on text, reading pauses), then zero to two
//! *scenarios* — each on its own page, each an instance of one [`Class`] — with more browsing in
//! between, and a last event well after the last scenario so every window closes. A scenario
//! records its ground truth: the issue-worthy signals it must produce, by [`Kind`] and element key
//! (computed with [`friction_rules::element_key`], the key every detector reports), plus
//! "don't care" labels for behaviour that is arguably frustration but not issue-worthy.
//!
//! What happens *after* a click matters as much as the click (a user who gives up on a dead button
//! clicks something else or leaves), so dead-like scenarios end with a follow-up drawn from
//! [`FOLLOW_DEAD`] and the others from [`FOLLOW_NORMAL`]. Background noise that real pages have is
//! added too: an unrelated JS error in 15 % of sessions, a failing background poll in 5 %.
//!
//! The class weights ([`Class::weight`]) set the proportions; they are tabled, with the instances
//! each gives, in `benches/HISTORY.md` ("Detector quality", corpus composition). Frustration is
//! over-represented compared with production (where a few percent of sessions have any) so recall
//! is measured on hundreds of instances; the false-positive classes outnumber the true ones about
//! 2:1, and every click of ordinary browsing is a chance for a false positive too.

use std::borrow::Cow;

use friction_rules::{element_key, Event, EventKind, Modifiers, MouseButton, NavigationKind, Target};

use crate::rng::Rng;

/// Epoch ms of the first session's start.
pub const BASE_MS: i64 = 1_700_000_000_000;

/// The signal kinds that are evaluated. `Rage` is the issue-worthy tier (our `rage_click` with
/// `unresponsive`; an anchor's only rage tier); `RageAny` is any rage burst that expresses
/// frustration, whether or not the page answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Rage,
    RageAny,
    Dead,
    Error,
    Slow,
    Disabled,
    UTurn,
    FormAbandon,
    ValidationLoop,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Rage,
        Kind::RageAny,
        Kind::Dead,
        Kind::Error,
        Kind::Slow,
        Kind::Disabled,
        Kind::UTurn,
        Kind::FormAbandon,
        Kind::ValidationLoop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rage => "rage click, issue-worthy (unresponsive)",
            Kind::RageAny => "rage click, any tier",
            Kind::Dead => "dead click",
            Kind::Error => "error click",
            Kind::Slow => "slow click",
            Kind::Disabled => "disabled click",
            Kind::UTurn => "u-turn",
            Kind::FormAbandon => "form abandonment",
            Kind::ValidationLoop => "validation loop",
        }
    }

    /// The issue-worthy tiers the precision target applies to (docs/detection.md "Validation: the labelled corpus").
    pub fn issue_worthy(self) -> bool {
        matches!(self, Kind::Rage | Kind::Dead | Kind::Error)
    }
}

/// One expected (or forgiven) signal: its kind and the element key it is reported on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub kind: Kind,
    pub key: String,
}

/// The scenario classes. The first group is real frustration, the second the false-positive
/// classes gathered in docs/detection.md "False-positive classes".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    // ---- real frustration
    RageDeadButton,
    DeadButton,
    DeadButtonBusyPage,
    SlowButtonRage,
    ImpatientRage,
    RageOnImage,
    ErrorClickJs,
    ErrorClickNetwork,
    UTurn,
    FormAbandon,
    ValidationLoop,
    // ---- false-positive classes
    QuantityStepper,
    CarouselNext,
    Pager,
    TripleClickSelect,
    NewTabLink,
    DownloadLink,
    Toggle,
    SlowButWorking,
    ClickThenTabSwitch,
    ClickWakesTab,
    BusyPageWorkingButton,
    ScrollDuringClicks,
    ModifierClickLinks,
    DisabledControl,
    FrictionIgnore,
    UTurnAfterReading,
    AuthRedirect,
    SearchThenLeave,
    FormSubmitted,
    FormGlance,
    /// Ordinary browsing between scenarios (and the follow-up clicks after them).
    Background,
}

impl Class {
    pub const SCENARIOS: [Class; 31] = [
        Class::RageDeadButton,
        Class::DeadButton,
        Class::DeadButtonBusyPage,
        Class::SlowButtonRage,
        Class::ImpatientRage,
        Class::RageOnImage,
        Class::ErrorClickJs,
        Class::ErrorClickNetwork,
        Class::UTurn,
        Class::FormAbandon,
        Class::ValidationLoop,
        Class::QuantityStepper,
        Class::CarouselNext,
        Class::Pager,
        Class::TripleClickSelect,
        Class::NewTabLink,
        Class::DownloadLink,
        Class::Toggle,
        Class::SlowButWorking,
        Class::ClickThenTabSwitch,
        Class::ClickWakesTab,
        Class::BusyPageWorkingButton,
        Class::ScrollDuringClicks,
        Class::ModifierClickLinks,
        Class::DisabledControl,
        Class::FrictionIgnore,
        Class::UTurnAfterReading,
        Class::AuthRedirect,
        Class::SearchThenLeave,
        Class::FormSubmitted,
        Class::FormGlance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::RageDeadButton => "rage_dead_button",
            Class::DeadButton => "dead_button",
            Class::DeadButtonBusyPage => "dead_button_busy_page",
            Class::SlowButtonRage => "slow_button_rage",
            Class::ImpatientRage => "impatient_rage",
            Class::RageOnImage => "rage_on_image",
            Class::ErrorClickJs => "error_click_js",
            Class::ErrorClickNetwork => "error_click_network",
            Class::UTurn => "u_turn",
            Class::FormAbandon => "form_abandon",
            Class::ValidationLoop => "validation_loop",
            Class::QuantityStepper => "quantity_stepper",
            Class::CarouselNext => "carousel_next",
            Class::Pager => "pager",
            Class::TripleClickSelect => "triple_click_select",
            Class::NewTabLink => "new_tab_link",
            Class::DownloadLink => "download_link",
            Class::Toggle => "toggle",
            Class::SlowButWorking => "slow_but_working",
            Class::ClickThenTabSwitch => "click_then_tab_switch",
            Class::ClickWakesTab => "click_wakes_tab",
            Class::BusyPageWorkingButton => "busy_page_working_button",
            Class::ScrollDuringClicks => "scroll_during_clicks",
            Class::ModifierClickLinks => "modifier_click_links",
            Class::DisabledControl => "disabled_control",
            Class::FrictionIgnore => "friction_ignore",
            Class::UTurnAfterReading => "u_turn_after_reading",
            Class::AuthRedirect => "auth_redirect",
            Class::SearchThenLeave => "search_then_leave",
            Class::FormSubmitted => "form_submitted",
            Class::FormGlance => "form_glance",
            Class::Background => "background browsing",
        }
    }

    /// Relative frequency of the class among scenarios.
    pub fn weight(self) -> u32 {
        match self {
            Class::RageDeadButton => 5,
            Class::DeadButton => 6,
            Class::DeadButtonBusyPage => 2,
            Class::SlowButtonRage => 3,
            Class::ImpatientRage => 2,
            Class::RageOnImage => 2,
            Class::ErrorClickJs => 3,
            Class::ErrorClickNetwork => 3,
            Class::UTurn => 3,
            Class::FormAbandon => 3,
            Class::ValidationLoop => 2,
            Class::QuantityStepper => 6,
            Class::CarouselNext => 4,
            Class::Pager => 3,
            Class::TripleClickSelect => 5,
            Class::NewTabLink => 4,
            Class::DownloadLink => 2,
            Class::Toggle => 4,
            Class::SlowButWorking => 5,
            Class::ClickThenTabSwitch => 2,
            Class::ClickWakesTab => 2,
            Class::BusyPageWorkingButton => 4,
            Class::ScrollDuringClicks => 3,
            Class::ModifierClickLinks => 3,
            Class::DisabledControl => 3,
            Class::FrictionIgnore => 2,
            Class::UTurnAfterReading => 3,
            Class::AuthRedirect => 1,
            Class::SearchThenLeave => 2,
            Class::FormSubmitted => 3,
            Class::FormGlance => 2,
            Class::Background => 0,
        }
    }

    pub fn frustration(self) -> bool {
        matches!(
            self,
            Class::RageDeadButton
                | Class::DeadButton
                | Class::DeadButtonBusyPage
                | Class::SlowButtonRage
                | Class::ImpatientRage
                | Class::RageOnImage
                | Class::ErrorClickJs
                | Class::ErrorClickNetwork
                | Class::UTurn
                | Class::FormAbandon
                | Class::ValidationLoop
        )
    }

    /// One line: what the scenario is and what it must produce.
    pub fn describe(self) -> &'static str {
        match self {
            Class::RageDeadButton => "3–8 clicks (gaps 110–600 ms, mode 250) on a button that never responds → rage (issue-worthy) + dead",
            Class::DeadButton => "one click on a button that never responds → dead",
            Class::DeadButtonBusyPage => "a dead button on a page with a ticking carousel (3–6 far mutation batches/s); 40 % rage bursts → dead (+ rage)",
            Class::SlowButtonRage => "3–5 clicks while a button takes 1.5–5 s to show anything (half fire a request at once) → rage (issue-worthy) + slow",
            Class::ImpatientRage => "3–4 quick clicks on a button that answers in 350–900 ms (70 % fire a request at once) → behavioural rage only (issue-worthy rage: don't care)",
            Class::RageOnImage => "3–6 clicks (jitter σ 8 px) on a non-interactive product image → rage (issue-worthy)",
            Class::ErrorClickJs => "a click that throws within 20–800 ms; half show nothing (→ error + dead), half partly render (→ error)",
            Class::ErrorClickNetwork => "a click whose request fails (5xx or network error; 70 % name the click as initiator), then an error toast → error (+ slow when nothing showed for > 1 s)",
            Class::UTurn => "A → B → back to A after 1.2–6.5 s, ≤1 click and ≤300 px scroll on B → u-turn",
            Class::FormAbandon => "typing in 2–5 checkout fields for ≥6 s, then leaving → form abandonment (last field)",
            Class::ValidationLoop => "2–3 submits each answered by an invalid field (70 % client-side in 5–60 ms, 30 % after a 422 in 150–600 ms), then success or leaving → validation loop",
            Class::QuantityStepper => "3–8 clicks on +/− (40 % labelled only 'Increase quantity'), each renders in 15–60 ms → nothing",
            Class::CarouselNext => "3–6 clicks on a carousel arrow ('Next', '>', '›' or icon-only), each slides in 20–80 ms → nothing",
            Class::Pager => "'Next page' 3–5 times or page numbers, each fetches and renders in 150–600 ms → nothing",
            Class::TripleClickSelect => "triple-click (gaps 80–200 ms) to select a paragraph; selection changes on each click → nothing",
            Class::NewTabLink => "a target=_blank link: the tab hides 40–250 ms later (half the time the new tab's pageview arrives in the same session) → nothing",
            Class::DownloadLink => "an a[download] link clicked 1–3 times, no DOM change → nothing",
            Class::Toggle => "a like/switch toggled 3–5 times, each flips in 8–40 ms → nothing",
            Class::SlowButWorking => "one click, response after 1.2–6 s (half fire a request at once) → slow only",
            Class::ClickThenTabSwitch => "a click with an off-page effect (print, app hand-off), tab hidden 1.5–5 s later → nothing (undetermined)",
            Class::ClickWakesTab => "the first click 100–800 ms after the tab became visible again, no DOM change → nothing",
            Class::BusyPageWorkingButton => "a working button on a busy page: 70 % render nearby, 20 % request + far render, 10 % far render only → nothing",
            Class::ScrollDuringClicks => "3–5 clicks on a list arrow, each scrolls the list 40–120 ms later → nothing",
            Class::ModifierClickLinks => "ctrl/cmd-click 2–4 result links to open background tabs → nothing",
            Class::DisabledControl => "an aria-disabled button clicked 1–5 times (half in a burst) → disabled click only",
            Class::FrictionIgnore => "3–6 clicks on a canvas-backed control marked data-friction-ignore → nothing",
            Class::UTurnAfterReading => "A → B, 8–60 s of reading with scrolling, back to A → nothing",
            Class::AuthRedirect => "/account → /login → back to /account within 2 s → nothing",
            Class::SearchThenLeave => "typing in a search box, then leaving → nothing",
            Class::FormSubmitted => "a form filled for 6–30 s and submitted → nothing",
            Class::FormGlance => "one field touched, left within 4 s → nothing",
            Class::Background => "ordinary browsing: working buttons, links, scrolling, search typing, idle clicks on text",
        }
    }
}

/// Follow-ups after a dead-like scenario: (idle, retry the same control, click something else,
/// navigate away), in percent.
pub const FOLLOW_DEAD: [u32; 4] = [35, 25, 25, 15];
/// Follow-ups after any other scenario: (idle, -, click something else, navigate away).
pub const FOLLOW_NORMAL: [u32; 4] = [50, 0, 35, 15];

/// One generated session with its ground truth.
#[derive(Debug, Clone)]
pub struct LabelledSession {
    pub id: String,
    /// Ordered by (timestamp, seq), with views and routes assigned as the sessionizer does.
    pub events: Vec<Event<'static>>,
    /// Signals the session must produce.
    pub truth: Vec<Label>,
    /// Signals that are neither required nor wrong (behavioural rage on a slowish button is
    /// frustration, but not issue-worthy).
    pub dont_care: Vec<Label>,
    /// Element key → the class whose scenario used it (for attributing misses and false alarms).
    pub key_class: Vec<(String, Class)>,
    /// The scenario classes in this session, in order.
    pub classes: Vec<Class>,
}

impl LabelledSession {
    /// The class of the scenario that used `key`, or [`Class::Background`].
    pub fn class_of(&self, key: &str) -> Class {
        self.key_class.iter().find(|(k, _)| k == key).map_or(Class::Background, |(_, c)| *c)
    }
}

struct Raw {
    t: i64,
    id: String,
    tab: Option<&'static str>,
    kind: EventKind<'static>,
    /// Set on pageviews: the route navigated to.
    route: Option<String>,
}

/// Collects a session's events in any order; [`Builder::finish`] sorts them and assigns views,
/// routes and sequence numbers.
pub struct Builder {
    sid: String,
    items: Vec<Raw>,
    n: u64,
    tab: Option<&'static str>,
}

impl Builder {
    pub fn new(sid: impl Into<String>) -> Self {
        Builder { sid: sid.into(), items: Vec::new(), n: 0, tab: Some("t1") }
    }

    fn push_in(
        &mut self,
        t: i64,
        tab: Option<&'static str>,
        kind: EventKind<'static>,
        route: Option<String>,
    ) -> String {
        let id = format!("{}-{}", self.sid, self.n);
        self.n += 1;
        self.items.push(Raw { t, id: id.clone(), tab, kind, route });
        id
    }

    pub fn push(&mut self, t: i64, kind: EventKind<'static>) -> String {
        self.push_in(t, self.tab, kind, None)
    }

    pub fn nav(&mut self, t: i64, route: &str, navigation: NavigationKind) -> String {
        let kind = EventKind::Pageview { navigation, from: None, to: Some(Cow::Owned(route.to_owned())) };
        self.push_in(t, self.tab, kind, Some(route.to_owned()))
    }

    /// A pageview in another tab of the same session (a link opened in a new tab).
    pub fn nav_other_tab(&mut self, t: i64, tab: &'static str, route: &str) -> String {
        let kind = EventKind::Pageview {
            navigation: NavigationKind::Load,
            from: None,
            to: Some(Cow::Owned(route.to_owned())),
        };
        self.push_in(t, Some(tab), kind, Some(route.to_owned()))
    }

    pub fn click(&mut self, t: i64, target: Target<'static>) -> String {
        self.push(t, EventKind::Click { button: MouseButton::Primary, modifiers: Modifiers::default(), target })
    }

    pub fn click_with(&mut self, t: i64, target: Target<'static>, modifiers: Modifiers) -> String {
        self.push(t, EventKind::Click { button: MouseButton::Primary, modifiers, target })
    }

    pub fn mutation(&mut self, t: i64, near: bool, count: u32) -> String {
        self.push(t, EventKind::Mutation { count, near_target: near })
    }

    pub fn network(
        &mut self,
        t: i64,
        method: &'static str,
        url: String,
        status: Option<u16>,
        duration_ms: u64,
        initiator: Option<String>,
    ) -> String {
        self.push(
            t,
            EventKind::Network {
                method: Cow::Borrowed(method),
                url: Cow::Owned(url),
                status,
                duration_ms: Some(duration_ms),
                initiator: initiator.map(Cow::Owned),
            },
        )
    }

    pub fn error(
        &mut self,
        t: i64,
        error_type: &'static str,
        message: &'static str,
        fingerprint: &'static str,
    ) -> String {
        self.push(
            t,
            EventKind::Error {
                error_type: Cow::Borrowed(error_type),
                message: Cow::Borrowed(message),
                fingerprint: Some(Cow::Borrowed(fingerprint)),
            },
        )
    }

    pub fn scroll(&mut self, t: i64, dy: f64, y: f64) -> String {
        self.push(t, EventKind::Scroll { dy, y })
    }

    pub fn selection(&mut self, t: i64, length: u32) -> String {
        self.push(t, EventKind::Selection { length })
    }

    pub fn focus(&mut self, t: i64) -> String {
        self.push(t, EventKind::Focus)
    }

    pub fn visibility(&mut self, t: i64, hidden: bool) -> String {
        self.push(t, EventKind::Visibility { hidden })
    }

    pub fn input(&mut self, t: i64, field: &str, length_bucket: u32, invalid: bool) -> String {
        self.push(t, EventKind::Input { field_key: Cow::Owned(field.to_owned()), length_bucket, invalid })
    }

    pub fn submit(&mut self, t: i64, form: &str) -> String {
        self.push(t, EventKind::Submit { form_key: Some(Cow::Owned(form.to_owned())) })
    }

    pub fn custom(&mut self, t: i64, name: &'static str) -> String {
        self.push(t, EventKind::Custom { name: Cow::Borrowed(name) })
    }

    /// Sorts by time (stable: creation order breaks ties) and assigns views (a new one per pageview,
    /// per tab), routes, `from` of pageviews and sequence numbers. `base_ms` is added to every time.
    pub fn finish(mut self, base_ms: i64) -> Vec<Event<'static>> {
        self.items.sort_by_key(|r| r.t);
        let sid: Cow<'static, str> = Cow::Owned(self.sid.clone());
        // Per tab: (view number, route).
        let mut tabs: Vec<(Option<&'static str>, u32, String)> = Vec::new();
        let mut out = Vec::with_capacity(self.items.len());
        for (seq, r) in self.items.into_iter().enumerate() {
            let slot = match tabs.iter().position(|(t, _, _)| *t == r.tab) {
                Some(s) => s,
                None => {
                    tabs.push((r.tab, 0, "/".to_owned()));
                    tabs.len() - 1
                }
            };
            let mut kind = r.kind;
            if let Some(route) = r.route {
                let st = &mut tabs[slot];
                if let EventKind::Pageview { from, .. } = &mut kind {
                    if st.1 > 0 && from.is_none() {
                        *from = Some(Cow::Owned(st.2.clone()));
                    }
                }
                st.1 += 1;
                st.2 = route;
            }
            let st = &tabs[slot];
            let view = format!("{}:{}v{}", self.sid, r.tab.unwrap_or(""), st.1);
            out.push(Event {
                event_id: Cow::Owned(r.id),
                session_id: sid.clone(),
                tab_id: r.tab.map(Cow::Borrowed),
                view_id: Cow::Owned(view),
                seq: seq as u64,
                timestamp_ms: base_ms + r.t,
                route: Cow::Owned(st.2.clone()),
                url: None,
                kind,
            });
        }
        out
    }
}

/// How a scenario ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Follow {
    Dead,
    Normal,
    /// The scenario ends the way it ends (navigation, or nothing): just a pause.
    None,
}

struct Gen<'r> {
    b: Builder,
    r: &'r mut Rng,
    t: i64,
    n: u32,
    route: String,
    truth: Vec<Label>,
    dont_care: Vec<Label>,
    key_class: Vec<(String, Class)>,
    classes: Vec<Class>,
    class: Class,
}

const PAGES: &[&str] =
    &["products", "cart", "checkout", "account", "search", "blog", "docs", "settings", "orders", "help"];
const BUTTON_WORDS: &[&str] =
    &["add-to-cart", "save", "apply", "continue", "subscribe", "filter", "share", "details", "confirm", "open"];
const DEAD_WORDS: &[&str] =
    &["pay", "apply-coupon", "save-address", "subscribe", "checkout", "send", "confirm", "download-invoice"];
const FIELDS: &[&str] = &["email", "name", "address", "city", "zip", "phone", "card-number", "company"];

impl Gen<'_> {
    fn key(&mut self, base: &str) -> String {
        self.n += 1;
        format!("{base}-{}", self.n)
    }

    fn xy(&mut self) -> (f64, f64) {
        (self.r.range(40, 1300) as f64, self.r.range(90, 820) as f64)
    }

    fn button(&mut self, key: &str, text: Option<&str>) -> Target<'static> {
        let (x, y) = self.xy();
        Target {
            key: Some(Cow::Owned(key.to_owned())),
            tag: Some(Cow::Borrowed("button")),
            text: text.map(|s| Cow::Owned(s.to_owned())),
            x: Some(x),
            y: Some(y),
            interactive: Some(true),
            ..Target::default()
        }
    }

    fn link(&mut self, key: &str, href: String) -> Target<'static> {
        let (x, y) = self.xy();
        Target {
            key: Some(Cow::Owned(key.to_owned())),
            tag: Some(Cow::Borrowed("a")),
            href: Some(Cow::Owned(href)),
            x: Some(x),
            y: Some(y),
            interactive: Some(true),
            ..Target::default()
        }
    }

    /// The same target at a jittered position (σ px per axis).
    fn jitter(&mut self, t: &Target<'static>, sd: f64) -> Target<'static> {
        let mut c = t.clone();
        c.x = t.x.map(|x| (x + self.r.normal() * sd).round());
        c.y = t.y.map(|y| (y + self.r.normal() * sd).round());
        c
    }

    /// A human rage burst's per-axis jitter: mostly tight, sometimes sloppy.
    fn rage_sd(&mut self) -> f64 {
        if self.r.chance(0.1) {
            15.0
        } else {
            6.0
        }
    }

    fn label(&mut self, kind: Kind, key: &str) {
        self.truth.push(Label { kind, key: key.to_owned() });
    }

    fn owns(&mut self, key: &str) {
        self.key_class.push((key.to_owned(), self.class));
    }

    fn owns_target(&mut self, t: &Target<'_>) -> String {
        let k = element_key(t);
        self.owns(&k);
        k
    }

    /// Navigates to a fresh page for a scenario and lets the user orient.
    /// Returns the pageview's time.
    fn new_page(&mut self, sections: &[&str]) -> i64 {
        let section = *self.r.pick(sections);
        self.t += self.r.range(300, 1500);
        self.n += 1;
        self.route = format!("/{section}/{}", 1000 + self.n);
        let route = self.route.clone();
        let at = self.t;
        self.b.nav(at, &route, NavigationKind::Push);
        self.t += self.r.range(1200, 4000);
        at
    }

    /// A working button's response after a click at `t`.
    fn respond(&mut self, t: i64, click_id: &str) {
        match self.r.weighted(&[75, 12, 6, 7]) {
            0 => {
                let d = self.r.tri(8, 30, 95);
                self.b.mutation(t + d, true, self.r.range(1, 30) as u32);
            }
            1 => {
                let d = self.r.range(2, 30);
                let dur = self.r.range(120, 850);
                let init = self.r.chance(0.7).then(|| click_id.to_owned());
                let url = format!("/api/items/{}", self.r.range(1, 9999));
                self.b.network(t + d, "GET", url, Some(200), dur as u64, init);
                if self.r.chance(0.5) {
                    let s = self.r.range(5, 40);
                    self.b.mutation(t + s, true, 2);
                }
                self.b.mutation(t + d + dur + self.r.range(5, 40), true, self.r.range(3, 60) as u32);
            }
            2 => {
                let d = self.r.range(100, 300);
                self.b.mutation(t + d, true, self.r.range(3, 60) as u32);
            }
            _ => {
                let d = self.r.range(20, 120);
                self.b.mutation(t + d, true, self.r.range(5, 40) as u32);
                self.b.focus(t + d + self.r.range(5, 30));
            }
        }
    }

    /// A click on a working control of ordinary browsing.
    fn working_click(&mut self) {
        let w = *self.r.pick(BUTTON_WORDS);
        let k = self.key(w);
        let tg = self.button(&k, None);
        self.key_class.push((k, Class::Background));
        let id = self.b.click(self.t, tg);
        self.respond(self.t, &id);
    }

    /// Follows a link: click, then the next page's pageview.
    fn follow_link(&mut self) {
        let k = self.key("nav-link");
        let section = *self.r.pick(PAGES);
        self.n += 1;
        let route = format!("/{section}/{}", 1000 + self.n);
        let tg = self.link(&k, route.clone());
        self.key_class.push((k, Class::Background));
        self.b.click(self.t, tg);
        self.t += self.r.range(80, 450);
        self.route = route.clone();
        self.b.nav(self.t, &route, NavigationKind::Push);
    }

    fn scroll_burst(&mut self) {
        let n = self.r.range(3, 10);
        let dir = if self.r.chance(0.8) { 1.0 } else { -1.0 };
        let mut y = self.r.range(0, 2000) as f64;
        for _ in 0..n {
            let dy = dir * self.r.range(40, 240) as f64;
            y = (y + dy).max(0.0);
            self.b.scroll(self.t, dy, y);
            self.t += self.r.range(30, 110);
        }
    }

    /// Ordinary browsing: `n` actions separated by human think time.
    fn browse(&mut self, n: i64) {
        for _ in 0..n {
            self.t += self.r.range(1500, 8000);
            match self.r.weighted(&[45, 15, 10, 8, 10, 12]) {
                0 => self.working_click(),
                1 => self.scroll_burst(),
                2 => self.follow_link(),
                3 => {
                    // An idle click on text (people click while reading): the caret moves.
                    let (x, y) = self.xy();
                    let tg = Target {
                        selector: Some(Cow::Borrowed("main > article > p")),
                        tag: Some(Cow::Borrowed("p")),
                        text: Some(Cow::Borrowed("[masked text]")),
                        x: Some(x),
                        y: Some(y),
                        interactive: Some(false),
                        ..Target::default()
                    };
                    self.b.click(self.t, tg);
                    let d = self.r.range(1, 8);
                    self.b.selection(self.t + d, 0);
                }
                4 => {
                    // Search-as-you-type in a header search box.
                    let (x, y) = self.xy();
                    let tg = Target {
                        key: Some(Cow::Borrowed("header-search")),
                        tag: Some(Cow::Borrowed("input")),
                        r#type: Some(Cow::Borrowed("search")),
                        x: Some(x),
                        y: Some(y),
                        ..Target::default()
                    };
                    self.b.click(self.t, tg);
                    self.b.focus(self.t + self.r.range(1, 5));
                    self.b.selection(self.t + self.r.range(1, 5), 0); // caret placed
                    let n = self.r.range(2, 8);
                    for i in 0..n {
                        self.t += self.r.range(120, 400);
                        self.b.input(self.t, "header-search", (i + 1) as u32, false);
                    }
                    let d = self.r.range(150, 400);
                    self.b.network(self.t + d, "GET", "/api/search".into(), Some(200), 180, None);
                    self.b.mutation(self.t + d + 200, true, 12);
                }
                _ => self.t += self.r.range(3000, 20_000),
            }
        }
    }

    /// What the user does after a scenario's last click at `self.t` on `target`.
    fn follow(&mut self, target: &Target<'static>, f: Follow) {
        let weights = match f {
            Follow::Dead => FOLLOW_DEAD,
            Follow::Normal => FOLLOW_NORMAL,
            Follow::None => [100, 0, 0, 0],
        };
        match self.r.weighted(&weights) {
            0 => self.t += self.r.range(8000, 20_000),
            1 => {
                self.t += self.r.tri(1200, 2000, 3500);
                let tg = self.jitter(target, 4.0);
                self.b.click(self.t, tg);
                self.t += self.r.range(8000, 15_000);
            }
            2 => {
                self.t += self.r.tri(2000, 3500, 7000);
                self.working_click();
                self.t += self.r.range(3000, 8000);
            }
            _ => {
                self.t += self.r.tri(2000, 3500, 7000);
                self.follow_link();
                self.t += self.r.range(2000, 5000);
            }
        }
    }

    fn rage_gaps(&mut self, n: i64, lo: i64, mode: i64, hi: i64, start: i64) -> Vec<i64> {
        let mut ts = vec![start];
        for _ in 1..n {
            let last = *ts.last().unwrap_or(&start);
            ts.push(last + self.r.tri(lo, mode, hi));
        }
        ts
    }

    fn busy(&mut self, from: i64, to: i64) {
        let mut t = from;
        let period = self.r.range(160, 330);
        while t < to {
            self.b.mutation(t, false, self.r.range(2, 8) as u32);
            t += period + self.r.range(-20, 20);
        }
    }

    fn scenario(&mut self, class: Class) {
        self.class = class;
        self.classes.push(class);
        match class {
            Class::RageDeadButton => {
                self.new_page(&["checkout", "cart", "settings"]);
                let w = *self.r.pick(DEAD_WORDS);
                let k = self.key(w);
                let tg = self.button(&k, Some("Continue"));
                let key = self.owns_target(&tg);
                let n = [3, 4, 5, 6, 7, 8][self.r.weighted(&[30, 25, 20, 12, 8, 5])];
                let sd = self.rage_sd();
                for t in self.rage_gaps(n, 110, 250, 600, self.t) {
                    let c = self.jitter(&tg, sd);
                    self.b.click(t, c);
                    self.t = t;
                }
                self.label(Kind::Rage, &key);
                self.label(Kind::RageAny, &key);
                self.label(Kind::Dead, &key);
                self.follow(&tg, Follow::Dead);
            }
            Class::DeadButton => {
                self.new_page(PAGES);
                let w = *self.r.pick(DEAD_WORDS);
                let k = self.key(w);
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                self.b.click(self.t, tg.clone());
                self.label(Kind::Dead, &key);
                self.follow(&tg, Follow::Dead);
            }
            Class::DeadButtonBusyPage => {
                let page_t = self.new_page(&["home"]);
                self.t = page_t + self.r.range(5500, 9000);
                let k = self.key("subscribe");
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                if self.r.chance(0.4) {
                    let n = self.r.range(3, 5);
                    let sd = self.rage_sd();
                    for t in self.rage_gaps(n, 110, 250, 600, self.t) {
                        let c = self.jitter(&tg, sd);
                        self.b.click(t, c);
                        self.t = t;
                    }
                    self.label(Kind::Rage, &key);
                    self.label(Kind::RageAny, &key);
                } else {
                    self.b.click(self.t, tg.clone());
                }
                self.label(Kind::Dead, &key);
                // The busy page stays busy through the follow-up (never a navigation here).
                let weights = [40, 30, 30, 0];
                match self.r.weighted(&weights) {
                    0 => self.t += self.r.range(8000, 20_000),
                    1 => {
                        self.t += self.r.tri(1200, 2000, 3500);
                        let c = self.jitter(&tg, 4.0);
                        self.b.click(self.t, c);
                        self.t += self.r.range(8000, 15_000);
                    }
                    _ => {
                        self.t += self.r.tri(2000, 3500, 7000);
                        self.working_click();
                        self.t += self.r.range(8000, 12_000);
                    }
                }
                let from = page_t + self.r.range(50, 400);
                self.busy(from, self.t);
            }
            Class::SlowButtonRage => {
                self.new_page(&["reports", "search", "orders"]);
                let w = *self.r.pick(&["generate-report", "search", "load-orders", "export"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                let d = self.r.tri(1500, 2500, 5000);
                let n = self.r.range(3, 5);
                let sd = self.rage_sd();
                let ts = self.rage_gaps(n, 120, 260, 500, self.t);
                let t0 = self.t;
                let mut first_id = String::new();
                for (i, t) in ts.iter().enumerate() {
                    let c = self.jitter(&tg, sd);
                    let id = self.b.click(*t, c);
                    if i == 0 {
                        first_id = id;
                    }
                }
                if self.r.chance(0.5) {
                    let s = self.r.range(5, 30);
                    self.b.network(
                        t0 + s,
                        "POST",
                        "/api/reports".into(),
                        Some(200),
                        (d - s - 20) as u64,
                        Some(first_id),
                    );
                }
                self.b.mutation(t0 + d, true, 40);
                self.t = (t0 + d).max(*ts.last().unwrap_or(&t0));
                self.label(Kind::Rage, &key);
                self.label(Kind::RageAny, &key);
                self.label(Kind::Slow, &key);
                self.follow(&tg, Follow::Normal);
            }
            Class::ImpatientRage => {
                self.new_page(&["feed", "search", "products"]);
                let k = self.key("load-more");
                let tg = self.button(&k, Some("Load more"));
                let key = self.owns_target(&tg);
                let d = self.r.range(350, 900);
                let n = self.r.range(3, 4);
                let sd = self.rage_sd();
                let t0 = self.t;
                let mut first_id = None;
                for t in self.rage_gaps(n, 130, 200, 300, t0) {
                    let c = self.jitter(&tg, sd);
                    let id = self.b.click(t, c);
                    first_id.get_or_insert(id);
                    self.t = t;
                }
                if self.r.chance(0.7) {
                    let s = self.r.range(3, 25);
                    self.b.network(t0 + s, "GET", "/api/feed".into(), Some(200), (d - s - 10) as u64, first_id);
                }
                self.b.mutation(t0 + d, true, 25);
                self.t = self.t.max(t0 + d);
                self.label(Kind::RageAny, &key);
                self.dont_care.push(Label { kind: Kind::Rage, key });
                self.follow(&tg, Follow::Normal);
            }
            Class::RageOnImage => {
                self.new_page(&["products"]);
                self.n += 1;
                let (x, y) = self.xy();
                let tg = Target {
                    selector: Some(Cow::Owned(format!("main > figure.product-{} > img", self.n))),
                    tag: Some(Cow::Borrowed("img")),
                    text: Some(Cow::Borrowed("Product photo")),
                    x: Some(x),
                    y: Some(y),
                    interactive: Some(false),
                    ..Target::default()
                };
                let key = self.owns_target(&tg);
                let n = self.r.range(3, 6);
                for t in self.rage_gaps(n, 130, 280, 500, self.t) {
                    let c = self.jitter(&tg, 8.0);
                    self.b.click(t, c);
                    self.t = t;
                }
                self.label(Kind::Rage, &key);
                self.label(Kind::RageAny, &key);
                self.follow(&tg, Follow::Normal);
            }
            Class::ErrorClickJs => {
                self.new_page(&["cart", "checkout", "account"]);
                let w = *self.r.pick(&["apply-coupon", "update-profile", "add-address", "redeem"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                self.b.click(self.t, tg.clone());
                self.label(Kind::Error, &key);
                if self.r.chance(0.5) {
                    let d = self.r.log_uniform(20, 800);
                    self.b.error(self.t + d, "TypeError", "Cannot read properties of undefined", "fp-type-undefined");
                    self.label(Kind::Dead, &key);
                    self.follow(&tg, Follow::Normal);
                } else {
                    let m = self.r.range(10, 60);
                    self.b.mutation(self.t + m, true, 3);
                    let d = self.r.range(m + 10, 800);
                    self.b.error(self.t + d, "TypeError", "x is not a function", "fp-not-a-function");
                    self.follow(&tg, Follow::Normal);
                }
            }
            Class::ErrorClickNetwork => {
                self.new_page(&["checkout", "account", "settings"]);
                let w = *self.r.pick(&["place-order", "save-settings", "send-message", "upload"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                let id = self.b.click(self.t, tg.clone());
                let spinner = self.r.chance(0.5);
                if spinner {
                    let s = self.r.range(5, 30);
                    self.b.mutation(self.t + s, true, 2);
                }
                let s = self.r.range(5, 40);
                let status = *self.r.pick(&[Some(500), Some(502), Some(503), Some(504), None]);
                let dur = self.r.log_uniform(80, 2500);
                let init = self.r.chance(0.7).then(|| id.clone());
                self.b.network(self.t + s, "POST", "/api/orders".into(), status, dur as u64, init);
                let toast = self.t + s + dur + self.r.range(5, 40);
                self.b.mutation(toast, true, 6);
                self.label(Kind::Error, &key);
                if !spinner && toast - self.t > 1000 {
                    self.label(Kind::Slow, &key); // nothing visible for over a second
                }
                self.t = toast;
                self.follow(&tg, Follow::Normal);
            }
            Class::UTurn | Class::UTurnAfterReading => {
                self.new_page(&["products", "blog", "search"]);
                let from_route = self.route.clone();
                let k = self.key("result-link");
                self.n += 1;
                let b_route = format!("/item/{}", 5000 + self.n);
                let tg = self.link(&k, b_route.clone());
                self.owns_target(&tg);
                self.owns("page");
                self.b.click(self.t, tg);
                self.t += self.r.range(80, 300);
                self.b.nav(self.t, &b_route, NavigationKind::Push);
                let t_b = self.t;
                if class == Class::UTurn {
                    let dwell = self.r.tri(1200, 3000, 6500);
                    if self.r.chance(0.3) {
                        let at = t_b + self.r.range(300, (dwell - 200).max(400));
                        self.b.scroll(at.min(t_b + dwell - 50), self.r.range(50, 300) as f64, 300.0);
                    }
                    if self.r.chance(0.2) {
                        let at = t_b + self.r.range(400, (dwell - 300).max(500));
                        let k2 = self.key("gallery-thumb");
                        let mut c = self.button(&k2, None);
                        c.tag = Some(Cow::Borrowed("img"));
                        self.owns(&k2);
                        self.b.click(at.min(t_b + dwell - 100), c);
                        self.b.mutation(at.min(t_b + dwell - 100) + 30, true, 4);
                    }
                    self.t = t_b + dwell;
                    self.label(Kind::UTurn, "page");
                } else {
                    let dwell = self.r.tri(8000, 20_000, 60_000);
                    let scrolls = self.r.range(3, 10);
                    let mut y = 0.0;
                    for i in 0..scrolls {
                        let at = t_b + 500 + i * (dwell - 1000) / scrolls;
                        let dy = self.r.range(100, 400) as f64;
                        y += dy;
                        self.b.scroll(at, dy, y);
                    }
                    self.t = t_b + dwell;
                }
                self.route = from_route.clone();
                self.b.nav(self.t, &from_route, NavigationKind::Pop);
                self.follow(&Target::default(), Follow::None);
            }
            Class::FormAbandon | Class::FormSubmitted | Class::FormGlance => {
                self.new_page(&["checkout", "signup", "contact"]);
                let nf = if class == Class::FormGlance { 1 } else { self.r.range(2, 5) as usize };
                let mut fields: Vec<&str> = Vec::new();
                while fields.len() < nf {
                    let f = *self.r.pick(FIELDS);
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
                let t_first = self.t;
                let mut last = "";
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        self.t += self.r.range(400, 3000);
                    }
                    let (x, y) = self.xy();
                    let tg = Target {
                        key: Some(Cow::Owned(format!("field-{f}"))),
                        tag: Some(Cow::Borrowed("input")),
                        r#type: Some(Cow::Borrowed(if *f == "email" { "email" } else { "text" })),
                        x: Some(x),
                        y: Some(y),
                        interactive: Some(true),
                        ..Target::default()
                    };
                    self.owns_target(&tg);
                    self.owns(&format!("field:{f}"));
                    self.b.click(self.t, tg);
                    self.b.focus(self.t + self.r.range(1, 5));
                    self.b.selection(self.t + self.r.range(1, 5), 0); // caret placed
                    if self.r.chance(0.5) {
                        self.b.mutation(self.t + self.r.range(5, 20), true, 1); // focus ring
                    }
                    let keys = if class == Class::FormGlance { self.r.range(1, 3) } else { self.r.range(2, 8) };
                    for j in 0..keys {
                        self.t += self.r.range(120, 450);
                        self.b.input(self.t, f, (j + 1) as u32, false);
                    }
                    last = f;
                }
                match class {
                    Class::FormAbandon => {
                        if self.t - t_first < 6000 {
                            self.t = t_first + self.r.range(6000, 9000);
                            self.b.custom(self.t, "heartbeat");
                        }
                        self.t += self.r.range(1000, 10_000);
                        self.label(Kind::FormAbandon, &format!("field:{last}"));
                        self.follow_link();
                    }
                    Class::FormSubmitted => {
                        self.t += self.r.range(800, 4000);
                        let k = self.key("submit");
                        let mut tg = self.button(&k, Some("Send"));
                        tg.r#type = Some(Cow::Borrowed("submit"));
                        self.owns_target(&tg);
                        let id = self.b.click(self.t, tg);
                        self.b.submit(self.t + 2, "contact-form");
                        self.b.mutation(self.t + self.r.range(5, 40), true, 2);
                        let dur = self.r.range(150, 700);
                        self.b.network(self.t + 10, "POST", "/api/forms".into(), Some(200), dur as u64, Some(id));
                        self.t += 10 + dur + self.r.range(20, 100);
                        self.n += 1;
                        self.route = format!("/thanks/{}", self.n);
                        let route = self.route.clone();
                        self.b.nav(self.t, &route, NavigationKind::Push);
                    }
                    _ => {
                        self.t += self.r.range(500, 2000);
                        self.follow_link();
                    }
                }
                self.t += self.r.range(2000, 5000);
            }
            Class::ValidationLoop => {
                self.new_page(&["signup"]);
                let form = format!("signup-form-{}", self.n);
                let k = self.key("signup-submit");
                let mut submit = self.button(&k, Some("Create account"));
                submit.r#type = Some(Cow::Borrowed("submit"));
                self.owns_target(&submit);
                self.owns(&format!("form:{form}"));
                for f in ["email", "password"] {
                    self.owns(&format!("field:{f}"));
                    let n = self.r.range(3, 8);
                    for j in 0..n {
                        self.t += self.r.range(120, 400);
                        self.b.input(self.t, f, (j + 1) as u32, false);
                    }
                    self.t += self.r.range(300, 1500);
                }
                let attempts = self.r.range(2, 3);
                for a in 0..attempts {
                    let c = self.jitter(&submit, 3.0);
                    let id = self.b.click(self.t, c);
                    self.b.submit(self.t + self.r.range(1, 5), &form);
                    let d = if self.r.chance(0.7) {
                        self.r.range(5, 60) // client-side validation
                    } else {
                        let s = self.r.range(5, 20);
                        let d = self.r.range(150, 600);
                        self.b.network(
                            self.t + s,
                            "POST",
                            "/api/signup".into(),
                            Some(422),
                            (d - s - 5) as u64,
                            Some(id),
                        );
                        d
                    };
                    let bad = *self.r.pick(&["email", "password"]);
                    self.b.input(self.t + d, bad, 3, true);
                    self.b.mutation(self.t + d + 2, true, 3);
                    if a + 1 < attempts {
                        let n = self.r.range(2, 5);
                        self.t += d + self.r.range(800, 2000);
                        for j in 0..n {
                            self.t += self.r.range(150, 500);
                            self.b.input(self.t, bad, (j + 2) as u32, false);
                        }
                        self.t += self.r.range(500, 2500);
                    } else {
                        self.t += d;
                    }
                }
                self.label(Kind::ValidationLoop, &format!("form:{form}"));
                if self.r.chance(0.6) {
                    // Fixed it at last: the next submit goes through.
                    self.t += self.r.range(2000, 6000);
                    let id = self.b.click(self.t, submit);
                    self.b.submit(self.t + 2, &form);
                    self.b.network(self.t + 8, "POST", "/api/signup".into(), Some(201), 300, Some(id));
                    self.t += self.r.range(350, 800);
                    self.n += 1;
                    self.route = format!("/welcome/{}", self.n);
                    let route = self.route.clone();
                    self.b.nav(self.t, &route, NavigationKind::Push);
                } else {
                    self.t += self.r.range(1000, 4000);
                    self.follow_link();
                }
                self.t += self.r.range(2000, 5000);
            }
            Class::QuantityStepper => {
                self.new_page(&["cart"]);
                let plus = self.r.chance(0.7);
                let text = if self.r.chance(0.6) {
                    if plus {
                        "+"
                    } else {
                        *self.r.pick(&["−", "-"])
                    }
                } else if plus {
                    "Increase quantity"
                } else {
                    "Decrease quantity"
                };
                let k = self.key(if plus { "qty-plus" } else { "qty-minus" });
                let tg = self.button(&k, Some(text));
                self.owns_target(&tg);
                let n = self.r.range(3, 8);
                for t in self.rage_gaps(n, 140, 230, 420, self.t) {
                    let c = self.jitter(&tg, 3.0);
                    self.b.click(t, c);
                    self.b.mutation(t + self.r.range(15, 60), true, 2);
                    self.t = t;
                }
                if self.r.chance(0.3) {
                    let d = self.r.range(300, 600);
                    self.b.network(self.t + d, "POST", "/api/cart".into(), Some(200), 150, None);
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::CarouselNext => {
                self.new_page(&["home"]);
                let text = *self.r.pick(&["Next", ">", "›", ""]);
                let k = self.key("hero-arrow");
                let tg = self.button(&k, (!text.is_empty()).then_some(text));
                self.owns_target(&tg);
                let n = self.r.range(3, 6);
                for t in self.rage_gaps(n, 250, 450, 800, self.t) {
                    let c = self.jitter(&tg, 4.0);
                    self.b.click(t, c);
                    self.b.mutation(t + self.r.range(20, 80), true, 8);
                    self.t = t;
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::Pager => {
                self.new_page(&["search"]);
                let same = self.r.chance(0.6);
                let n = self.r.range(3, 5);
                let base = self.button("x", None);
                let mut last = base.clone();
                for (i, t) in self.rage_gaps(n, 450, 700, 1100, self.t).into_iter().enumerate() {
                    let mut tg = base.clone();
                    if same {
                        tg.key = Some(Cow::Owned(format!("results-next-{}", self.n)));
                        tg.text = Some(Cow::Borrowed("Next page"));
                    } else {
                        tg.key = Some(Cow::Owned(format!("results-page-{}-{}", self.n, i + 2)));
                        tg.text = Some(Cow::Owned(format!("{}", i + 2)));
                        tg.x = tg.x.map(|x| x + 40.0 * (i as f64));
                    }
                    self.owns_target(&tg);
                    let c = self.jitter(&tg, 3.0);
                    let id = self.b.click(t, c);
                    let s = self.r.range(3, 20);
                    let dur = self.r.range(120, 550);
                    self.b.network(t + s, "GET", "/api/search".into(), Some(200), dur as u64, Some(id));
                    self.b.mutation(t + s + dur + self.r.range(5, 40), true, 30);
                    self.t = t;
                    last = tg;
                }
                self.n += 1;
                self.follow(&last, Follow::Normal);
            }
            Class::TripleClickSelect => {
                self.new_page(&["docs", "blog", "help"]);
                let (x, y) = self.xy();
                self.n += 1;
                let tg = Target {
                    key: Some(Cow::Owned(format!("article-lead-{}", self.n))),
                    selector: Some(Cow::Borrowed("main > article > p")),
                    tag: Some(Cow::Borrowed("p")),
                    text: Some(Cow::Borrowed("[masked text]")),
                    x: Some(x),
                    y: Some(y),
                    interactive: Some(false),
                    ..Target::default()
                };
                self.owns_target(&tg);
                let lens = [0, self.r.range(3, 12) as u32, self.r.range(40, 400) as u32];
                for (i, t) in self.rage_gaps(3, 80, 130, 200, self.t).into_iter().enumerate() {
                    let c = self.jitter(&tg, 1.5);
                    self.b.click(t, c);
                    self.b.selection(t + self.r.range(1, 6), lens[i]);
                    self.t = t;
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::NewTabLink => {
                self.new_page(&["docs", "blog", "products"]);
                let k = self.key("partner-link");
                let mut tg = self.link(&k, "https://partner.example/offer".into());
                tg.new_tab = true;
                self.owns_target(&tg);
                self.b.click(self.t, tg);
                self.b.visibility(self.t + self.r.range(40, 250), true);
                if self.r.chance(0.5) {
                    let d = self.r.range(150, 600);
                    self.b.nav_other_tab(self.t + d, "t2", "/offer");
                }
                self.t += self.r.range(5000, 60_000);
                self.b.visibility(self.t, false);
                self.t += self.r.range(2000, 6000);
            }
            Class::DownloadLink => {
                self.new_page(&["orders", "docs", "account"]);
                let k = self.key("invoice-pdf");
                let mut tg = self.link(&k, "/files/invoice.pdf?download=1".into());
                tg.download = true;
                self.owns_target(&tg);
                let n = self.r.range(1, 3);
                for i in 0..n {
                    if i > 0 {
                        self.t += self.r.range(1200, 3000);
                    }
                    let c = self.jitter(&tg, 3.0);
                    self.b.click(self.t, c);
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::Toggle => {
                self.new_page(&["blog", "settings", "products"]);
                let w = *self.r.pick(&["like", "favorite", "dark-mode", "notifications"]);
                let k = self.key(w);
                let mut tg = self.button(&k, None);
                if self.r.chance(0.4) {
                    tg.role = Some(Cow::Borrowed("switch"));
                }
                self.owns_target(&tg);
                let n = self.r.range(3, 5);
                for t in self.rage_gaps(n, 150, 260, 450, self.t) {
                    let c = self.jitter(&tg, 3.0);
                    self.b.click(t, c);
                    self.b.mutation(t + self.r.range(8, 40), true, 1);
                    self.t = t;
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::SlowButWorking => {
                self.new_page(&["reports", "search", "orders"]);
                let w = *self.r.pick(&["generate", "search", "refresh", "calculate"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                let key = self.owns_target(&tg);
                let id = self.b.click(self.t, tg.clone());
                let d = self.r.tri(1200, 2200, 6000);
                if self.r.chance(0.5) {
                    let s = self.r.range(3, 30);
                    self.b.network(self.t + s, "GET", "/api/report".into(), Some(200), (d - s - 10) as u64, Some(id));
                }
                self.b.mutation(self.t + d, true, 50);
                self.t += d;
                self.label(Kind::Slow, &key);
                self.follow(&tg, Follow::Normal);
            }
            Class::ClickThenTabSwitch => {
                self.new_page(&["orders", "account", "docs"]);
                let w = *self.r.pick(&["print", "open-in-app", "connect-calendar"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                self.owns_target(&tg);
                self.b.click(self.t, tg);
                self.t += self.r.tri(1500, 2500, 5000);
                self.b.visibility(self.t, true);
                self.t += self.r.range(10_000, 120_000);
                self.b.visibility(self.t, false);
                self.t += self.r.range(3000, 8000);
            }
            Class::ClickWakesTab => {
                self.new_page(&["dashboard", "inbox", "app"]);
                self.b.visibility(self.t, true);
                self.t += self.r.range(10_000, 60_000);
                self.b.visibility(self.t, false);
                self.t += self.r.range(100, 800);
                let k = self.key("refresh");
                let mut tg = self.button(&k, None);
                if self.r.chance(0.5) {
                    tg.tag = Some(Cow::Borrowed("div"));
                    tg.role = Some(Cow::Borrowed("button"));
                }
                self.owns_target(&tg);
                self.b.click(self.t, tg.clone());
                self.follow(&tg, Follow::Normal);
            }
            Class::BusyPageWorkingButton => {
                let page_t = self.new_page(&["home"]);
                self.t = page_t + self.r.range(5500, 9000);
                let w = *self.r.pick(&["add-to-cart", "add-to-wishlist", "quick-view"]);
                let k = self.key(w);
                let tg = self.button(&k, None);
                self.owns_target(&tg);
                let id = self.b.click(self.t, tg);
                match self.r.weighted(&[70, 20, 10]) {
                    0 => {
                        let d = self.r.tri(20, 60, 150);
                        self.b.mutation(self.t + d, true, 5);
                    }
                    1 => {
                        let s = self.r.range(3, 25);
                        let dur = self.r.range(150, 700);
                        let init = self.r.chance(0.7).then(|| id.clone());
                        self.b.network(self.t + s, "POST", "/api/cart".into(), Some(200), dur as u64, init);
                        self.b.mutation(self.t + s + dur + self.r.range(5, 60), false, 4);
                    }
                    _ => {
                        let d = self.r.range(40, 300);
                        self.b.mutation(self.t + d, false, 2);
                    }
                }
                self.t += self.r.range(8000, 12_000);
                let from = page_t + self.r.range(50, 400);
                self.busy(from, self.t);
            }
            Class::ScrollDuringClicks => {
                self.new_page(&["inbox", "search", "orders"]);
                let k = self.key("list-down");
                let tg = self.button(&k, None);
                self.owns_target(&tg);
                let n = self.r.range(3, 5);
                let mut y = 0.0;
                for t in self.rage_gaps(n, 180, 280, 420, self.t) {
                    let c = self.jitter(&tg, 2.0);
                    self.b.click(t, c);
                    let dy = self.r.range(40, 80) as f64;
                    y += dy;
                    self.b.scroll(t + self.r.range(40, 120), dy, y);
                    self.t = t;
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::ModifierClickLinks => {
                self.new_page(&["search"]);
                let n = self.r.range(2, 4);
                let (x, y0) = self.xy();
                let modifiers = if self.r.chance(0.7) {
                    Modifiers { ctrl: true, ..Modifiers::default() }
                } else {
                    Modifiers { meta: true, ..Modifiers::default() }
                };
                let mut y = y0;
                let mut last = Target::default();
                for i in 0..n {
                    if i > 0 {
                        self.t += self.r.tri(350, 800, 1600);
                        y += self.r.range(48, 72) as f64;
                    }
                    let k = self.key("result-link");
                    let mut tg = self.link(&k, format!("/r/{}", self.n));
                    tg.x = Some(x + self.r.range(-10, 10) as f64);
                    tg.y = Some(y);
                    self.owns_target(&tg);
                    self.b.click_with(self.t, tg.clone(), modifiers);
                    if self.r.chance(0.2) {
                        self.t += self.r.range(300, 700);
                        self.b.click_with(self.t, tg.clone(), modifiers);
                    }
                    last = tg;
                }
                self.follow(&last, Follow::Normal);
            }
            Class::DisabledControl => {
                self.new_page(&["checkout", "signup"]);
                let k = self.key("place-order");
                let mut tg = self.button(&k, Some("Place order"));
                tg.disabled = true;
                let key = self.owns_target(&tg);
                let burst = self.r.chance(0.5);
                let ts = if burst {
                    let n = self.r.range(3, 5);
                    self.rage_gaps(n, 150, 280, 500, self.t)
                } else {
                    let n = self.r.range(1, 2);
                    self.rage_gaps(n, 800, 1500, 2500, self.t)
                };
                for t in ts {
                    let c = self.jitter(&tg, 4.0);
                    self.b.click(t, c);
                    self.t = t;
                }
                self.label(Kind::Disabled, &key);
                self.follow(&tg, Follow::Normal);
            }
            Class::FrictionIgnore => {
                self.new_page(&["play", "whiteboard", "map"]);
                let w = *self.r.pick(&["game-tile", "canvas-tool", "map-zoom"]);
                let k = self.key(w);
                let mut tg = self.button(&k, None);
                tg.ignore = if self.r.chance(0.7) {
                    vec![Cow::Borrowed("all")]
                } else {
                    vec![Cow::Borrowed("rage"), Cow::Borrowed("dead")]
                };
                self.owns_target(&tg);
                let n = self.r.range(3, 6);
                for t in self.rage_gaps(n, 150, 260, 450, self.t) {
                    let c = self.jitter(&tg, 4.0);
                    self.b.click(t, c);
                    self.t = t;
                }
                self.follow(&tg, Follow::Normal);
            }
            Class::AuthRedirect => {
                self.new_page(&["account"]);
                let from = self.route.clone();
                self.owns("page");
                self.t += self.r.range(100, 600);
                self.b.nav(self.t, "/login", NavigationKind::Push);
                self.t += self.r.range(800, 2000);
                self.route = from.clone();
                self.b.nav(self.t, &from, NavigationKind::Pop);
                self.t += self.r.range(2000, 6000);
            }
            Class::SearchThenLeave => {
                self.new_page(&["search"]);
                let (x, y) = self.xy();
                let tg = Target {
                    key: Some(Cow::Borrowed("search-box")),
                    tag: Some(Cow::Borrowed("input")),
                    r#type: Some(Cow::Borrowed("search")),
                    x: Some(x),
                    y: Some(y),
                    ..Target::default()
                };
                self.owns_target(&tg);
                self.owns("field:search");
                self.b.click(self.t, tg);
                self.b.focus(self.t + 2);
                self.b.selection(self.t + 3, 0); // caret placed
                let n = self.r.range(3, 10);
                for j in 0..n {
                    self.t += self.r.range(150, 1500);
                    self.b.input(self.t, "search", (j + 1) as u32, false);
                }
                self.t += self.r.range(2000, 8000);
                self.follow_link();
                self.t += self.r.range(2000, 5000);
            }
            Class::Background => {}
        }
    }
}

/// Generates session number `idx` (deterministic for a given RNG state).
pub fn session(r: &mut Rng, idx: usize) -> LabelledSession {
    let id = format!("s{idx:06}");
    let mut g = Gen {
        b: Builder::new(id.clone()),
        r,
        t: 0,
        n: 0,
        route: "/".into(),
        truth: Vec::new(),
        dont_care: Vec::new(),
        key_class: Vec::new(),
        classes: Vec::new(),
        class: Class::Background,
    };
    g.b.nav(0, "/", NavigationKind::Load);
    g.t = g.r.range(800, 3000);
    let warmup = g.r.range(1, 4);
    g.browse(warmup);
    let scenarios = if g.r.chance(0.25) {
        0
    } else if g.r.chance(0.3) {
        2
    } else {
        1
    };
    let weights: Vec<u32> = Class::SCENARIOS.iter().map(|c| c.weight()).collect();
    for _ in 0..scenarios {
        let c = Class::SCENARIOS[g.r.weighted(&weights)];
        g.scenario(c);
        g.class = Class::Background;
        let n = g.r.range(0, 3);
        g.browse(n);
    }
    // Background noise every page has.
    let end = g.t;
    if g.r.chance(0.15) {
        let at = g.r.range(0, end);
        match g.r.weighted(&[40, 30, 30]) {
            0 => g.b.error(
                at,
                "Error",
                "ResizeObserver loop completed with undelivered notifications",
                "fp-resize-observer",
            ),
            1 => g.b.error(at, "Error", "Script error.", "fp-third-party"),
            _ => g.b.error(at, "TypeError", "Cannot read properties of null (reading 'offsetTop')", "fp-sticky-header"),
        };
    }
    if g.r.chance(0.05) {
        let at = g.r.range(0, end);
        g.b.network(at, "GET", "/api/notifications".into(), Some(503), 60, None);
    }
    // The session's last event, well after every window.
    g.t += g.r.range(15_000, 40_000);
    g.b.custom(g.t, "heartbeat");
    let Gen { b, truth, dont_care, key_class, classes, .. } = g;
    let mut truth = truth;
    truth.sort();
    truth.dedup();
    LabelledSession { id, events: b.finish(BASE_MS), truth, dont_care, key_class, classes }
}

/// `n` sessions from `seed`. Session `i` depends only on the seed and `i`.
pub fn generate(n: usize, seed: u64) -> Vec<LabelledSession> {
    (0..n)
        .map(|i| {
            let mut r = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            session(&mut r, i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_ordered_and_deterministic() {
        let a = generate(200, 7);
        let b = generate(200, 7);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.events, y.events);
            assert_eq!(x.truth, y.truth);
            assert!(x.events.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
            assert!(x.events.iter().enumerate().all(|(i, e)| e.seq == i as u64));
        }
        let classes: std::collections::BTreeSet<Class> = a.iter().flat_map(|s| s.classes.iter().copied()).collect();
        assert!(classes.len() > 20, "{classes:?}");
    }
}
