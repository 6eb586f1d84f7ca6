//! `friction-gateway`: parse config, start the gateway and its admin server, run until SIGTERM.

use clap::Parser;
use friction_gateway::GatewayArgs;
use friction_runtime::config::AdminArgs;
use friction_runtime::{serve_admin, CommonArgs, Health, KafkaArgs, Shutdown};

/// Friction's ingest gateway: POST /v1/events and /v1/logs to Kafka.
#[derive(Parser)]
#[command(name = "friction-gateway", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let health = Health::default();
    let admin = serve_admin(&cli.admin, health.clone(), shutdown.clone()).await?;
    tracing::info!(%admin, "admin server listening: /metrics /healthz /readyz");
    let gateway = friction_gateway::start(cli.gateway, &cli.kafka, &health, shutdown.clone()).await?;
    gateway.server.await??;
    Ok(())
}
