//! The stage handler that runs [`PartitionState`] on the stateful stage runtime: one state per
//! assigned input partition, outputs to the sessionized and sessions topics, state to the changelog.
//! Every event's output is sent from `on_message` itself (docs/architecture.md §4 "Sessionizer"), so
//! once the runtime has the outputs acknowledged it commits everything read. Replayed input is
//! recognised by the state itself; only after a restore from a state an older sessionizer wrote
//! while holding events back are commits held back ([`PartitionState::min_needed_offset`]) until
//! those events are read again and emitted.

use std::collections::HashMap;
use std::sync::Arc;

use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::{decode, embeddable_event_datum, encode, encode_sessionized_with_event_datum, RawEvent};

use crate::{Emitted, Ingested, PartitionState, SessionizerConfig};

/// Topics the sessionizer writes.
#[derive(Debug, Clone)]
pub struct SessionizerTopics {
    pub sessionized: Arc<str>,
    pub sessions: Arc<str>,
}

impl Default for SessionizerTopics {
    fn default() -> Self {
        SessionizerTopics {
            sessionized: Arc::from(friction_runtime::topics::SESSIONIZED),
            sessions: Arc::from(friction_runtime::topics::SESSIONS),
        }
    }
}

pub struct SessionizerHandler {
    config: SessionizerConfig,
    topics: SessionizerTopics,
    partitions: HashMap<i32, PartitionState>,
    emitted: Vec<Emitted>,
}

impl SessionizerHandler {
    pub fn new(config: SessionizerConfig, topics: SessionizerTopics) -> Result<Self, crate::ConfigError> {
        config.validate()?;
        Ok(SessionizerHandler { config, topics, partitions: HashMap::new(), emitted: Vec::new() })
    }

    fn partition(&mut self, partition: i32) -> &mut PartitionState {
        let config = self.config.clone();
        self.partitions.entry(partition).or_insert_with(|| match PartitionState::new(config) {
            Ok(state) => state,
            // The config was validated in `new`.
            Err(e) => unreachable!("validated config rejected: {e}"),
        })
    }

    fn send_emitted(&mut self, out: &mut Outputs) {
        for emitted in self.emitted.drain(..) {
            // Encoded straight into the outputs' buffer, which the runtime reuses from message to
            // message: no allocation per output.
            let (topic, key, result) = match &emitted {
                Emitted::Sessionized { key, record, datum } => {
                    let topic = &self.topics.sessionized;
                    let written = out.send_with(topic, key.as_bytes(), |buf| match datum {
                        Some(datum) => encode_sessionized_with_event_datum(record, datum, buf),
                        None => encode(&**record, buf),
                    });
                    (topic, key, written)
                }
                Emitted::Summary { key, record } => {
                    let topic = &self.topics.sessions;
                    (topic, key, out.send_with(topic, key.as_bytes(), |buf| encode(&**record, buf)))
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, topic = &**topic, key = &**key, "could not encode a sessionizer output");
            }
        }
    }
}

