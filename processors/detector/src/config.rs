//! Tunables of the detector stage.

use std::sync::Arc;

/// When sessions close, how the watermark advances when a partition is quiet, and where the
/// episode records go.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// A session with no event for this long (event time) is closed: its open windows are judged
    /// and its state dropped. Match the sessionizer's inactivity gap. Default 30 min.
    pub session_gap_ms: i64,
    /// Wall-clock time a partition must be quiet before its watermark starts advancing on its own.
    /// Default 2 s.
    pub idle_grace_ms: i64,
    /// Topic the episode records go to. Default `friction.signals.v1`.
    pub signals_topic: Arc<str>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            session_gap_ms: 30 * 60 * 1000,
            idle_grace_ms: 2_000,
            signals_topic: Arc::from(friction_runtime::topics::SIGNALS),
        }
    }
}
