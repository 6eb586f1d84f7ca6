//! The changelog encoding of the sessionizer's state (the values of
//! `friction.sessionizer.changelog.v1`).
//!
//! A compact hand-rolled binary format rather than Avro: it is private to this stage, written for
//! every changed key on every commit, and must be cheap. Layout, all integers LEB128 varints (`z` =
//! zigzag for signed values), strings as varint length + UTF-8:
//!
//! ```text
//! header     F7 <version=2> <kind>
//! kind 1     session: project_len, z last_offset, z released_through (unused), pending_dups,
//!            ring_len, ring_len × u32 LE (oldest first; version 1: u64 LE, folded on restore),
//!            offsets_len, z first offset, varint deltas (ascending input offsets of held events),
//!            split flag 0|1, then the split: z anchor, z start, z end, z grace_until, view_index,
//!            opt-str view_client, events (= next seq), clicks, errors, late, dups, route_count, routes…,
//!            truncated 0|1, opt-str release, opt-str user_id
//! kind 2     closed: z last_offset (the key's session closed; kept only as a replay guard)
//! kind 3     partition (under `PARTITION_KEY`): z watermark, opt z max_event_time, opt z applied_offset
//! opt-x      0 = none, 1 = some followed by x
//! ```
//!
//! Until issue 17 (real time) the sessionizer held events back in a reorder buffer and stored them
//! here as their input offsets, not their content. It now emits every event as it arrives and holds
//! nothing: it writes `released_through` as 0 (one byte; an older build reading the record takes it
//! as "nothing released in order yet" for any event after 1970) and lists only the offsets it
//! restored from such an older record and has not read again yet (see
//! `PartitionState::min_needed_offset`). An older record's offsets are events that were never
//! emitted: after a restore they are read again from the input and emitted. The layout is
//! unchanged, so the version stays 2 and records stay readable both ways across a rolling upgrade.
//! Decoding checks every length against the bytes left and rejects trailing bytes, so garbage is an
//! error, never a panic or a huge allocation.

use std::sync::Arc;

use friction_schemas::sessionized::MAX_SUMMARY_ROUTES;

use crate::session::{KeyState, Split, ROUTE_SEP};

const MAGIC: u8 = 0xF7;
/// The format version written. Decoding accepts exactly the versions it knows: 2, and 1 (64-bit
/// duplicate-filter hashes, written before 2026-12-02), which differs only in the ring's width.
pub const STATE_VERSION: u8 = 2;
const STATE_VERSION_1: u8 = 1;
const KIND_SESSION: u8 = 1;
const KIND_CLOSED: u8 = 2;
const KIND_PARTITION: u8 = 3;

/// Why a changelog value could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state record is empty or shorter than its 3-byte header")]
    TooShort,
    #[error("state record does not start with the sessionizer marker byte F7 (found {0:#04x})")]
    BadMagic(u8),
    #[error("state format version {0} is not supported (this build reads versions 1 and {STATE_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown state record kind {0}")]
    UnknownKind(u8),
    #[error("a {kind} record cannot be stored under key {key:?}")]
    KindMismatch { kind: &'static str, key: String },
    #[error("state record is truncated")]
    Truncated,
    #[error("state record is corrupt: {0}")]
    Corrupt(&'static str),
}

/// The partition-level state: watermark, newest event time, last applied input offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionRecord {
    pub watermark: i64,
    pub max_event_time: Option<i64>,
    pub applied_offset: Option<i64>,
}

/// Appends to a buffer the caller owns (and reuses: the drain encodes every dirty key into one
/// scratch buffer, so encoding allocates nothing).
struct Writer<'b>(&'b mut Vec<u8>);

