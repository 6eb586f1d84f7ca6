//! The exporter (DESIGN §4 Exporter, research/ticket-export.md §7): for each confirmed or
//! regressed incident and each enabled integration whose filters match, exactly one ticket per
//! (incident, integration, generation) in Jira Cloud, Linear, GitHub Issues or a signed webhook.
//!
//! Two halves share the store: the consumer ([`ExporterHandler`]) only writes ledger rows and
//! commits; the [`Dispatcher`] claims due rows with a lease and makes the remote calls, classifying
//! each outcome ([`outcome`]) — success, rate limited, ambiguous (reconciled by marker before any
//! retry), permanent (dead, visible) or configuration (circuit breaker open). Integration secrets
//! are encrypted at rest ([`secret`]) and never printed.

pub mod body;
pub mod dispatcher;
pub mod handler;
pub mod integration;
pub mod ledger;
pub mod outcome;
pub mod secret;
pub mod targets;

pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use handler::ExporterHandler;
pub use integration::{Integration, IntegrationConfig, Kind, NewIntegration, RegressionPolicy};
pub use secret::{MasterKey, Secret};

/// The consumer group and metric label.
pub const STAGE_NAME: &str = "friction-exporter";

/// What can go wrong in the exporter's own bookkeeping (remote failures are
/// [`targets::CallError`]s, recorded in the ledger).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// The stage configuration: consume `incidents_topic` as `group`.
pub fn stage_config(group: &str, incidents_topic: &str) -> friction_runtime::stage::StageConfig {
    let mut config = friction_runtime::stage::StageConfig::new(group, vec![incidents_topic.to_owned()]);
    config.commit_interval = std::time::Duration::from_millis(200);
    config
}
