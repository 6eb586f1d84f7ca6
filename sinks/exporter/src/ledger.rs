//! The ticket ledger (docs/exporter.md "The ledger"): one row per (incident, integration,
//! generation), written before any remote call. The consumer only writes rows; dispatchers claim
//! due rows with a lease and every later write is fenced by the lease owner, so two exporter
//! copies never act on one row at once.

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use friction_schemas::IncidentChange;
use friction_store::Store;

use crate::integration::{Integration, Kind, RegressionPolicy};
use crate::outcome::CommentPolicy;
use crate::ExportError;

pub const PENDING: &str = "pending";
pub const CREATING: &str = "creating";
pub const AMBIGUOUS: &str = "ambiguous";
pub const CREATED: &str = "created";
pub const FAILED: &str = "failed_permanent";

/// The key of a ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    pub incident_id: String,
    pub integration_id: String,
    pub generation: i64,
}

/// A ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub key: LinkKey,
    pub state: String,
    pub marker: String,
    pub attempt_started_at: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub external_id: Option<String>,
    pub external_key: Option<String>,
    pub external_url: Option<String>,
    pub snapshot: IncidentChange,
    pub incident_version: i64,
    pub reported_occurrences: i64,
    pub comment_wanted: bool,
    pub last_commented_at: Option<i64>,
    pub reopen_wanted: bool,
    pub last_error_class: Option<String>,
    pub last_error_summary: Option<String>,
    pub created_at: i64,
}

/// The remote marker of a row: hex only (safe in JQL and labels), per integration, incident and
/// generation; recomputable from the key alone.
pub fn marker(kind: Kind, key: &LinkKey) -> String {
    let digest = Sha256::digest(format!("{}:{}", key.integration_id, key.incident_id));
    let short = hex::encode(&digest[..8]);
    match kind {
        // Linear takes a client-chosen UUID v4: v4-shaped from the hash (version and variant bits).
        Kind::Linear => {
            let mut b = [0u8; 16];
            let d = Sha256::digest(format!("linear:{}:{}:{}", key.integration_id, key.incident_id, key.generation));
            b.copy_from_slice(&d[..16]);
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            uuid::Uuid::from_bytes(b).to_string()
        }
        Kind::Webhook => format!("evt_{short}_g{}", key.generation),
        Kind::Jira | Kind::Github => format!("frustration-{short}-g{}", key.generation),
    }
}

/// Whether a change asks for a ticket at all.
pub fn wants_ticket(change: &IncidentChange) -> bool {
    matches!(change.status.as_str(), "confirmed" | "regressed")
}

/// Whether `change` un-confirms the incident a ticket was made for: the ticket's last snapshot was
/// confirmed and the incident is open again (a retraction took it below its confirmation policy).
/// The ticket stays; a comment says so (docs/exporter.md "Recurrence and retraction comments").
pub fn unconfirms(reported: &IncidentChange, change: &IncidentChange) -> bool {
    reported.status == "confirmed" && change.status == "open"
}

const SELECT: &str = "SELECT incident_id, integration_id, generation, state, marker, attempt_started_at, attempts, \
    next_attempt_at, external_id, external_key, external_url, snapshot, incident_version, reported_occurrences, \
    comment_wanted, last_commented_at, reopen_wanted, last_error_class, last_error_summary, created_at FROM ticket_links";

fn from_row(row: &AnyRow) -> Result<Link, ExportError> {
    let snapshot: String = row.try_get(11)?;
    Ok(Link {
        key: LinkKey { incident_id: row.try_get(0)?, integration_id: row.try_get(1)?, generation: row.try_get(2)? },
        state: row.try_get(3)?,
        marker: row.try_get(4)?,
        attempt_started_at: row.try_get(5)?,
        attempts: row.try_get(6)?,
        next_attempt_at: row.try_get(7)?,
        external_id: row.try_get(8)?,
        external_key: row.try_get(9)?,
        external_url: row.try_get(10)?,
        snapshot: serde_json::from_str(&snapshot).map_err(|e| ExportError::Invalid(format!("stored snapshot: {e}")))?,
        incident_version: row.try_get(12)?,
        reported_occurrences: row.try_get(13)?,
        comment_wanted: row.try_get::<i64, _>(14)? != 0,
        last_commented_at: row.try_get(15)?,
        reopen_wanted: row.try_get::<i64, _>(16)? != 0,
        last_error_class: row.try_get(17)?,
        last_error_summary: row.try_get(18)?,
        created_at: row.try_get(19)?,
    })
}

