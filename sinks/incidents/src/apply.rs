//! Counting a batch of signals in the store: one transaction per batch (DESIGN §5: batch, write,
//! then commit), the pure decisions of [`crate::model`] in between.

use std::collections::BTreeMap;

use friction_schemas::SignalRecord;
use friction_store::{Incident, IncidentStatus, Store, StoreError};

use crate::model::{self, ChangeKind, IncidentConfig, Novelty};

/// Why a batch could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another writer changed an incident of the batch since it was read; the transaction was
    /// rolled back and the batch can be applied again.
    #[error("incident {0} was changed by another writer meanwhile")]
    Conflict(String),
}

impl ApplyError {
    /// Worth trying again: the database is unreachable or busy, or a writer raced us.
    pub fn is_transient(&self) -> bool {
        match self {
            ApplyError::Store(e) => e.is_unavailable() || is_race(e),
            ApplyError::Conflict(_) => true,
        }
    }
}

/// Two writers raced: both created the same incident (unique violation), or PostgreSQL broke a
/// deadlock between them (40P01) or refused a serialization (40001). Rolled back; try again.
fn is_race(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            db.is_unique_violation() || matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}

/// One incident the batch touched, as stored after the batch, and what happened to it.
#[derive(Debug, Clone)]
pub struct Touched {
    pub incident: Incident,
    pub change: ChangeKind,
    /// The status before the batch when the batch moved it.
    pub previous_status: Option<IncidentStatus>,
}

struct Working {
    incident: Incident,
    /// The version read from the store; `None` for a new incident.
    stored_version: Option<i64>,
    counted: bool,
    previous_status: Option<IncidentStatus>,
}

/// Counts `signals` (already validated) in one transaction and returns every incident they
/// touched, in id order. Signals whose id was counted before change nothing (their incident is
/// still returned, as [`ChangeKind::Replayed`], so its snapshot is published again).
pub async fn apply_batch(
    store: &Store,
    signals: &[SignalRecord],
    config: &IncidentConfig,
    now_ms: i64,
) -> Result<Vec<Touched>, ApplyError> {
    // One lock order for every writer (incident, session, signal), so two copies of the stage
    // counting overlapping batches rarely deadlock. Counting is order-independent.
    let mut ordered: Vec<&SignalRecord> = signals.iter().collect();
    ordered.sort_by(|a, b| (&a.fingerprint, &a.session_id, &a.id).cmp(&(&b.fingerprint, &b.session_id, &b.id)));
    let mut tx = store.begin_incidents().await?;
    let mut working: BTreeMap<String, Working> = BTreeMap::new();
    for signal in ordered {
        let id = model::incident_id(signal).to_owned();
        if !working.contains_key(&id) {
            let (incident, stored_version) = match tx.incident(&id).await? {
                Some(existing) => {
                    let v = existing.version;
                    (existing, Some(v))
                }
                None => (model::new_incident(signal, now_ms), None),
            };
            working.insert(id.clone(), Working { incident, stored_version, counted: false, previous_status: None });
        }
        let Some(w) = working.get_mut(&id) else { continue };
        if !tx.record_signal(&signal.id, &id, &signal.session_id, signal.start_ms).await? {
            continue;
        }
        let new_session = tx.record_session(&id, &signal.session_id).await?;
        let new_user = tx.record_user(&id, &model::user_key(signal)).await?;
        model::count_signal(&mut w.incident, signal, Novelty { new_session, new_user }, config);
        w.counted = true;
        let confirms = if w.incident.status == IncidentStatus::Open {
            let window = config.confirm_window_ms;
            let points = tx
                .signal_points(&id, signal.start_ms.saturating_sub(window), signal.start_ms.saturating_add(window))
                .await?;
            model::window_confirms(&points, config.confirm_sessions, window)
        } else {
            false
        };
        if let Some(before) = model::after_signal(&mut w.incident, signal, confirms, now_ms) {
            w.previous_status.get_or_insert(before);
        }
    }

    let mut touched = Vec::with_capacity(working.len());
    for (id, mut w) in working {
        let change = if !w.counted {
            ChangeKind::Replayed
        } else if w.stored_version.is_none() {
            ChangeKind::Created
        } else if w.previous_status.is_some() {
            ChangeKind::Status
        } else {
            ChangeKind::Counted
        };
        if w.counted {
            model::rescore(&mut w.incident, config);
            w.incident.version += 1;
            w.incident.updated_at_ms = now_ms;
            match w.stored_version {
                None => tx.insert_incident(&w.incident).await?,
                Some(expected) => {
                    if !tx.update_incident(&w.incident, expected).await? {
                        return Err(ApplyError::Conflict(id));
                    }
                }
            }
        } else if w.stored_version.is_none() {
            // Every signal of a new incident was a replay: the incident row is missing while its
            // signals are recorded, which only a manual deletion causes. Nothing to publish.
            continue;
        }
        touched.push(Touched { incident: w.incident, change, previous_status: w.previous_status });
    }
    tx.commit().await?;
    Ok(touched)
}
