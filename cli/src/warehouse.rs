//! `friction warehouse migrate`, and the warehouse stage of `friction up` (run when `CLICKHOUSE_URL`
//! is set).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use friction_runtime::{Health, KafkaArgs, Shutdown};
use friction_warehouse::{ClickHouseConfig, WarehouseConfig, WarehouseHandler, WarehouseTopics};

use crate::up::PipelineNames;

#[derive(Subcommand)]
pub enum WarehouseCommand {
    /// Create the ClickHouse database and tables, or add the columns a newer version needs
    /// (idempotent; the warehouse stage does this too when it starts).
    Migrate(ClickHouseArgs),
}

/// Where ClickHouse is.
#[derive(Args, Clone, Debug)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP interface, e.g. `http://127.0.0.1:8123`.
    #[arg(long, env = "CLICKHOUSE_URL")]
    pub clickhouse_url: String,
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = friction_warehouse::DEFAULT_DATABASE)]
    pub clickhouse_database: String,
    #[arg(long, env = "CLICKHOUSE_USER")]
    pub clickhouse_user: Option<String>,
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
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

pub async fn run(cmd: WarehouseCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WarehouseCommand::Migrate(args) => {
            let config = args.config();
            let client = config.client()?;
            let report = friction_warehouse::migrate(&client, &config.database)
                .await
                .with_context(|| format!("migrating the warehouse at {}", config.url))?;
            for t in &report.created_tables {
                println!("created    {}.{t}", config.database);
            }
            for c in &report.added_columns {
                println!("added      {}.{c}", config.database);
            }
            for t in &report.unchanged_tables {
                println!("ok         {}.{t}", config.database);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The ClickHouse settings of `friction up`: from `CLICKHOUSE_URL` (and `CLICKHOUSE_DATABASE`,
/// `CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD`); `None` when `CLICKHOUSE_URL` is unset or empty.
pub fn clickhouse_from_env() -> Option<ClickHouseConfig> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = var("CLICKHOUSE_URL")?;
    Some(ClickHouseConfig {
        url,
        database: var("CLICKHOUSE_DATABASE").unwrap_or_else(|| friction_warehouse::DEFAULT_DATABASE.into()),
        user: var("CLICKHOUSE_USER"),
        password: var("CLICKHOUSE_PASSWORD"),
    })
}

/// Starts the warehouse stage on `names`' topics when `CLICKHOUSE_URL` is set. The tables are
/// created in the background at once (so the console's charts find them), and again, if need be,
/// before the first insert.
pub fn start_stage(
    names: &PipelineNames,
    kafka: &KafkaArgs,
    health: &Health,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>>> {
    let Some(clickhouse) = clickhouse_from_env() else { return Ok(None) };
    let mut config = WarehouseConfig::new(clickhouse);
    config.topics = WarehouseTopics {
        sessionized: names.sessionized.clone(),
        sessions: names.sessions.clone(),
        signals: names.signals.clone(),
        incidents: names.incidents.clone(),
    };
    let handler = WarehouseHandler::new(&config)?;
    let ch = config.clickhouse.clone();
    tokio::spawn(async move {
        if let Err(e) = friction_warehouse::connect_and_migrate(&ch, Duration::from_secs(30)).await {
            tracing::error!(error = %e, "could not create the warehouse tables yet; the stage retries before its first insert");
        }
    });
    let mut stage = config.stage_config(format!("{}friction-warehouse", names.group_prefix));
    stage.deadletter_topic = names.deadletter.clone();
    eprintln!("warehouse: ClickHouse at {} (database {})", config.clickhouse.url, config.clickhouse.database);
    let thread = friction_runtime::stage::spawn_stage(
        stage,
        kafka,
        handler,
        shutdown.clone(),
        Some(health.register("warehouse")),
    )?;
    Ok(Some(thread))
}
