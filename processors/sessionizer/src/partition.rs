//! The state of one input partition: every key's session plus the partition's event-time clock.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::mem;
use std::sync::Arc;

use friction_schemas::{RawEvent, Sessionized};

use crate::config::{ConfigError, SessionizerConfig};
use crate::hash::event_id_hash32;
use crate::session::{emit_into, Arrival, Carried, KeyState, Split};
use crate::state::{self, PartitionRecord, StateError};
use crate::Emitted;

/// The changelog key under which the partition-level state (watermark, newest event time, last
/// applied input offset) is stored. It starts with NUL, which no `project_id:session_id` key does.
pub const PARTITION_KEY: &str = "\u{0}partition";

/// What `ingest` did with an event (for metrics; the outputs are in `out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Emitted at once, in its split, with the flags of its record: `late` (it arrived behind the
    /// partition watermark) and `reordered` (it is older than an event of its split that arrived
    /// before it).
    Forwarded { late: bool, reordered: bool },
    /// Its eventId was among the session's recent ones: dropped and counted.
    Duplicate,
    /// Its input offset had already been applied before the state was restored: skipped.
    Replayed,
    /// Read again after a restore from a state written by an older sessionizer, which still held it
    /// in its reorder buffer (it had not been emitted): emitted now.
    Reapplied,
}

impl Ingested {
    /// An on-time event that arrived in order: `Forwarded` with neither flag.
    pub const IN_ORDER: Ingested = Ingested::Forwarded { late: false, reordered: false };
}

/// Counters since this `PartitionState` was created (not persisted): for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input events applied (replays not included).
    pub events_in: u64,
    pub duplicates_dropped: u64,
    pub late_events: u64,
    pub reordered_events: u64,
    pub replays_skipped: u64,
    /// Events an older sessionizer had buffered, read again and emitted after a restore.
    pub reapplied: u64,
    pub sessionized_out: u64,
    pub summaries_out: u64,
}

/// One changelog write: `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

type Queue = BinaryHeap<Reverse<(i64, Arc<str>)>>;

/// The partition-wide indexes over the keys. Close-queue entries are lazy: a key's entry may be
/// stale (its state's `close_queued` says which one is live) and is then dropped or re-queued when
/// it comes up, so an event costs O(log n) at most and no entry is ever searched for.
#[derive(Debug, Default)]
struct Indexes {
    /// (close deadline, or an earlier lower bound of it, key): what to close next.
    close: Queue,
    /// Keys changed since the last changelog drain.
    dirty: Vec<Arc<str>>,
    /// Keys whose session closed with nothing left, to be tombstoned.
    idle: Vec<Arc<str>>,
    /// After a restore from a state written before events were forwarded on arrival: per key, the
    /// input offsets of the events that sessionizer still held (sorted), to be emitted when they are
    /// read again. Empty otherwise.
    pending: HashMap<Arc<str>, Vec<i64>>,
    /// All offsets of `pending`: their minimum is where input must be read from.
    needed: BTreeSet<i64>,
}

/// All sessions of one input partition plus that partition's watermark.
///
/// Every event is emitted when it is ingested. Event time decides only which split an event joins,
/// whether it is flagged `late`, and when splits close: the watermark is the newest event time seen
/// minus the allowed lateness, and moves on without input only by the wall-clock time since the
/// newest event arrived (see [`PartitionState::advance`]). Outputs are a pure function of the input
/// sequence (events with their offsets) and of the wall-clock arguments, which matter only when the
/// partition is idle.
#[derive(Debug)]
pub struct PartitionState {
    cfg: SessionizerConfig,
    /// foldhash, seeded per process: the keys are client-chosen, and SipHash was a visible share of
    /// every event's lookup.
    sessions: HashMap<Arc<str>, Box<KeyState>, foldhash::fast::RandomState>,
    idx: Indexes,
    /// An arriving event before this is late; a split whose deadline it reaches closes.
    watermark: i64,
    max_event_time: Option<i64>,
    applied_offset: Option<i64>,
    /// Wall clock at the newest event's arrival, or when the idle clock was (re)started after a
    /// restore. Not persisted: a restored partition never counts the time it was away as idle time.
    last_arrival_wall_ms: Option<i64>,
    partition_dirty: bool,
    /// `restore` was called: the close queue is rebuilt before the next event.
    queues_stale: bool,
    scratch_key: String,
    /// Reused by `drain_changelog_with`: the value being encoded, and a key's pending offsets.
    scratch_value: Vec<u8>,
    scratch_offsets: Vec<i64>,
    stats: Stats,
}

