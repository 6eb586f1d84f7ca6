//! A session's detector state ([`SessionState`]) and its compact binary encoding (what goes to the
//! changelog).
//!
//! JSON of the retained events cost ~2.3 KB per session and a third of the stage's time. This
//! format writes numbers as varints (timestamps as deltas), and strings that repeat within a session
//! (session id, view and tab ids, routes, tags, keys, …) once, then by reference. It starts with a
//! magic byte that JSON never starts with, so state written by older versions (JSON) still restores.

use std::borrow::Cow;

use friction_rules::{Event, EventKind, LogLevel, Modifiers, MouseButton, NavigationKind, Target};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use friction_schemas::signal::SignalRecord;
use friction_schemas::{decode as decode_record, encode_to_vec};

use crate::convert::SessionContext;
use crate::corrections::Published;

/// One session's state: the events the rules may still look at, and how far it was judged.
///
/// `E` is how the events are held: owned [`Event`]s as the state is persisted and restored, and
/// [`Events`](crate::slim::Events) (no heap string per field) while a
/// [`PartitionDetector`](crate::PartitionDetector) keeps the session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionState<E = Vec<Event<'static>>> {
    pub context: SessionContext,
    pub events: E,
    pub emitted_through_ms: Option<i64>,
    pub retained_from_ms: Option<i64>,
    pub last_event_ms: i64,
    /// The earliest event time at which a judgement can decide anything: the earliest pending
    /// decision of the last judgement, lowered to the time of every event ingested since (a new
    /// event can decide things at its own time or later, never earlier). The session is judged
    /// once the watermark reaches it (or it closes), not at every new event.
    pub next_decision_ms: Option<i64>,
    /// New events since the last judgement.
    #[serde(default)]
    pub touched: bool,
    /// The early horizon of the last judgement: everything the session's events decided up to it
    /// was published (possibly provisionally). `emitted_through_ms` is the final one: nothing
    /// decided up to it changes any more.
    #[serde(default)]
    pub early_through_ms: Option<i64>,
    /// An event arrived at or before `early_through_ms` since the last judgement: what was
    /// published may be contradicted, so the next judgement covers everything still open.
    #[serde(default)]
    pub reopened: bool,
    /// Wall-clock time at which the session's newest event arrived.
    #[serde(default)]
    pub newest_arrival_wall_ms: i64,
    /// The records published for this session that can still change.
    #[serde(default)]
    pub published: Vec<Published>,
    /// Changed since the last [`PartitionDetector::take_changes`](crate::PartitionDetector::take_changes)
    /// (not part of the state).
    #[serde(skip)]
    pub dirty: bool,
}

impl<E> SessionState<E> {
    /// The same state with its events held as `events`.
    pub(crate) fn with_events<F>(self, events: F) -> SessionState<F> {
        SessionState {
            context: self.context,
            events,
            emitted_through_ms: self.emitted_through_ms,
            retained_from_ms: self.retained_from_ms,
            last_event_ms: self.last_event_ms,
            next_decision_ms: self.next_decision_ms,
            touched: self.touched,
            early_through_ms: self.early_through_ms,
            reopened: self.reopened,
            newest_arrival_wall_ms: self.newest_arrival_wall_ms,
            published: self.published,
            dirty: self.dirty,
        }
    }
}

/// First byte of a binary state value (JSON starts with `{`).
pub const MAGIC: u8 = 0xF7;
/// 2 adds the early horizon, the wall-clock arrival time and the published records after the
/// events; 1 (without them) still restores.
const VERSION: u8 = 2;
/// Strings kept for back-references per value; later repeats are written inline.
const MAX_TABLE: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateError {
    #[error("state value ends early")]
    Truncated,
    #[error("state value does not start with the binary state marker")]
    BadMagic,
    #[error("unknown state encoding version {0}")]
    Version(u8),
    #[error("bad {0} in state value")]
    Bad(&'static str),
}

// ------------------------------------------------------------------------------------ writer

struct W<'s> {
    out: Vec<u8>,
    table: Vec<&'s str>,
}

