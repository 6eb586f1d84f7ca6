//! The state of one input partition: every session's retained events and judgement progress, plus
//! the partition's event-time clock, and the judgement that runs the rules over them.

use std::collections::{BTreeSet, HashMap};

use friction_rules::{detect_counting, Horizon};
use friction_schemas::sessionized::Sessionized;
use serde::{Deserialize, Serialize};

use friction_schemas::signal::SignalRecord;

use crate::config::DetectorConfig;
use crate::convert::{rule_event, to_episode_record};
use crate::corrections::{reconcile, settle, Corrections, Current, Scope};
use crate::rules_file::RulesByProject;
use crate::slim::{EventBuf, Events};
use crate::state::{self, SessionState};

/// Rough size of one published record kept for correction (its strings and evidence).
const PUBLISHED_BYTES: usize = 1024;

/// Reserved changelog key of a partition's clock.
const PARTITION_KEY: &str = "\u{0}partition";

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
    /// The records to publish, in order: one per episode (its members merged, see
    /// [`to_episode_record`]) as first published, corrected or retracted.
    pub signals: Vec<SignalRecord>,
    pub suppressed: Vec<&'static str>,
    /// How many of `signals` were first publications, updates and retractions.
    pub corrections: Corrections,
}

impl PartitionDetector {
    /// The partition's final watermark at wall-clock `now` (idle advance after
    /// [`DetectorConfig::idle_grace_ms`] only if `idle_ok`): decisions at or before it no longer
    /// change. `None` before any event.
    fn final_watermark(&self, now_wall_ms: i64, idle_ok: bool, cfg: &DetectorConfig) -> Option<i64> {
        let max = self.clock.max_event_ms?;
        let idle = if idle_ok { now_wall_ms - self.clock.newest_arrival_wall_ms - cfg.idle_grace_ms } else { 0 };
        Some(max.saturating_sub(cfg.allowed_lateness_ms).saturating_add(idle.max(0)))
    }

    /// The partition's event-time clock: its newest event time, moved on by the wall-clock time
    /// since that event arrived if the partition is read to its end (`idle_ok`).
    fn partition_clock(&self, now_wall_ms: i64, idle_ok: bool) -> Option<i64> {
        let max = self.clock.max_event_ms?;
        let idle = if idle_ok { (now_wall_ms - self.clock.newest_arrival_wall_ms).max(0) } else { 0 };
        Some(max.saturating_add(idle))
    }