const PK: &str = "incident_id = $1 AND integration_id = $2 AND generation = $3";

/// The consumer's write: for each change and each enabled integration that matches, make sure the
/// ledger row exists (a no-op on redelivery) and carries the newest snapshot; on a created ticket,
/// ask for a throttled recurrence comment or a reopen. One transaction; no remote call.
pub async fn record_changes(
    store: &Store,
    integrations: &[Integration],
    changes: &[IncidentChange],
    now_ms: i64,
) -> Result<usize, ExportError> {
    let mut tx = store.pool().begin().await?;
    let mut written = 0;
    for change in changes {
        for integration in integrations.iter().filter(|i| i.enabled && i.matches(change)) {
            let key = LinkKey {
                incident_id: change.id.clone(),
                integration_id: integration.id.clone(),
                generation: integration.ticket_generation(change.generation),
            };
            let snapshot = serde_json::to_string(change).map_err(|e| ExportError::Invalid(e.to_string()))?;
            if wants_ticket(change) {
                let done = sqlx::query(
                    "INSERT INTO ticket_links (incident_id, integration_id, generation, state, marker, attempts, \
                     next_attempt_at, snapshot, incident_version, incident_generation, reported_occurrences, \
                     comment_wanted, reopen_wanted, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, $7, $8, 0, 0, 0, $5, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&key.incident_id)
                .bind(&key.integration_id)
                .bind(key.generation)
                .bind(marker(integration.kind, &key))
                .bind(now_ms)
                .bind(&snapshot)
                .bind(change.version)
                .bind(i64::from(change.generation))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    written += 1;
                    continue;
                }
            }
            let row = sqlx::query(&format!("{SELECT} WHERE {PK}"))
                .bind(&key.incident_id)
                .bind(&key.integration_id)
                .bind(key.generation)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { continue };
            let link = from_row(&row)?;
            if change.version <= link.incident_version {
                continue; // redelivery or an older change: nothing new
            }
            let old_generation: i64 =
                sqlx::query_scalar(&format!("SELECT incident_generation FROM ticket_links WHERE {PK}"))
                    .bind(&key.incident_id)
                    .bind(&key.integration_id)
                    .bind(key.generation)
                    .fetch_one(&mut *tx)
                    .await?;
            let mut comment_wanted = link.comment_wanted;
            let mut reopen_wanted = link.reopen_wanted;
            let mut next_attempt_at = link.next_attempt_at;
            if link.state == CREATED {
                let regressed = integration.config.regression == RegressionPolicy::Reopen
                    && i64::from(change.generation) > old_generation
                    && wants_ticket(change);
                if regressed {
                    reopen_wanted = true;
                    next_attempt_at = now_ms;
                }
                let policy = comment_policy(integration);
                if unconfirms(&link.snapshot, change) {
                    let at = policy.unconfirmed_comment_at(link.last_commented_at, link.created_at);
                    if !comment_wanted {
                        next_attempt_at = at;
                    }
                    comment_wanted = true;
                } else if let Some(at) = policy.comment_at(
                    link.reported_occurrences,
                    change.occurrences,
                    link.last_commented_at,
                    link.created_at,
                ) {
                    if !comment_wanted || regressed {
                        next_attempt_at = if regressed { now_ms } else { at };
                    }
                    comment_wanted = true;
                }
            }
            sqlx::query(&format!(
                "UPDATE ticket_links SET snapshot = $4, incident_version = $5, incident_generation = $6, comment_wanted = $7, \
                 reopen_wanted = $8, next_attempt_at = $9, updated_at = $10 WHERE {PK} AND incident_version < $5"
            ))
            .bind(&key.incident_id)
            .bind(&key.integration_id)
            .bind(key.generation)
            .bind(&snapshot)
            .bind(change.version)
            .bind(i64::from(change.generation).max(old_generation))
            .bind(i64::from(comment_wanted))
            .bind(i64::from(reopen_wanted))
            .bind(next_attempt_at)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            written += 1;
        }
    }
    tx.commit().await?;
    Ok(written)
}

