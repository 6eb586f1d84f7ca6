//! `friction-detector`: parse config, run the detector stage until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use friction_detector::DetectorArgs;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::run_stage_process;
use friction_runtime::{CommonArgs, KafkaArgs};

/// Friction's detector: frustration rules over sessionized events, signals with evidence.
#[derive(Parser)]
#[command(name = "friction-detector", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    stage: DetectorArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let (stage, handler) = cli.stage.stage()?;
    run_stage_process(&cli.admin, stage, &cli.kafka, handler).await.context("detector stopped")
}
