//! `friction-sessionizer`: parse config, run the sessionizer stage until SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use friction_runtime::config::AdminArgs;
use friction_runtime::stage::{run_stage_process, StageConfig};
use friction_runtime::{CommitArgs, CommonArgs, KafkaArgs};
use friction_sessionizer::handler::{SessionizerHandler, SessionizerTopics};
use friction_sessionizer::SessionizerConfig;

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
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_SESSIONIZER_GROUP", default_value = "friction-sessionizer")]
    group: String,
    #[arg(long, env = "FRICTION_EVENTS_TOPIC", default_value = "friction.events.v1")]
    events_topic: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = "friction.sessionized.v1")]
    sessionized_topic: String,
    #[arg(long, env = "FRICTION_SESSIONS_TOPIC", default_value = "friction.sessions.v1")]
    sessions_topic: String,
    #[arg(long, env = "FRICTION_SESSIONIZER_CHANGELOG_TOPIC", default_value = "friction.sessionizer.changelog.v1")]
    changelog_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = "friction.deadletter.v1")]
    deadletter_topic: String,
    /// How far an event may trail its partition's newest event time and still be put in order. Default 10 s.
    #[arg(long, env = "FRICTION_ALLOWED_LATENESS_MS", default_value_t = 10_000)]
    allowed_lateness_ms: i64,
    /// Event-time inactivity that splits (and closes) a session. Default 30 min.
    #[arg(long, env = "FRICTION_INACTIVITY_GAP_MS", default_value_t = 1_800_000)]
    inactivity_gap_ms: i64,
    /// Longest session from its first event. Default 24 h.
    #[arg(long, env = "FRICTION_MAX_SESSION_MS", default_value_t = 86_400_000)]
    max_session_ms: i64,
    #[command(flatten)]
    commit: CommitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    friction_runtime::allocator::tune();
    let cli = Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    let config = SessionizerConfig {
        allowed_lateness_ms: cli.allowed_lateness_ms,
        inactivity_gap_ms: cli.inactivity_gap_ms,
        max_session_ms: cli.max_session_ms,
        ..SessionizerConfig::default()
    };
    let topics = SessionizerTopics {
        sessionized: Arc::from(cli.sessionized_topic.as_str()),
        sessions: Arc::from(cli.sessions_topic.as_str()),
    };
    let handler = SessionizerHandler::new(config, topics).context("invalid sessionizer settings")?;
    let mut stage = StageConfig::new(cli.group, vec![cli.events_topic]);
    stage.changelog_topic = Some(cli.changelog_topic);
    stage.deadletter_topic = cli.deadletter_topic;
    cli.commit.apply(&mut stage);
    run_stage_process(cli.admin.admin_addr, stage, &cli.kafka, handler).await.context("sessionizer stopped")
}
