//! Per-key state: the duplicate filter and the open split session with the counters its summary
//! needs. Kept small on purpose (docs/architecture.md §9: ≤ 1 KiB per open session): numbers,
//! hashes, a few short strings, no events (every event is forwarded as it arrives).

use std::sync::Arc;

use friction_schemas::sessionized::{CLOSE_INACTIVITY, CLOSE_MAX_DURATION, MAX_SUMMARY_ROUTES};
use friction_schemas::{RawEvent, SessionSummary, Sessionized};

use crate::{Emitted, SessionizerConfig};

/// Separates the routes inside `Split::routes` (one string instead of up to 50 allocations). A route
/// containing it is not listed in the summary.
pub(crate) const ROUTE_SEP: char = '\u{1f}';

/// An event on its way through the sessionizer: boxed once at the input inside the output record
/// it will become, so that emitting moves a pointer instead of ~1.3 KB; `emit_into` fills in the
/// rest in place. With it, when the input allows, the event's Avro datum as it arrived, which the
/// output copies instead of encoding the event again ([`Emitted::Sessionized`]).
#[derive(Debug)]
pub(crate) struct Carried {
    pub record: Box<Sessionized<'static>>,
    pub datum: Option<Box<[u8]>>,
}

impl std::ops::Deref for Carried {
    type Target = Sessionized<'static>;
    fn deref(&self) -> &Sessionized<'static> {
        &self.record
    }
}

const QUEUED_CLOSE: u8 = 2;
/// The partition's `pending` map holds offsets of this key to re-read after a restore.
const HAS_PENDING: u8 = 4;

/// Everything the sessionizer keeps for one `project_id:session_id` key.
#[derive(Debug)]
pub(crate) struct KeyState {
    pub key: Arc<str>,
    /// Length of `project_id` in `key` (`key[..project_len]` is the project, then `:`, then the
    /// session id; session ids may themselves contain `:`, e.g. `log:api`).
    pub project_len: u32,
    /// Input offset of the last event applied to this key: on a replay after a restore, events up to
    /// here are not applied again.
    pub last_offset: i64,
    /// 32-bit hashes of the most recent event ids (see `hash`), a ring buffer of at most
    /// `dedup_ids` entries, each as its little-endian bytes: the changelog format, so a state write
    /// copies the ring instead of encoding it hash by hash.
    pub ring: Vec<[u8; 4]>,
    /// Where the next hash goes once the ring is full (the oldest entry).
    pub ring_head: u16,
    /// Duplicates dropped while no split was open; they are counted to the next split.
    pub pending_dups: u32,
    /// Deadline of this key's live entry in the partition's close queue, ≤ the split's real deadline
    /// (valid with `QUEUED_CLOSE`).
    close_at: i64,
    /// `QUEUED_CLOSE` and `HAS_PENDING`: flags instead of an `Option<i64>` and a bool save bytes on
    /// every key.
    flags: u8,
    /// Changed since the last changelog drain.
    pub dirty: bool,
    pub split: Option<Split>,
}

impl KeyState {
    pub fn new(key: Arc<str>, project_len: u32) -> Self {
        Self {
            key,
            project_len,
            last_offset: i64::MIN,
            ring: Vec::new(),
            ring_head: 0,
            pending_dups: 0,
            close_at: 0,
            flags: 0,
            dirty: false,
            split: None,
        }
    }

    pub fn close_queued(&self) -> Option<i64> {
        (self.flags & QUEUED_CLOSE != 0).then_some(self.close_at)
    }

    pub fn set_close_queued(&mut self, at: Option<i64>) {
        self.close_at = at.unwrap_or(0);
        self.flags = if at.is_some() { self.flags | QUEUED_CLOSE } else { self.flags & !QUEUED_CLOSE };
    }

    /// Nothing open and nothing to re-read: only the replay guard (`last_offset`) is left.
    pub fn is_idle(&self) -> bool {
        self.split.is_none() && !self.has_pending()
    }

    pub fn has_pending(&self) -> bool {
        self.flags & HAS_PENDING != 0
    }

    pub fn set_has_pending(&mut self, yes: bool) {
        self.flags = if yes { self.flags | HAS_PENDING } else { self.flags & !HAS_PENDING };
    }

