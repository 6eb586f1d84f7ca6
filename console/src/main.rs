//! `friction-console`: parse config, serve the console (pages, API, /metrics, /healthz, /readyz)
//! until SIGTERM (docs/console.md, "Running the console on its own").

use anyhow::Context as _;
use clap::Parser;
use friction_console::{ConsoleServeArgs, ConsoleSetup};
use friction_exporter::secret::SecretError;
use friction_exporter::MasterKey;
use friction_gateway::keys::KeysSecret;
use friction_runtime::auth_guard::AuthThrottleArgs;
use friction_runtime::{topics, CommonArgs, Health, KafkaArgs, Shutdown};
use friction_warehouse::OptionalClickHouseArgs;

/// Friction's console: the web app and the JSON API over the store, ClickHouse and Kafka.
#[derive(Parser)]
#[command(name = "friction-console", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    serve: ConsoleServeArgs,
    /// A PostgreSQL (`postgres://...`) or SQLite (`sqlite://...`) URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://friction-data/friction.db")]
    database_url: String,
    /// Topic of incident changes: status changes are published there, the live stream reads it.
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = topics::INCIDENTS)]
    incidents_topic: String,
    /// Topic key changes are published to for the gateways.
    #[arg(long, env = "FRICTION_APIKEYS_TOPIC", default_value = topics::APIKEYS)]
    apikeys_topic: String,
    /// The key publishers' secret the gateways verify key records with (prefer the variable).
    #[arg(long, env = "FRICTION_KEYS_SECRET", hide_env_values = true)]
    keys_secret: Option<KeysSecret>,
    #[command(flatten)]
    auth: AuthThrottleArgs,
    #[command(flatten)]
    clickhouse: OptionalClickHouseArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let master_key = match MasterKey::from_env() {
        Ok(key) => Some(key),
        Err(SecretError::MissingMasterKey) => None,
        Err(e) => return Err(e).context("FRICTION_MASTER_KEY"),
    };
    let store = friction_store::Store::connect(&cli.database_url).await.context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let health = Health::default();
    let setup = ConsoleSetup {
        store,
        kafka: cli.kafka,
        incidents_topic: cli.incidents_topic,
        apikeys_topic: cli.apikeys_topic,
        keys_secret: cli.keys_secret.map(|s| s.as_bytes().to_vec()),
        auth: cli.auth,
        clickhouse: cli.clickhouse.config(),
        master_key,
        check_broker: true,
    };
    let addr = friction_console::serve(&cli.serve, setup, &health, &shutdown).await?;
    let url = cli.serve.console_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    tracing::info!(%addr, %url, "console listening: / (pages), /v1 (API), /metrics, /healthz, /readyz");
    shutdown.wait().await;
    Ok(())
}
