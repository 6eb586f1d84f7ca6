//! `friction-detector`: parse config, run the detector stage until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use friction_detector::{load_rules, DetectorConfig, DetectorHandler};
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::{run_stage_process, StageConfig};
use friction_runtime::{CommitArgs, CommonArgs, KafkaArgs};

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
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_DETECTOR_GROUP", default_value = "friction-detector")]
    group: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = "friction.sessionized.v1")]
    input_topic: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = "friction.signals.v1")]
    signals_topic: String,
    #[arg(long, env = "FRICTION_DETECTOR_CHANGELOG_TOPIC", default_value = "friction.detector.changelog.v1")]
    changelog_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = "friction.deadletter.v1")]
    deadletter_topic: String,
    /// Per-project thresholds (YAML or JSON: `default:` and `projects: {ID: ...}`); defaults otherwise.
    #[arg(long, env = "FRICTION_RULES_FILE")]
    rules_file: Option<PathBuf>,
    /// Event-time inactivity after which a session is closed and judged. Default 30 min.
    #[arg(long, env = "FRICTION_SESSION_GAP_MS", default_value_t = 30 * 60 * 1000)]
    session_gap_ms: i64,
    #[command(flatten)]
    commit: CommitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let rules = load_rules(cli.rules_file.as_deref())?;
    let mut stage = StageConfig::new(cli.group, vec![cli.input_topic]);
    stage.changelog_topic = Some(cli.changelog_topic);
    stage.deadletter_topic = cli.deadletter_topic;
    cli.commit.apply(&mut stage);
    let config = DetectorConfig {
        session_gap_ms: cli.session_gap_ms,
        signals_topic: Arc::from(cli.signals_topic.as_str()),
        ..DetectorConfig::default()
    };
    run_stage_process(cli.admin.admin_addr, stage, &cli.kafka, DetectorHandler::new(config, rules))
        .await
        .context("detector stopped")
}