impl<'s> W<'s> {
    fn u8(&mut self, b: u8) {
        self.out.push(b);
    }

    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn int(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.int(v);
            }
        }
    }

    /// 0 = none, 1 = inline, 2 = inline and remembered, k + 3 = the k-th remembered string.
    fn opt_str(&mut self, s: Option<&'s str>, intern: bool) {
        let Some(s) = s else {
            self.u8(0);
            return;
        };
        if intern {
            if let Some(k) = self.table.iter().position(|t| *t == s) {
                self.var(k as u64 + 3);
                return;
            }
        }
        let remember = intern && self.table.len() < MAX_TABLE;
        self.u8(if remember { 2 } else { 1 });
        self.var(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        if remember {
            self.table.push(s);
        }
    }

    fn str(&mut self, s: &'s str, intern: bool) {
        self.opt_str(Some(s), intern);
    }

    /// Whole numbers (pixel positions mostly) as varints, anything else as its exact bits.
    fn num(&mut self, v: f64) {
        let whole = v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative());
        if whole {
            self.u8(1);
            #[allow(clippy::cast_possible_truncation)]
            self.int(v as i64);
        } else {
            self.u8(2);
            self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }

    fn opt_num(&mut self, v: Option<f64>) {
        match v {
            None => self.u8(0),
            Some(v) => self.num(v),
        }
    }
}

fn cow<'s>(s: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
    s.as_deref()
}

/// Encodes a session's state.
pub fn encode(st: &SessionState) -> Vec<u8> {
    encode_parts(st, &st.events)
}

