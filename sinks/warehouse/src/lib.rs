//! `friction-warehouse`: every sessionized event, session summary, signal and incident change in
//! ClickHouse, for analysts and the console's charts (DESIGN §3 ClickHouse, §4 Warehouse, §5).
//!
//! The stage consumes `friction.sessionized.v1`, `friction.sessions.v1`, `friction.signals.v1`
//! and `friction.incidents.v1` on the shared stage runtime, buffers rows per table, and inserts
//! them with the `clickhouse` crate (RowBinary over HTTP) in batches closed by rows, bytes or time
//! ([`BatchLimits`]). The runtime commits input offsets only after the handler's `persist` has
//! inserted everything it read; an insert is retried with backoff ([`RetryPolicy`]) and, when
//! ClickHouse stays unreachable, the stage stops with the error instead of skipping data.
//!
//! Inserts may repeat after a crash. The tables ([`schema`]) deduplicate by event id, session
//! key, signal id and incident id + version, and the queries in docs/analytics.md and in
//! [`analytics`] give the same answer with or without a repeated batch.
//!
//! The schema works on ClickHouse 18.16 (Debian's package) and current releases. The `clickhouse`
//! crate talks to 18.16 once row validation is off ([`ClickHouseConfig::client`] does that):
//! validation needs `RowBinaryWithNamesAndTypes`, which 18.16 does not have.

pub mod analytics;
pub mod handler;
pub mod rows;
pub mod schema;
pub mod writer;

use std::time::Duration;

pub use handler::{BatchLimits, WarehouseHandler, WarehouseTopics};
pub use schema::{migrate, MigrateReport};
pub use writer::RetryPolicy;

/// What can go wrong in the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("ClickHouse, {what}: {source}")]
    ClickHouse {
        what: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("inserting {rows} rows into {table} failed {attempts} times; last error: {last}. Stopping without committing: the rows will be read again after a restart")]
    InsertFailed { table: String, rows: usize, attempts: u32, last: String },
    #[error("invalid query parameter: {0}")]
    InvalidQuery(String),
}

impl WarehouseError {
    pub(crate) fn clickhouse(what: &str, source: clickhouse::error::Error) -> Self {
        WarehouseError::ClickHouse { what: what.to_string(), source }
    }
}

/// Where ClickHouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database of the warehouse tables (default `friction`).
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ClickHouseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        ClickHouseConfig { url: url.into(), database: DEFAULT_DATABASE.into(), user: None, password: None }
    }

    /// A client for the warehouse database: RowBinary without schema validation (works on 18.16),
    /// LZ4-compressed inserts. Use this client for [`analytics`] too.
    pub fn client(&self) -> Result<clickhouse::Client, WarehouseError> {
        schema::check_database_name(&self.database)?;
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(WarehouseError::Config(format!(
                "ClickHouse URL `{}` must be the HTTP interface (http://host:8123)",
                self.url
            )));
        }
        let mut client = clickhouse::Client::default()
            .with_url(self.url.clone())
            .with_database(self.database.clone())
            .with_validation(false);
        if let Some(user) = &self.user {
            client = client.with_user(user.clone());
        }
        if let Some(password) = &self.password {
            client = client.with_password(password.clone());
        }
        Ok(client)
    }
}

/// The database the warehouse writes unless told otherwise.
pub const DEFAULT_DATABASE: &str = "friction";

/// Everything the warehouse stage needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseConfig {
    pub clickhouse: ClickHouseConfig,
    pub topics: WarehouseTopics,
    pub batch: BatchLimits,
    pub retry: RetryPolicy,
}

impl WarehouseConfig {
    pub fn new(clickhouse: ClickHouseConfig) -> Self {
        WarehouseConfig {
            clickhouse,
            topics: WarehouseTopics::default(),
            batch: BatchLimits::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Connects and creates or upgrades the tables, retrying for a while if ClickHouse is not up yet
/// (a stage started together with its database).
pub async fn connect_and_migrate(
    config: &ClickHouseConfig,
    wait: Duration,
) -> Result<clickhouse::Client, WarehouseError> {
    let client = config.client()?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match migrate(&client, &config.database).await {
            Ok(report) => {
                tracing::info!(database = %config.database, created = ?report.created_tables, added = ?report.added_columns, "warehouse tables ready");
                return Ok(client);
            }
            Err(e @ WarehouseError::ClickHouse { .. }) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "ClickHouse not ready; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
