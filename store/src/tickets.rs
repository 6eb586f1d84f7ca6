//! The exporter's ticket ledger as the console shows it (read only; the exporter crate writes it).

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// One ticket (or the attempt at one) of an incident in one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRef {
    pub integration_id: String,
    pub integration: Option<String>,
    pub kind: Option<String>,
    pub generation: i64,
    /// pending | creating | ambiguous | created | failed_permanent
    pub state: String,
    pub key: Option<String>,
    pub url: Option<String>,
    /// The class and scrubbed summary of the last failure, if any.
    pub error_class: Option<String>,
    pub error: Option<String>,
    /// Failed calls so far (creates and reconcile lookups) and when the row is next tried (epoch ms).
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The integration's circuit breaker: closed | cooling (transient failures in a row; one probe
    /// at `integrationRetryAt`) | open (a configuration error, until a person acts).
    pub integration_breaker: Option<String>,
    /// Transient failures in a row of the integration, no call before this (epoch ms), and the
    /// last failure (class and scrubbed summary) or the reason the breaker is open.
    pub integration_failures: Option<i64>,
    pub integration_retry_at: Option<i64>,
    pub integration_error: Option<String>,
}

impl Store {
    /// Every ledger row of an incident, by integration name and generation.
    pub async fn incident_tickets(&self, incident_id: &str) -> Result<Vec<TicketRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.integration_id, i.name, i.kind, t.generation, t.state, t.external_key, t.external_url, \
             t.last_error_class, t.last_error_summary, t.attempts, t.next_attempt_at, i.breaker, i.failures, i.retry_at, \
             COALESCE(i.breaker_reason, i.last_error) FROM ticket_links t LEFT JOIN integrations i ON i.id = t.integration_id \
             WHERE t.incident_id = $1 ORDER BY i.name, t.generation",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketRef {
                    integration_id: r.try_get(0)?,
                    integration: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    generation: r.try_get(3)?,
                    state: r.try_get(4)?,
                    key: r.try_get(5)?,
                    url: r.try_get(6)?,
                    error_class: r.try_get(7)?,
                    error: r.try_get(8)?,
                    attempts: r.try_get(9)?,
                    next_attempt_at: r.try_get(10)?,
                    integration_breaker: r.try_get(11)?,
                    integration_failures: r.try_get(12)?,
                    integration_retry_at: r.try_get(13)?,
                    integration_error: r.try_get(14)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