/// Encodes a session's state with `events` in place of however `st` holds its own (the same bytes
/// as [`encode`] of the equivalent owned state).
pub fn encode_parts<E>(st: &SessionState<E>, events: &[Event<'_>]) -> Vec<u8> {
    let mut w = W { out: Vec::with_capacity(64 + events.len() * 48), table: Vec::new() };
    w.u8(MAGIC);
    w.u8(VERSION);
    let c = &st.context;
    w.str(&c.project_id, false);
    w.opt_str(c.user_id.as_deref(), false);
    w.opt_str(c.release.as_deref(), false);
    // Once the session's latest URL; signals now carry their own page's (the slot stays).
    w.opt_str(None, false);
    w.opt_int(st.emitted_through_ms);
    w.opt_int(st.retained_from_ms);
    w.int(st.last_event_ms);
    w.opt_int(st.next_decision_ms);
    w.u8(u8::from(st.touched));
    w.var(events.len() as u64);
    let mut prev_ts = 0i64;
    for e in events {
        w.str(&e.event_id, false);
        w.str(&e.session_id, true);
        w.opt_str(cow(&e.tab_id), true);
        w.str(&e.view_id, true);
        w.var(e.seq);
        w.int(e.timestamp_ms.wrapping_sub(prev_ts));
        prev_ts = e.timestamp_ms;
        w.str(&e.route, true);
        w.opt_str(cow(&e.url), true);
        kind(&mut w, &e.kind);
    }
    w.opt_int(st.early_through_ms);
    w.u8(u8::from(st.reopened));
    w.int(st.newest_arrival_wall_ms);
    w.var(st.published.len() as u64);
    for p in &st.published {
        w.str(&p.episode_id, false);
        w.var(p.digest);
        w.opt_int(p.final_at_ms);
        // The record as on the wire (Avro single-object); it always encodes.
        let bytes = encode_to_vec(&p.record).unwrap_or_default();
        w.var(bytes.len() as u64);
        w.out.extend_from_slice(&bytes);
    }
    w.out
}

fn kind<'s>(w: &mut W<'s>, k: &'s EventKind<'_>) {
    match k {
        EventKind::Click { button, modifiers, target } => {
            w.u8(0);
            w.u8(match button {
                MouseButton::Primary => 0,
                MouseButton::Middle => 1,
                MouseButton::Secondary => 2,
                MouseButton::Other => 3,
            });
            let m = modifiers;
            w.u8(u8::from(m.alt) | u8::from(m.ctrl) << 1 | u8::from(m.meta) << 2 | u8::from(m.shift) << 3);
            let t = target;
            w.opt_str(cow(&t.selector), true);
            w.opt_str(cow(&t.key), true);
            w.opt_str(cow(&t.tag), true);
            w.opt_str(cow(&t.role), true);
            w.opt_str(cow(&t.text), true);
            w.opt_num(t.x);
            w.opt_num(t.y);
            w.u8(match t.interactive {
                None => 0,
                Some(false) => 1,
                Some(true) => 2,
            });
            w.u8(u8::from(t.disabled) | u8::from(t.new_tab) << 1 | u8::from(t.download) << 2);
            w.opt_str(cow(&t.href), true);
            w.var(t.ignore.len() as u64);
            for i in &t.ignore {
                w.str(i, true);
            }
            w.opt_str(cow(&t.r#type), true);
        }
        EventKind::Pageview { navigation, from, to } => {
            w.u8(1);
            w.u8(match navigation {
                NavigationKind::Load => 0,
                NavigationKind::Push => 1,
                NavigationKind::Pop => 2,
                NavigationKind::Replace => 3,
                NavigationKind::Reload => 4,
                NavigationKind::Hash => 5,
            });
            w.opt_str(cow(from), true);
            w.opt_str(cow(to), true);
        }
        EventKind::Mutation { count, near_target } => {
            w.u8(2);
            w.var(u64::from(*count));
            w.u8(u8::from(*near_target));
        }
        EventKind::Network { method, url, status, duration_ms, initiator } => {
            w.u8(3);
            w.str(method, true);
            w.str(url, true);
            w.var(status.map_or(0, |s| u64::from(s) + 1));
            match duration_ms {
                None => w.u8(0),
                Some(d) => {
                    w.u8(1);
                    w.var(*d);
                }
            }
            w.opt_str(cow(initiator), false);
        }
        EventKind::Error { error_type, message, fingerprint } => {
            w.u8(4);
            w.str(error_type, true);
            w.str(message, true);
            w.opt_str(cow(fingerprint), true);
        }
        EventKind::Scroll { dy, y } => {
            w.u8(5);
            w.num(*dy);
            w.num(*y);
        }
        EventKind::Selection { length } => {
            w.u8(6);
            w.var(u64::from(*length));
        }
        EventKind::Focus => w.u8(7),
        EventKind::Visibility { hidden } => {
            w.u8(8);
            w.u8(u8::from(*hidden));
        }
        EventKind::Input { field_key, length_bucket, invalid } => {
            w.u8(9);
            w.str(field_key, true);
            w.var(u64::from(*length_bucket));
            w.u8(u8::from(*invalid));
        }
        EventKind::Submit { form_key } => {
            w.u8(10);
            w.opt_str(cow(form_key), true);
        }
        EventKind::Custom { name } => {
            w.u8(11);
            w.str(name, true);
        }
        EventKind::Log { service, level, message, attributes } => {
            // 12: a line without attributes (as before they were kept), 13: with them.
            w.u8(if attributes.is_empty() { 12 } else { 13 });
            w.str(service, true);
            w.u8(match level {
                LogLevel::Trace => 0,
                LogLevel::Debug => 1,
                LogLevel::Info => 2,
                LogLevel::Warn => 3,
                LogLevel::Error => 4,
                LogLevel::Fatal => 5,
            });
            w.str(message, true);
            if !attributes.is_empty() {
                w.str(attributes, false);
            }
        }
    }
}

// ------------------------------------------------------------------------------------ reader

struct R<'b> {
    b: &'b [u8],
    table: Vec<String>,
}

impl R<'_> {
    fn u8(&mut self) -> Result<u8, StateError> {
        let (&x, rest) = self.b.split_first().ok_or(StateError::Truncated)?;
        self.b = rest;
        Ok(x)
    }

    fn var(&mut self) -> Result<u64, StateError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(StateError::Bad("varint"))
    }

    fn int(&mut self) -> Result<i64, StateError> {
        let v = self.var()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, StateError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.int()?)),
            _ => Err(StateError::Bad("optional number")),
        }
    }

    fn bool(&mut self) -> Result<bool, StateError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StateError::Bad("flag")),
        }
    }

    fn small(&mut self, what: &'static str) -> Result<u32, StateError> {
        u32::try_from(self.var()?).map_err(|_| StateError::Bad(what))
    }

    fn opt_str(&mut self) -> Result<Option<Cow<'static, str>>, StateError> {
        let tag = self.var()?;
        match tag {
            0 => Ok(None),
            1 | 2 => {
                let len = usize::try_from(self.var()?).map_err(|_| StateError::Bad("string length"))?;
                if len > self.b.len() {
                    return Err(StateError::Truncated);
                }
                let (s, rest) = self.b.split_at(len);
                self.b = rest;
                let s = std::str::from_utf8(s).map_err(|_| StateError::Bad("string"))?.to_owned();
                if tag == 2 {
                    self.table.push(s.clone());
                }
                Ok(Some(Cow::Owned(s)))
            }
            k => {
                let i = usize::try_from(k - 3).map_err(|_| StateError::Bad("string reference"))?;
                let s = self.table.get(i).ok_or(StateError::Bad("string reference"))?;
                Ok(Some(Cow::Owned(s.clone())))
            }
        }
    }

    fn str(&mut self) -> Result<Cow<'static, str>, StateError> {
        self.opt_str()?.ok_or(StateError::Bad("missing string"))
    }

    fn num(&mut self) -> Result<f64, StateError> {
        match self.u8()? {
            1 =>
            {
                #[allow(clippy::cast_precision_loss)]
                Ok(self.int()? as f64)
            }
            2 => {
                let bytes: [u8; 8] = self.b.get(..8).and_then(|s| s.try_into().ok()).ok_or(StateError::Truncated)?;
                self.b = &self.b[8..];
                Ok(f64::from_bits(u64::from_le_bytes(bytes)))
            }
            _ => Err(StateError::Bad("number")),
        }
    }

    fn opt_num(&mut self) -> Result<Option<f64>, StateError> {
        if self.b.first() == Some(&0) {
            self.b = &self.b[1..];
            return Ok(None);
        }
        self.num().map(Some)
    }

    fn kind(&mut self) -> Result<EventKind<'static>, StateError> {
        Ok(match self.u8()? {
            0 => {
                let button = match self.u8()? {
                    0 => MouseButton::Primary,
                    1 => MouseButton::Middle,
                    2 => MouseButton::Secondary,
                    3 => MouseButton::Other,
                    _ => return Err(StateError::Bad("mouse button")),
                };
                let m = self.u8()?;
                let modifiers = Modifiers { alt: m & 1 != 0, ctrl: m & 2 != 0, meta: m & 4 != 0, shift: m & 8 != 0 };
                let selector = self.opt_str()?;
                let key = self.opt_str()?;
                let tag = self.opt_str()?;
                let role = self.opt_str()?;
                let text = self.opt_str()?;
                let x = self.opt_num()?;
                let y = self.opt_num()?;
                let interactive = match self.u8()? {
                    0 => None,
                    1 => Some(false),
                    2 => Some(true),
                    _ => return Err(StateError::Bad("interactive")),
                };
                let f = self.u8()?;
                let href = self.opt_str()?;
                let n = self.var()?;
                if n > self.b.len() as u64 {
                    return Err(StateError::Truncated);
                }
                let mut ignore = Vec::new();
                for _ in 0..n {
                    ignore.push(self.str()?);
                }
                let r#type = self.opt_str()?;
                EventKind::Click {
                    button,
                    modifiers,
                    target: Target {
                        selector,
                        key,
                        tag,
                        role,
                        text,
                        x,
                        y,
                        interactive,
                        disabled: f & 1 != 0,
                        href,
                        new_tab: f & 2 != 0,
                        download: f & 4 != 0,
                        ignore,
                        r#type,
                    },
                }
            }
            1 => {
                let navigation = match self.u8()? {
                    0 => NavigationKind::Load,
                    1 => NavigationKind::Push,
                    2 => NavigationKind::Pop,
                    3 => NavigationKind::Replace,
                    4 => NavigationKind::Reload,
                    5 => NavigationKind::Hash,
                    _ => return Err(StateError::Bad("navigation kind")),
                };
                EventKind::Pageview { navigation, from: self.opt_str()?, to: self.opt_str()? }
            }
            2 => EventKind::Mutation { count: self.small("mutation count")?, near_target: self.bool()? },
            3 => {
                let method = self.str()?;
                let url = self.str()?;
                let status = match self.var()? {
                    0 => None,
                    s => Some(u16::try_from(s - 1).map_err(|_| StateError::Bad("status"))?),
                };
                let duration_ms = match self.u8()? {
                    0 => None,
                    1 => Some(self.var()?),
                    _ => return Err(StateError::Bad("duration")),
                };
                EventKind::Network { method, url, status, duration_ms, initiator: self.opt_str()? }
            }
            4 => EventKind::Error { error_type: self.str()?, message: self.str()?, fingerprint: self.opt_str()? },
            5 => EventKind::Scroll { dy: self.num()?, y: self.num()? },
            6 => EventKind::Selection { length: self.small("selection length")? },
            7 => EventKind::Focus,
            8 => EventKind::Visibility { hidden: self.bool()? },
            9 => EventKind::Input {
                field_key: self.str()?,
                length_bucket: self.small("length bucket")?,
                invalid: self.bool()?,
            },
            10 => EventKind::Submit { form_key: self.opt_str()? },
            11 => EventKind::Custom { name: self.str()? },
            tag @ (12 | 13) => {
                let service = self.str()?;
                let level = match self.u8()? {
                    0 => LogLevel::Trace,
                    1 => LogLevel::Debug,
                    2 => LogLevel::Info,
                    3 => LogLevel::Warn,
                    4 => LogLevel::Error,
                    5 => LogLevel::Fatal,
                    _ => return Err(StateError::Bad("log level")),
                };
                let message = self.str()?;
                let attributes = if tag == 13 { self.str()? } else { Cow::Borrowed("") };
                EventKind::Log { service, level, message, attributes }
            }
            _ => return Err(StateError::Bad("event kind")),
        })
    }
}

