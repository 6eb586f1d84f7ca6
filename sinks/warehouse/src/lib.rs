//! `friction-warehouse`: every sessionized event, session summary, signal and incident change in
//! ClickHouse, for analysts and the console's charts (docs/architecture.md §3 "ClickHouse", §4 "Warehouse", §5).
//!
//! The stage consumes `friction.sessionized.v1`, `friction.sessions.v1`, `friction.signals.v1`
//! and `friction.incidents.v1` on the shared stage runtime, buffers rows per table, and inserts
//! them with the `clickhouse` crate (RowBinary over HTTP) in batches closed by rows, bytes or time
//! ([`BatchLimits`]). The runtime commits input offsets only after the handler's `persist` has
//! inserted everything it read; an insert is retried with backoff ([`RetryPolicy`]) and, when
//! ClickHouse stays unreachable, the stage stops with the error instead of skipping data.
//!
//! Inserts may repeat after a crash. The tables ([`schema`]) deduplicate by event id, session
//! key, signal id (keeping its newest version) and incident id + version, and the queries in
//! docs/analytics.md and in [`analytics`] give the same answer with or without a repeated batch.
//! Every published version of a signal is a row; those queries count only live signals, the
//! newest version of each id unless it is retracted.
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

use friction_runtime::config::StageConfig;
use friction_runtime::topics;

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
    #[error("ClickHouse refused the {rows} rows of {table} for what they hold: {last}")]
    InsertRefused { table: String, rows: usize, last: String },
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

/// Where ClickHouse is, as flags (each also read from an environment variable): of
/// `friction-warehouse` and `friction warehouse migrate`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP interface, e.g. `http://127.0.0.1:8123`.
    #[arg(long, env = "CLICKHOUSE_URL")]
    pub clickhouse_url: String,
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = DEFAULT_DATABASE)]
    pub clickhouse_database: String,
    #[arg(long, env = "CLICKHOUSE_USER")]
    pub clickhouse_user: Option<String>,
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
}

/// Where ClickHouse is, when it is optional (`friction-console`'s analytics, `friction doctor`):
/// the flags of [`ClickHouseArgs`] with the URL optional.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OptionalClickHouseArgs {
    /// ClickHouse HTTP interface, e.g. `http://127.0.0.1:8123`; unset: analytics are off.
    #[arg(long, env = "CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = DEFAULT_DATABASE)]
    pub clickhouse_database: String,
    #[arg(long, env = "CLICKHOUSE_USER")]
    pub clickhouse_user: Option<String>,
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
}

impl OptionalClickHouseArgs {
    /// The warehouse's settings, or `None` when no URL is set (an empty one counts as unset).
    pub fn config(&self) -> Option<ClickHouseConfig> {
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Some(ClickHouseConfig {
            url: nonempty(&self.clickhouse_url)?,
            database: self.clickhouse_database.clone(),
            user: nonempty(&self.clickhouse_user),
            password: nonempty(&self.clickhouse_password),
        })
    }
}

impl ClickHouseArgs {
    pub fn config(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
        }
    }
}

/// The consumer group (and stage name) of the warehouse.
pub const STAGE_NAME: &str = "friction-warehouse";

/// The warehouse stage's settings except where ClickHouse is: the flags of `friction-warehouse`
/// (each also read from an environment variable). `friction up` and the tests start from
/// [`WarehouseArgs::default`], the flags' defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct WarehouseArgs {
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_WAREHOUSE_GROUP", default_value = STAGE_NAME)]
    pub group: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = topics::SESSIONIZED)]
    pub sessionized_topic: String,
    #[arg(long, env = "FRICTION_SESSIONS_TOPIC", default_value = topics::SESSIONS)]
    pub sessions_topic: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = topics::SIGNALS)]
    pub signals_topic: String,
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = topics::INCIDENTS)]
    pub incidents_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// A batch closes after this many messages (all tables together).
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_ROWS", default_value_t = BatchLimits::default().max_rows)]
    pub max_rows: usize,
    /// ...or this many bytes of input.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_BYTES", default_value_t = BatchLimits::default().max_bytes)]
    pub max_bytes: usize,
    /// ...or after this long, in milliseconds.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_TIME_MS", default_value_t = millis(BatchLimits::default().max_time))]
    pub max_time_ms: u64,
    /// Retries of a failed insert before the warehouse stops.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_RETRIES", default_value_t = RetryPolicy::default().max_retries)]
    pub max_retries: u32,
    /// First wait between retries (doubles per retry).
    #[arg(long, env = "FRICTION_WAREHOUSE_BACKOFF_MS", default_value_t = millis(RetryPolicy::default().initial_backoff))]
    pub backoff_ms: u64,
    /// Longest wait between retries.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_BACKOFF_MS", default_value_t = millis(RetryPolicy::default().max_backoff))]
    pub max_backoff_ms: u64,
    /// How long to wait at start for ClickHouse to answer before giving up.
    #[arg(long, env = "FRICTION_WAREHOUSE_CONNECT_WAIT_MS", default_value_t = DEFAULT_CONNECT_WAIT_MS)]
    pub connect_wait_ms: u64,
}

