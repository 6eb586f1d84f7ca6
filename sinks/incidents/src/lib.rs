//! `friction-incidents`: signals (keyed by fingerprint) grouped into incidents in the relational
//! store — counts, distinct sessions and users, evidence samples, severity and lifecycle — with
//! every change published to `friction.incidents.v1` (DESIGN §4 Incidents).
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

/// The consumer group (and stage name) of the incidents stage.
pub const STAGE_NAME: &str = "friction-incidents";

/// The stage configuration `friction up` and the binary use: signals in, a short commit interval
/// so a confirmed incident is visible soon after its last signal (DESIGN §9: ≤ 1 s end to end).
pub fn stage_config(group: &str, signals_topic: &str) -> friction_runtime::stage::StageConfig {
    let mut stage = friction_runtime::stage::StageConfig::new(group, vec![signals_topic.to_owned()]);
    stage.commit_interval = std::time::Duration::from_millis(100);
    stage.commit_max_messages = 5_000;
    stage
}
