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

pub use apply::{apply_batch, ApplyError, Touched};
pub use handler::{IncidentsHandler, IncidentsStageConfig};
pub use model::{IncidentConfig, KINDS};

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
    /// Distinct sessions within --confirm-window-hours that confirm an incident.
    #[arg(long, env = "FRICTION_CONFIRM_SESSIONS", default_value_t = IncidentConfig::default().confirm_sessions)]
    pub confirm_sessions: usize,
    #[arg(long, env = "FRICTION_CONFIRM_WINDOW_HOURS", default_value_t = IncidentConfig::default().confirm_window_ms / HOUR_MS)]
    pub confirm_window_hours: i64,
}

const HOUR_MS: i64 = 3_600_000;

impl Default for IncidentsArgs {
    fn default() -> Self {
        let incidents = IncidentConfig::default();
        IncidentsArgs {
            group: STAGE_NAME.into(),
            signals_topic: topics::SIGNALS.into(),
            incidents_topic: topics::INCIDENTS.into(),
            deadletter_topic: topics::DEADLETTER.into(),
            confirm_sessions: incidents.confirm_sessions,
            confirm_window_hours: incidents.confirm_window_ms / HOUR_MS,
        }
    }
}

impl IncidentsArgs {
    /// The stage as these settings say: its runtime configuration and its handler, which runs the
    /// store's futures on `runtime` (see [`IncidentsHandler::new`]).
    ///
    /// Signals in, and a short commit interval so a confirmed incident is visible soon after its
    /// last signal (docs/architecture.md §9: ≤ 1 s end to end).
    pub fn stage(&self, store: Store, runtime: tokio::runtime::Handle) -> (StageConfig, IncidentsHandler) {
        let mut stage = StageConfig::new(self.group.clone(), vec![self.signals_topic.clone()]);
        stage.commit_interval = std::time::Duration::from_millis(100);
        stage.commit_max_messages = 5_000;
        stage.deadletter_topic = self.deadletter_topic.clone();
        let mut config = IncidentsStageConfig {
            incidents_topic: Arc::from(self.incidents_topic.as_str()),
            signals_topic: Arc::from(self.signals_topic.as_str()),
            ..Default::default()
        };
        config.incidents.confirm_sessions = self.confirm_sessions;
        config.incidents.confirm_window_ms = self.confirm_window_hours.saturating_mul(HOUR_MS);
        (stage, IncidentsHandler::new(store, runtime, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: IncidentsArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, IncidentsArgs::default());
        assert_eq!(flags.confirm_window_hours.saturating_mul(HOUR_MS), IncidentConfig::default().confirm_window_ms);
    }
}
