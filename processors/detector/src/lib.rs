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

pub use config::DetectorConfig;
pub use handler::DetectorHandler;
pub use partition::PartitionDetector;
pub use rules_file::{load_rules, RulesByProject};
