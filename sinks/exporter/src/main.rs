//! `friction-exporter`: run the exporter stage and its dispatcher until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use friction_exporter::{Dispatcher, DispatcherConfig, ExporterArgs, MasterKey};
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};

/// Friction's exporter: one ticket per incident in Jira, Linear, GitHub and signed webhooks.
#[derive(Parser)]
#[command(name = "friction-exporter", version)]
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
    stage: ExporterArgs,
    /// The console's public URL, linked from tickets.
    #[arg(long, env = "FRICTION_CONSOLE_URL")]
    console_url: Option<String>,
    /// Milliseconds after a Jira create attempt before its search is trusted (index lag).
    #[arg(long, env = "FRICTION_JIRA_LAG_GRACE_MS", default_value_t = 120_000)]
    jira_lag_grace_ms: u64,
    /// How long a dispatcher's claim on a ledger row lasts, in milliseconds.
    #[arg(long, env = "FRICTION_EXPORTER_LEASE_MS", default_value_t = 60_000)]
    lease_ms: u64,
    #[command(flatten)]
    breaker: friction_exporter::BreakerArgs,
    /// Run only the dispatcher (no Kafka consumer): more copies can share the calls.
    #[arg(long)]
    dispatch_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let key = MasterKey::from_env().context("the master key")?;
    let store = friction_store::Store::connect(&cli.database_url).await.context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    let config = DispatcherConfig {
        console_url: cli.console_url,
        jira_lag_grace: std::time::Duration::from_millis(cli.jira_lag_grace_ms),
        lease: std::time::Duration::from_millis(cli.lease_ms),
        // One probe at a time per integration, for as long as a row's lease.
        breaker: friction_exporter::outcome::BreakerPolicy {
            probe_lease: std::time::Duration::from_millis(cli.lease_ms),
            ..cli.breaker.policy()
        },
        poll_interval: std::time::Duration::from_millis(100),
        llm: friction_exporter::llm::LlmConfig::from_env(),
        ..Default::default()
    };
    let dispatcher = Dispatcher::new(store.clone(), key, config).context("the dispatcher")?;
    if cli.dispatch_only {
        tracing::info!("exporter dispatcher running (no consumer)");
        let shutdown = friction_runtime::Shutdown::new();
        shutdown.trigger_on_signals();
        tokio::select! {
            () = dispatcher.run() => {}
            () = shutdown.wait() => {}
        }
        return Ok(());
    }
    let waker = dispatcher.waker();
    let task = tokio::spawn(dispatcher.run());
    let (stage, handler) = cli.stage.stage(store, tokio::runtime::Handle::current());
    let handler = handler.wake_on_write(waker);
    let result = run_stage_process(&cli.admin, stage, &cli.kafka, handler).await;
    task.abort();
    result.context("exporter stage stopped")
}
