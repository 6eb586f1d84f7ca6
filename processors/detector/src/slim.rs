//! A session's retained events, stored without a heap string per field.
//!
//! An owned [`Event`] holds ~10 heap strings (its ids, route, target fields, …), allocated on
//! ingest and freed when the rules no longer need the event: that allocation was most of the
//! stage's `ingest` cost. Here every string of a session's events is appended to one per-session
//! arena and the event keeps (start, length) spans into it; a view, tab, route or URL equal to the
//! previous event's shares its span, and the session id (the session key) is not stored at all.
//! The rules get borrowed [`Event`]s built from the spans when the session is judged or its state
//! written ([`Events::borrowed_into`]), which are equal to the owned events this replaces.

use std::borrow::Cow;

use friction_rules::{Event, EventKind, LogLevel, Modifiers, MouseButton, NavigationKind, Target};

/// A string of the arena, `arena[start..start + len]`, or [`ABSENT`] for an absent optional string.
/// 32-bit offsets keep a retained event within three cache lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sp {
    start: u32,
    len: u32,
}

const EMPTY: Sp = Sp { start: 0, len: 0 };
/// An absent optional string (no string of the arena is that long).
const ABSENT: Sp = Sp { start: 0, len: u32::MAX };

/// Appends strings to a session's arena; remembers whether one did not fit in 32-bit offsets.
struct Put<'a> {
    arena: &'a mut String,
    full: bool,
}

impl Put<'_> {
    fn s(&mut self, s: &str) -> Sp {
        if s.is_empty() {
            return EMPTY;
        }
        let start = self.arena.len();
        match (u32::try_from(start), u32::try_from(s.len())) {
            (Ok(start), Ok(len)) if start.checked_add(len).is_some_and(|end| end < u32::MAX) => {
                self.arena.push_str(s);
                Sp { start, len }
            }
            _ => {
                self.full = true;
                EMPTY
            }
        }
    }

    fn opt(&mut self, s: Option<&str>) -> Sp {
        s.map_or(ABSENT, |s| self.s(s))
    }

    /// `s`, sharing `prev`'s span when the strings are equal (ids and routes repeat within a
    /// session).
    fn shared(&mut self, prev: Option<Sp>, s: &str) -> Sp {
        match prev {
            Some(p) if p != ABSENT && get(self.arena, p) == s => p,
            _ => self.s(s),
        }
    }
}

fn get(arena: &str, sp: Sp) -> &str {
    let start = sp.start as usize;
    arena.get(start..start.saturating_add(sp.len as usize)).unwrap_or("")
}

fn b(arena: &str, sp: Sp) -> Cow<'_, str> {
    Cow::Borrowed(get(arena, sp))
}

fn b_opt(arena: &str, sp: Sp) -> Option<Cow<'_, str>> {
    (sp != ABSENT).then(|| b(arena, sp))
}

#[derive(Debug, Clone)]
struct SlimTarget {
    selector: Sp,
    key: Sp,
    tag: Sp,
    role: Sp,
    text: Sp,
    x: Option<f64>,
    y: Option<f64>,
    interactive: Option<bool>,
    disabled: bool,
    href: Sp,
    new_tab: bool,
    download: bool,
    ignore: Box<[Sp]>,
    r#type: Sp,
}

#[derive(Debug, Clone)]
enum SlimKind {
    Click { button: MouseButton, modifiers: Modifiers, target: SlimTarget },
    Pageview { navigation: NavigationKind, from: Sp, to: Sp },
    Mutation { count: u32, near_target: bool },
    Network { method: Sp, url: Sp, status: Option<u16>, duration_ms: Option<u64>, initiator: Sp },
    Error { error_type: Sp, message: Sp, fingerprint: Sp },
    Scroll { dy: f64, y: f64 },
    Selection { length: u32 },
    Focus,
    Visibility { hidden: bool },
    Input { field_key: Sp, length_bucket: u32, invalid: bool },
    Submit { form_key: Sp },
    Custom { name: Sp },
    Log { service: Sp, level: LogLevel, message: Sp, attributes: Sp },
}

/// One retained event; its strings are spans of the session's arena.
#[derive(Debug, Clone)]
struct Slim {
    event_id: Sp,
    /// [`ABSENT`]: the session key (always so for ingested events; restored state may differ).
    session_id: Sp,
    tab_id: Sp,
    view_id: Sp,
    seq: u64,
    timestamp_ms: i64,
    route: Sp,
    url: Sp,
    kind: SlimKind,
}

