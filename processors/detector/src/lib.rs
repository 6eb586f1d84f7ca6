//! `friction-detector`: runs the frustration rules of `friction-rules` over each session's
//! sessionized events and emits signals with their evidence to `friction.signals.v1`, keyed by the
//! incident fingerprint: one record per episode (signals in one session, view and element within
//! the episode window), of the primary kind, with every member's label and events. Per-session state (the events the rules still need, and what was already
//! judged) lives in the stage runtime's changelog, so it survives restarts and follows partitions.
//!
//! Time (docs/architecture.md §4 "Time: decide early, settle later"): events arrive as the
//! sessionizer forwards them, in any order within the allowed lateness. Each session is judged up
//! to its own early horizon (its newest event, or once it is quiet, the wall-clock time since that
//! event arrived minus a short grace), so an episode is published as soon as it has a decided
//! member; later events republish it with a higher version or retract it ([`corrections`]).
//! Decisions older than the partition's newest event time minus the allowed lateness are final,
//! and a session closes when that final watermark passes its last event by the session gap.

mod config;
pub mod convert;
pub mod corrections;
pub mod handler;
pub mod partition;
pub mod rules_file;
pub mod slim;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;

use friction_runtime::config::{CommitArgs, StageConfig};
use friction_runtime::topics;

pub use config::DetectorConfig;
pub use handler::DetectorHandler;
pub use partition::PartitionDetector;
pub use rules_file::{load_rules, RulesByProject, RulesFileError};

/// How often a partition read to its end is judged for decisions that wait on quiet time.
pub const TICK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The consumer group (and stage name) of the detector.
pub const STAGE_NAME: &str = "friction-detector";

/// The detector stage's settings: the flags of `friction-detector` (each also read from an
/// environment variable). `friction up` and the tests start from [`DetectorArgs::default`], the
/// flags' defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct DetectorArgs {
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_DETECTOR_GROUP", default_value = STAGE_NAME)]
    pub group: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = topics::SESSIONIZED)]
    pub input_topic: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = topics::SIGNALS)]
    pub signals_topic: String,
    #[arg(long, env = "FRICTION_DETECTOR_CHANGELOG_TOPIC", default_value = topics::DETECTOR_CHANGELOG)]
    pub changelog_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// Per-project thresholds (YAML or JSON: `default:` and `projects: {ID: ...}`); defaults otherwise.
    #[arg(long, env = "FRICTION_RULES_FILE")]
    pub rules_file: Option<PathBuf>,
    /// Event-time inactivity after which a session is closed and judged. Default 30 min.
    #[arg(long, env = "FRICTION_SESSION_GAP_MS", default_value_t = DetectorConfig::default().session_gap_ms)]
    pub session_gap_ms: i64,
    /// How far (event time) behind the partition's newest event an event may arrive and still
    /// correct what was published; older decisions are final. Match the sessionizer's. Default 10 s.
    #[arg(long, env = "FRICTION_ALLOWED_LATENESS_MS", default_value_t = DetectorConfig::default().allowed_lateness_ms)]
    pub allowed_lateness_ms: i64,
    /// Wall-clock grace for batches in flight before a quiet session's windows are judged: shorter
    /// decides sooner and retracts more. Default 0 (the shortest that kept retractions under 2 %).
    #[arg(long, env = "FRICTION_EARLY_GRACE_MS", default_value_t = DetectorConfig::default().early_grace_ms)]
    pub early_grace_ms: i64,
    #[command(flatten)]
    pub commit: CommitArgs,
}

impl Default for DetectorArgs {
    fn default() -> Self {
        DetectorArgs {
            group: STAGE_NAME.into(),
            input_topic: topics::SESSIONIZED.into(),
            signals_topic: topics::SIGNALS.into(),
            changelog_topic: topics::DETECTOR_CHANGELOG.into(),
            deadletter_topic: topics::DEADLETTER.into(),
            rules_file: None,
            session_gap_ms: DetectorConfig::default().session_gap_ms,
            allowed_lateness_ms: DetectorConfig::default().allowed_lateness_ms,
            early_grace_ms: DetectorConfig::default().early_grace_ms,
            commit: CommitArgs::default(),
        }
    }
}

impl DetectorArgs {
    /// The stage as these settings say (the rules file read now): its runtime configuration and
    /// its handler.
    pub fn stage(&self) -> Result<(StageConfig, DetectorHandler), RulesFileError> {
        let rules = load_rules(self.rules_file.as_deref())?;
        let mut stage = StageConfig::new(self.group.clone(), vec![self.input_topic.clone()]);
        stage.changelog_topic = Some(self.changelog_topic.clone());
        stage.deadletter_topic = self.deadletter_topic.clone();
        self.commit.apply(&mut stage);
        // Decisions that wait on quiet time are taken at ticks: often enough to add no more than
        // a tenth of a second to the time from evidence to signal.
        stage.tick_interval = TICK_INTERVAL;
        let config = DetectorConfig {
            session_gap_ms: self.session_gap_ms,
            allowed_lateness_ms: self.allowed_lateness_ms,
            early_grace_ms: self.early_grace_ms,
            signals_topic: Arc::from(self.signals_topic.as_str()),
            ..DetectorConfig::default()
        };
        Ok((stage, DetectorHandler::new(config, rules)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: DetectorArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, DetectorArgs::default());
        let (stage, _) = flags.stage().expect("no rules file");
        assert_eq!(stage.input_topics, [topics::SESSIONIZED]);
        assert_eq!(stage.changelog_topic.as_deref(), Some(topics::DETECTOR_CHANGELOG));
    }
}
