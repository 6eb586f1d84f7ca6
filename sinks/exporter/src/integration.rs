//! Integrations in the store: where tickets go, which incidents qualify, the encrypted
//! credential, and the circuit breaker.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use friction_schemas::IncidentChange;
use friction_store::Store;

use crate::outcome::{Breaker, Health};
use crate::secret::{MasterKey, Secret};
use crate::ExportError;

/// Which kind of target an integration talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Jira,
    Linear,
    Github,
    Webhook,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jira => "jira",
            Kind::Linear => "linear",
            Kind::Github => "github",
            Kind::Webhook => "webhook",
        }
    }
    pub fn parse(s: &str) -> Result<Kind, ExportError> {
        match s {
            "jira" => Ok(Kind::Jira),
            "linear" => Ok(Kind::Linear),
            "github" => Ok(Kind::Github),
            "webhook" => Ok(Kind::Webhook),
            other => {
                Err(ExportError::Invalid(format!("unknown integration kind {other:?} (jira, linear, github, webhook)")))
            }
        }
    }
}

/// What happens when an incident regresses after its ticket was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionPolicy {
    /// Reopen the existing ticket and comment on it.
    #[default]
    Reopen,
    /// A new ticket per incident generation.
    NewGeneration,
}

/// Non-secret settings. Which fields matter depends on the kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntegrationConfig {
    /// Jira site (`https://acme.atlassian.net`), Linear API (`https://api.linear.app`), GitHub
    /// API (`https://api.github.com`), or the webhook endpoint URL.
    pub base_url: String,
    /// Jira: the account e-mail of the API token (Basic auth is `email:token`).
    pub email: Option<String>,
    /// Jira project key and issue type id.
    pub project_key: Option<String>,
    pub issue_type_id: Option<String>,
    /// Jira: the transition id that reopens an issue (for the reopen policy).
    pub reopen_transition_id: Option<String>,
    /// Linear team id.
    pub team_id: Option<String>,
    /// Linear: the workflow state (e.g. the team's "Todo") a regressed issue moves back to (for the
    /// reopen policy; without it a regression only comments).
    pub reopen_state_id: Option<String>,
    /// GitHub `owner/name`.
    pub repo: Option<String>,
    pub regression: RegressionPolicy,
    /// Webhooks: allow private, loopback and link-local addresses (tests, local receivers).
    pub allow_private_network: bool,
    /// Recurrence comments: at most one per this many seconds (default 6 h)...
    pub comment_window_secs: Option<u64>,
    /// ...and only after this many new occurrences (default 10).
    pub comment_min_new: Option<i64>,
}

/// An integration as stored (the secret stays encrypted until [`Integration::secret`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub project_id: Option<String>,
    pub kinds: Vec<String>,
    pub min_severity: f64,
    pub config: IntegrationConfig,
    pub enabled: bool,
    /// The breaker is open for a configuration error: no calls until a person acts.
    pub breaker_open: bool,
    pub breaker_reason: Option<String>,
    /// The breaker, transient failures in a row and the integration's backoff (docs/exporter.md
    /// "Circuit breaker").
    #[serde(skip)]
    pub health: Health,
    /// The last transient failure (class and scrubbed summary), while it is failing.
    pub last_error: Option<String>,
    #[serde(skip)]
    secret_ciphertext: String,
}

impl Integration {
    /// The credential, decrypted.
    pub fn secret(&self, key: &MasterKey) -> Result<Secret, ExportError> {
        Ok(key.decrypt(&self.secret_ciphertext, &self.id)?)
    }

    /// Whether `change` should have a ticket here (project, kind, minimum severity).
    pub fn matches(&self, change: &IncidentChange) -> bool {
        self.project_id.as_deref().is_none_or(|p| p == change.project_id)
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == &change.kind))
            && change.severity >= self.min_severity
    }

    /// The ledger generation a change of incident generation `generation` belongs to.
    pub fn ticket_generation(&self, incident_generation: i32) -> i64 {
        match self.config.regression {
            RegressionPolicy::Reopen => 1,
            RegressionPolicy::NewGeneration => i64::from(incident_generation.max(1)),
        }
    }
}

/// What `friction integrations add` gives.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub name: String,
    pub kind: Kind,
    pub project_id: Option<String>,
    pub kinds: Vec<String>,
    pub min_severity: f64,
    pub config: IntegrationConfig,
    pub secret: Secret,
}

const SELECT: &str =
    "SELECT id, name, kind, project_id, kinds, min_severity, config, secret, enabled, breaker, breaker_reason, \
    failures, breaker_opens, retry_at, last_error FROM integrations";

fn from_row(row: &AnyRow) -> Result<Integration, ExportError> {
    let kind: String = row.try_get(2)?;
    let kinds: String = row.try_get(4)?;
    let config: String = row.try_get(6)?;
    let breaker = Breaker::parse(&row.try_get::<String, _>(9)?);
    let count = |i: usize| -> Result<u32, ExportError> {
        Ok(u32::try_from(row.try_get::<i64, _>(i)?.max(0)).unwrap_or(u32::MAX))
    };
    Ok(Integration {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        kind: Kind::parse(&kind)?,
        project_id: row.try_get(3)?,
        kinds: serde_json::from_str(&kinds).map_err(|e| ExportError::Invalid(format!("stored kinds: {e}")))?,
        min_severity: row.try_get(5)?,
        config: serde_json::from_str(&config).map_err(|e| ExportError::Invalid(format!("stored config: {e}")))?,
        secret_ciphertext: row.try_get(7)?,
        enabled: row.try_get::<i64, _>(8)? != 0,
        breaker_open: breaker == Breaker::Open,
        breaker_reason: row.try_get(10)?,
        health: Health { breaker, failures: count(11)?, opens: count(12)?, retry_at: row.try_get(13)? },
        last_error: row.try_get(14)?,
    })
}

