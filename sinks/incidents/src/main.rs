//! `friction-incidents`: parse config, run the incidents stage until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use friction_incidents::IncidentsArgs;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};

/// Friction's incidents stage: signals grouped into incidents in the store, changes published.
#[derive(Parser)]
#[command(name = "friction-incidents", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    admin: AdminArgs,
    /// A PostgreSQL (`postgres://...`) or SQLite (`sqlite://...`) URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://friction-data/friction.db")]
    database_url: String,
    #[command(flatten)]
    stage: IncidentsArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let store = friction_store::Store::connect(&cli.database_url).await.context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    let (stage, handler) = cli.stage.stage(store, tokio::runtime::Handle::current()).context("the rules file")?;
    run_stage_process(&cli.admin, stage, &cli.kafka, handler).await.context("incidents stage stopped")
}