impl Slim {
    /// Every string span of the event (absent ones skipped), in a fixed order.
    fn for_each_span(&mut self, mut f: impl FnMut(&mut Sp)) {
        let mut spans: [&mut Sp; 6] = [
            &mut self.event_id,
            &mut self.session_id,
            &mut self.tab_id,
            &mut self.view_id,
            &mut self.route,
            &mut self.url,
        ];
        for sp in &mut spans {
            if **sp != ABSENT {
                f(sp);
            }
        }
        let mut each = |sp: &mut Sp| {
            if *sp != ABSENT {
                f(sp);
            }
        };
        match &mut self.kind {
            SlimKind::Click { target: t, .. } => {
                for sp in
                    [&mut t.selector, &mut t.key, &mut t.tag, &mut t.role, &mut t.text, &mut t.href, &mut t.r#type]
                {
                    each(sp);
                }
                for sp in t.ignore.iter_mut() {
                    each(sp);
                }
            }
            SlimKind::Pageview { from, to, .. } => {
                each(from);
                each(to);
            }
            SlimKind::Network { method, url, initiator, .. } => {
                each(method);
                each(url);
                each(initiator);
            }
            SlimKind::Error { error_type, message, fingerprint } => {
                each(error_type);
                each(message);
                each(fingerprint);
            }
            SlimKind::Input { field_key, .. } => each(field_key),
            SlimKind::Submit { form_key } => each(form_key),
            SlimKind::Custom { name } => each(name),
            SlimKind::Log { service, message, attributes, .. } => {
                each(service);
                each(message);
                each(attributes);
            }
            SlimKind::Mutation { .. }
            | SlimKind::Scroll { .. }
            | SlimKind::Selection { .. }
            | SlimKind::Focus
            | SlimKind::Visibility { .. } => {}
        }
    }
}

/// An empty buffer of events whose allocation is reused from one session's borrowed events to the
/// next (each borrows from a different session, so the buffer is handed back empty).
#[derive(Default)]
pub struct EventBuf(Vec<Event<'static>>);

impl EventBuf {
    /// The empty buffer, for events of any lifetime.
    pub fn take<'a>(&mut self) -> Vec<Event<'a>> {
        std::mem::take(&mut self.0)
    }

    /// Keeps `v`'s allocation (its events are dropped).
    pub fn put_back(&mut self, v: Vec<Event<'_>>) {
        let mut v = v;
        v.clear();
        // An in-place collect of the (empty) vector keeps its allocation.
        self.0 = v.into_iter().map(Event::into_owned).collect();
    }
}

/// A session's retained events in `(timestamp_ms, seq)` order.
#[derive(Debug, Clone, Default)]
pub struct Events {
    arena: String,
    events: Vec<Slim>,
}

impl Events {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes in use (approximately): the event records and their strings.
    pub fn approx_bytes(&self) -> usize {
        self.arena.len() + self.events.len() * std::mem::size_of::<Slim>()
    }

    /// Timestamps in order.
    pub fn timestamps(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        self.events.iter().map(|e| e.timestamp_ms)
    }

    /// Inserts `e` in `(timestamp_ms, seq)` order, after events with the same pair. `session_key`
    /// is the session's key: an event whose session id equals it does not store it. `false` (and
    /// nothing stored) if the session's strings would pass 4 GiB.
    #[must_use]
    pub fn insert(&mut self, e: &Event<'_>, session_key: &str) -> bool {
        let key = (e.timestamp_ms, e.seq);
        let after = |x: &Slim| (x.timestamp_ms, x.seq) <= key;
        // Events mostly come in order: check the last one before searching.
        let pos =
            if self.events.last().is_none_or(after) { self.events.len() } else { self.events.partition_point(after) };
        let Some(slim) = self.slim(e, session_key) else { return false };
        self.events.insert(pos, slim);
        true
    }

    /// Appends `e` (the caller keeps the order); `false` as for [`Self::insert`].
    #[must_use]
    pub fn push(&mut self, e: &Event<'_>, session_key: &str) -> bool {
        let Some(slim) = self.slim(e, session_key) else { return false };
        self.events.push(slim);
        true
    }

    fn slim(&mut self, e: &Event<'_>, session_key: &str) -> Option<Slim> {
        let mark = self.arena.len();
        let (p_tab, p_view, p_route, p_url) = match self.events.last() {
            Some(p) => (Some(p.tab_id), Some(p.view_id), Some(p.route), Some(p.url)),
            None => (None, None, None, None),
        };
        let mut a = Put { arena: &mut self.arena, full: false };
        let kind = match &e.kind {
            EventKind::Click { button, modifiers, target: t } => SlimKind::Click {
                button: *button,
                modifiers: *modifiers,
                target: SlimTarget {
                    selector: a.opt(t.selector.as_deref()),
                    key: a.opt(t.key.as_deref()),
                    tag: a.opt(t.tag.as_deref()),
                    role: a.opt(t.role.as_deref()),
                    text: a.opt(t.text.as_deref()),
                    x: t.x,
                    y: t.y,
                    interactive: t.interactive,
                    disabled: t.disabled,
                    href: a.opt(t.href.as_deref()),
                    new_tab: t.new_tab,
                    download: t.download,
                    ignore: t.ignore.iter().map(|i| a.s(i)).collect(),
                    r#type: a.opt(t.r#type.as_deref()),
                },
            },
            EventKind::Pageview { navigation, from, to } => {
                SlimKind::Pageview { navigation: *navigation, from: a.opt(from.as_deref()), to: a.opt(to.as_deref()) }
            }
            EventKind::Mutation { count, near_target } => {
                SlimKind::Mutation { count: *count, near_target: *near_target }
            }
            EventKind::Network { method, url, status, duration_ms, initiator } => SlimKind::Network {
                method: a.s(method),
                url: a.s(url),
                status: *status,
                duration_ms: *duration_ms,
                initiator: a.opt(initiator.as_deref()),
            },
            EventKind::Error { error_type, message, fingerprint } => SlimKind::Error {
                error_type: a.s(error_type),
                message: a.s(message),
                fingerprint: a.opt(fingerprint.as_deref()),
            },
            EventKind::Scroll { dy, y } => SlimKind::Scroll { dy: *dy, y: *y },
            EventKind::Selection { length } => SlimKind::Selection { length: *length },
            EventKind::Focus => SlimKind::Focus,
            EventKind::Visibility { hidden } => SlimKind::Visibility { hidden: *hidden },
            EventKind::Input { field_key, length_bucket, invalid } => {
                SlimKind::Input { field_key: a.s(field_key), length_bucket: *length_bucket, invalid: *invalid }
            }
            EventKind::Submit { form_key } => SlimKind::Submit { form_key: a.opt(form_key.as_deref()) },
            EventKind::Custom { name } => SlimKind::Custom { name: a.s(name) },
            EventKind::Log { service, level, message, attributes } => SlimKind::Log {
                service: a.s(service),
                level: *level,
                message: a.s(message),
                attributes: a.s(attributes),
            },
        };
        let slim = Slim {
            event_id: a.s(&e.event_id),
            session_id: if e.session_id == session_key { ABSENT } else { a.s(&e.session_id) },
            tab_id: match e.tab_id.as_deref() {
                Some(t) => a.shared(p_tab, t),
                None => ABSENT,
            },
            view_id: a.shared(p_view, &e.view_id),
            seq: e.seq,
            timestamp_ms: e.timestamp_ms,
            route: a.shared(p_route, &e.route),
            url: match e.url.as_deref() {
                Some(u) => a.shared(p_url, u),
                None => ABSENT,
            },
            kind,
        };
        if a.full {
            self.arena.truncate(mark);
            return None;
        }
        Some(slim)
    }

    /// The events as the rules take them, borrowing from the arena (and `session_key`), in `buf`'s
    /// allocation (see [`EventBuf`]).
    pub fn borrowed_into<'a>(&'a self, session_key: &'a str, buf: Vec<Event<'a>>) -> Vec<Event<'a>> {
        let mut buf = buf;
        buf.clear();
        buf.extend(self.events.iter().map(|e| self.event(e, session_key)));
        buf
    }

