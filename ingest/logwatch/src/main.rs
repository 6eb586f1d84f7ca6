//! `friction-logwatch`: parse flags, start the admin server and the tailer, run until SIGTERM.

use clap::Parser;
use friction_logwatch::LogwatchArgs;
use friction_runtime::config::AdminArgs;
use friction_runtime::{serve_admin, CommonArgs, Health, Shutdown};

/// Tails log files and posts their records to Friction's gateway (POST /v1/logs).
///
/// Follows rotation by rename and by copy-truncate, joins stack traces to their line, reads JSON
/// and plain-text lines, names records by pattern rules, and keeps a checkpoint so a restart
/// neither loses nor repeats a line. Metrics on the admin server's /metrics.
#[derive(Parser)]
#[command(
    name = "friction-logwatch",
    version,
    after_help = "Example:\n  friction-logwatch --watch 'pos=/var/log/pos/*.log' --gateway-url http://127.0.0.1:8080 \\\n    --api-key \"$FRICTION_API_KEY\" --patterns patterns.yaml --admin-addr 127.0.0.1:9108"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    logwatch: LogwatchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let health = Health::default();
    let ready = health.register("logwatch");
    let admin = serve_admin(&cli.admin, health, shutdown.clone()).await?;
    tracing::info!(%admin, "admin server listening: /metrics /healthz /readyz");
    let handle = friction_logwatch::spawn(cli.logwatch, shutdown.clone())?;
    ready.set(true);
    handle.join().await;
    Ok(())
}
