//! Per-partition detector state and the stage handler around it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use friction_rules::{detect_counting, Event, Horizon};
use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec};
use serde::{Deserialize, Serialize};

use crate::convert::{rule_event, to_episode_record, SessionContext};
use crate::rules_file::RulesByProject;
use crate::slim::{EventBuf, Events};
use crate::state;

/// Reserved changelog key of a partition's clock.
const PARTITION_KEY: &str = "\u{0}partition";

#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// A session with no event for this long (event time) is closed: its open windows are judged
    /// and its state dropped. Match the sessionizer's inactivity gap. Default 30 min.
    pub session_gap_ms: i64,
    /// Wall-clock time a partition must be quiet before its watermark starts advancing on its own.
    /// Default 2 s.
    pub idle_grace_ms: i64,
    pub signals_topic: Arc<str>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            session_gap_ms: 30 * 60 * 1000,
            idle_grace_ms: 2_000,
            signals_topic: Arc::from(friction_runtime::topics::SIGNALS),
        }
    }
}

/// One session's state: the events the rules may still look at, and how far it was judged.
///
/// `E` is how the events are held: owned [`Event`]s as the state is persisted and restored, and
/// [`Events`] (no heap string per field) while a [`PartitionDetector`] keeps the session.
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
    /// Changed since the last [`PartitionDetector::take_changes`] (not part of the state).
    #[serde(skip)]
    pub dirty: bool,
}

impl<E> SessionState<E> {
    /// The same state with its events held as `events`.
    fn with_events<F>(self, events: F) -> SessionState<F> {
        SessionState {
            context: self.context,
            events,
            emitted_through_ms: self.emitted_through_ms,
            retained_from_ms: self.retained_from_ms,
            last_event_ms: self.last_event_ms,
            next_decision_ms: self.next_decision_ms,
            touched: self.touched,
            dirty: self.dirty,
        }
    }
}

/// One session as a [`PartitionDetector`] keeps it.
type Session = SessionState<Events>;

impl Session {
    fn from_state(key: &str, st: SessionState) -> Result<Self, String> {
        let mut events = Events::default();
        for e in &st.events {
            if !events.push(e, key) {
                return Err(format!("session {key}: its events' strings pass 4 GiB"));
            }
        }
        Ok(st.with_events(events))
    }

