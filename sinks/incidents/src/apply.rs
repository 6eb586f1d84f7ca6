//! Counting a batch of signals in the store: one transaction per batch (docs/architecture.md §5: batch, write,
//! then commit), the pure decisions of [`crate::model`] in between.

use std::collections::BTreeMap;

use friction_schemas::SignalRecord;
use friction_store::{Incident, IncidentStatus, Store, StoreError};

use crate::model::{self, ChangeKind, IncidentConfig};

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
    /// Signal versions of the batch applied to it (newer than what was stored).
    applied: Vec<usize>,
    /// One of them replaced a live contribution (a correction or a retraction): a confirmation may
    /// no longer hold.
    replaced_live: bool,
    previous_status: Option<IncidentStatus>,
}

/// Applies `signals` (already validated) in one transaction and returns every incident they
/// touched, in id order (docs/architecture.md §4 "Incidents"). A signal version applies only if it
/// is newer than the one stored for its (incident, signal id); the others change nothing (their
/// incident is still returned, as [`ChangeKind::Replayed`], so its snapshot is published again).
/// A retracted version takes the signal out of every count.
///
/// Counts, first/last seen and labels are read back from the live contributions (derived, never
/// incremented), so any delivery order of the versions converges to the same incident. The store
/// is asked in multi-row statements (a handful per batch, not per signal); the confirmation policy
/// is judged once per changed incident.
pub async fn apply_batch(
    store: &Store,
    signals: &[SignalRecord],
    config: &IncidentConfig,
    now_ms: i64,
) -> Result<Vec<Touched>, ApplyError> {
    // The newest version of each (incident, signal) in the batch, in one lock order for every
    // writer (incident, signal), so two copies of the stage rarely deadlock.
    let mut ordered: Vec<&SignalRecord> = signals.iter().collect();
    ordered.sort_by(|a, b| {
        (&a.fingerprint, &a.id, std::cmp::Reverse(a.version)).cmp(&(
            &b.fingerprint,
            &b.id,
            std::cmp::Reverse(b.version),
        ))
    });
    ordered.dedup_by(|a, b| a.fingerprint == b.fingerprint && a.id == b.id);

    let mut tx = store.begin_incidents().await?;
    let mut ids: Vec<&str> = ordered.iter().map(|s| model::incident_id(s)).collect();
    ids.dedup();
    let mut working: BTreeMap<String, Working> = BTreeMap::new();
    for incident in tx.incidents(&ids).await? {
        let v = incident.version;
        working.insert(
            incident.id.clone(),
            Working {
                incident,
                stored_version: Some(v),
                applied: Vec::new(),
                replaced_live: false,
                previous_status: None,
            },
        );
    }
    for signal in &ordered {
        working.entry(model::incident_id(signal).to_owned()).or_insert_with(|| Working {
            incident: model::new_incident(signal, now_ms),
            stored_version: None,
            applied: Vec::new(),
            replaced_live: false,
            previous_status: None,
        });
    }

    // Which versions are newer than the stored ones; those are written (each over a stored row
    // only if still newer, whoever wrote it meanwhile).
    let keys: Vec<(&str, &str)> = ordered.iter().map(|s| (model::incident_id(s), s.id.as_str())).collect();
    let stored = tx.contributions(&keys).await?;
    let stored_of = |s: &SignalRecord| stored.get(&(model::incident_id(s).to_owned(), s.id.clone())).copied();
    let newer: Vec<usize> = (0..ordered.len())
        .filter(|&n| model::version_applies(stored_of(ordered[n]).map(|c| c.version), ordered[n].version))
        .collect();
    let rows: Vec<_> = newer.iter().map(|&n| model::contribution(ordered[n])).collect();
    let written = tx.save_contributions(&rows).await?;
    for n in newer {
        let signal = ordered[n];
        if !written.contains(&(model::incident_id(signal).to_owned(), signal.id.clone())) {
            continue;
        }
        let Some(w) = working.get_mut(model::incident_id(signal)) else { continue };
        w.applied.push(n);
        w.replaced_live |= stored_of(signal).is_some_and(|c| c.live);
    }

    // Counts and labels derived from the live contributions of every changed incident.
    let changed: Vec<&str> = working.iter().filter(|(_, w)| !w.applied.is_empty()).map(|(id, _)| id.as_str()).collect();
    let mut totals = tx.live_totals(&changed).await?;
    let mut labels = tx.live_labels(&changed).await?;
    let changed: Vec<String> = changed.into_iter().map(str::to_owned).collect();
    for id in &changed {
        let Some(w) = working.get_mut(id) else { continue };
        let derived = model::Derived { totals: totals.remove(id), labels: labels.remove(id).unwrap_or_default() };
        model::set_derived(&mut w.incident, &derived);
        let applied: Vec<&SignalRecord> = w.applied.iter().map(|&n| ordered[n]).collect();
        if model::apply_versions(&mut w.incident, &applied, config) {
            let stored = tx.live_samples(id, config.max_samples).await?;
            model::refill_samples(&mut w.incident, stored, config);
        }

        // Lifecycle: regression per new live version; confirmation by the policy of the incident's
        // project and kind, over the window around the new live versions (an open incident), or
        // over every live contribution when one was replaced (a confirmed one may no longer hold).
        for signal in applied.iter().filter(|s| !s.retracted) {
            if let Some(before) = model::after_signal(&mut w.incident, signal, false, now_ms) {
                w.previous_status.get_or_insert(before);
            }
        }
        let policy = config.confirmation.for_project(&w.incident.project_id);
        let verdict = match w.incident.status {
            IncidentStatus::Open => {
                let starts = applied.iter().filter(|s| !s.retracted).map(|s| s.start_ms);
                match (starts.clone().min(), starts.max()) {
                    (Some(from), Some(to)) => {
                        let width = policy.window_ms;
                        let points =
                            tx.confirmation_points(id, from.saturating_sub(width), to.saturating_add(width)).await?;
                        Some(model::policy_confirms(policy, &w.incident.kind, &points))
                    }
                    _ => None,
                }
            }
            IncidentStatus::Confirmed if w.replaced_live && !w.incident.confirmed_manually => {
                let points = tx.confirmation_points(id, i64::MIN, i64::MAX).await?;
                Some(model::policy_confirms(policy, &w.incident.kind, &points))
            }
            _ => None,
        };
        if let Some(before) = verdict.and_then(|confirms| model::judge_confirmation(&mut w.incident, confirms, now_ms))
        {
            w.previous_status.get_or_insert(before);
        }
    }

    let mut touched = Vec::with_capacity(working.len());
    for (id, mut w) in working {
        let counted = !w.applied.is_empty();
        let change = if !counted {
            ChangeKind::Replayed
        } else if w.stored_version.is_none() {
            ChangeKind::Created
        } else if w.previous_status.is_some() {
            ChangeKind::Status
        } else {
            ChangeKind::Counted
        };
        if counted {
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
            // Every version of a new incident was a replay: the incident row is missing while its
            // contributions are stored, which only a manual deletion causes. Nothing to publish.
            continue;
        }
        touched.push(Touched { incident: w.incident, change, previous_status: w.previous_status });
    }
    tx.commit().await?;
    Ok(touched)
}
