//! Counting a batch of signals in the store: one transaction per batch (docs/architecture.md §5: batch, write,
//! then commit), the pure decisions of [`crate::model`] in between.

use std::collections::BTreeMap;

use friction_schemas::SignalRecord;
use friction_store::{Affected, Incident, IncidentStatus, Store, StoreError};

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

    /// The store refused what the signals hold (and it is no race): the same batch fails again;
    /// the signals it refuses are dead-lettered (docs/architecture.md §5).
    pub fn refuses_content(&self) -> bool {
        match self {
            ApplyError::Store(e) => !self.is_transient() && e.refuses_content(),
            ApplyError::Conflict(_) => false,
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
///
/// The store is asked in multi-row statements (a handful per batch, not per signal): which signal
/// ids, (incident, session) and (incident, user) pairs are new; the confirmation window is read
/// once per open incident. Counting and confirmation are order-independent, so judging the batch
/// as a whole gives what signal-by-signal would.
pub async fn apply_batch(
    store: &Store,
    signals: &[SignalRecord],
    config: &IncidentConfig,
    now_ms: i64,
) -> Result<Vec<Touched>, ApplyError> {
    // One lock order for every writer (incident, session, signal), so two copies of the stage
    // counting overlapping batches rarely deadlock.
    let mut ordered: Vec<&SignalRecord> = signals.iter().collect();
    ordered.sort_by(|a, b| (&a.fingerprint, &a.session_id, &a.id).cmp(&(&b.fingerprint, &b.session_id, &b.id)));
    ordered.dedup_by(|a, b| a.id == b.id);

    let mut tx = store.begin_incidents().await?;
    let mut ids: Vec<&str> = ordered.iter().map(|s| model::incident_id(s)).collect();
    ids.dedup();
    let mut working: BTreeMap<String, Working> = BTreeMap::new();
    for incident in tx.incidents(&ids).await? {
        let v = incident.version;
        working.insert(
            incident.id.clone(),
            Working { incident, stored_version: Some(v), counted: false, previous_status: None },
        );
    }
    for signal in &ordered {
        working.entry(model::incident_id(signal).to_owned()).or_insert_with(|| Working {
            incident: model::new_incident(signal, now_ms),
            stored_version: None,
            counted: false,
            previous_status: None,
        });
    }

    let rows: Vec<(&str, &str, &str, i64)> =
        ordered.iter().map(|s| (s.id.as_str(), model::incident_id(s), s.session_id.as_str(), s.start_ms)).collect();
    let new_ids = tx.record_signals(&rows).await?;
    let fresh: Vec<&SignalRecord> = ordered.into_iter().filter(|s| new_ids.contains(&s.id)).collect();
    let sessions: Vec<(&str, &str)> = fresh.iter().map(|s| (model::incident_id(s), s.session_id.as_str())).collect();
    let mut new_sessions = tx.record_affected(Affected::Sessions, &sessions).await?;
    let user_keys: Vec<String> = fresh.iter().map(|s| model::user_key(s)).collect();
    let users: Vec<(&str, &str)> =
        fresh.iter().zip(&user_keys).map(|(s, u)| (model::incident_id(s), u.as_str())).collect();
    let mut new_users = tx.record_affected(Affected::Users, &users).await?;

    // Count: each new pair is credited to the first signal that has it.
    let mut window: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (signal, user_key) in fresh.iter().zip(&user_keys) {
        let id = model::incident_id(signal);
        let Some(w) = working.get_mut(id) else { continue };
        let novelty = Novelty {
            new_session: new_sessions.remove(&(id.to_owned(), signal.session_id.clone())),
            new_user: new_users.remove(&(id.to_owned(), user_key.clone())),
        };
        model::count_signal(&mut w.incident, signal, novelty, config);
        w.counted = true;
        let span = window.entry(id).or_insert((signal.start_ms, signal.start_ms));
        *span = (span.0.min(signal.start_ms), span.1.max(signal.start_ms));
    }

    // Lifecycle: confirmation over the window around the batch's signals (read after they were
    // recorded), regression per signal.
    let width = config.confirm_window_ms;
    let mut confirms: BTreeMap<&str, bool> = BTreeMap::new();
    for (id, (from, to)) in &window {
        let open = working.get(*id).is_some_and(|w| w.incident.status == IncidentStatus::Open);
        if open {
            let points = tx.signal_points(id, from.saturating_sub(width), to.saturating_add(width)).await?;
            confirms.insert(id, model::window_confirms(&points, config.confirm_sessions, width));
        }
    }
    for signal in &fresh {
        let id = model::incident_id(signal);
        let Some(w) = working.get_mut(id) else { continue };
        let confirmed = confirms.get(id).copied().unwrap_or(false);
        if let Some(before) = model::after_signal(&mut w.incident, signal, confirmed, now_ms) {
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
