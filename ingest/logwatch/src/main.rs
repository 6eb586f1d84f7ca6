//! `friction-logwatch`: parse flags, then run [`friction_logwatch::serve`] until SIGTERM.

use clap::Parser;
use friction_logwatch::LogwatchArgs;
use friction_runtime::config::AdminArgs;
use friction_runtime::{CommonArgs, Shutdown};

/// Tails log files and posts their records to Friction's gateway (POST /v1/logs).
///
/// Follows rotation by rename and by copy-truncate, joins stack traces to their line, reads JSON
/// and plain-text lines, names records by pattern rules, and keeps a checkpoint so a restart
/// neither loses nor repeats a line. Metrics on the admin server's /metrics.
#[derive(Parser)]
#[command(name = "friction-logwatch", version, after_help = friction_logwatch::config::EXAMPLE)]
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
    friction_logwatch::serve(cli.logwatch, &cli.admin, shutdown).await?;
    Ok(())
}