impl PartitionState {
    pub fn new(cfg: SessionizerConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            sessions: HashMap::default(),
            idx: Indexes::default(),
            watermark: i64::MIN,
            max_event_time: None,
            applied_offset: None,
            last_arrival_wall_ms: None,
            partition_dirty: false,
            queues_stale: false,
            scratch_key: String::new(),
            scratch_value: Vec::new(),
            scratch_offsets: Vec::new(),
            stats: Stats::default(),
        })
    }

    pub fn config(&self) -> &SessionizerConfig {
        &self.cfg
    }

    /// Takes one input event (its offset in the input partition, which must grow from call to
    /// call) and appends to `out` the event's record, preceded by its key's previous split's
    /// summary when the event starts a new split, and followed by the summaries of the splits the
    /// watermark it moves closes.
    ///
    /// In order: a duplicate eventId is dropped; any other event joins its key's open split (or
    /// starts one: see `Split::split_reason`), is flagged `late` when it is behind the watermark and
    /// `reordered` when it is older than the split's newest event, and is emitted with the split's
    /// next `seq`; then the watermark becomes max(event time seen) − allowed lateness and the splits
    /// whose deadline it reached close, in deadline order. `now_wall_ms` only restarts the idle
    /// clock: the wall-clock time since the previous event is *not* idle time here — the caller may
    /// have been busy (a commit, a rebalance restoring other partitions, a slow fetch) with this
    /// partition's backlog waiting, and counting that pause would move the watermark past the
    /// backlog, make it late and close its sessions early. Idle time is what [`Self::advance`] is
    /// told about, and the caller calls it only while the partition has been read to its end.
    ///
    /// Offsets at or below what the restored state already applied are replays: they change
    /// nothing, except that events an older sessionizer still buffered when it wrote the state are
    /// emitted now ([`Ingested::Reapplied`]).
    pub fn ingest(
        &mut self,
        offset: i64,
        event: RawEvent<'static>,
        now_wall_ms: i64,
        out: &mut Vec<Emitted>,
    ) -> Ingested {
        self.ingest_with_datum(offset, event, None, now_wall_ms, out)
    }

    /// [`Self::ingest`], with the event's Avro datum as it arrived (see [`Emitted::Sessionized`]),
    /// which travels with the event to its output.
    pub fn ingest_with_datum(
        &mut self,
        offset: i64,
        event: RawEvent<'static>,
        datum: Option<Box<[u8]>>,
        now_wall_ms: i64,
        out: &mut Vec<Emitted>,
    ) -> Ingested {
        self.rebuild_queues_if_stale();
        let partition_replay = self.applied_offset.is_some_and(|a| offset <= a);
        if partition_replay {
            // Input is arriving (being re-read): the partition is not idle. Without this, a tick
            // during a slow replay would count the replay as idle time and move the watermark past
            // the new input that follows it, which would then come out late.
            if self.max_event_time.is_some() {
                self.last_arrival_wall_ms = Some(now_wall_ms);
            }
        }

        self.scratch_key.clear();
        self.scratch_key.reserve(event.project_id.len() + 1 + event.session_id.len());
        self.scratch_key.push_str(&event.project_id);
        self.scratch_key.push(':');
        self.scratch_key.push_str(&event.session_id);

        let ts = event.timestamp;
        let project_len = u32::try_from(event.project_id.len()).unwrap_or(u32::MAX);
        // Boxed once, inside the record it becomes (see `Carried`).
        let event = Carried { record: Box::new(Sessionized { event, ..Sessionized::default() }), datum };
        let mut ctx =
            Ctx { cfg: &self.cfg, idx: &mut self.idx, stats: &mut self.stats, watermark: self.watermark, out };
        let outcome = match self.sessions.get_mut(self.scratch_key.as_str()) {
            Some(st) => ctx.apply(st, partition_replay, offset, event),
            None if partition_replay => Ingested::Replayed,
            None => {
                let key: Arc<str> = Arc::from(self.scratch_key.as_str());
                let st = self.sessions.entry(key.clone()).or_insert_with(|| Box::new(KeyState::new(key, project_len)));
                ctx.apply(st, false, offset, event)
            }
        };
        match outcome {
            Ingested::Replayed => self.stats.replays_skipped += 1,
            Ingested::Reapplied => self.stats.reapplied += 1,
            _ => self.stats.events_in += 1,
        }

        if !partition_replay {
            self.applied_offset = Some(offset);
            self.last_arrival_wall_ms = Some(now_wall_ms);
            let max = self.max_event_time.map_or(ts, |m| m.max(ts));
            self.max_event_time = Some(max);
            self.watermark = self.watermark.max(max.saturating_sub(self.cfg.allowed_lateness_ms));
            self.partition_dirty = true;
        }
        self.process(out);
        outcome
    }

    /// The idle rule (docs/architecture.md §4): a partition that receives nothing — call this only
    /// while it has been read to its end, never while input may be waiting — moves its watermark on
    /// by the wall-clock time passed since its newest event arrived — never straight to the wall
    /// clock, so old (backfilled, replayed) data is judged as when it was new. This is what closes
    /// the last session of a quiet night. Appends the summaries of the splits it closes to `out`.
    ///
    /// After a restore the idle clock starts at the first call (the time the partition was away is
    /// not idle time of its data).
    pub fn advance(&mut self, now_wall_ms: i64, out: &mut Vec<Emitted>) {
        self.rebuild_queues_if_stale();
        self.idle_advance(now_wall_ms);
        self.process(out);
    }

    fn idle_advance(&mut self, now_wall_ms: i64) {
        let Some(max) = self.max_event_time else { return };
        let Some(arrived) = self.last_arrival_wall_ms else {
            self.last_arrival_wall_ms = Some(now_wall_ms);
            return;
        };
        let idle = now_wall_ms.saturating_sub(arrived).max(0);
        let wm = max.saturating_sub(self.cfg.allowed_lateness_ms).saturating_add(idle);
        if wm > self.watermark {
            self.watermark = wm;
            self.partition_dirty = true;
        }
    }

    /// Closes the splits whose deadline the watermark reached, in deadline order (ties by key).
    fn process(&mut self, out: &mut Vec<Emitted>) {
        let wm = self.watermark;
        while self.idx.close.peek().is_some_and(|Reverse((t, _))| *t <= wm) {
            self.pop_close(out);
        }
    }

    fn pop_close(&mut self, out: &mut Vec<Emitted>) {
        let Some(Reverse((t, key))) = self.idx.close.pop() else { return };
        let Some(st) = self.sessions.get_mut(&*key) else { return };
        if st.close_queued() != Some(t) {
            return; // stale entry
        }
        st.set_close_queued(None);
        let Some(split) = st.split.as_ref() else { return };
        let deadline = split.deadline(&self.cfg);
        if deadline > t {
            // The split grew since this entry was queued: wait for its real deadline.
            st.set_close_queued(Some(deadline));
            self.idx.close.push(Reverse((deadline, key)));
            return;
        }
        let reason = split.reason_at_deadline(&self.cfg);
        let mut ctx =
            Ctx { cfg: &self.cfg, idx: &mut self.idx, stats: &mut self.stats, watermark: self.watermark, out };
        ctx.touch(st);
        ctx.close(st, reason);
        if st.is_idle() {
            if self.cfg.changelog {
                self.idx.idle.push(key);
            } else {
                self.sessions.remove(&*key);
            }
        }
    }

    /// The changelog writes for everything changed since the last call, in the order they must be
    /// produced (to the changelog partition with the same number as the input partition):
    ///
    /// 1. every changed key's state, in the order the keys were first changed since the last call
    ///    (a session, or a "closed" marker for a key whose session closed with nothing left);
    /// 2. the partition record (`PARTITION_KEY`), when it changed;
    /// 3. tombstones for closed markers that the partition record now covers.
    ///
    /// With this order a crash in the middle of a flush never leaves a key older than the partition
    /// record, which is what makes the replay rules of [`Self::ingest`] exact. The order among keys
    /// is a function of the input (keys are independent of each other, so any order would do).
    pub fn drain_changelog(&mut self) -> Vec<ChangelogRecord> {
        let mut records = Vec::with_capacity(self.idx.dirty.len() + 1);
        self.drain_changelog_with(|key, value| {
            records.push(ChangelogRecord { key: key.to_owned(), value: value.map(<[u8]>::to_vec) })
        });
        records
    }

    /// [`Self::drain_changelog`] handing each write to `write(key, value)` (`None`: a tombstone)
    /// instead of collecting them; the value is borrowed from a scratch buffer reused from key to
    /// key, so the drain itself allocates nothing.
    pub fn drain_changelog_with(&mut self, mut write: impl FnMut(&str, Option<&[u8]>)) {
        let mut dirty = mem::take(&mut self.idx.dirty);
        let mut buf = mem::take(&mut self.scratch_value);
        let mut offsets = mem::take(&mut self.scratch_offsets);
        for key in dirty.drain(..) {
            if let Some(st) = self.sessions.get_mut(&*key) {
                // A key listed twice (only possible around a restore) is written once: the flag is
                // cleared at its first listing.
                if !st.dirty {
                    continue;
                }
                st.dirty = false;
                let pending = match st.has_pending() {
                    true => self.idx.pending.get(&key).map_or(&[][..], Vec::as_slice),
                    false => &[],
                };
                buf.clear();
                state::encode_key_into(st, pending, &mut offsets, &mut buf);
                write(&key, Some(&buf));
            }
        }
        // Keep the list's allocation for the next drain (it refills to about the same size), unless a
        // burst (a restore, a backlog) made it large.
        if dirty.capacity() > 1 << 15 {
            dirty = Vec::new();
        }
        self.idx.dirty = dirty;
        if buf.capacity() > 1 << 16 {
            buf = Vec::new();
        }
        self.scratch_value = buf;
        self.scratch_offsets = offsets;
        if self.partition_dirty {
            self.partition_dirty = false;
            write(PARTITION_KEY, Some(&self.partition_bytes()));
        }
        let mut idle = mem::take(&mut self.idx.idle);
        idle.sort_unstable();
        idle.dedup();
        for key in idle {
            let Some(st) = self.sessions.get(&*key) else { continue };
            if !st.is_idle() {
                continue; // a new session started for the key
            }
            if self.applied_offset.is_some_and(|a| st.last_offset <= a) && !st.dirty {
                self.sessions.remove(&*key);
                write(&key, None);
            } else {
                self.idx.idle.push(key);
            }
        }
    }

    /// The current changelog value of `key` (or of [`PARTITION_KEY`]); `None` when nothing is kept
    /// for it (a tombstone).
    pub fn snapshot(&self, key: &str) -> Option<Vec<u8>> {
        if key == PARTITION_KEY {
            return Some(self.partition_bytes());
        }
        let pending = self.idx.pending.get(key).map_or(&[][..], Vec::as_slice);
        self.sessions.get(key).map(|st| state::encode_key(st, pending))
    }

    fn partition_bytes(&self) -> Vec<u8> {
        state::encode_partition(&PartitionRecord {
            watermark: self.watermark,
            max_event_time: self.max_event_time,
            applied_offset: self.applied_offset,
        })
    }

    /// Loads one changelog record (read from the beginning of the partition's changelog, in order,
    /// before any input): `None` is a tombstone. A record that does not decode is an error and
    /// changes nothing.
    ///
    /// A key record written by a sessionizer from before events were forwarded on arrival may list
    /// the input offsets of events it held back: they were never emitted. Afterwards, input must then
    /// be consumed from [`Self::min_needed_offset`] (when it is `Some` and before the committed
    /// offset) so that those events are read again and emitted.
    pub fn restore(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StateError> {
        if key == PARTITION_KEY {
            let p = match value {
                Some(bytes) => state::decode_partition(bytes, key)?,
                None => PartitionRecord { watermark: i64::MIN, max_event_time: None, applied_offset: None },
            };
            self.watermark = p.watermark;
            self.max_event_time = p.max_event_time;
            self.applied_offset = p.applied_offset;
            self.last_arrival_wall_ms = None;
            self.partition_dirty = false;
            self.queues_stale = true;
            return Ok(());
        }
        let restored = match value {
            Some(bytes) => Some(state::decode_key(bytes, key, self.cfg.dedup_ids)?),
            None => None,
        };
        self.sessions.remove(key);
        for o in self.idx.pending.remove(key).unwrap_or_default() {
            self.idx.needed.remove(&o);
        }
        if let Some((st, pending)) = restored {
            self.idx.needed.extend(pending.iter().copied());
            if !pending.is_empty() {
                self.idx.pending.insert(st.key.clone(), pending);
            }
            if st.is_idle() {
                self.idx.idle.push(st.key.clone());
            }
            self.sessions.insert(st.key.clone(), Box::new(st));
        }
        self.queues_stale = true;
        Ok(())
    }

    fn rebuild_queues_if_stale(&mut self) {
        if !self.queues_stale {
            return;
        }
        self.queues_stale = false;
        self.idx.close.clear();
        for st in self.sessions.values_mut() {
            st.set_close_queued(None);
            if let Some(split) = &st.split {
                let d = split.deadline(&self.cfg);
                st.set_close_queued(Some(d));
                self.idx.close.push(Reverse((d, st.key.clone())));
            }
        }
    }

    /// The oldest input offset whose event is still needed: only after a restore from a state that
    /// an older sessionizer wrote while it held events back, until they are read again; `None`
    /// otherwise (every event applied was emitted at once). The input offset committed for this
    /// partition must not pass it, or a crash would lose those events (the old changelog stored
    /// their offsets, not their content).
    pub fn min_needed_offset(&self) -> Option<i64> {
        self.idx.needed.first().copied()
    }

    /// The last input offset applied (persisted with the partition record).
    pub fn applied_offset(&self) -> Option<i64> {
        self.applied_offset
    }

    /// The current watermark: an arriving event before it is late. `None` before any event.
    pub fn watermark(&self) -> Option<i64> {
        (self.watermark != i64::MIN).then_some(self.watermark)
    }

    /// Keys with an open session or events still to be read again.
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().filter(|st| !st.is_idle()).count()
    }

    /// Events still to be read again and emitted after a restore from an older sessionizer's state
    /// (see [`Self::min_needed_offset`]); 0 in steady state.
    pub fn pending_events(&self) -> usize {
        self.idx.needed.len()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// An estimate of the heap and inline bytes the state holds (for the state-size metric and the
    /// per-session budget of docs/architecture.md §9): the session map, each key's state and
    /// strings, and the queues.
    pub fn approx_state_bytes(&self) -> usize {
        use std::mem::size_of;
        let map = self.sessions.capacity() * (size_of::<(Arc<str>, Box<KeyState>)>() + 1);
        let queues = self.idx.close.capacity() * size_of::<Reverse<(i64, Arc<str>)>>();
        // A B-tree node per ~11 offsets of 8 bytes, and the per-key lists.
        let pending = self.idx.needed.len() * 16 + self.idx.pending.values().map(|v| v.capacity() * 8).sum::<usize>();
        let lists = (self.idx.dirty.capacity() + self.idx.idle.capacity()) * size_of::<Arc<str>>();
        let keys: usize = self.sessions.values().map(|st| key_state_bytes(st)).sum();
        size_of::<Self>() + map + queues + pending + lists + keys
    }
}