    /// The persisted form ([`state::encode`] of the equivalent [`SessionState`]).
    fn encode(&self, key: &str, buf: &mut EventBuf) -> Vec<u8> {
        let events = self.events.borrowed_into(key, buf.take());
        let bytes = state::encode_parts(self, &events);
        buf.put_back(events);
        bytes
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct PartitionClock {
    max_event_ms: Option<i64>,
    newest_arrival_wall_ms: i64,
}

/// Every session of one input partition.
#[derive(Default)]
pub struct PartitionDetector {
    /// Keyed by session key (client-chosen: a seeded hasher).
    sessions: HashMap<String, Session, foldhash::fast::RandomState>,
    clock: PartitionClock,
    deleted: BTreeSet<String>,
    clock_dirty: bool,
}

/// What one judgement produced.
#[derive(Default)]
pub struct Judged {
    /// One record per closed episode (its members merged), see [`to_episode_record`].
    pub signals: Vec<friction_schemas::signal::SignalRecord>,
    pub suppressed: Vec<&'static str>,
}

impl PartitionDetector {
    /// The partition's event-time watermark at wall-clock `now`.
    pub fn watermark(&self, now_wall_ms: i64, cfg: &DetectorConfig) -> Option<i64> {
        let max = self.clock.max_event_ms?;
        let idle = now_wall_ms - self.clock.newest_arrival_wall_ms - cfg.idle_grace_ms;
        // One millisecond behind the newest event: another event with the same timestamp (from
        // another session of the partition) may still come, and must not find its window judged.
        Some(max.saturating_sub(1).saturating_add(idle.max(0)))
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Adds one sessionized event to its session (judged at the next [`Self::judge`]).
    pub fn ingest(&mut self, s: &Sessionized<'_>, now_wall_ms: i64) {
        // Borrowed in place: moving the ~400-byte event out of the `Option` was a memcpy per event.
        let converted = rule_event(s);
        let Some(event) = converted.as_ref() else { return };
        // Look up by the borrowed key; allocate it only for a new session.
        let st = match self.sessions.get_mut(s.session_key.as_ref()) {
            Some(st) => st,
            None => self.sessions.entry(s.session_key.to_string()).or_default(),
        };
        if st.context.project_id.is_empty() {
            st.context.project_id = s.event.project_id.to_string();
        }
        // The context repeats on every event: copy only what changed.
        set_if_changed(&mut st.context.user_id, s.event.user_id.as_deref());
        set_if_changed(&mut st.context.release, s.event.release.as_deref());
        let ts = event.timestamp_ms;
        if st.retained_from_ms.is_some_and(|from| ts < from) {
            // Older than anything the rules still look at: already judged.
            metrics::counter!("friction_detector_late_events_ignored_total").increment(1);
            return;
        }
        // Keep (timestamp, seq) order; late events slot in.
        if !st.events.insert(event, &s.session_key) {
            // Its strings would take the session's retained events past 4 GiB.
            metrics::counter!("friction_detector_oversized_events_ignored_total").increment(1);
            return;
        }
        st.last_event_ms = st.last_event_ms.max(ts);
        st.next_decision_ms = Some(st.next_decision_ms.map_or(ts, |d| d.min(ts)));
        st.touched = true;
        st.dirty = true;
        let newer = self.clock.max_event_ms.is_none_or(|m| ts >= m);
        if newer {
            self.clock.max_event_ms = Some(ts);
            self.clock.newest_arrival_wall_ms = now_wall_ms;
            self.clock_dirty = true;
        }
    }

    /// Judges every session with a decision due at the watermark (a pending window that ended, or a
    /// new event at or before it), or that has closed. Sessions whose new events are all after the
    /// watermark wait: nothing in them can be decided yet.
    pub fn judge(&mut self, now_wall_ms: i64, cfg: &DetectorConfig, rules: &RulesByProject) -> Judged {
        let mut out = Judged::default();
        let Some(wm) = self.watermark(now_wall_ms, cfg) else { return out };
        let mut closed_keys = Vec::new();
        let mut buf = EventBuf::default();
        for (key, st) in &mut self.sessions {
            let closed = wm > st.last_event_ms.saturating_add(cfg.session_gap_ms);
            if !(closed || st.next_decision_ms.is_some_and(|d| d <= wm)) {
                continue;
            }
            let horizon = Horizon {
                emitted_through_ms: st.emitted_through_ms,
                watermark_ms: wm,
                session_closed: closed,
                retained_from_ms: st.retained_from_ms,
            };
            let rules = rules.for_project(&st.context.project_id);
            let events = st.events.borrowed_into(key, buf.take());
            // Suppressed and undetermined candidates are only counted here (metrics by reason).
            let detection = detect_counting(&events, horizon, rules);
            buf.put_back(events);
            // Published per episode, not per member signal: members on one element within the
            // episode window share one fingerprint (DESIGN §4). Every issue-kind signal is a member
            // of exactly one episode, which `detect` emits once it is closed.
            for ep in &detection.episodes {
                out.signals.extend(to_episode_record(ep, &st.context));
            }
            for s in &detection.suppressed {
                out.suppressed.push(s.reason.as_str());
            }
            st.emitted_through_ms = Some(st.emitted_through_ms.map_or(wm, |e| e.max(wm)));
            // Events after the watermark were seen by this judgement but may decide things later.
            let unjudged = st.events.timestamps().rev().take_while(|&t| t > wm).last();
            st.next_decision_ms = match (detection.next_decision_ms, unjudged) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            st.touched = false;
            if closed {
                closed_keys.push(key.clone());
                continue;
            }
            let keep_from = detection.retain_from_ms;
            if st.retained_from_ms.is_none_or(|r| keep_from > r) {
                st.events.retain_from(keep_from);
                st.retained_from_ms = Some(keep_from);
            }
            st.dirty = true;
        }
        for key in closed_keys {
            self.sessions.remove(&key);
            self.deleted.insert(key);
        }
        out
    }

    /// State changes since the last call: (key, Some(value)) or (key, None) for deleted sessions.
    /// Session values are the compact binary encoding of [`crate::state`]; keys in order.
    pub fn take_changes(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut changes = Vec::new();
        for key in std::mem::take(&mut self.deleted) {
            changes.push((key, None));
        }
        let mut dirty: Vec<(&String, &mut Session)> = self.sessions.iter_mut().filter(|(_, st)| st.dirty).collect();
        dirty.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut buf = EventBuf::default();
        for (key, st) in dirty {
            st.dirty = false;
            changes.push((key.clone(), Some(st.encode(key, &mut buf))));
        }
        if std::mem::take(&mut self.clock_dirty) {
            if let Ok(json) = serde_json::to_vec(&self.clock) {
                changes.push((PARTITION_KEY.to_string(), Some(json)));
            }
        }
        changes
    }

    pub fn restore(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), String> {
        if key == PARTITION_KEY {
            if let Some(v) = value {
                self.clock = serde_json::from_slice(v).map_err(|e| format!("partition clock: {e}"))?;
            }
            return Ok(());
        }
        match value {
            Some(v) => {
                // JSON: state written before the binary encoding.
                let st: SessionState = if v.first() == Some(&b'{') {
                    serde_json::from_slice(v).map_err(|e| format!("session {key}: {e}"))?
                } else {
                    state::decode(v).map_err(|e| format!("session {key}: {e}"))?
                };
                let mut st = st;
                if st.touched {
                    // Written by a version that judged every touched session: judge it next time.
                    st.next_decision_ms = Some(i64::MIN);
                }
                self.sessions.insert(key.to_string(), Session::from_state(key, st)?);
            }
            None => {
                self.sessions.remove(key);
            }
        }
        Ok(())
    }

    pub fn approx_bytes(&self) -> usize {
        self.sessions.iter().map(|(k, s)| k.len() + 128 + s.events.approx_bytes()).sum()
    }
}

fn set_if_changed(slot: &mut Option<String>, new: Option<&str>) {
    if let Some(n) = new {
        if slot.as_deref() != Some(n) {
            *slot = Some(n.to_owned());
        }
    }
}

/// The detector stage handler: one [`PartitionDetector`] per assigned partition.
pub struct DetectorHandler {
    config: DetectorConfig,
    rules: RulesByProject,
    partitions: HashMap<i32, PartitionDetector>,
}

impl DetectorHandler {
    pub fn new(config: DetectorConfig, rules: RulesByProject) -> Self {
        DetectorHandler { config, rules, partitions: HashMap::new() }
    }

    fn emit(&mut self, partition: i32, now_ms: i64, out: &mut Outputs) {
        let Some(p) = self.partitions.get_mut(&partition) else { return };
        let judged = p.judge(now_ms, &self.config, &self.rules);
        for reason in judged.suppressed {
            metrics::counter!("friction_detector_suppressed_total", "reason" => reason).increment(1);
        }
        for record in judged.signals {
            metrics::counter!("friction_detector_signals_total", "kind" => record.kind.clone()).increment(1);
            match encode_to_vec(&record) {
                Ok(bytes) => out.send(&self.config.signals_topic, record.fingerprint.clone(), bytes),
                Err(e) => tracing::error!(error = %e, signal = %record.id, "could not encode a signal"),
            }
        }
    }
}

/// A wall-clock time before any arrival: the watermark then gets no idle advance.
const NO_IDLE_WALL_MS: i64 = i64::MIN / 2;

impl StageHandler for DetectorHandler {
    fn on_message(
        &mut self,
        partition: i32,
        _offset: i64,
        _key: Option<&[u8]>,
        payload: &[u8],
        now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        let s: Sessionized<'static> = decode(payload).map_err(|e| format!("not a sessionized event: {e}"))?;
        self.partitions.entry(partition).or_default().ingest(&s, now_ms);
        Ok(())
    }

    fn on_tick(&mut self, partition: i32, now_ms: i64, out: &mut Outputs) {
        self.emit(partition, now_ms, out);
    }

    fn flush_state(&mut self, out: &mut Outputs) {
        let partitions: Vec<i32> = self.partitions.keys().copied().collect();
        for p in partitions {
            // Judge by event time alone here: wall-clock idleness only counts for a partition read
            // to its end, which is what `on_tick` is called for. A commit cycle also runs in the
            // middle of a backlog, where a pause in reading is not a quiet partition (advancing
            // then would judge windows whose next events are already waiting in the topic).
            self.emit(p, NO_IDLE_WALL_MS, out);
            if let Some(det) = self.partitions.get_mut(&p) {
                for (key, value) in det.take_changes() {
                    match value {
                        Some(v) => out.put_state(p, key, v),
                        None => out.delete_state(p, key),
                    }
                }
            }
        }
    }

    fn restore(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key = std::str::from_utf8(key).map_err(|e| format!("state key is not UTF-8: {e}"))?;
        self.partitions.entry(partition).or_default().restore(key, value)
    }

    fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    fn state_stats(&self) -> (usize, usize) {
        let sessions = self.partitions.values().map(|p| p.open_sessions()).sum();
        let bytes = self.partitions.values().map(|p| p.approx_bytes()).sum();
        (sessions, bytes)
    }
}