    /// The remembered hashes, oldest first (how they are persisted).
    #[cfg(test)]
    pub fn ring_chronological(&self) -> impl Iterator<Item = u32> + '_ {
        let (older, newer) = self.ring_halves();
        older.iter().chain(newer).map(|b| u32::from_le_bytes(*b))
    }

    /// The ring in two slices, oldest entries first.
    pub fn ring_halves(&self) -> (&[[u8; 4]], &[[u8; 4]]) {
        let head = if self.ring.is_empty() { 0 } else { usize::from(self.ring_head) % self.ring.len() };
        (&self.ring[head..], &self.ring[..head])
    }

    pub fn seen(&self, hash: u32) -> bool {
        self.ring.contains(&hash.to_le_bytes())
    }

    pub fn remember(&mut self, hash: u32, capacity: usize) {
        if capacity == 0 {
            return;
        }
        let hash = hash.to_le_bytes();
        if self.ring.len() < capacity {
            self.ring.push(hash);
            return;
        }
        let at = usize::from(self.ring_head) % self.ring.len();
        self.ring[at] = hash;
        self.ring_head = u16::try_from((at + 1) % self.ring.len()).unwrap_or(0);
    }

    /// The split's summary, for when it closes.
    pub fn summary(&self, split: &Split, reason: &'static str) -> SessionSummary {
        let (project_id, session_id) = split_key(&self.key, self.project_len);
        let routes = if split.routes.is_empty() {
            Vec::new()
        } else {
            split.routes.split(ROUTE_SEP).map(str::to_owned).collect()
        };
        SessionSummary {
            project_id: project_id.to_owned(),
            session_id: session_id.to_owned(),
            session_key: session_key(session_id, split.anchor),
            start: split.start,
            end: split.end,
            duration_ms: split.end.saturating_sub(split.start),
            events: to_i64(split.events),
            views: i64::from(split.view_index) + 1,
            clicks: i64::from(split.clicks),
            errors: i64::from(split.errors),
            routes,
            routes_truncated: split.routes_truncated,
            release: split.release.as_deref().map(str::to_owned),
            user_id: split.user_id.as_deref().map(str::to_owned),
            close_reason: reason.to_owned(),
            late_events: i64::from(split.late),
            duplicates_dropped: i64::from(split.dups),
        }
    }
}

/// `(project_id, session_id)` of a key; empty strings if `project_len` does not fit (only possible
/// with a state record written for another key, which `restore` rejects).
pub(crate) fn split_key(key: &str, project_len: u32) -> (&str, &str) {
    let at = usize::try_from(project_len).unwrap_or(usize::MAX);
    match (key.get(..at), key.get(at.saturating_add(1)..)) {
        (Some(p), Some(s)) => (p, s),
        _ => ("", key),
    }
}

/// The name of a split session: `<sessionId>#<anchor>`.
pub(crate) fn session_key(session_id: &str, anchor: i64) -> String {
    let mut k = String::with_capacity(session_id.len() + 24);
    k.push_str(session_id);
    k.push('#');
    push_int(&mut k, anchor);
    k
}

/// Appends the decimal form of `n` (what `to_string` gives, without the formatting machinery:
/// this runs twice per event).
pub(crate) fn push_int(s: &mut String, n: i64) {
    if n < 0 {
        s.push('-');
    }
    let mut v = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One split session while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// Event time of the split's first arrived event: its name and the base of the maximum
    /// duration. Events that arrive later with an earlier time may lie before it (`start`).
    pub anchor: i64,
    /// Earliest and latest event time in the split (`end`: the newest; an arriving event older than
    /// it is reordered).
    pub start: i64,
    pub end: i64,
    /// A split opened by a late event stays open at least until the watermark reaches this, so a late
    /// batch of a closed session lands in one split rather than one per event. `i64::MIN` otherwise.
    pub grace_until: i64,
    pub view_index: u32,
    /// The client's viewId of the current view, if any event of it carried one.
    pub view_client: Option<Box<str>>,
    pub events: u64,
    /// The smaller counters saturate at u32::MAX (4 billion per split session).
    pub clicks: u32,
    pub errors: u32,
    pub late: u32,
    pub dups: u32,
    /// Distinct routes in first-seen order, joined by `ROUTE_SEP` (a boxed str: no spare capacity).
    pub routes: Box<str>,
    pub route_count: u8,
    pub routes_truncated: bool,
    pub release: Option<Box<str>>,
    pub user_id: Option<Box<str>>,
}

