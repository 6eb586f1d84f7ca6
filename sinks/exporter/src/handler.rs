//! The stage handler: decode incident changes as they arrive, write their ledger rows in one store
//! transaction when the runtime commits ([`StageHandler::persist`]). No remote call here: the
//! dispatcher makes those, so a slow tracker never holds up the partition.

use std::sync::Arc;
use std::time::Duration;

use friction_runtime::isolate::{isolate, Sources};
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
    /// Where each change of `batch` was read and its bytes, to dead-letter it as it came should
    /// the store refuse it.
    sources: Sources,
    max_retry: Duration,
    /// The dispatcher of this process, woken once rows are written.
    wake: Option<Arc<tokio::sync::Notify>>,
}

/// Changes of one batch the store may refuse before the batch counts as a broken store rather
/// than bad records (the runtime's own default limit of dead letters a minute).
const MAX_REFUSED_PER_BATCH: usize = 100;

impl ExporterHandler {
    /// `runtime` runs the store's futures; the stage thread blocks on them. `incidents_topic` is
    /// where changes are read (the `source.topic` of a change the store refuses).
    pub fn new(store: Store, runtime: tokio::runtime::Handle, incidents_topic: Arc<str>) -> Self {
        ExporterHandler {
            store,
            runtime,
            batch: Vec::new(),
            sources: Sources::new(incidents_topic),
            max_retry: Duration::from_secs(600),
            wake: None,
        }
    }

    /// Wakes `dispatcher` (its [`crate::Dispatcher::waker`]) after each batch of ledger rows is
    /// written, so its remote calls start at once.
    pub fn wake_on_write(mut self, dispatcher: Arc<tokio::sync::Notify>) -> Self {
        self.wake = Some(dispatcher);
        self
    }

    /// Writes the ledger rows of `changes` in one transaction, retrying every store error but one
    /// caused by what the changes hold (an outage, a lock, a race between two copies) for up to
    /// `max_retry`.
    fn write(&self, changes: &[IncidentChange]) -> Result<usize, ExportError> {
        retry_blocking(
            &Backoff::STORE,
            self.max_retry,
            |e| matches!(e, ExportError::Store(s) if !friction_store::sqlx_error_refuses_content(s)),
            |e, _attempt| {
                if let ExportError::Store(e) = e {
                    tracing::warn!(error = %e, "writing ticket ledger rows failed; retrying (input waits)");
                }
            },
            || self.runtime.block_on(record(&self.store, changes)),
        )
    }
}

/// The store refused what a change holds (a NUL in its id on PostgreSQL, an id too long for the
/// key's index): the same change fails again, so it is dead-lettered (docs/architecture.md §5).
fn refuses_content(e: &ExportError) -> bool {
    matches!(e, ExportError::Store(s) if friction_store::sqlx_error_refuses_content(s))
}

/// What the ledger cannot keep and read back, refused before it is batched: the snapshot is stored
/// as JSON, where a NaN or infinite severity becomes `null` and the row could no longer be read.
fn check(change: &IncidentChange) -> Result<(), String> {
    if change.id.is_empty() {
        return Err("incident change without an id".into());
    }
    if !change.severity.is_finite() {
        return Err(format!("incident change {}: severity {} is not a finite number", change.id, change.severity));
    }
    Ok(())
}

/// Writes the ledger rows of `changes` (what `persist` does, without the retries).
pub async fn record(store: &Store, changes: &[IncidentChange]) -> Result<usize, ExportError> {
    let integrations = list_integrations(store).await?;
    record_changes(store, &integrations, changes, friction_runtime::now_ms()).await
}

impl StageHandler for ExporterHandler {
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        _now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        let change: IncidentChange = decode(payload).map_err(|e| format!("undecodable incident change: {e}"))?;
        check(&change)?;
        self.sources.push(partition, offset, key, payload);
        self.batch.push(change);
        Ok(())
    }

    fn persist(&mut self, out: &mut Outputs) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // One transaction for the batch; split only when the store refuses a change's content.
        let written = isolate(&self.batch, MAX_REFUSED_PER_BATCH, |changes| self.write(changes), refuses_content)
            .map_err(|e| format!("writing ledger rows for {} incident changes: {e}", self.batch.len()))?;
        for (index, e) in &written.refused {
            let id = self.batch.get(*index).map(|c| c.id.chars().take(200).collect::<String>()).unwrap_or_default();
            metrics::counter!("friction_exporter_changes_refused_total").increment(1);
            let error = format!("the store refused the ledger rows of incident change {id:?}: {e}");
            if let Some(letter) = self.sources.dead_letter(*index, error) {
                out.dead_letter(letter);
            }
        }
        metrics::counter!("friction_exporter_changes_total")
            .increment((self.batch.len() - written.refused.len()) as u64);
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
        self.batch.clear();
        self.sources.clear();
        Ok(())
    }

    fn state_stats(&self) -> (usize, usize) {
        (self.batch.len(), 0)
    }
}
