//! `friction-incidents`: signals (keyed by fingerprint) grouped into incidents in the relational
//! store — counts, distinct sessions and users, evidence samples, severity and lifecycle — with
//! every change published to `friction.incidents.v1` (docs/architecture.md §4 "Incidents").
//!
//! [`model`] holds the decisions as pure functions; [`apply`] counts a batch in one transaction;
//! [`handler`] puts both on the stage runtime: a batch is stored, its changes published, and only
//! then are its offsets committed.

pub mod apply;
pub mod handler;
pub mod model;
pub mod rules_file;

pub use apply::{apply_batch, ApplyError, Touched};
pub use handler::{IncidentsHandler, IncidentsStageConfig};
pub use model::{ConfirmationPolicy, ConfirmationRules, IncidentConfig, KINDS};
pub use rules_file::{load_confirmation, RulesFileError};

use std::sync::Arc;

use friction_runtime::config::StageConfig;
use friction_runtime::topics;
use friction_store::Store;

/// The consumer group (and stage name) of the incidents stage.
pub const STAGE_NAME: &str = "friction-incidents";

/// The incidents stage's settings: the flags of `friction-incidents` (each also read from an
/// environment variable). `friction up` and the tests start from [`IncidentsArgs::default`], the
/// flags' defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct IncidentsArgs {
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_INCIDENTS_GROUP", default_value = STAGE_NAME)]
    pub group: String,
    #[arg(long, env = "FRICTION_SIGNALS_TOPIC", default_value = topics::SIGNALS)]
    pub signals_topic: String,
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = topics::INCIDENTS)]
    pub incidents_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// Distinct sessions within --confirm-window-hours that confirm an incident (the default
    /// policy; the rules file's `confirmation:` section overrides it, per project too).
    #[arg(long, env = "FRICTION_CONFIRM_SESSIONS", default_value_t = ConfirmationPolicy::default().min_sessions)]
    pub confirm_sessions: usize,
    #[arg(long, env = "FRICTION_CONFIRM_WINDOW_HOURS", default_value_t = ConfirmationPolicy::default().window_ms / HOUR_MS)]
    pub confirm_window_hours: i64,
    /// The rules file (YAML/JSON) the detector reads too; this stage reads its `confirmation:`
    /// section (docs/detection.md "Confirmation").
    #[arg(long, env = "FRICTION_RULES_FILE")]
    pub rules_file: Option<std::path::PathBuf>,
}

const HOUR_MS: i64 = 3_600_000;

/// The longest a signal waits before its batch is written and its incident published: the stage's
/// commit interval (was 100 ms; issue 17 "no idle time on the hot path").
pub const BATCH_WAIT_MS: u64 = 50;

impl Default for IncidentsArgs {
    fn default() -> Self {
        let policy = ConfirmationPolicy::default();
        IncidentsArgs {
            group: STAGE_NAME.into(),
            signals_topic: topics::SIGNALS.into(),
            incidents_topic: topics::INCIDENTS.into(),
            deadletter_topic: topics::DEADLETTER.into(),
            confirm_sessions: policy.min_sessions,
            confirm_window_hours: policy.window_ms / HOUR_MS,
            rules_file: None,
        }
    }
}

impl IncidentsArgs {
    /// The stage as these settings say (the rules file read now): its runtime configuration and
    /// its handler, which runs the store's futures on `runtime` (see [`IncidentsHandler::new`]).
    ///
    /// Signals in, and a short commit interval, which is also the longest a signal waits before
    /// its batch is written, so a confirmed incident goes out soon after its last signal
    /// (docs/architecture.md §9: ≤ 1 s end to end; §4 "Time: decide early, settle later").
    pub fn stage(
        &self,
        store: Store,
        runtime: tokio::runtime::Handle,
    ) -> Result<(StageConfig, IncidentsHandler), RulesFileError> {
        let base = ConfirmationPolicy {
            min_sessions: self.confirm_sessions,
            window_ms: self.confirm_window_hours.saturating_mul(HOUR_MS),
            ..ConfirmationPolicy::default()
        };
        let confirmation = load_confirmation(self.rules_file.as_deref(), &base)?;
        let mut stage = StageConfig::new(self.group.clone(), vec![self.signals_topic.clone()]);
        stage.commit_interval = std::time::Duration::from_millis(BATCH_WAIT_MS);
        stage.commit_max_messages = 5_000;
        stage.deadletter_topic = self.deadletter_topic.clone();
        let mut config = IncidentsStageConfig {
            incidents_topic: Arc::from(self.incidents_topic.as_str()),
            signals_topic: Arc::from(self.signals_topic.as_str()),
            ..Default::default()
        };
        config.incidents.confirmation = confirmation;
        Ok((stage, IncidentsHandler::new(store, runtime, config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: IncidentsArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, IncidentsArgs::default());
        assert_eq!(flags.confirm_window_hours.saturating_mul(HOUR_MS), ConfirmationPolicy::default().window_ms);
        assert_eq!(IncidentConfig::default().confirmation.default, ConfirmationPolicy::default());
    }
}
