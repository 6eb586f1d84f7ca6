//! The stage handler that runs [`PartitionState`] on the stateful stage runtime: one state per
//! assigned input partition, outputs to the sessionized and sessions topics, state to the changelog.
//! Buffered events live in the changelog only as input offsets, so commits are held back to the
//! oldest offset a partition still needs and replayed input is recognised by the state itself.

use std::collections::HashMap;
use std::sync::Arc;

use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::{decode, encode, RawEvent};

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
                Emitted::Sessionized { key, record } => {
                    let topic = &self.topics.sessionized;
                    (topic, key, out.send_with(topic, key.as_bytes(), |buf| encode(&**record, buf)))
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
        let mut emitted = std::mem::take(&mut self.emitted);
        let result = self.partition(partition).ingest(offset, event, now_ms, &mut emitted);
        self.emitted = emitted;
        match result {
            Ingested::Late => {
                metrics::counter!("friction_sessionizer_late_events_total").increment(1);
                let watermark = self.partitions.get(&partition).and_then(PartitionState::watermark);
                tracing::debug!(partition, offset, ?watermark, "late event");
            }
            Ingested::Duplicate => metrics::counter!("friction_sessionizer_duplicates_total").increment(1),
            Ingested::Replayed => metrics::counter!("friction_sessionizer_replays_skipped_total").increment(1),
            Ingested::Buffered | Ingested::Rebuffered => {}
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