impl Split {
    pub fn new(anchor: i64, grace_until: i64, dups: u32) -> Self {
        Self {
            anchor,
            start: anchor,
            end: anchor,
            grace_until,
            view_index: 0,
            view_client: None,
            events: 0,
            clicks: 0,
            errors: 0,
            late: 0,
            dups,
            routes: Box::default(),
            route_count: 0,
            routes_truncated: false,
            release: None,
            user_id: None,
        }
    }

    fn inactivity_deadline(&self, cfg: &SessionizerConfig) -> i64 {
        self.end.saturating_add(cfg.inactivity_gap_ms)
    }

    fn max_deadline(&self, cfg: &SessionizerConfig) -> i64 {
        self.anchor.saturating_add(cfg.max_session_ms)
    }

    /// The watermark at which the split closes: no on-time event could join it any more (every later
    /// on-time event is at or after the watermark, hence after the gap or the maximum duration, and
    /// would start a new split anyway).
    pub fn deadline(&self, cfg: &SessionizerConfig) -> i64 {
        self.inactivity_deadline(cfg).min(self.max_deadline(cfg)).max(self.grace_until)
    }

    /// Why the split closes when the watermark passes its deadline.
    pub fn reason_at_deadline(&self, cfg: &SessionizerConfig) -> &'static str {
        if self.max_deadline(cfg) < self.inactivity_deadline(cfg) {
            CLOSE_MAX_DURATION
        } else {
            CLOSE_INACTIVITY
        }
    }

    /// Whether an event at `ts` arriving while this split is open starts a new split, and why the
    /// current one ends: it comes at least the inactivity gap after the split's newest event, or at
    /// least the maximum duration after its anchor. An event before the anchor never splits: it joins
    /// (reordered), however far before — the split's history is never re-cut.
    pub fn split_reason(&self, ts: i64, cfg: &SessionizerConfig) -> Option<&'static str> {
        if ts >= self.inactivity_deadline(cfg) {
            Some(CLOSE_INACTIVITY)
        } else if ts >= self.max_deadline(cfg) {
            Some(CLOSE_MAX_DURATION)
        } else {
            None
        }
    }

    fn add_route(&mut self, route: &str) {
        if self.routes_truncated || route.is_empty() || route.contains(ROUTE_SEP) {
            // Once truncated, a route is either listed already or one more not listed: nothing to do.
            return;
        }
        if self.route_count > 0 {
            // Fast path: most events are on the route seen last.
            let last = self.routes.rsplit(ROUTE_SEP).next().unwrap_or("");
            if last == route || self.routes.split(ROUTE_SEP).any(|r| r == route) {
                return;
            }
        }
        if usize::from(self.route_count) >= MAX_SUMMARY_ROUTES {
            self.routes_truncated = true;
            return;
        }
        // Routes are added rarely and the string lives as long as the session: exact size.
        let mut joined = String::with_capacity(self.routes.len() + 1 + route.len());
        joined.push_str(&self.routes);
        if self.route_count > 0 {
            joined.push(ROUTE_SEP);
        }
        joined.push_str(route);
        self.routes = joined.into_boxed_str();
        self.route_count += 1;
    }
}

/// A pageview or any event carrying a navigation starts a new view.
fn is_navigation(event: &RawEvent<'_>) -> bool {
    event.event_type == "pageview" || event.navigation.is_some()
}

fn is_error(event: &RawEvent<'_>) -> bool {
    match &*event.event_type {
        "error" => true,
        "log" => event
            .log
            .as_ref()
            .is_some_and(|l| l.level.eq_ignore_ascii_case("error") || l.level.eq_ignore_ascii_case("fatal")),
        _ => false,
    }
}

fn client_view<'e>(event: &'e RawEvent<'_>) -> Option<&'e str> {
    event.view_id.as_deref().filter(|v| !v.is_empty())
}

fn set_last(slot: &mut Option<Box<str>>, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if slot.as_deref() != Some(v) {
            *slot = Some(v.into());
        }
    }
}