/// The comment policy of an integration.
pub fn comment_policy(integration: &Integration) -> CommentPolicy {
    let default = CommentPolicy::default();
    CommentPolicy {
        window: integration.config.comment_window_secs.map(std::time::Duration::from_secs).unwrap_or(default.window),
        min_new: integration.config.comment_min_new.unwrap_or(default.min_new),
    }
}

/// Claims up to `limit` due rows for `owner` until `now_ms + lease_ms`. Rows of disabled
/// integrations, of an open or cooling breaker, or of an integration backing off are not due. Each row is taken by a conditional update,
/// so of two dispatchers exactly one gets it.
pub async fn claim(
    store: &Store,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Link>, ExportError> {
    let candidates = sqlx::query(&format!(
        "SELECT incident_id, integration_id, generation FROM ticket_links WHERE next_attempt_at <= $1 \
         AND (state IN ('pending', 'creating', 'ambiguous') OR (state = 'created' AND (comment_wanted = 1 OR reopen_wanted = 1))) \
         AND (lease_expires_at IS NULL OR lease_expires_at < $1) \
         AND integration_id IN (SELECT id FROM integrations WHERE enabled = 1 AND breaker = 'closed' AND retry_at <= $1) \
         ORDER BY next_attempt_at LIMIT {limit}"
    ))
    .bind(now_ms)
    .fetch_all(store.pool())
    .await?;
    let mut claimed = Vec::new();
    for c in &candidates {
        let (incident, integration, generation): (String, String, i64) = (c.try_get(0)?, c.try_get(1)?, c.try_get(2)?);
        let done = sqlx::query(&format!(
            "UPDATE ticket_links SET lease_owner = $4, lease_expires_at = $5 WHERE {PK} \
             AND (lease_expires_at IS NULL OR lease_expires_at < $6) AND next_attempt_at <= $6"
        ))
        .bind(&incident)
        .bind(&integration)
        .bind(generation)
        .bind(owner)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .execute(store.pool())
        .await?;
        if done.rows_affected() == 1 {
            if let Some(link) =
                link(store, &LinkKey { incident_id: incident, integration_id: integration, generation }).await?
            {
                claimed.push(link);
            }
        }
    }
    Ok(claimed)
}

/// One row.
pub async fn link(store: &Store, key: &LinkKey) -> Result<Option<Link>, ExportError> {
    let row = sqlx::query(&format!("{SELECT} WHERE {PK}"))
        .bind(&key.incident_id)
        .bind(&key.integration_id)
        .bind(key.generation)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every row of an incident (the console's `tickets`).
pub async fn links_for_incident(store: &Store, incident_id: &str) -> Result<Vec<Link>, ExportError> {
    let rows = sqlx::query(&format!("{SELECT} WHERE incident_id = $1 ORDER BY integration_id, generation"))
        .bind(incident_id)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every row in a state (tests, `integrations list`).
pub async fn links_in_state(store: &Store, state: &str) -> Result<Vec<Link>, ExportError> {
    let rows = sqlx::query(&format!("{SELECT} WHERE state = $1 ORDER BY incident_id"))
        .bind(state)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// A fenced change to a claimed row: applied only while `owner` holds the lease.
#[derive(Debug, Default)]
pub struct Update<'a> {
    pub state: Option<&'a str>,
    pub next_attempt_at: Option<i64>,
    pub attempt: Option<(String, i64)>,
    /// A call other than a create failed (a reconcile lookup, a comment): count it in `attempts`
    /// too, so the row's backoff grows with every failed call (a create counts in phase A).
    pub count_attempt: bool,
    pub external: Option<(String, String, String)>,
    pub error: Option<(&'a str, String)>,
    pub clear_error: bool,
    /// Comment done: occurrences reported, at, and the snapshot version it reported.
    pub commented: Option<(i64, i64, i64)>,
    pub reopened: bool,
    /// Keep the lease (more phases follow); else it is released.
    pub keep_lease: bool,
}

/// Applies `update` if `owner` still holds the lease; false when it was lost (another copy took
/// the row after the lease expired), in which case the caller must stop working on it.
pub async fn apply(
    store: &Store,
    key: &LinkKey,
    owner: &str,
    update: Update<'_>,
    now_ms: i64,
) -> Result<bool, ExportError> {
    let mut sets = vec!["updated_at = $5".to_owned()];
    let mut n = 5;
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |sets: &mut Vec<String>, col: &str, b: Bind| {
        n += 1;
        sets.push(format!("{col} = ${n}"));
        binds.push(b);
    };
    if let Some(state) = update.state {
        push(&mut sets, "state", Bind::Text(Some(state.to_owned())));
    }
    if let Some(at) = update.next_attempt_at {
        push(&mut sets, "next_attempt_at", Bind::Int(Some(at)));
    }
    if let Some((attempt_id, started)) = update.attempt {
        push(&mut sets, "attempt_id", Bind::Text(Some(attempt_id)));
        push(&mut sets, "attempt_started_at", Bind::Int(Some(started)));
        sets.push("attempts = attempts + 1".into());
    } else if update.count_attempt {
        sets.push("attempts = attempts + 1".into());
    }
    if let Some((id, key_, url)) = update.external {
        push(&mut sets, "external_id", Bind::Text(Some(id)));
        push(&mut sets, "external_key", Bind::Text(Some(key_)));
        push(&mut sets, "external_url", Bind::Text(Some(url)));
    }
    if let Some((class, summary)) = update.error {
        push(&mut sets, "last_error_class", Bind::Text(Some(class.to_owned())));
        push(&mut sets, "last_error_summary", Bind::Text(Some(summary)));
    } else if update.clear_error {
        sets.push("last_error_class = NULL".into());
        sets.push("last_error_summary = NULL".into());
    }
    if let Some((reported, at, version)) = update.commented {
        push(&mut sets, "reported_occurrences", Bind::Int(Some(reported)));
        push(&mut sets, "last_commented_at", Bind::Int(Some(at)));
        n += 1;
        sets.push(format!("comment_wanted = CASE WHEN incident_version <= ${n} THEN 0 ELSE comment_wanted END"));
        binds.push(Bind::Int(Some(version)));
    }
    if update.reopened {
        sets.push("reopen_wanted = 0".into());
    }
    if !update.keep_lease {
        sets.push("lease_owner = NULL".into());
        sets.push("lease_expires_at = NULL".into());
    }
    let sql = format!("UPDATE ticket_links SET {} WHERE {PK} AND lease_owner = $4", sets.join(", "));
    let mut q = sqlx::query(&sql)
        .bind(&key.incident_id)
        .bind(&key.integration_id)
        .bind(key.generation)
        .bind(owner)
        .bind(now_ms);
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    Ok(q.execute(store.pool()).await?.rows_affected() == 1)
}

enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
}

/// Sets the reported occurrences of a row just created (the ticket itself reports them).
pub async fn set_reported(store: &Store, key: &LinkKey, reported: i64) -> Result<(), ExportError> {
    sqlx::query(&format!("UPDATE ticket_links SET reported_occurrences = $4 WHERE {PK}"))
        .bind(&key.incident_id)
        .bind(&key.integration_id)
        .bind(key.generation)
        .bind(reported)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Moves every unleased due row of an integration to `until` (after a 429: the rate limit is the
/// credential's, so the other rows would only be refused too).
pub async fn pause_integration(
    store: &Store,
    integration_id: &str,
    until: i64,
    now_ms: i64,
) -> Result<u64, ExportError> {
    let done = sqlx::query(
        "UPDATE ticket_links SET next_attempt_at = $2 WHERE integration_id = $1 AND next_attempt_at < $2 \
         AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
         AND (state IN ('pending', 'creating', 'ambiguous') OR (state = 'created' AND (comment_wanted = 1 OR reopen_wanted = 1)))",
    )
    .bind(integration_id)
    .bind(until)
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected())
}