fn key_state_bytes(st: &KeyState) -> usize {
    use std::mem::size_of;
    // Arc<str> allocation: two counters + the bytes.
    let key = 16 + st.key.len();
    let ring = st.ring.capacity() * size_of::<[u8; 4]>();
    let split = st.split.as_ref().map_or(0, |s| {
        s.routes.len()
            + s.view_client.as_ref().map_or(0, |v| v.len())
            + s.release.as_ref().map_or(0, |v| v.len())
            + s.user_id.as_ref().map_or(0, |v| v.len())
    });
    size_of::<KeyState>() + key + ring + split
}

/// What the per-event work borrows: everything but the session map.
struct Ctx<'a> {
    cfg: &'a SessionizerConfig,
    idx: &'a mut Indexes,
    stats: &'a mut Stats,
    watermark: i64,
    out: &'a mut Vec<Emitted>,
}

impl Ctx<'_> {
    fn touch(&mut self, st: &mut KeyState) {
        if self.cfg.changelog && !st.dirty {
            st.dirty = true;
            self.idx.dirty.push(st.key.clone());
        }
    }

    /// The per-key part of `ingest`.
    fn apply(&mut self, st: &mut KeyState, partition_replay: bool, offset: i64, event: Carried) -> Ingested {
        if partition_replay || offset <= st.last_offset {
            // Applied before the state was written: everything it did is in the state. Only an
            // event an older sessionizer still held back then is taken now (its offset is in
            // `pending`); it passed the duplicate filter when it was first read.
            if st.has_pending() && self.take_pending(st, offset) {
                self.touch(st);
                self.forward(st, event);
                return Ingested::Reapplied;
            }
            return Ingested::Replayed;
        }
        self.touch(st);
        st.last_offset = offset;
        st.project_len = u32::try_from(event.event.project_id.len()).unwrap_or(u32::MAX);

        if let Some(h) = event_id_hash32(&event.event.event_id) {
            if st.seen(h) {
                match st.split.as_mut() {
                    Some(split) => split.dups = split.dups.saturating_add(1),
                    None => st.pending_dups = st.pending_dups.saturating_add(1),
                }
                self.stats.duplicates_dropped += 1;
                return Ingested::Duplicate;
            }
            st.remember(h, self.cfg.dedup_ids);
        }
        let Arrival { late, reordered } = self.forward(st, event);
        Ingested::Forwarded { late, reordered }
    }

    /// Takes `offset` out of the key's offsets still to be re-read after a restore.
    fn take_pending(&mut self, st: &mut KeyState, offset: i64) -> bool {
        let Some(pending) = self.idx.pending.get_mut(&st.key) else { return false };
        let Ok(i) = pending.binary_search(&offset) else { return false };
        pending.remove(i);
        self.idx.needed.remove(&offset);
        if pending.is_empty() {
            self.idx.pending.remove(&st.key);
            st.set_has_pending(false);
        }
        true
    }

    /// Makes sure the close queue holds an entry for the open split no later than its deadline.
    fn queue_close(&mut self, st: &mut KeyState) {
        let Some(split) = &st.split else { return };
        let d = split.deadline(self.cfg);
        if st.close_queued().is_none_or(|q| q > d) {
            st.set_close_queued(Some(d));
            self.idx.close.push(Reverse((d, st.key.clone())));
        }
    }

    /// Emits an event as it arrives: first the split rules (`Split::split_reason`: the gap since
    /// the split's newest event, or the maximum duration since its anchor, closes it and opens a new
    /// one named after this event), then the flags, the view and the sequence number.
    fn forward(&mut self, st: &mut KeyState, event: Carried) -> Arrival {
        let ts = event.event.timestamp;
        let late = ts < self.watermark;
        if let Some(reason) = st.split.as_ref().and_then(|s| s.split_reason(ts, self.cfg)) {
            self.close(st, reason);
        }
        if st.split.is_none() {
            // A split opened by a late event (its session closed already, or the whole batch came
            // late) stays open for one more allowed lateness, so the rest of a late batch joins it.
            let grace = if late { self.watermark.saturating_add(self.cfg.allowed_lateness_ms) } else { i64::MIN };
            st.split = Some(Split::new(ts, grace, mem::take(&mut st.pending_dups)));
            self.queue_close(st);
        }
        let Some(split) = st.split.as_mut() else { return Arrival { late, reordered: false } };
        let arrival = Arrival { late, reordered: split.events > 0 && ts < split.end };
        self.out.push(emit_into(&st.key, st.project_len, split, event, arrival));
        self.stats.sessionized_out += 1;
        self.stats.late_events += u64::from(arrival.late);
        self.stats.reordered_events += u64::from(arrival.reordered);
        arrival
    }

    fn close(&mut self, st: &mut KeyState, reason: &'static str) {
        let Some(split) = st.split.take() else { return };
        let record = st.summary(&split, reason);
        self.out.push(Emitted::Summary { key: st.key.clone(), record: Box::new(record) });
        self.stats.summaries_out += 1;
    }
}