/// Decodes a value written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<SessionState, StateError> {
    let mut r = R { b: bytes, table: Vec::new() };
    if r.u8()? != MAGIC {
        return Err(StateError::BadMagic);
    }
    let v = r.u8()?;
    if v != 1 && v != VERSION {
        return Err(StateError::Version(v));
    }
    let context = SessionContext {
        project_id: r.str()?.into_owned(),
        user_id: r.opt_str()?.map(Cow::into_owned),
        release: r.opt_str()?.map(Cow::into_owned),
    };
    // The session URL that versions before signals carried their own page's wrote.
    let _url = r.opt_str()?;
    let emitted_through_ms = r.opt_int()?;
    let retained_from_ms = r.opt_int()?;
    let last_event_ms = r.int()?;
    let next_decision_ms = r.opt_int()?;
    let touched = r.bool()?;
    let n = r.var()?;
    // Every event takes well over one byte: a count beyond the bytes left is corrupt.
    if n > r.b.len() as u64 {
        return Err(StateError::Truncated);
    }
    let mut events = Vec::new();
    let mut ts = 0i64;
    for _ in 0..n {
        let event_id = r.str()?;
        let session_id = r.str()?;
        let tab_id = r.opt_str()?;
        let view_id = r.str()?;
        let seq = r.var()?;
        ts = ts.wrapping_add(r.int()?);
        let route = r.str()?;
        let url = r.opt_str()?;
        let kind = r.kind()?;
        events.push(Event { event_id, session_id, tab_id, view_id, seq, timestamp_ms: ts, route, url, kind });
    }
    let mut st = SessionState {
        context,
        events,
        emitted_through_ms,
        retained_from_ms,
        last_event_ms,
        next_decision_ms,
        touched,
        ..SessionState::default()
    };
    if v >= 2 {
        st.early_through_ms = r.opt_int()?;
        st.reopened = r.bool()?;
        st.newest_arrival_wall_ms = r.int()?;
        let n = r.var()?;
        if n > r.b.len() as u64 {
            return Err(StateError::Truncated);
        }
        for _ in 0..n {
            let episode_id = r.str()?.into_owned();
            let digest = r.var()?;
            let final_at_ms = r.opt_int()?;
            let len = usize::try_from(r.var()?).map_err(|_| StateError::Bad("record length"))?;
            if len > r.b.len() {
                return Err(StateError::Truncated);
            }
            let (bytes, rest) = r.b.split_at(len);
            r.b = rest;
            let record: SignalRecord = decode_record(bytes).map_err(|_| StateError::Bad("published record"))?;
            st.published.push(Published { episode_id, digest, final_at_ms, record });
        }
    }
    if !r.b.is_empty() {
        return Err(StateError::Bad("trailing bytes"));
    }
    Ok(st)
}
