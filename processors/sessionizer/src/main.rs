//! `friction-sessionizer`: parse config, run the sessionizer stage until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};
use friction_sessionizer::SessionizerArgs;

/// Friction's sessionizer: orders, deduplicates and splits events into sessions and views.
#[derive(Parser)]
#[command(name = "friction-sessionizer", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    stage: SessionizerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let (stage, handler) = cli.stage.stage().context("invalid sessionizer settings")?;
    run_stage_process(&cli.admin, stage, &cli.kafka, handler).await.context("sessionizer stopped")
}