/// How long the warehouse waits at start for ClickHouse to answer, in milliseconds.
pub const DEFAULT_CONNECT_WAIT_MS: u64 = 30_000;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Default for WarehouseArgs {
    fn default() -> Self {
        let (batch, retry) = (BatchLimits::default(), RetryPolicy::default());
        WarehouseArgs {
            group: STAGE_NAME.into(),
            sessionized_topic: topics::SESSIONIZED.into(),
            sessions_topic: topics::SESSIONS.into(),
            signals_topic: topics::SIGNALS.into(),
            incidents_topic: topics::INCIDENTS.into(),
            deadletter_topic: topics::DEADLETTER.into(),
            max_rows: batch.max_rows,
            max_bytes: batch.max_bytes,
            max_time_ms: millis(batch.max_time),
            max_retries: retry.max_retries,
            backoff_ms: millis(retry.initial_backoff),
            max_backoff_ms: millis(retry.max_backoff),
            connect_wait_ms: DEFAULT_CONNECT_WAIT_MS,
        }
    }
}

impl WarehouseArgs {
    /// Everything the handler needs, with ClickHouse at `clickhouse`.
    pub fn config(&self, clickhouse: ClickHouseConfig) -> WarehouseConfig {
        WarehouseConfig {
            clickhouse,
            topics: WarehouseTopics {
                sessionized: self.sessionized_topic.clone(),
                sessions: self.sessions_topic.clone(),
                signals: self.signals_topic.clone(),
                incidents: self.incidents_topic.clone(),
            },
            batch: BatchLimits {
                max_rows: self.max_rows,
                max_bytes: self.max_bytes,
                max_time: Duration::from_millis(self.max_time_ms),
            },
            retry: RetryPolicy {
                max_retries: self.max_retries,
                initial_backoff: Duration::from_millis(self.backoff_ms),
                max_backoff: Duration::from_millis(self.max_backoff_ms),
                ..RetryPolicy::default()
            },
        }
    }

    /// The stage as these settings say, with ClickHouse at `clickhouse`: its runtime configuration
    /// and its handler (which creates the tables before its first insert unless told they are
    /// ready, [`WarehouseHandler::with_tables_ready`]).
    pub fn stage(&self, clickhouse: ClickHouseConfig) -> Result<(StageConfig, WarehouseHandler), WarehouseError> {
        let config = self.config(clickhouse);
        let mut stage = config.stage_config(self.group.clone());
        stage.deadletter_topic = self.deadletter_topic.clone();
        Ok((stage, WarehouseHandler::new(&config)?))
    }

    /// How long to wait at start for ClickHouse ([`connect_and_migrate`]).
    pub fn connect_wait(&self) -> Duration {
        Duration::from_millis(self.connect_wait_ms)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: WarehouseArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, WarehouseArgs::default());
        let clickhouse = ClickHouseConfig::new("http://127.0.0.1:9");
        assert_eq!(flags.config(clickhouse.clone()), WarehouseConfig::new(clickhouse));
    }

    #[test]
    fn optional_clickhouse_is_off_without_a_url_and_empty_values_count_as_unset() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            clickhouse: OptionalClickHouseArgs,
        }
        let parse = |args: &[&str]| Flags::parse_from(std::iter::once("t").chain(args.iter().copied())).clickhouse;
        // Every flag given, so variables of the environment do not count.
        let none = ["--clickhouse-user", "", "--clickhouse-password", "", "--clickhouse-database", DEFAULT_DATABASE];
        assert_eq!(parse(&[&["--clickhouse-url", ""][..], &none].concat()).config(), None);
        let config = parse(&[&["--clickhouse-url", "http://ch:8123"][..], &none].concat()).config();
        assert_eq!(config, Some(ClickHouseConfig::new("http://ch:8123")));
    }
}
