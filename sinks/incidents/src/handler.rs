//! The stage handler: decode and check signals as they arrive, count the batch in one store
//! transaction when the runtime commits ([`StageHandler::persist`]), publish every incident the
//! batch touched. Offsets are committed only after the transaction and the publications.

use std::sync::Arc;
use std::time::Duration;

use friction_runtime::isolate::{isolate, Sources};
use friction_runtime::retry::{retry_blocking, Backoff};
use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::{decode, encode_to_vec, SignalRecord};
use friction_store::Store;

use crate::apply::{apply_batch, ApplyError};
use crate::model::{self, IncidentConfig};

/// How the stage runs. Defaults in [`IncidentsStageConfig::default`].
#[derive(Debug, Clone)]
pub struct IncidentsStageConfig {
    pub incidents: IncidentConfig,
    /// Where incident changes go. Default `friction.incidents.v1`.
    pub incidents_topic: Arc<str>,
    /// Where signals are read: the `source.topic` of a signal dead-lettered after the store
    /// refused it. Default `friction.signals.v1`.
    pub signals_topic: Arc<str>,
    /// How long a batch keeps being retried while the database is unreachable or busy before the
    /// stage stops with the error. Input waits meanwhile (a database outage pauses the stage).
    /// Default 4 minutes: below the consumer's `max.poll.interval.ms` (5 minutes), past which the
    /// group would hand the partitions to another copy anyway.
    pub max_retry: Duration,
}

impl Default for IncidentsStageConfig {
    fn default() -> Self {
        IncidentsStageConfig {
            incidents: IncidentConfig::default(),
            incidents_topic: Arc::from(friction_runtime::topics::INCIDENTS),
            signals_topic: Arc::from(friction_runtime::topics::SIGNALS),
            max_retry: Duration::from_secs(240),
        }
    }
}

/// The incidents stage's logic. Stateless in Kafka terms: its state is the store.
pub struct IncidentsHandler {
    store: Store,
    runtime: tokio::runtime::Handle,
    config: IncidentsStageConfig,
    batch: Vec<SignalRecord>,
    /// Where each signal of `batch` was read, and its bytes, to dead-letter it as it came should
    /// the store refuse it.
    sources: Sources,
}

/// Signals of one batch the store may refuse before the batch counts as a broken store rather
/// than bad records (the runtime's own default limit of dead letters a minute).
const MAX_REFUSED_PER_BATCH: usize = 100;

impl IncidentsHandler {
    /// `runtime` runs the store's futures; the stage thread blocks on them (it must not be one of
    /// the runtime's own threads).
    pub fn new(store: Store, runtime: tokio::runtime::Handle, config: IncidentsStageConfig) -> Self {
        let sources = Sources::new(config.signals_topic.clone());
        IncidentsHandler { store, runtime, config, batch: Vec::new(), sources }
    }

    /// Counts `signals` in one transaction, retrying while the database is unreachable or busy.
    fn store_batch(&self, signals: &[SignalRecord], now_ms: i64) -> Result<Vec<crate::apply::Touched>, ApplyError> {
        retry_blocking(
            &Backoff::STORE,
            self.config.max_retry,
            ApplyError::is_transient,
            |e, attempt| {
                metrics::counter!("friction_incidents_batch_retries_total").increment(1);
                if attempt == 1 || attempt % 20 == 0 {
                    tracing::warn!(error = %e, attempt, signals = signals.len(), "storing signals failed; retrying (input waits)");
                }
            },
            || self.runtime.block_on(apply_batch(&self.store, signals, &self.config.incidents, now_ms)),
        )
    }

    fn clear_batch(&mut self) {
        self.batch.clear();
        self.sources.clear();
    }
}

/// At most 200 bytes of `s` (on a character boundary), for an error header: the record itself is
/// the dead letter's payload.
fn short(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl StageHandler for IncidentsHandler {
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        _now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        let mut signal: SignalRecord = decode(payload).map_err(|e| format!("undecodable signal: {e}"))?;
        model::validate(&signal).map_err(|e| e.to_string())?;
        if model::replace_nul(&mut signal) {
            metrics::counter!("friction_incidents_nul_replaced_total").increment(1);
        }
        self.sources.push(partition, offset, key, payload);
        self.batch.push(signal);
        Ok(())
    }

    fn persist(&mut self, out: &mut Outputs) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let now_ms = friction_runtime::now_ms();
        let started = std::time::Instant::now();
        // One transaction for the batch; only when the store refuses what some signal holds is it
        // split to find the refused signals, which are dead-lettered (docs/architecture.md §5).
        let stored = isolate(
            &self.batch,
            MAX_REFUSED_PER_BATCH,
            |signals| self.store_batch(signals, now_ms),
            ApplyError::refuses_content,
        )
        .map_err(|e| format!("storing {} signals: {e}", self.batch.len()))?;
        metrics::histogram!("friction_incidents_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("friction_incidents_batch_signals").record(self.batch.len() as f64);
        let counted = self.batch.len() - stored.refused.len();
        metrics::counter!("friction_incidents_signals_total").increment(counted as u64);
        for (index, e) in &stored.refused {
            let id = self.batch.get(*index).map(|s| short(&s.id)).unwrap_or_default();
            metrics::counter!("friction_incidents_signals_refused_total").increment(1);
            if let Some(letter) = self.sources.dead_letter(*index, format!("the store refused signal {id}: {e}")) {
                out.dead_letter(letter);
            }
        }
        for t in stored.written.iter().flatten() {
            let change = model::to_change(&t.incident, t.change, t.previous_status, now_ms);
            let payload = encode_to_vec(&change).map_err(|e| format!("encoding incident {}: {e}", t.incident.id))?;
            out.send(&self.config.incidents_topic, t.incident.id.as_bytes(), payload);
            metrics::counter!("friction_incidents_changes_total", "change" => t.change.as_str()).increment(1);
            if let Some(before) = t.previous_status {
                tracing::info!(incident = %t.incident.id, from = %before, to = %t.incident.status, sessions = t.incident.sessions, "incident status changed");
            }
        }
        self.clear_batch();
        Ok(())
    }

    fn revoke(&mut self, _partition: i32) {
        // The runtime persists before revoking, so nothing of the revoked partition is pending.
    }

    fn state_stats(&self) -> (usize, usize) {
        (self.batch.len(), 0)
    }
}