    fn event<'a>(&'a self, e: &Slim, session_key: &'a str) -> Event<'a> {
        let a = self.arena.as_str();
        let kind = match &e.kind {
            SlimKind::Click { button, modifiers, target: t } => EventKind::Click {
                button: *button,
                modifiers: *modifiers,
                target: Target {
                    selector: b_opt(a, t.selector),
                    key: b_opt(a, t.key),
                    tag: b_opt(a, t.tag),
                    role: b_opt(a, t.role),
                    text: b_opt(a, t.text),
                    x: t.x,
                    y: t.y,
                    interactive: t.interactive,
                    disabled: t.disabled,
                    href: b_opt(a, t.href),
                    new_tab: t.new_tab,
                    download: t.download,
                    ignore: t.ignore.iter().map(|&i| b(a, i)).collect(),
                    r#type: b_opt(a, t.r#type),
                },
            },
            SlimKind::Pageview { navigation, from, to } => {
                EventKind::Pageview { navigation: *navigation, from: b_opt(a, *from), to: b_opt(a, *to) }
            }
            SlimKind::Mutation { count, near_target } => {
                EventKind::Mutation { count: *count, near_target: *near_target }
            }
            SlimKind::Network { method, url, status, duration_ms, initiator } => EventKind::Network {
                method: b(a, *method),
                url: b(a, *url),
                status: *status,
                duration_ms: *duration_ms,
                initiator: b_opt(a, *initiator),
            },
            SlimKind::Error { error_type, message, fingerprint } => EventKind::Error {
                error_type: b(a, *error_type),
                message: b(a, *message),
                fingerprint: b_opt(a, *fingerprint),
            },
            SlimKind::Scroll { dy, y } => EventKind::Scroll { dy: *dy, y: *y },
            SlimKind::Selection { length } => EventKind::Selection { length: *length },
            SlimKind::Focus => EventKind::Focus,
            SlimKind::Visibility { hidden } => EventKind::Visibility { hidden: *hidden },
            SlimKind::Input { field_key, length_bucket, invalid } => {
                EventKind::Input { field_key: b(a, *field_key), length_bucket: *length_bucket, invalid: *invalid }
            }
            SlimKind::Submit { form_key } => EventKind::Submit { form_key: b_opt(a, *form_key) },
            SlimKind::Custom { name } => EventKind::Custom { name: b(a, *name) },
            SlimKind::Log { service, level, message, attributes } => EventKind::Log {
                service: b(a, *service),
                level: *level,
                message: b(a, *message),
                attributes: b(a, *attributes),
            },
        };
        Event {
            event_id: b(a, e.event_id),
            session_id: if e.session_id == ABSENT { Cow::Borrowed(session_key) } else { b(a, e.session_id) },
            tab_id: b_opt(a, e.tab_id),
            view_id: b(a, e.view_id),
            seq: e.seq,
            timestamp_ms: e.timestamp_ms,
            route: b(a, e.route),
            url: b_opt(a, e.url),
            kind,
        }
    }