impl<'b> Writer<'b> {
    fn new(kind: u8, out: &'b mut Vec<u8>) -> Self {
        out.extend_from_slice(&[MAGIC, STATE_VERSION, kind]);
        Self(out)
    }
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }
    fn var(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }
    fn zig(&mut self, n: i64) {
        self.var(((n << 1) ^ (n >> 63)) as u64);
    }
    fn len(&mut self, n: usize) {
        self.var(n as u64);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn opt_zig(&mut self, n: Option<i64>) {
        match n {
            None => self.u8(0),
            Some(n) => {
                self.u8(1);
                self.zig(n);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, StateError> {
        let (&b, rest) = self.buf.split_first().ok_or(StateError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }
    fn var(&mut self) -> Result<u64, StateError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(StateError::Corrupt("varint overflows 64 bits"));
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(StateError::Corrupt("varint longer than 10 bytes"))
    }
    fn zig(&mut self) -> Result<i64, StateError> {
        let n = self.var()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }
    fn u32(&mut self) -> Result<u32, StateError> {
        u32::try_from(self.var()?).map_err(|_| StateError::Corrupt("value exceeds 32 bits"))
    }
    fn flag(&mut self) -> Result<bool, StateError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StateError::Corrupt("flag is neither 0 nor 1")),
        }
    }
    /// A count of items of at least `min_item_bytes` each: never more than the bytes left can hold,
    /// so a corrupt count cannot make us allocate.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, StateError> {
        let n = usize::try_from(self.var()?).map_err(|_| StateError::Truncated)?;
        if n.saturating_mul(min_item_bytes) > self.buf.len() {
            return Err(StateError::Truncated);
        }
        Ok(n)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        if n > self.buf.len() {
            return Err(StateError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn str(&mut self) -> Result<&'a str, StateError> {
        let n = self.count(1)?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| StateError::Corrupt("string is not UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<&'a str>, StateError> {
        if self.flag()? {
            Ok(Some(self.str()?))
        } else {
            Ok(None)
        }
    }
    fn opt_zig(&mut self) -> Result<Option<i64>, StateError> {
        if self.flag()? {
            Ok(Some(self.zig()?))
        } else {
            Ok(None)
        }
    }
    fn u32_le(&mut self) -> Result<u32, StateError> {
        let b = self.bytes(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }
    fn u64_le(&mut self) -> Result<u64, StateError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn finish(self) -> Result<(), StateError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(StateError::Corrupt("trailing bytes after the record"))
        }
    }
}

/// Checks the header and returns the format version, the record kind and the body.
fn header(bytes: &[u8]) -> Result<(u8, u8, Reader<'_>), StateError> {
    let [magic, version, kind, body @ ..] = bytes else { return Err(StateError::TooShort) };
    if *magic != MAGIC {
        return Err(StateError::BadMagic(*magic));
    }
    if *version != STATE_VERSION && *version != STATE_VERSION_1 {
        return Err(StateError::UnsupportedVersion(*version));
    }
    Ok((*version, *kind, Reader { buf: body }))
}

pub(crate) fn encode_partition(p: &PartitionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let mut w = Writer::new(KIND_PARTITION, &mut out);
    w.zig(p.watermark);
    w.opt_zig(p.max_event_time);
    w.opt_zig(p.applied_offset);
    out
}

pub(crate) fn decode_partition(bytes: &[u8], key: &str) -> Result<PartitionRecord, StateError> {
    let (_, kind, mut r) = header(bytes)?;
    match kind {
        KIND_PARTITION => {}
        KIND_SESSION | KIND_CLOSED => {
            return Err(StateError::KindMismatch { kind: "session", key: key.to_owned() });
        }
        other => return Err(StateError::UnknownKind(other)),
    }
    let p = PartitionRecord { watermark: r.zig()?, max_event_time: r.opt_zig()?, applied_offset: r.opt_zig()? };
    r.finish()?;
    Ok(p)
}

/// Encodes one key's state: a closed marker when nothing is open or waiting, else the session.
/// `pending` are the key's offsets still to be re-read after a restore (sorted, as restored).
pub(crate) fn encode_key(st: &KeyState, pending: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_into(st, pending, &mut Vec::new(), &mut out);
    out
}

/// [`encode_key`] appending to `out`; `offsets` is scratch space (cleared, reused). The duplicate
/// filter, most of a session's bytes, is copied as it lies in memory (the ring holds the hashes as
/// little-endian bytes already): two `memcpy`s, oldest first.
pub(crate) fn encode_key_into(st: &KeyState, pending: &[i64], offsets: &mut Vec<i64>, out: &mut Vec<u8>) {
    if st.is_idle() {
        let mut w = Writer::new(KIND_CLOSED, out);
        w.zig(st.last_offset);
        return;
    }
    out.reserve(64 + st.ring.len() * 4 + pending.len() * 3);
    let mut w = Writer::new(KIND_SESSION, out);
    w.var(u64::from(st.project_len));
    w.zig(st.last_offset);
    // `released_through`: unused since nothing is held back (see the module doc).
    w.zig(0);
    w.var(u64::from(st.pending_dups));
    w.len(st.ring.len());
    let (older, newer) = st.ring_halves();
    w.0.extend_from_slice(older.as_flattened());
    w.0.extend_from_slice(newer.as_flattened());
    offsets.clear();
    offsets.extend_from_slice(pending);
    if !offsets.windows(2).all(|p| p[0] < p[1]) {
        offsets.sort_unstable();
        offsets.dedup();
    }
    w.len(offsets.len());
    let mut prev = None;
    for &o in offsets.iter() {
        match prev {
            None => w.zig(o),
            Some(p) => w.var(o.abs_diff(p)),
        }
        prev = Some(o);
    }
    match &st.split {
        None => w.u8(0),
        Some(s) => {
            w.u8(1);
            w.zig(s.anchor);
            w.zig(s.start);
            w.zig(s.end);
            w.zig(s.grace_until);
            w.var(u64::from(s.view_index));
            w.opt_str(s.view_client.as_deref());
            w.var(s.events);
            for n in [s.clicks, s.errors, s.late, s.dups] {
                w.var(u64::from(n));
            }
            w.var(u64::from(s.route_count));
            if s.route_count > 0 {
                for r in s.routes.split(ROUTE_SEP) {
                    w.str(r);
                }
            }
            w.u8(u8::from(s.routes_truncated));
            w.opt_str(s.release.as_deref());
            w.opt_str(s.user_id.as_deref());
        }
    }
}

/// Decodes one key's state and the input offsets of the events it held back (written by a
/// sessionizer from before issue 17; to be read again and emitted).
/// `dedup_ids` trims a ring written with a larger setting (the newest ids are kept).
pub(crate) fn decode_key(bytes: &[u8], key: &str, dedup_ids: usize) -> Result<(KeyState, Vec<i64>), StateError> {
    let (version, kind, mut r) = header(bytes)?;
    let mut st = KeyState::new(Arc::from(key), 0);
    match kind {
        KIND_CLOSED => {
            st.last_offset = r.zig()?;
            r.finish()?;
            return Ok((st, Vec::new()));
        }
        KIND_SESSION => {}
        KIND_PARTITION => return Err(StateError::KindMismatch { kind: "partition", key: key.to_owned() }),
        other => return Err(StateError::UnknownKind(other)),
    }
    st.project_len = r.u32()?;
    let plen = usize::try_from(st.project_len).map_err(|_| StateError::Corrupt("project length"))?;
    if key.as_bytes().get(plen) != Some(&b':') {
        return Err(StateError::Corrupt("project length does not match the key"));
    }
    st.last_offset = r.zig()?;
    let _released_through = r.zig()?;
    st.pending_dups = r.u32()?;

    let wide = version == STATE_VERSION_1;
    let ring_len = r.count(if wide { 8 } else { 4 })?;
    let skip = ring_len.saturating_sub(dedup_ids);
    st.ring.reserve_exact(ring_len - skip);
    for i in 0..ring_len {
        let h = if wide { crate::hash::fold(r.u64_le()?) } else { r.u32_le()? };
        if i >= skip {
            st.ring.push(h.to_le_bytes());
        }
    }
    // Full ring, oldest first: the next write replaces index 0.
    st.ring_head = 0;

    let n_offsets = r.count(1)?;
    let mut pending = Vec::with_capacity(n_offsets);
    let mut prev: Option<i64> = None;
    for _ in 0..n_offsets {
        let o = match prev {
            None => r.zig()?,
            Some(p) => {
                let d = i64::try_from(r.var()?).map_err(|_| StateError::Corrupt("offset delta"))?;
                if d == 0 {
                    return Err(StateError::Corrupt("held offsets are not strictly ascending"));
                }
                p.checked_add(d).ok_or(StateError::Corrupt("offset overflows"))?
            }
        };
        if o > st.last_offset {
            return Err(StateError::Corrupt("held offset after the key's last applied offset"));
        }
        pending.push(o);
        prev = Some(o);
    }

    st.set_has_pending(!pending.is_empty());

    if r.flag()? {
        let mut s = Split::new(r.zig()?, i64::MIN, 0);
        s.start = r.zig()?;
        s.end = r.zig()?;
        s.grace_until = r.zig()?;
        s.view_index = r.u32()?;
        s.view_client = r.opt_str()?.map(Box::from);
        s.events = r.var()?;
        s.clicks = r.u32()?;
        s.errors = r.u32()?;
        s.late = r.u32()?;
        s.dups = r.u32()?;
        let n_routes = r.count(1)?;
        if n_routes > MAX_SUMMARY_ROUTES {
            return Err(StateError::Corrupt("more routes than a summary keeps"));
        }
        let mut routes = String::new();
        for i in 0..n_routes {
            let route = r.str()?;
            if route.is_empty() || route.contains(ROUTE_SEP) {
                return Err(StateError::Corrupt("invalid route"));
            }
            if i > 0 {
                routes.push(ROUTE_SEP);
            }
            routes.push_str(route);
        }
        s.routes = routes.into_boxed_str();
        s.route_count = u8::try_from(n_routes).map_err(|_| StateError::Corrupt("route count"))?;
        s.routes_truncated = r.flag()?;
        s.release = r.opt_str()?.map(Box::from);
        s.user_id = r.opt_str()?.map(Box::from);
        if s.start > s.end {
            return Err(StateError::Corrupt("split starts after it ends"));
        }
        st.split = Some(s);
    }
    r.finish()?;
    Ok((st, pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for n in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut buf = Vec::new();
            Writer(&mut buf).zig(n);
            let mut r = Reader { buf: &buf };
            assert_eq!(r.zig(), Ok(n));
            assert!(r.finish().is_ok());
        }
        let mut r = Reader { buf: &[0xff; 11] };
        assert!(matches!(r.var(), Err(StateError::Corrupt(_))));
        let mut r = Reader { buf: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02] };
        assert!(matches!(r.var(), Err(StateError::Corrupt(_))));
    }

    #[test]
    fn partition_record_round_trips_and_checks_header() {
        let p = PartitionRecord { watermark: -3, max_event_time: Some(7), applied_offset: None };
        let bytes = encode_partition(&p);
        assert_eq!(decode_partition(&bytes, "k"), Ok(p));
        let mut bad = bytes.clone();
        bad[1] = 9;
        assert_eq!(decode_partition(&bad, "k"), Err(StateError::UnsupportedVersion(9)));
        bad[0] = 0;
        assert_eq!(decode_partition(&bad, "k"), Err(StateError::BadMagic(0)));
        assert_eq!(decode_partition(&bytes[..2], "k"), Err(StateError::TooShort));
        let mut trailing = bytes;
        trailing.push(0);
        assert!(matches!(decode_partition(&trailing, "k"), Err(StateError::Corrupt(_))));
    }

    #[test]
    fn held_offsets_are_written_ascending_and_once() {
        let mut st = KeyState::new(Arc::from("p:s"), 1);
        st.last_offset = 9;
        st.split = Some(Split::new(10, i64::MIN, 0));
        st.remember(1, 4);
        let mut offsets = vec![42; 3];
        let mut out = vec![0xAA];
        encode_key_into(&st, &[7, 2, 5, 5], &mut offsets, &mut out);
        assert_eq!(out[0], 0xAA, "appends to what is there");
        assert_eq!(encode_key(&st, &[7, 2, 5, 5]), out[1..]);
        let (back, pending) = decode_key(&out[1..], "p:s", 64).expect("decodes");
        assert_eq!(pending, [2, 5, 7]);
        assert_eq!(back.ring, st.ring);
        assert_eq!(back.split, st.split);
        // Nothing held: no offsets, and `released_through` 0 (what an older build reading the record
        // takes as nothing released in order).
        let plain = encode_key(&st, &[]);
        let (_, pending) = decode_key(&plain, "p:s", 64).expect("decodes");
        assert!(pending.is_empty());
        let mut r = Reader { buf: &plain[3..] };
        assert_eq!((r.u32(), r.zig(), r.zig()), (Ok(1), Ok(9), Ok(0)));
    }

    /// A record written by the sessionizer before it forwarded on arrival: events it held back are
    /// listed by offset and come back as offsets to read again.
    #[test]
    fn a_record_with_held_events_restores_them_as_pending() {
        // Header, project_len 1, last_offset 9, released_through 4, pending_dups 0, an empty ring,
        // offsets 6 and 8 (6, then delta 2), no split.
        let old = [MAGIC, STATE_VERSION, KIND_SESSION, 1, 18, 8, 0, 0, 2, 12, 2, 0];
        let (st, pending) = decode_key(&old, "p:s", 64).expect("an old record restores");
        assert_eq!(pending, [6, 8]);
        assert!(st.has_pending() && !st.is_idle() && st.split.is_none());
        assert_eq!(st.last_offset, 9);
        // Offsets after the key's last applied one cannot have been held: corrupt.
        let mut bad = old;
        bad[4] = 14; // last_offset 7
        assert!(matches!(decode_key(&bad, "p:s", 64), Err(StateError::Corrupt(_))));
    }

    /// A restart from the state of a sessionizer that still buffered events (before issue 17): the
    /// events it held were never emitted; read again, they are emitted (not taken for duplicates,
    /// though their ids are in the filter), and input is committed no further than them until then.
    #[test]
    fn held_events_of_an_old_state_are_emitted_when_read_again() {
        use crate::hash::event_id_hash32;
        use crate::{Emitted, Ingested, PartitionState, SessionizerConfig, PARTITION_KEY};
        use friction_schemas::RawEvent;

        let ev = |id: &str, ts: i64| RawEvent {
            project_id: "p".into(),
            session_id: "s".into(),
            event_id: id.to_owned().into(),
            event_type: "click".into(),
            timestamp: ts,
            ..RawEvent::default()
        };
        // What the old sessionizer wrote after offsets 0 (e0 at 0 s, released), 1 (e1 at 5 s) and
        // 2 (e2 at 3 s), the last two still buffered: their ids in the filter, their offsets listed.
        let mut key = Vec::new();
        let mut w = Writer::new(KIND_SESSION, &mut key);
        w.var(1); // project_len
        w.zig(2); // last_offset
        w.zig(0); // released_through
        w.var(0); // pending_dups
        w.len(3);
        for id in ["e0", "e1", "e2"] {
            w.0.extend_from_slice(&event_id_hash32(id).unwrap_or(0).to_le_bytes());
        }
        w.len(2);
        w.zig(1);
        w.var(1);
        w.u8(1); // the split of e0
        for n in [0, 0, 0, i64::MIN] {
            w.zig(n); // anchor, start, end, grace_until
        }
        w.var(0); // view_index
        w.opt_str(None);
        for n in [1, 1, 0, 0, 0, 0] {
            w.var(n); // events, clicks, errors, late, dups, route_count
        }
        w.u8(0);
        w.opt_str(None);
        w.opt_str(None);
        let partition = encode_partition(&PartitionRecord {
            watermark: -5_000,
            max_event_time: Some(5_000),
            applied_offset: Some(2),
        });

        let mut st = PartitionState::new(SessionizerConfig::default()).expect("config");
        st.restore(PARTITION_KEY, Some(&partition)).expect("partition");
        st.restore("p:s", Some(&key)).expect("an old key record restores");
        assert_eq!((st.min_needed_offset(), st.pending_events()), (Some(1), 2));
        // Crash again before reading them: the next state still lists them.
        let again = st.snapshot("p:s").expect("kept");
        let mut copy = PartitionState::new(SessionizerConfig::default()).expect("config");
        copy.restore("p:s", Some(&again)).expect("restores");
        assert_eq!(copy.min_needed_offset(), Some(1));

        // The input read again from the committed offset (0 at most), then new input.
        let mut out = Vec::new();
        assert_eq!(st.ingest(0, ev("e0", 0), 0, &mut out), Ingested::Replayed);
        assert_eq!(st.ingest(1, ev("e1", 5_000), 0, &mut out), Ingested::Reapplied);
        assert_eq!(st.min_needed_offset(), Some(2));
        assert_eq!(st.ingest(2, ev("e2", 3_000), 0, &mut out), Ingested::Reapplied);
        assert_eq!((st.min_needed_offset(), st.pending_events()), (None, 0));
        assert_eq!(st.ingest(3, ev("e1", 5_000), 0, &mut out), Ingested::Duplicate, "a real repeat still is one");
        assert_eq!(st.ingest(4, ev("e3", 6_000), 0, &mut out), Ingested::IN_ORDER);
        let got: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                Emitted::Sessionized { record, .. } => Some((
                    record.event.event_id.to_string(),
                    record.seq,
                    record.reordered,
                    record.session_key.to_string(),
                )),
                Emitted::Summary { .. } => None,
            })
            .collect();
        let want = [("e1", 1, false), ("e2", 2, true), ("e3", 3, false)];
        let want: Vec<_> = want.iter().map(|(id, seq, r)| (id.to_string(), *seq, *r, "s#0".to_owned())).collect();
        assert_eq!(got, want);
        // Written back: nothing held any more.
        let (_, pending) = decode_key(&st.snapshot("p:s").expect("state"), "p:s", 64).expect("decodes");
        assert!(pending.is_empty());
    }

    #[test]
    fn a_version_1_session_restores_with_its_duplicate_filter_folded() {
        use crate::hash::{event_id_hash, event_id_hash32};
        let (h1, h2) = (event_id_hash("e-1").unwrap_or(0), event_id_hash("e-2").unwrap_or(0));
        // Written by hand after the v1 layout: header, project_len 1, last_offset 7,
        // released_through 5, pending_dups 0, a ring of two u64, no offsets, then an open split
        // (anchor, start, end 0, grace_until -1, view 0, no client view, 3 events, no counters,
        // routes, release or user).
        let mut v1 = vec![MAGIC, 1, KIND_SESSION, 1, 14, 10, 0, 2];
        v1.extend_from_slice(&h1.to_le_bytes());
        v1.extend_from_slice(&h2.to_le_bytes());
        v1.extend_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
        let (st, pending) = decode_key(&v1, "p:s", 64).expect("a v1 record restores");
        assert!(pending.is_empty());
        assert_eq!(st.last_offset, 7);
        assert!(st.seen(event_id_hash32("e-1").unwrap_or(0)) && st.seen(event_id_hash32("e-2").unwrap_or(0)));
        assert!(!st.seen(event_id_hash32("e-3").unwrap_or(0)));
        // Written back as v2: 4 bytes per hash, and it reads back the same.
        let v2 = encode_key(&st, &[]);
        assert_eq!(v2[1], STATE_VERSION);
        assert_eq!(v2.len(), v1.len() - 8);
        let (again, _) = decode_key(&v2, "p:s", 64).expect("v2");
        assert_eq!(again.ring, st.ring);
        // A v1 record cut inside its ring is still an error.
        assert_eq!(decode_key(&v1[..12], "p:s", 64).err(), Some(StateError::Truncated));
    }
}