/// How an event joins its split: whether it arrived behind the partition watermark (`late`) and
/// whether it is older than the split's newest event so far (`reordered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub late: bool,
    pub reordered: bool,
}

/// Appends `event` to the open `split` of `key`, as it arrives: assigns its view and sequence number
/// (the next in arrival order), updates the summary counters and builds the output record.
///
/// Views: the first event of a split starts view 0; a later-arriving event in time order starts a
/// new view when it is a navigation or carries a client viewId different from the current view's.
/// Reordered events never start a view (they belong before the split's newest event, so "next"
/// means nothing for them): they get the current one.
pub(crate) fn emit_into(
    key: &Arc<str>,
    project_len: u32,
    split: &mut Split,
    carried: Carried,
    arrival: Arrival,
) -> Emitted {
    let Arrival { late, reordered } = arrival;
    let Carried { mut record, datum } = carried;
    let event = &record.event;
    let ts = event.timestamp;
    let client = client_view(event);
    if split.events == 0 {
        split.view_client = client.map(Box::from);
    } else if !reordered {
        let changed = matches!((client, split.view_client.as_deref()), (Some(v), Some(c)) if v != c);
        if is_navigation(event) || changed {
            split.view_index = split.view_index.saturating_add(1);
            split.view_client = client.map(Box::from);
        } else if split.view_client.is_none() {
            split.view_client = client.map(Box::from);
        }
    }
    let (_, session_id) = split_key(key, project_len);
    let session_key = session_key(session_id, split.anchor);
    let view_id = match client.or(split.view_client.as_deref()) {
        Some(v) => v.to_owned(),
        None => {
            let mut v = String::with_capacity(session_key.len() + 12);
            v.push_str(&session_key);
            v.push_str(":v");
            push_int(&mut v, i64::from(split.view_index));
            v
        }
    };

    split.start = split.start.min(ts);
    split.end = split.end.max(ts);
    // Every emitted event is counted, so the count before this one is its sequence number.
    let seq = split.events;
    split.events = split.events.saturating_add(1);
    if event.event_type == "click" {
        split.clicks = split.clicks.saturating_add(1);
    }
    if is_error(event) {
        split.errors = split.errors.saturating_add(1);
    }
    if late {
        split.late = split.late.saturating_add(1);
    }
    if let Some(route) = event.route.as_deref() {
        split.add_route(route);
    }
    set_last(&mut split.release, event.release.as_deref());
    set_last(&mut split.user_id, event.user_id.as_deref());

    record.session_key = session_key.into();
    record.seq = to_i64(seq);
    record.view_id = view_id.into();
    record.view_index = i32::try_from(split.view_index).unwrap_or(i32::MAX);
    record.late = late;
    record.reordered = reordered;
    record.session_start = split.anchor;
    Emitted::Sessionized { key: key.clone(), record, datum }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_split_respects_colons_in_session_ids() {
        assert_eq!(split_key("p1:log:api", 2), ("p1", "log:api"));
        assert_eq!(split_key("p1:s", 9), ("", "p1:s"));
        assert_eq!(session_key("log:api", -5), "log:api#-5");
        for n in [0, 7, -7, 10, 1_705_312_800_000, i64::MAX, i64::MIN] {
            let mut s = String::new();
            push_int(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn ring_keeps_the_newest_ids() {
        let mut st = KeyState::new(Arc::from("p:s"), 1);
        for h in 0..10u32 {
            st.remember(h, 4);
        }
        assert_eq!(st.ring_chronological().collect::<Vec<_>>(), vec![6, 7, 8, 9]);
        assert!(st.seen(9) && !st.seen(5));
    }

    #[test]
    fn routes_are_distinct_and_capped() {
        let mut split = Split::new(0, i64::MIN, 0);
        for r in ["/a", "/b", "/a", "", "/x\u{1f}y"] {
            split.add_route(r);
        }
        assert_eq!(&*split.routes, "/a\u{1f}/b");
        for i in 0..100 {
            split.add_route(&format!("/r{i}"));
        }
        assert_eq!(usize::from(split.route_count), MAX_SUMMARY_ROUTES);
        assert!(split.routes_truncated);
    }
}
