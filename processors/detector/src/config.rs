//! Tunables of the detector stage.

use std::sync::Arc;

/// When sessions close, how the watermarks advance, how long a decision can still be corrected,
/// and where the episode records go.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// A session with no event for this long (event time) is closed: its open windows are judged
    /// and its state dropped. Match the sessionizer's inactivity gap. Default 30 min.
    pub session_gap_ms: i64,
    /// Wall-clock time a partition must be quiet before its final watermark starts advancing on
    /// its own. Default 2 s.
    pub idle_grace_ms: i64,
    /// How late (event time behind the partition's newest) an event may arrive and still correct
    /// what was published: decisions older than the newest event time minus this are final.
    /// Match the sessionizer's allowed lateness. Default 10 s.
    pub allowed_lateness_ms: i64,
    /// Grace for batches still in flight: a quiet session's windows are judged this long (wall
    /// clock) after they passed, counted from the arrival of the session's newest event
    /// (docs/architecture.md §4 "Time: decide early, settle later"). Shorter decides sooner and
    /// retracts more often. Default 0 (benches/README.md, "Latency": the shortest grace that keeps
    /// retractions under 2 % of signals; 0 ms measured 1.08 %, 500 ms 0.93 %).
    pub early_grace_ms: i64,
    /// Topic the episode records go to. Default `friction.signals.v1`.
    pub signals_topic: Arc<str>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            session_gap_ms: 30 * 60 * 1000,
            idle_grace_ms: 2_000,
            allowed_lateness_ms: 10_000,
            early_grace_ms: 0,
            signals_topic: Arc::from(friction_runtime::topics::SIGNALS),
        }
    }
}
