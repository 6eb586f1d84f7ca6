//! `friction-detector`: runs the frustration rules of `friction-rules` over each session's
//! sessionized events and emits signals with their evidence to `friction.signals.v1`, keyed by the
//! incident fingerprint: one record per episode (signals in one session, view and element within
//! the episode window), of the primary kind, with every member's label and events. Per-session state (the events the rules still need, and what was already
//! judged) lives in the stage runtime's changelog, so it survives restarts and follows partitions.
//!
//! Time is event time. A partition's watermark is the newest event time it has seen (the
//! sessionizer releases events in watermark order, so nothing older than that is still to come
//! except flagged late events), advanced by the wall-clock time passed since that event arrived
//! (after a short grace) so the last click of a quiet session is still judged.

mod config;
pub mod convert;
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
        let config = DetectorConfig {
            session_gap_ms: self.session_gap_ms,
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
