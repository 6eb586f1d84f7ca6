//! A partition's worth of sessionized events for throughput benchmarks: corpus sessions
//! ([`crate::corpus`]) shifted in time so that about `concurrency` of them are active at once, and
//! merged into one stream in event-time order, as the sessionizer releases them.

use std::borrow::Cow;

use friction_rules::{Event, EventKind, LogLevel, MouseButton, NavigationKind};
use friction_schemas::event::{
    Click, Custom, ErrorInfo, Input, LogLine, Mutation, Navigation, Network, Scroll, Selection, Submit, Target,
    Visibility,
};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::RawEvent;

use crate::corpus::{self, BASE_MS};

pub const PROJECT: &str = "benchproject0001";

fn c(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}

fn co(s: &Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    s.as_deref().map(c)
}

/// The sessionized record the sessionizer would emit for a rules event (the inverse of the
/// detector's `rule_event`), with the fields a browser SDK fills in.
pub fn to_sessionized(e: &Event<'_>, session_start: i64) -> Sessionized<'static> {
    let mut r = RawEvent {
        project_id: Cow::Borrowed(PROJECT),
        session_id: c(&e.session_id),
        event_id: c(&e.event_id),
        timestamp: e.timestamp_ms,
        client_timestamp: e.timestamp_ms,
        received_at: e.timestamp_ms + 40,
        user_id: Some(Cow::Owned(format!("user-{}", e.session_id.len() * 7 % 97))),
        tab_id: co(&e.tab_id),
        url: Some(Cow::Owned(format!("https://shop.example{}", e.route))),
        route: Some(c(&e.route)),
        release: Some(Cow::Borrowed("web@1.4.2")),
        metadata: Cow::Borrowed("{\"viewport\":\"1440x900\"}"),
        ..RawEvent::default()
    };
    let ty = match &e.kind {
        EventKind::Click { button, modifiers, target } => {
            let mut m = Vec::new();
            for (on, name) in
                [(modifiers.alt, "alt"), (modifiers.ctrl, "ctrl"), (modifiers.meta, "meta"), (modifiers.shift, "shift")]
            {
                if on {
                    m.push(Cow::Borrowed(name));
                }
            }
            r.click = Some(Click {
                button: match button {
                    MouseButton::Primary => 0,
                    MouseButton::Middle => 1,
                    MouseButton::Secondary => 2,
                    MouseButton::Other => 3,
                },
                modifiers: m,
            });
            r.target = Some(Target {
                r#type: co(&target.r#type),
                selector: co(&target.selector),
                key: co(&target.key),
                tag: co(&target.tag),
                role: co(&target.role),
                text: co(&target.text),
                x: target.x,
                y: target.y,
                interactive: target.interactive,
                disabled: Some(target.disabled),
                href: co(&target.href),
                new_tab: Some(target.new_tab),
                ignore: target.ignore.iter().map(|s| c(s)).collect(),
            });
            "click"
        }
        EventKind::Pageview { navigation, from, to } => {
            r.navigation = Some(Navigation {
                from: co(from),
                to: co(to),
                kind: Cow::Borrowed(match navigation {
                    NavigationKind::Load => "load",
                    NavigationKind::Push => "push",
                    NavigationKind::Pop => "pop",
                    NavigationKind::Replace => "replace",
                    NavigationKind::Reload => "reload",
                    NavigationKind::Hash => "hash",
                }),
            });
            "pageview"
        }
        EventKind::Mutation { count, near_target } => {
            r.mutation = Some(Mutation { count: i64::from(*count), near_target: *near_target });
            "mutation"
        }
        EventKind::Network { method, url, status, duration_ms, initiator } => {
            r.network = Some(Network {
                method: c(method),
                url: c(url),
                status: status.map(i32::from),
                duration_ms: duration_ms.map(|d| d as f64),
                initiator: co(initiator),
            });
            "network"
        }
        EventKind::Error { error_type, message, fingerprint } => {
            r.error = Some(ErrorInfo {
                r#type: Some(c(error_type)),
                message: c(message),
                stack: Some(Cow::Borrowed("at apply (app.js:1:2345)\nat onClick (app.js:1:999)")),
                fingerprint: co(fingerprint),
            });
            "error"
        }
        EventKind::Scroll { dy, y } => {
            r.scroll = Some(Scroll { dy: *dy, y: *y });
            "scroll"
        }
        EventKind::Selection { length } => {
            r.selection = Some(Selection { length: i64::from(*length) });
            "selection"
        }
        EventKind::Focus => "focus",
        EventKind::Visibility { hidden } => {
            r.visibility = Some(Visibility { state: Cow::Borrowed(if *hidden { "hidden" } else { "visible" }) });
            "visibility"
        }
        EventKind::Input { field_key, length_bucket, invalid } => {
            r.input = Some(Input {
                field_key: c(field_key),
                length_bucket: Some(Cow::Owned(length_bucket.to_string())),
                invalid: *invalid,
            });
            "input"
        }
        EventKind::Submit { form_key } => {
            r.submit = Some(Submit { form_key: form_key.as_deref().map(c).unwrap_or_default() });
            "submit"
        }
        EventKind::Custom { name } => {
            r.custom = Some(Custom { name: c(name) });
            "custom"
        }
        EventKind::Log { service, level, message, attributes: _ } => {
            r.log = Some(LogLine {
                service: c(service),
                level: Cow::Borrowed(match level {
                    LogLevel::Trace => "trace",
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                    LogLevel::Fatal => "fatal",
                }),
                message: c(message),
                attributes: Default::default(),
            });
            "log"
        }
    };
    r.event_type = Cow::Borrowed(ty);
    Sessionized {
        event: r,
        session_key: Cow::Owned(format!("{}#{}", e.session_id, session_start)),
        seq: e.seq as i64,
        view_id: c(&e.view_id),
        view_index: 0,
        late: false,
        reordered: false,
        session_start,
    }
}

/// A merged stream and what it is made of.
pub struct Stream {
    pub records: Vec<Sessionized<'static>>,
    pub sessions: usize,
    /// Event time from the first to the last record.
    pub span_ms: i64,
    /// Mean session duration (first to last event).
    pub mean_session_ms: i64,
}

/// About `target_events` events from corpus sessions (seed `seed`) with ~`concurrency` sessions
/// active at any event time, merged in (timestamp, session, seq) order.
pub fn interleaved(target_events: usize, concurrency: usize, seed: u64) -> Stream {
    let mut sessions = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < target_events {
        let mut r = crate::rng::Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let s = corpus::session(&mut r, i);
        total += s.events.len();
        sessions.push(s.events);
        i += 1;
    }
    let dur =
        |ev: &Vec<Event<'static>>| ev.last().map_or(0, |e| e.timestamp_ms) - ev.first().map_or(0, |e| e.timestamp_ms);
    let mean = sessions.iter().map(dur).sum::<i64>() / sessions.len().max(1) as i64;
    let stride = mean / concurrency.max(1) as i64;
    // (timestamp, session, seq) for every event, after shifting session k by k × stride.
    let mut order: Vec<(i64, u32, u32)> = Vec::with_capacity(total);
    for (k, ev) in sessions.iter().enumerate() {
        let shift = k as i64 * stride;
        for (j, e) in ev.iter().enumerate() {
            order.push((e.timestamp_ms - BASE_MS + shift, k as u32, j as u32));
        }
    }
    order.sort_unstable();
    let mut records = Vec::with_capacity(order.len());
    for &(ts, k, j) in &order {
        let ev = &sessions[k as usize];
        let mut e = ev[j as usize].clone();
        e.timestamp_ms = BASE_MS + ts;
        let start = BASE_MS + k as i64 * stride;
        records.push(to_sessionized(&e, start));
    }
    let span_ms = order.last().map_or(0, |o| o.0) - order.first().map_or(0, |o| o.0);
    Stream { records, sessions: sessions.len(), span_ms, mean_session_ms: mean }
}
