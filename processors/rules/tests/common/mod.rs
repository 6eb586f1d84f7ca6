//! Shared test helpers: a session builder that assigns ids, sequence numbers, views and routes the
//! way the sessionizer does, and target shorthands.
#![allow(dead_code)]

use std::borrow::Cow;

use friction_rules::{
    detect, Detection, Event, EventKind, Horizon, LogLevel, Modifiers, MouseButton, NavigationKind, Rules, Signal,
    SignalKind, Target,
};

pub struct Session {
    pub events: Vec<Event<'static>>,
    tab: Option<String>,
    view: u32,
    route: String,
}

impl Default for Session {
    fn default() -> Self {
        Self::new("/")
    }
}

impl Session {
    /// A session that starts with a page load of `route` at t = 0.
    pub fn new(route: &str) -> Self {
        let mut s = Self { events: Vec::new(), tab: None, view: 0, route: route.to_owned() };
        s.nav(0, route, NavigationKind::Load);
        s
    }

    pub fn tab(&mut self, tab: &str) -> &mut Self {
        self.tab = Some(tab.to_owned());
        self
    }

    pub fn push(&mut self, t: i64, kind: EventKind<'static>) -> &mut Self {
        let seq = self.events.len() as u64;
        let mut e = Event::new(format!("e{seq}"), "s1", format!("v{}", self.view), seq, t, self.route.clone(), kind);
        e.tab_id = self.tab.clone().map(Cow::Owned);
        self.events.push(e);
        self
    }

    pub fn nav(&mut self, t: i64, route: &str, kind: NavigationKind) -> &mut Self {
        let from = if self.events.is_empty() { None } else { Some(Cow::Owned(self.route.clone())) };
        self.view += 1;
        self.route = route.to_owned();
        self.push(t, EventKind::Pageview { navigation: kind, from, to: Some(Cow::Owned(route.to_owned())) })
    }

    pub fn click(&mut self, t: i64, target: Target<'static>) -> &mut Self {
        self.push(t, EventKind::Click { button: MouseButton::Primary, modifiers: Modifiers::default(), target })
    }

    pub fn click_with(
        &mut self,
        t: i64,
        target: Target<'static>,
        button: MouseButton,
        modifiers: Modifiers,
    ) -> &mut Self {
        self.push(t, EventKind::Click { button, modifiers, target })
    }

    pub fn mutation(&mut self, t: i64, near: bool) -> &mut Self {
        self.push(t, EventKind::Mutation { count: 3, near_target: near })
    }

    pub fn network(&mut self, t: i64, method: &str, status: Option<u16>, initiator: Option<&str>) -> &mut Self {
        self.push(
            t,
            EventKind::Network {
                method: Cow::Owned(method.to_owned()),
                url: Cow::Borrowed("/api/orders/42"),
                status,
                duration_ms: Some(120),
                initiator: initiator.map(|s| Cow::Owned(s.to_owned())),
            },
        )
    }

    pub fn error(&mut self, t: i64) -> &mut Self {
        self.push(
            t,
            EventKind::Error {
                error_type: Cow::Borrowed("TypeError"),
                message: Cow::Borrowed("x is undefined"),
                fingerprint: Some(Cow::Borrowed("fp-1")),
            },
        )
    }

    pub fn scroll(&mut self, t: i64, dy: f64) -> &mut Self {
        self.push(t, EventKind::Scroll { dy, y: dy.abs() })
    }

    pub fn selection(&mut self, t: i64, length: u32) -> &mut Self {
        self.push(t, EventKind::Selection { length })
    }

    pub fn visibility(&mut self, t: i64, hidden: bool) -> &mut Self {
        self.push(t, EventKind::Visibility { hidden })
    }

    pub fn input(&mut self, t: i64, field: &str, invalid: bool) -> &mut Self {
        self.push(t, EventKind::Input { field_key: Cow::Owned(field.to_owned()), length_bucket: 1, invalid })
    }

    pub fn submit(&mut self, t: i64, form: &str) -> &mut Self {
        self.push(t, EventKind::Submit { form_key: Some(Cow::Owned(form.to_owned())) })
    }

    pub fn log(&mut self, t: i64, level: LogLevel, message: &str) -> &mut Self {
        self.log_with(t, level, message, "")
    }

    /// A log line with its attributes (a JSON object of strings, as the detector gets them).
    pub fn log_with(&mut self, t: i64, level: LogLevel, message: &str, attributes: &str) -> &mut Self {
        self.push(
            t,
            EventKind::Log {
                service: Cow::Borrowed("api"),
                level,
                message: Cow::Owned(message.to_owned()),
                attributes: Cow::Owned(attributes.to_owned()),
            },
        )
    }

    /// A harmless event to move time on (proves the session continued).
    pub fn tick(&mut self, t: i64) -> &mut Self {
        self.push(t, EventKind::Custom { name: Cow::Borrowed("tick") })
    }

    pub fn last_ts(&self) -> i64 {
        self.events.last().map_or(0, |e| e.timestamp_ms)
    }

    /// One call over the closed session, the watermark well past the last event.
    pub fn run(&self) -> Detection {
        self.run_with(&Rules::default())
    }

    pub fn run_with(&self, rules: &Rules) -> Detection {
        detect(&self.events, Horizon::closed(self.last_ts() + 60_000), rules)
    }
}

pub fn button(key: &str) -> Target<'static> {
    Target {
        tag: Some(Cow::Borrowed("button")),
        key: Some(Cow::Owned(key.to_owned())),
        x: Some(100.0),
        y: Some(200.0),
        ..Target::default()
    }
}

pub fn at(mut t: Target<'static>, x: f64, y: f64) -> Target<'static> {
    t.x = Some(x);
    t.y = Some(y);
    t
}

pub fn kinds(signals: &[Signal]) -> Vec<SignalKind> {
    let mut k: Vec<SignalKind> = signals.iter().map(|s| s.kind).collect();
    k.sort();
    k
}

pub fn one(det: &Detection, kind: SignalKind) -> &Signal {
    let found: Vec<&Signal> = det.signals.iter().filter(|s| s.kind == kind).collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind:?} in {:#?}", det.signals);
    found[0]
}