    /// Drops the events before `from_ms`; the arena is rebuilt once less than half of it is in use.
    pub fn retain_from(&mut self, from_ms: i64) {
        let before = self.events.len();
        self.events.retain(|e| e.timestamp_ms >= from_ms);
        if self.events.len() == before {
            return;
        }
        let mut live = 0usize;
        for e in &mut self.events {
            e.for_each_span(|sp| live += sp.len as usize);
        }
        if self.arena.len() > 2 * live + 1024 {
            self.compact(live);
        }
    }

    /// Copies the strings still referenced into a new arena (spans shared before stay shared when
    /// they are one of the last few copied). The new arena is no longer than the old one, so every
    /// span still fits.
    fn compact(&mut self, live: usize) {
        let old = std::mem::replace(&mut self.arena, String::with_capacity(live));
        let mut recent: [(Sp, Sp); 8] = [(EMPTY, EMPTY); 8];
        let mut next = 0usize;
        let mut a = Put { arena: &mut self.arena, full: false };
        for e in &mut self.events {
            e.for_each_span(|sp| {
                if sp.len == 0 {
                    *sp = EMPTY;
                    return;
                }
                if let Some(&(_, new)) = recent.iter().find(|(o, _)| *o == *sp) {
                    *sp = new;
                    return;
                }
                let new = a.s(get(&old, *sp));
                recent[next % recent.len()] = (*sp, new);
                next += 1;
                *sp = new;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(id: &'a str, session: &'a str, view: &'a str, seq: u64, ts: i64, kind: EventKind<'a>) -> Event<'a> {
        Event {
            event_id: id.into(),
            session_id: session.into(),
            tab_id: (seq % 3 != 0).then_some(Cow::Borrowed("t1")),
            view_id: view.into(),
            seq,
            timestamp_ms: ts,
            route: if seq < 4 { "/cart".into() } else { "/pay".into() },
            url: (seq == 5).then_some(Cow::Borrowed("https://x.example/pay")),
            kind,
        }
    }

    fn kinds() -> Vec<EventKind<'static>> {
        vec![
            EventKind::Pageview { navigation: NavigationKind::Push, from: Some("/a".into()), to: None },
            EventKind::Click {
                button: MouseButton::Secondary,
                modifiers: Modifiers { alt: true, ctrl: false, meta: true, shift: false },
                target: Target {
                    selector: Some("main > button.pay".into()),
                    key: Some("pay".into()),
                    tag: Some("button".into()),
                    role: Some(String::new().into()),
                    text: Some("Pay".into()),
                    x: Some(1.5),
                    y: None,
                    interactive: Some(false),
                    disabled: true,
                    href: Some("/download".into()),
                    new_tab: true,
                    download: true,
                    ignore: vec!["rage".into(), "".into()],
                    r#type: Some("submit".into()),
                },
            },
            EventKind::Click {
                button: MouseButton::Primary,
                modifiers: Modifiers::default(),
                target: Target::default(),
            },
            EventKind::Mutation { count: 3, near_target: true },
            EventKind::Network {
                method: "POST".into(),
                url: "/api".into(),
                status: Some(500),
                duration_ms: Some(12),
                initiator: Some("e1".into()),
            },
            EventKind::Error { error_type: "".into(), message: "boom".into(), fingerprint: Some("f".into()) },
            EventKind::Scroll { dy: -1.0, y: 2.0 },
            EventKind::Selection { length: 4 },
            EventKind::Focus,
            EventKind::Visibility { hidden: true },
            EventKind::Input { field_key: "email".into(), length_bucket: 6, invalid: true },
            EventKind::Submit { form_key: None },
            EventKind::Custom { name: "c".into() },
            EventKind::Log {
                service: "api".into(),
                level: LogLevel::Warn,
                message: "m".into(),
                attributes: r#"{"order":"51234"}"#.into(),
            },
        ]
    }

    #[test]
    fn borrowed_events_equal_the_inserted_ones_through_pruning() {
        let ids: Vec<String> = (0..40).map(|i| format!("event-{i:03}")).collect();
        let mut expected: Vec<Event<'static>> = Vec::new();
        let mut events = Events::default();
        for (i, id) in ids.iter().enumerate() {
            let k = kinds()[i % 14].clone();
            // Out of order now and then, a foreign session id once, views changing every 7.
            let ts = 1_000 * i as i64 - if i % 5 == 4 { 2_500 } else { 0 };
            let session = if i == 9 { "other" } else { "s1" };
            let view = format!("s1:v{}", i / 7);
            let e = ev(id, session, &view, i as u64, ts, k).into_owned();
            assert!(events.insert(&e, "s1"));
            let pos = expected.partition_point(|x| (x.timestamp_ms, x.seq) <= (e.timestamp_ms, e.seq));
            expected.insert(pos, e);
            assert_eq!(events.borrowed_into("s1", Vec::new()), expected);
        }
        for from in [0, 5_000, 5_001, 20_000, 33_000, 39_000, 50_000] {
            events.retain_from(from);
            expected.retain(|e| e.timestamp_ms >= from);
            assert_eq!(events.borrowed_into("s1", Vec::new()), expected, "after retaining from {from}");
            assert_eq!(
                events.timestamps().collect::<Vec<_>>(),
                expected.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>()
            );
        }
        assert!(events.is_empty());
    }

    #[test]
    fn the_arena_is_compacted_as_events_are_dropped() {
        let mut events = Events::default();
        let big = "x".repeat(500);
        for i in 0..1_000u64 {
            let e = ev(&big, "s1", "s1:v0", i, i as i64, EventKind::Custom { name: big.as_str().into() });
            assert!(events.insert(&e, "s1"));
            events.retain_from(i as i64 - 10);
        }
        assert_eq!(events.len(), 11);
        assert!(events.arena.len() <= 2 * 11 * 1_000 + 1_024 + 2_000, "arena {} bytes", events.arena.len());
    }
}

#[cfg(test)]
mod buf_tests {
    use super::*;

    #[test]
    fn the_event_buffer_keeps_its_allocation() {
        let mut events = Events::default();
        for i in 0..50u64 {
            let e = Event::new(format!("e{i}"), "s1", "v1", i, i as i64, "/", EventKind::Focus);
            assert!(events.insert(&e, "s1"));
        }
        let mut buf = EventBuf::default();
        let v = events.borrowed_into("s1", buf.take());
        assert_eq!(v.len(), 50);
        let cap = v.capacity();
        buf.put_back(v);
        let again = buf.take();
        assert!(again.is_empty());
        assert!(again.capacity() >= cap.min(50), "capacity {} after {cap}", again.capacity());
    }
}
