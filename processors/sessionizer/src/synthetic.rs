//! A deterministic synthetic input for benchmarks: many concurrent sessions, interleaved by time the
//! way one input partition sees them, with a little disorder within the allowed lateness.

use friction_schemas::event::{Navigation, Target};
use friction_schemas::RawEvent;

/// 2023-11-14T22:13:20Z: a fixed base, so the stream is the same on every run.
const BASE_MS: i64 = 1_700_000_000_000;
const KINDS: [&str; 8] = ["click", "mutation", "network", "scroll", "input", "click", "focus", "visibility"];

/// `sessions` sessions of `events_per_session` events each, in arrival order. See
/// [`SyntheticStream`]; this collects it.
pub fn synthetic_stream(sessions: usize, events_per_session: usize) -> Vec<RawEvent<'static>> {
    SyntheticStream::new(sessions, events_per_session).collect()
}

/// The lazy form of [`synthetic_stream`], for inputs too large to hold at once.
///
/// Session `i`'s event `j` happens at `BASE + j·interval + i` ms, with `interval = max(1 s,
/// sessions ms)`, so every session is active the whole time (the interval stays below the 30 min
/// gap for up to 1.8M sessions) and events arrive in time order across sessions. Every seventh pair
/// of neighbours arrives swapped (they are at most 1 s apart, well within the default 10 s
/// lateness, so nothing is late). Event 0 of a session is a pageview (load), every tenth a
/// pageview (push) to a new route, the rest cycle through clicks, mutations, network, scroll,
/// input, focus and visibility. Event ids are unique: no duplicates.
#[derive(Debug, Clone)]
pub struct SyntheticStream {
    sessions: usize,
    events_per_session: usize,
    interval_ms: i64,
    next: usize,
    held: Option<RawEvent<'static>>,
}

impl SyntheticStream {
    pub fn new(sessions: usize, events_per_session: usize) -> Self {
        let interval_ms = i64::try_from(sessions).unwrap_or(i64::MAX).max(1_000);
        Self { sessions, events_per_session, interval_ms, next: 0, held: None }
    }

    fn total(&self) -> usize {
        self.sessions.saturating_mul(self.events_per_session)
    }

    fn make(&self, n: usize) -> RawEvent<'static> {
        let (j, i) = (n / self.sessions.max(1), n % self.sessions.max(1));
        let ts = BASE_MS
            .saturating_add(i64::try_from(j).unwrap_or(i64::MAX).saturating_mul(self.interval_ms))
            .saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
        let route = format!("/shop/{}", j / 10);
        let (event_type, navigation) = if j % 10 == 0 {
            let kind = if j == 0 { "load" } else { "push" };
            let from = (j > 0).then(|| format!("/shop/{}", j / 10 - 1).into());
            ("pageview", Some(Navigation { from, to: Some(route.clone().into()), kind: kind.into() }))
        } else {
            (KINDS[j % KINDS.len()], None)
        };
        let target = (event_type == "click").then(|| Target {
            r#type: Some("button".into()),
            key: Some(format!("btn-{}", j % 7).into()),
            x: Some(100.0),
            y: Some(200.0),
            ..Target::default()
        });
        RawEvent {
            project_id: "bench".into(),
            session_id: format!("s{i}").into(),
            event_id: format!("{i:08x}-{j:08x}").into(),
            event_type: event_type.into(),
            timestamp: ts,
            client_timestamp: ts,
            received_at: ts,
            user_id: (j == 0).then(|| format!("u{}", i % 1000).into()),
            route: Some(route.into()),
            release: Some("1.0.0".into()),
            navigation,
            target,
            metadata: "{}".into(),
            ..RawEvent::default()
        }
    }
}

impl Iterator for SyntheticStream {
    type Item = RawEvent<'static>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.held.take() {
            return Some(e);
        }
        let total = self.total();
        if self.next >= total {
            return None;
        }
        let n = self.next;
        self.next += 1;
        let event = self.make(n);
        if n % 7 == 3 && self.next < total {
            // Deliver the next event first: a small, deterministic disorder.
            let later = self.make(self.next);
            self.next += 1;
            self.held = Some(event);
            return Some(later);
        }
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total().saturating_sub(self.next) + usize::from(self.held.is_some());
        (left, Some(left))
    }
}