impl StageHandler for SessionizerHandler {
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        _key: Option<&[u8]>,
        payload: &[u8],
        now_ms: i64,
        out: &mut Outputs,
    ) -> Result<(), String> {
        let event: RawEvent<'static> = decode(payload).map_err(|e| format!("not a raw event: {e}"))?;
        // The output carries the event unchanged: keep its bytes to copy rather than encode it again.
        let datum = embeddable_event_datum(payload).map(Box::from);
        let mut emitted = std::mem::take(&mut self.emitted);
        let result = self.partition(partition).ingest_with_datum(offset, event, datum, now_ms, &mut emitted);
        self.emitted = emitted;
        match result {
            Ingested::Forwarded { late, reordered } => {
                if late {
                    metrics::counter!("friction_sessionizer_late_events_total").increment(1);
                    let watermark = self.partitions.get(&partition).and_then(PartitionState::watermark);
                    tracing::debug!(partition, offset, ?watermark, "late event");
                }
                if reordered {
                    metrics::counter!("friction_sessionizer_reordered_events_total").increment(1);
                }
            }
            Ingested::Duplicate => metrics::counter!("friction_sessionizer_duplicates_total").increment(1),
            Ingested::Replayed => metrics::counter!("friction_sessionizer_replays_skipped_total").increment(1),
            Ingested::Reapplied => metrics::counter!("friction_sessionizer_reapplied_total").increment(1),
        }
        self.send_emitted(out);
        Ok(())
    }

    fn on_tick(&mut self, partition: i32, now_ms: i64, out: &mut Outputs) {
        let mut emitted = std::mem::take(&mut self.emitted);
        if let Some(state) = self.partitions.get_mut(&partition) {
            let before = state.watermark();
            state.advance(now_ms, &mut emitted);
            if state.watermark() != before {
                tracing::debug!(partition, ?before, after = ?state.watermark(), "idle watermark advance");
            }
        }
        self.emitted = emitted;
        self.send_emitted(out);
    }

    fn flush_state(&mut self, out: &mut Outputs) {
        for (&partition, state) in self.partitions.iter_mut() {
            state.drain_changelog_with(|key, value| match value {
                Some(v) => out.put_state(partition, key, v),
                None => out.delete_state(partition, key),
            });
        }
    }

    fn restore(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key = std::str::from_utf8(key).map_err(|e| format!("state key is not UTF-8: {e}"))?;
        self.partition(partition).restore(key, value).map_err(|e| e.to_string())
    }

    fn restored(&mut self, partition: i32, _now_ms: i64) {
        let state = self.partition(partition);
        tracing::info!(
            partition,
            applied_offset = ?state.applied_offset(),
            watermark = ?state.watermark(),
            min_needed_offset = ?state.min_needed_offset(),
            open_sessions = state.open_sessions(),
            "sessionizer partition restored"
        );
    }

    fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    fn state_stats(&self) -> (usize, usize) {
        let sessions = self.partitions.values().map(|p| p.open_sessions()).sum();
        let bytes = self.partitions.values().map(|p| p.approx_state_bytes()).sum();
        (sessions, bytes)
    }

    fn commit_floor(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.min_needed_offset())
    }

    fn recognises_replays(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use friction_runtime::stage::{Outputs, StageHandler};
    use friction_schemas::{decode, encode_to_vec, RawEvent, SessionSummary, Sessionized};

    use super::{SessionizerHandler, SessionizerTopics};
    use crate::{synthetic_stream, SessionizerConfig};

    /// Outputs copy the input's Avro datum for their `event` (the pass-through): every sessionized
    /// output decodes, and its event is the input event with that id, field for field.
    #[test]
    fn outputs_carry_the_input_event_unchanged() {
        let events = synthetic_stream(20, 30);
        let by_id: HashMap<String, RawEvent<'static>> =
            events.iter().map(|e| (e.event_id.to_string(), e.clone())).collect();
        let topics = SessionizerTopics::default();
        let mut h = SessionizerHandler::new(SessionizerConfig::default(), topics.clone()).expect("valid");
        let mut out = Outputs::default();
        for (offset, e) in events.iter().enumerate() {
            let payload = encode_to_vec(e).expect("encode");
            h.on_message(0, offset as i64, None, &payload, 0, &mut out).expect("processed");
        }
        // Far past every gap: every session closes.
        h.on_tick(0, i64::MAX / 4, &mut out);
        let (mut sessionized, mut summaries) = (0, 0);
        for (topic, key, payload) in out.records() {
            if topic == &*topics.sessions {
                let s: SessionSummary = decode(payload).expect("a summary");
                summaries += 1;
                assert!(s.events > 0);
                continue;
            }
            let s: Sessionized<'static> = decode(payload).expect("a sessionized event");
            assert_eq!(key, s.event.key().as_bytes());
            assert_eq!(Some(&s.event), by_id.get(&*s.event.event_id), "event {}", s.event.event_id);
            sessionized += 1;
        }
        assert_eq!(sessionized, events.len());
        assert_eq!(summaries, 20);
    }
}
