//! `friction-warehouse`: parse config, create or upgrade the tables, run the warehouse stage until
//! SIGTERM (or until ClickHouse stays unreachable past the retries).

use anyhow::Context as _;
use clap::Parser;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};
use friction_warehouse::{ClickHouseArgs, WarehouseArgs};

/// Friction's warehouse: events, sessions, signals and incidents into ClickHouse in batches.
#[derive(Parser)]
#[command(name = "friction-warehouse", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    clickhouse: ClickHouseArgs,
    #[command(flatten)]
    stage: WarehouseArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let clickhouse = cli.clickhouse.config();
    friction_warehouse::connect_and_migrate(&clickhouse, cli.stage.connect_wait())
        .await
        .context("preparing the ClickHouse tables")?;
    let (stage, handler) = cli.stage.stage(clickhouse)?;
    run_stage_process(&cli.admin, stage, &cli.kafka, handler.with_tables_ready()).await.context("warehouse stopped")
}