fn now_ms() -> i64 {
    friction_runtime::now_ms()
}

/// Adds an integration, its secret encrypted with `key`.
pub async fn add_integration(store: &Store, key: &MasterKey, new: &NewIntegration) -> Result<Integration, ExportError> {
    if new.name.trim().is_empty() {
        return Err(ExportError::Invalid("an integration needs a name".into()));
    }
    let id = hex::encode(rand::random::<[u8; 8]>());
    let secret = key.encrypt(&new.secret, &id);
    let kinds = serde_json::to_string(&new.kinds).map_err(|e| ExportError::Invalid(e.to_string()))?;
    let config = serde_json::to_string(&new.config).map_err(|e| ExportError::Invalid(e.to_string()))?;
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO integrations (id, name, kind, project_id, kinds, min_severity, config, secret, enabled, breaker, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 'closed', $9, $9) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(new.name.trim())
    .bind(new.kind.as_str())
    .bind(&new.project_id)
    .bind(kinds)
    .bind(new.min_severity)
    .bind(config)
    .bind(secret)
    .bind(now)
    .execute(store.pool())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ExportError::Invalid(format!("an integration named {:?} already exists", new.name.trim())));
    }
    integration(store, &id).await?.ok_or_else(|| ExportError::Invalid("integration vanished".into()))
}

pub async fn integration(store: &Store, id_or_name: &str) -> Result<Option<Integration>, ExportError> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1 OR name = $1"))
        .bind(id_or_name)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list_integrations(store: &Store) -> Result<Vec<Integration>, ExportError> {
    let rows = sqlx::query(&format!("{SELECT} ORDER BY name")).fetch_all(store.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// Enables or disables; enabling also closes the breaker (the configuration was looked at).
pub async fn set_enabled(store: &Store, id_or_name: &str, enabled: bool) -> Result<bool, ExportError> {
    let sql = if enabled {
        "UPDATE integrations SET enabled = 1, breaker = 'closed', breaker_reason = NULL, failures = 0, breaker_opens = 0, \
         retry_at = 0, last_error = NULL, updated_at = $2 WHERE id = $1 OR name = $1"
    } else {
        "UPDATE integrations SET enabled = 0, updated_at = $2 WHERE id = $1 OR name = $1"
    };
    let done = sqlx::query(sql).bind(id_or_name).bind(now_ms()).execute(store.pool()).await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes an integration (by id or name); whether one was. Its ledger rows stay as history: the
/// dispatcher claims rows of existing, enabled integrations only.
pub async fn delete_integration(store: &Store, id_or_name: &str) -> Result<bool, ExportError> {
    let done = sqlx::query("DELETE FROM integrations WHERE id = $1 OR name = $1")
        .bind(id_or_name)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Opens the breaker: no calls until the configuration changes. `reason` must be scrubbed.
pub async fn open_breaker(store: &Store, id: &str, reason: &str) -> Result<(), ExportError> {
    sqlx::query("UPDATE integrations SET breaker = 'open', breaker_reason = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(reason)
        .bind(now_ms())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Closes the breaker (after a successful `integrations test`).
pub async fn close_breaker(store: &Store, id: &str) -> Result<(), ExportError> {
    sqlx::query(
        "UPDATE integrations SET breaker = 'closed', breaker_reason = NULL, failures = 0, breaker_opens = 0, retry_at = 0, \
         last_error = NULL, updated_at = $2 WHERE id = $1",
    )
        .bind(id)
        .bind(now_ms())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Moves an integration from health `old` to `new` (the dispatcher's decision, `BreakerPolicy::next`),
/// only if it is still `old`: of several dispatcher copies deciding at once, one wins and the
/// others re-read. A configuration breaker (`open`) is never touched here. `error`: the last
/// transient failure (scrubbed), kept while the integration is unwell.
pub async fn set_health(
    store: &Store,
    id: &str,
    old: &Health,
    new: &Health,
    error: Option<&str>,
) -> Result<bool, ExportError> {
    let done = sqlx::query(
        "UPDATE integrations SET breaker = $2, failures = $3, breaker_opens = $4, retry_at = $5, \
         last_error = CASE WHEN $3 = 0 THEN NULL ELSE COALESCE($6, last_error) END, updated_at = $7 \
         WHERE id = $1 AND breaker = $8 AND breaker <> 'open' AND failures = $9 AND breaker_opens = $10 AND retry_at = $11",
    )
    .bind(id)
    .bind(new.breaker.as_str())
    .bind(i64::from(new.failures))
    .bind(i64::from(new.opens))
    .bind(new.retry_at)
    .bind(error)
    .bind(now_ms())
    .bind(old.breaker.as_str())
    .bind(i64::from(old.failures))
    .bind(i64::from(old.opens))
    .bind(old.retry_at)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