    /// The partition's final watermark at wall-clock `now` (see [`DetectorConfig::allowed_lateness_ms`]).
    pub fn watermark(&self, now_wall_ms: i64, cfg: &DetectorConfig) -> Option<i64> {
        self.final_watermark(now_wall_ms, true, cfg)
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Adds one sessionized event, arrived at wall-clock `now_wall_ms`, to its session (judged at
    /// the next [`Self::judge`]). Events may come in any order: each session keeps its events in
    /// (timestamp, seq) order, and one that lands at or before what was already judged reopens
    /// the session's published decisions for correction.
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
            // Older than anything the rules still look at: its decisions are final.
            metrics::counter!("friction_detector_late_events_ignored_total").increment(1);
            return;
        }
        // Keep (timestamp, seq) order; late events slot in.
        if !st.events.insert(event, &s.session_key) {
            // Its strings would take the session's retained events past 4 GiB.
            metrics::counter!("friction_detector_oversized_events_ignored_total").increment(1);
            return;
        }
        if st.early_through_ms.is_some_and(|e| ts <= e) {
            st.reopened = true;
        }
        if ts >= st.last_event_ms || st.newest_arrival_wall_ms == 0 {
            st.newest_arrival_wall_ms = now_wall_ms;
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

    /// Judges every session with something to decide at wall-clock `now` on a partition read to
    /// its end (quiet time counts, see [`Self::judge_reading`]), and returns the records to publish
    /// (docs/architecture.md §4 "Time: decide early, settle later"):
    /// - a session is judged up to its *early horizon*: its newest event time, or, once it has been
    ///   quiet, that time plus the wall-clock time since that event arrived minus
    ///   [`DetectorConfig::early_grace_ms`] (never past the partition's own clock);
    /// - an episode is published as soon as it has a decided member, and republished (same id,
    ///   higher version) as it changes; one that later events contradict is retracted;
    /// - decisions before the *final watermark* (newest event time of the partition minus
    ///   [`DetectorConfig::allowed_lateness_ms`]) are settled and forgotten; a session closes when
    ///   the final watermark passes its last event by the session gap.
    pub fn judge(&mut self, now_wall_ms: i64, cfg: &DetectorConfig, rules: &RulesByProject) -> Judged {
        self.judge_with(now_wall_ms, true, cfg, rules)
    }

    /// [`Self::judge`] while input may be waiting (a commit in the middle of a backlog): the
    /// partition's clocks move by event time alone, since a pause in reading is not quiet time.
    pub fn judge_reading(&mut self, now_wall_ms: i64, cfg: &DetectorConfig, rules: &RulesByProject) -> Judged {
        self.judge_with(now_wall_ms, false, cfg, rules)
    }

    fn judge_with(&mut self, now_wall_ms: i64, idle_ok: bool, cfg: &DetectorConfig, rules: &RulesByProject) -> Judged {
        let mut out = Judged::default();
        let (Some(hf), Some(clock)) =
            (self.final_watermark(now_wall_ms, idle_ok, cfg), self.partition_clock(now_wall_ms, idle_ok))
        else {
            return out;
        };
        let mut closed_keys = Vec::new();
        let mut buf = EventBuf::default();
        for (key, st) in &mut self.sessions {
            let closed = hf > st.last_event_ms.saturating_add(cfg.session_gap_ms);
            let quiet = now_wall_ms.saturating_sub(st.newest_arrival_wall_ms).max(0);
            let by_wall = st.last_event_ms.saturating_add(quiet).min(clock).saturating_sub(cfg.early_grace_ms);
            // Never back: an older event arriving late reopens decisions, it does not move time.
            let he = hf.max(st.last_event_ms).max(by_wall).max(st.early_through_ms.unwrap_or(i64::MIN));
            if !(closed || st.reopened || st.next_decision_ms.is_some_and(|d| d <= he)) {
                continue;
            }
            // Without an event behind what was judged, nothing published can be contradicted:
            // judge only what is newly decided. Otherwise everything that is not final yet.
            let scope = if st.reopened || closed { Scope::All } else { Scope::New };
            let emitted_through = match scope {
                Scope::All => st.emitted_through_ms,
                Scope::New => st.early_through_ms.or(st.emitted_through_ms),
            };
            let horizon = Horizon {
                emitted_through_ms: emitted_through,
                watermark_ms: he,
                session_closed: closed,
                retained_from_ms: st.retained_from_ms,
                provisional: true,
                provisional_all: scope == Scope::All,
                settled_ms: Some(hf),
            };
            let project_rules = rules.for_project(&st.context.project_id);
            let events = st.events.borrowed_into(key, buf.take());
            // Suppressed and undetermined candidates are only counted here (metrics by reason).
            let detection = detect_counting(&events, horizon, project_rules);
            buf.put_back(events);
            // Published per episode, not per member signal: members on one element within the
            // episode window share one fingerprint (docs/architecture.md §4).
            let current: Vec<Current> = detection
                .episodes
                .iter()
                .filter_map(|ep| {
                    let record = to_episode_record(ep, &st.context)?;
                    let final_at_ms = if ep.provisional { None } else { Some(ep.decided_at_ms.unwrap_or(i64::MIN)) };
                    Some(Current { episode_id: ep.id.clone(), record, final_at_ms })
                })
                .collect();
            let hold = |r: &SignalRecord| detection.is_pending(r.tab_id.as_deref(), &r.view_id, &r.element_key);
            let counts =
                reconcile(&mut st.published, current, scope, hold, project_rules.settle_span_ms(), &mut out.signals);
            out.corrections += counts;
            for s in &detection.suppressed {
                out.suppressed.push(s.reason.as_str());
            }
            st.early_through_ms = Some(st.early_through_ms.map_or(he, |e| e.max(he)));
            st.emitted_through_ms = Some(st.emitted_through_ms.map_or(hf, |e| e.max(hf)));
            settle(&mut st.published, hf);
            st.reopened = false;
            st.next_decision_ms = detection.next_decision_ms;
            st.touched = false;
            if closed {
                closed_keys.push(key.clone());
                continue;
            }
            // Kept: what a correction may need to re-judge everything after the final watermark.
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
        self.sessions
            .iter()
            .map(|(k, s)| k.len() + 128 + s.events.approx_bytes() + s.published.len() * PUBLISHED_BYTES)
            .sum()
    }
}

fn set_if_changed(slot: &mut Option<String>, new: Option<&str>) {
    if let Some(n) = new {
        if slot.as_deref() != Some(n) {
            *slot = Some(n.to_owned());
        }
    }
}
