//! The state of one input partition: every session's retained events and judgement progress, plus
//! the partition's event-time clock, and the judgement that runs the rules over them.

use std::collections::{BTreeSet, HashMap};

use friction_rules::{detect_counting, Horizon};
use friction_schemas::sessionized::Sessionized;
use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::convert::{rule_event, to_episode_record};
use crate::rules_file::RulesByProject;
use crate::slim::{EventBuf, Events};
use crate::state::{self, SessionState};

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
            // episode window share one fingerprint (docs/architecture.md §4). Every issue-kind signal is a member
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
