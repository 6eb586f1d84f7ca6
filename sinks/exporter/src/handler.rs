//! The stage handler: decode incident changes as they arrive, write their ledger rows in one store
//! transaction when the runtime commits ([`StageHandler::persist`]). No remote call here: the
//! dispatcher makes those, so a slow tracker never holds up the partition.

use std::time::Duration;

use friction_runtime::retry::{retry_blocking, Backoff};
use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::{decode, IncidentChange};
use friction_store::Store;

use crate::integration::list_integrations;
use crate::ledger::record_changes;
use crate::ExportError;

/// The exporter's consumer half.
pub struct ExporterHandler {
    store: Store,
    runtime: tokio::runtime::Handle,
    batch: Vec<IncidentChange>,
    max_retry: Duration,
}

impl ExporterHandler {
    /// `runtime` runs the store's futures; the stage thread blocks on them.
    pub fn new(store: Store, runtime: tokio::runtime::Handle) -> Self {
        ExporterHandler { store, runtime, batch: Vec::new(), max_retry: Duration::from_secs(600) }
    }
}

/// Writes the ledger rows of `changes` (what `persist` does, without the retries).
pub async fn record(store: &Store, changes: &[IncidentChange]) -> Result<usize, ExportError> {
    let integrations = list_integrations(store).await?;
    record_changes(store, &integrations, changes, friction_runtime::now_ms()).await
}

impl StageHandler for ExporterHandler {
    fn on_message(
        &mut self,
        _partition: i32,
        _offset: i64,
        _key: Option<&[u8]>,
        payload: &[u8],
        _now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        let change: IncidentChange = decode(payload).map_err(|e| format!("undecodable incident change: {e}"))?;
        if change.id.is_empty() {
            return Err("incident change without an id".into());
        }
        self.batch.push(change);
        Ok(())
    }

    fn persist(&mut self, _out: &mut Outputs) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let written = retry_blocking(
            &Backoff::STORE,
            self.max_retry,
            |e| matches!(e, ExportError::Store(_)),
            |e, _attempt| {
                if let ExportError::Store(e) = e {
                    tracing::warn!(error = %e, "writing ticket ledger rows failed; retrying (input waits)");
                }
            },
            || self.runtime.block_on(record(&self.store, &self.batch)),
        );
        if let Err(e) = written {
            return Err(format!("writing ledger rows for {} incident changes: {e}", self.batch.len()));
        }
        metrics::counter!("friction_exporter_changes_total").increment(self.batch.len() as u64);
        self.batch.clear();
        Ok(())
    }

    fn state_stats(&self) -> (usize, usize) {
        (self.batch.len(), 0)
    }
}
