//! `friction warehouse migrate`, and where ClickHouse is for `friction up` (its warehouse stage and
//! the console's charts run when `CLICKHOUSE_URL` is set).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use friction_warehouse::{ClickHouseArgs, ClickHouseConfig};

#[derive(Subcommand)]
pub enum WarehouseCommand {
    /// Create the ClickHouse database and tables, or add the columns a newer version needs
    /// (idempotent; the warehouse stage does this too when it starts).
    Migrate(ClickHouseArgs),
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
