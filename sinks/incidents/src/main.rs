//! `friction-incidents`: parse config, run the incidents stage until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use friction_incidents::{stage_config, IncidentsHandler, IncidentsStageConfig};
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
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_INCIDENTS_GROUP", default_value = friction_incidents::STAGE_NAME)]
    group: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = "friction.signals.v1")]
    signals_topic: String,
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = "friction.incidents.v1")]
    incidents_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = "friction.deadletter.v1")]
    deadletter_topic: String,
    /// Distinct sessions within --confirm-window-hours that confirm an incident.
    #[arg(long, env = "FRICTION_CONFIRM_SESSIONS", default_value_t = 3)]
    confirm_sessions: usize,
    #[arg(long, env = "FRICTION_CONFIRM_WINDOW_HOURS", default_value_t = 24)]
    confirm_window_hours: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let store = friction_store::Store::connect(&cli.database_url).await.context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    let mut stage = stage_config(&cli.group, &cli.signals_topic);
    stage.deadletter_topic = cli.deadletter_topic;
    let mut config =
        IncidentsStageConfig { incidents_topic: cli.incidents_topic.as_str().into(), ..Default::default() };
    config.incidents.confirm_sessions = cli.confirm_sessions;
    config.incidents.confirm_window_ms = cli.confirm_window_hours.saturating_mul(3_600_000);
    let handler = IncidentsHandler::new(store, tokio::runtime::Handle::current(), config);
    run_stage_process(cli.admin.admin_addr, stage, &cli.kafka, handler).await.context("incidents stage stopped")
}
