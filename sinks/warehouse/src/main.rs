//! `friction-warehouse`: parse config, create or upgrade the tables, run the warehouse stage until
//! SIGTERM (or until ClickHouse stays unreachable past the retries).

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};
use friction_warehouse::{
    BatchLimits, ClickHouseConfig, RetryPolicy, WarehouseConfig, WarehouseHandler, WarehouseTopics,
};

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
    /// ClickHouse HTTP interface.
    #[arg(long, env = "CLICKHOUSE_URL")]
    clickhouse_url: String,
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = friction_warehouse::DEFAULT_DATABASE)]
    clickhouse_database: String,
    #[arg(long, env = "CLICKHOUSE_USER")]
    clickhouse_user: Option<String>,
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    clickhouse_password: Option<String>,
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_WAREHOUSE_GROUP", default_value = "friction-warehouse")]
    group: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = "friction.sessionized.v1")]
    sessionized_topic: String,
    #[arg(long, env = "FRICTION_SESSIONS_TOPIC", default_value = "friction.sessions.v1")]
    sessions_topic: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = "friction.signals.v1")]
    signals_topic: String,
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = "friction.incidents.v1")]
    incidents_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = "friction.deadletter.v1")]
    deadletter_topic: String,
    /// A batch closes after this many messages (all tables together).
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_ROWS", default_value_t = 50_000)]
    max_rows: usize,
    /// ...or this many bytes of input.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_bytes: usize,
    /// ...or after this long, in milliseconds.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_TIME_MS", default_value_t = 1_000)]
    max_time_ms: u64,
    /// Retries of a failed insert before the warehouse stops.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_RETRIES", default_value_t = 15)]
    max_retries: u32,
    /// First wait between retries (doubles per retry).
    #[arg(long, env = "FRICTION_WAREHOUSE_BACKOFF_MS", default_value_t = 250)]
    backoff_ms: u64,
    /// Longest wait between retries.
    #[arg(long, env = "FRICTION_WAREHOUSE_MAX_BACKOFF_MS", default_value_t = 5_000)]
    max_backoff_ms: u64,
    /// How long to wait at start for ClickHouse to answer before giving up.
    #[arg(long, env = "FRICTION_WAREHOUSE_CONNECT_WAIT_MS", default_value_t = 30_000)]
    connect_wait_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let clickhouse = ClickHouseConfig {
        url: cli.clickhouse_url,
        database: cli.clickhouse_database,
        user: cli.clickhouse_user,
        password: cli.clickhouse_password,
    };
    let config = WarehouseConfig {
        clickhouse,
        topics: WarehouseTopics {
            sessionized: cli.sessionized_topic,
            sessions: cli.sessions_topic,
            signals: cli.signals_topic,
            incidents: cli.incidents_topic,
        },
        batch: BatchLimits {
            max_rows: cli.max_rows,
            max_bytes: cli.max_bytes,
            max_time: Duration::from_millis(cli.max_time_ms),
        },
        retry: RetryPolicy {
            max_retries: cli.max_retries,
            initial_backoff: Duration::from_millis(cli.backoff_ms),
            max_backoff: Duration::from_millis(cli.max_backoff_ms),
            ..RetryPolicy::default()
        },
    };
    friction_warehouse::connect_and_migrate(&config.clickhouse, Duration::from_millis(cli.connect_wait_ms))
        .await
        .context("preparing the ClickHouse tables")?;
    let mut stage = config.stage_config(cli.group);
    stage.deadletter_topic = cli.deadletter_topic;
    let handler = WarehouseHandler::new(&config)?.with_tables_ready();
    run_stage_process(cli.admin.admin_addr, stage, &cli.kafka, handler).await.context("warehouse stopped")
}
