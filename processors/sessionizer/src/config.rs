//! Tunables of the sessionizer. Every number has the default docs/architecture.md §4 names.

/// How the sessionizer splits, flags and remembers. All times are event-time milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionizerConfig {
    /// How far an event may trail the newest event time of its partition and not be flagged `late`
    /// (the watermark is the newest event time minus this); sessions close when the watermark passes
    /// their deadline, so this is also how long a split stays open past its inactivity gap. Default
    /// 10_000 (10 s).
    pub allowed_lateness_ms: i64,
    /// Event-time inactivity after which a session is split (and, once the watermark passes it,
    /// closed). Default 1_800_000 (30 min).
    pub inactivity_gap_ms: i64,
    /// Longest split session, measured from its first event. Default 86_400_000 (24 h).
    pub max_session_ms: i64,
    /// How many recent event ids each session remembers (as 32-bit hashes, 4 bytes each) to drop
    /// duplicates. Default 64.
    pub dedup_ids: usize,
    /// Track changed keys for the changelog (see `PartitionState::drain_changelog`). With `false`
    /// nothing is tracked and closed sessions are forgotten at once: for in-process use without
    /// persistence (benchmarks). Default true.
    pub changelog: bool,
}

impl Default for SessionizerConfig {
    fn default() -> Self {
        Self {
            allowed_lateness_ms: 10_000,
            inactivity_gap_ms: 30 * 60 * 1000,
            max_session_ms: 24 * 60 * 60 * 1000,
            dedup_ids: 64,
            changelog: true,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("allowed_lateness_ms must be >= 0, got {0}")]
    NegativeLateness(i64),
    #[error("inactivity_gap_ms must be > 0, got {0}")]
    Gap(i64),
    #[error("max_session_ms must be > 0, got {0}")]
    MaxSession(i64),
    #[error("dedup_ids must be at most 65535, got {0}")]
    DedupIds(usize),
}

impl SessionizerConfig {
    /// Checks every value; `PartitionState::new` calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.allowed_lateness_ms < 0 {
            return Err(ConfigError::NegativeLateness(self.allowed_lateness_ms));
        }
        if self.inactivity_gap_ms <= 0 {
            return Err(ConfigError::Gap(self.inactivity_gap_ms));
        }
        if self.max_session_ms <= 0 {
            return Err(ConfigError::MaxSession(self.max_session_ms));
        }
        if self.dedup_ids > usize::from(u16::MAX) {
            return Err(ConfigError::DedupIds(self.dedup_ids));
        }
        Ok(())
    }
}
