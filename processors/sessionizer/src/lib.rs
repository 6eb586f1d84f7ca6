//! The sessionizer's logic, pure and I/O-free: it turns the events of one input partition of
//! `friction.events.v1` into `friction.sessionized.v1` records (each event placed in its session,
//! view and sequence) and `friction.sessions.v1` summaries, and describes its own state as
//! changelog records. The `friction-sessionizer` binary wires it to Kafka.
//!
//! # Model
//!
//! Everything runs on event time (the `timestamp` the gateway already corrected for client clock
//! skew). Each input partition has one [`PartitionState`] with one watermark:
//!
//! * **watermark** = newest event time seen − `allowed_lateness_ms` (10 s); every event before the
//!   watermark has been released. A partition that receives nothing moves it on by the wall-clock
//!   time passed since its newest event arrived, never straight to the wall clock
//!   ([`PartitionState::advance`], which the stage calls only for a partition read to its end: a
//!   pause in consumption with input waiting is not idle time).
//! * **ordering**: an event is buffered per key (`project_id:session_id`) and released, in
//!   (timestamp, eventId) order, once the watermark is past it. Across keys, releases and session
//!   closes happen in time order too, so the whole output is a pure function of the input.
//! * **duplicates**: the last `dedup_ids` (64) eventIds of a key are remembered as 32-bit hashes; a
//!   repeat is dropped and counted (`duplicatesDropped`). Events without an id are never duplicates.
//!   A distinct id is mistaken for a repeat with probability ≤ 64 / 2³² (see `hash`).
//! * **late events**: an event that arrives behind the watermark is still processed, as a late part
//!   of its session: emitted at once (next `seq`, current view), flagged `late`, counted. If its key
//!   has an open split it joins that split, whatever its time (we never reopen or re-split history).
//!   If not (its session closed already), it opens a new split named after its own time, which stays
//!   open until the watermark is `allowed_lateness_ms` further, so a late batch forms one split.
//! * **splits**: a released event starts a new split when it comes at least `inactivity_gap_ms`
//!   (30 min) after the split's latest event, or at least `max_session_ms` (24 h) after its first.
//!   A split is named `<sessionId>#<anchor>`, anchor = event time of its first event: deterministic,
//!   unique per key without remembering earlier splits, and identical on every replay.
//! * **close**: a split closes when the watermark reaches min(latest event + gap, anchor + max):
//!   from then on no on-time event can join it. Its [`SessionSummary`] is emitted and its state
//!   dropped. Never by wall clock, except through the idle rule above. `closeReason` names the
//!   deadline that bound (a split quiet at its 24 h mark closes as `max_duration`).
//! * **views**: view 0 starts with the split; a later on-time pageview / navigation event, or an event
//!   whose client `viewId` differs from the current view's, starts the next. `viewId` is the client's
//!   when known, else `<sessionKey>:v<viewIndex>`.
//! * **log lines** (`eventType` `log`, `sessionId` `log:<service>`) are treated like any session:
//!   ordered, deduplicated, split and summarised (errors count `error`/`fatal` lines), so the
//!   detector sees them in time order like everything else. A busy log stream is bounded by
//!   `max_buffered_per_session`: past it, its oldest buffered line is released at once, so a hot key
//!   degrades to arrival order instead of growing (an event behind what its key already released
//!   is then emitted as late).
//! * **time semantics at the edges**: an event exactly at the watermark is on time; a gap of exactly
//!   `inactivity_gap_ms` splits; ties in time are ordered by eventId, then across keys by key, and a
//!   close comes before an event of the same time.
//!
//! # State and restarts
//!
//! [`PartitionState::drain_changelog`] returns the records to write to the compacted changelog
//! (per key, plus the partition record under [`PARTITION_KEY`]), in the order they must be written;
//! [`PartitionState::restore`] loads them back. Buffered events are persisted as their input
//! offsets, not their content (a key's record stays small however busy it is), so after a restore
//! the runtime must consume input from [`PartitionState::min_needed_offset`] — simplest: never
//! commit an input offset past it. Replayed input is recognised by offset: it changes nothing
//! twice, and events that were buffered are buffered again. The encoding is described in
//! [`state`](crate::state) and rejects anything malformed with a [`StateError`].
//!
//! Determinism: with the same input (events and offsets) the outputs are identical, records and
//! order. The wall-clock arguments matter only through the idle rule, i.e. only when a partition
//! sits idle; a replay that reads fast sees (almost) no idle time, which is why the idle rule adds
//! wall time to the newest event time rather than using the wall clock itself.

mod config;
pub mod handler;
mod hash;
mod partition;
mod session;
pub mod state;
mod synthetic;

use std::sync::Arc;

use friction_runtime::config::{CommitArgs, StageConfig};
use friction_runtime::topics;
use friction_schemas::{SessionSummary, Sessionized};

use crate::handler::{SessionizerHandler, SessionizerTopics};

pub use config::{ConfigError, SessionizerConfig};
pub use partition::{ChangelogRecord, Ingested, PartitionState, Stats, PARTITION_KEY};
pub use state::{StateError, STATE_VERSION};
pub use synthetic::{synthetic_stream, SyntheticStream};

/// One output record with its Kafka key (`project_id:session_id`, the input key).
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    /// For `friction.sessionized.v1`. Boxed: the event was boxed once at the input and travels
    /// inside this record from there (moving ~1.3 KB at every step was ~18 % of the time).
    /// The key is the session's own shared key (a reference count, not a copy per output).
    ///
    /// `datum`: the event's Avro datum as it arrived, when its schema version is the one the
    /// sessionized schema embeds (`friction_schemas::embeddable_event_datum`): the handler writes
    /// it into the output as is instead of encoding `record.event` again (same bytes).
    Sessionized { key: Arc<str>, record: Box<Sessionized<'static>>, datum: Option<Box<[u8]>> },
    /// For `friction.sessions.v1`. Boxed (one per split session, rare) so that the enum stays the
    /// size of the `Sessionized` variant.
    Summary { key: Arc<str>, record: Box<SessionSummary> },
}

impl Emitted {
    pub fn key(&self) -> &str {
        match self {
            Emitted::Sessionized { key, .. } | Emitted::Summary { key, .. } => key,
        }
    }
}

/// The consumer group (and stage name) of the sessionizer.
pub const STAGE_NAME: &str = "friction-sessionizer";

/// The sessionizer stage's settings: the flags of `friction-sessionizer` (each also read from an
/// environment variable). `friction up` and the tests start from [`SessionizerArgs::default`], the
/// flags' defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct SessionizerArgs {
    /// Consumer group; copies with the same group split the partitions.
    #[arg(long, env = "FRICTION_SESSIONIZER_GROUP", default_value = STAGE_NAME)]
    pub group: String,
    #[arg(long, env = "FRICTION_EVENTS_TOPIC", default_value = topics::EVENTS)]
    pub events_topic: String,
    #[arg(long, env = "FRICTION_SESSIONIZED_TOPIC", default_value = topics::SESSIONIZED)]
    pub sessionized_topic: String,
    #[arg(long, env = "FRICTION_SESSIONS_TOPIC", default_value = topics::SESSIONS)]
    pub sessions_topic: String,
    #[arg(long, env = "FRICTION_SESSIONIZER_CHANGELOG_TOPIC", default_value = topics::SESSIONIZER_CHANGELOG)]
    pub changelog_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// How far an event may trail its partition's newest event time and still be put in order. Default 10 s.
    #[arg(long, env = "FRICTION_ALLOWED_LATENESS_MS", default_value_t = SessionizerConfig::default().allowed_lateness_ms)]
    pub allowed_lateness_ms: i64,
    /// Event-time inactivity that splits (and closes) a session. Default 30 min.
    #[arg(long, env = "FRICTION_INACTIVITY_GAP_MS", default_value_t = SessionizerConfig::default().inactivity_gap_ms)]
    pub inactivity_gap_ms: i64,
    /// Longest session from its first event. Default 24 h.
    #[arg(long, env = "FRICTION_MAX_SESSION_MS", default_value_t = SessionizerConfig::default().max_session_ms)]
    pub max_session_ms: i64,
    #[command(flatten)]
    pub commit: CommitArgs,
}

impl Default for SessionizerArgs {
    fn default() -> Self {
        let config = SessionizerConfig::default();
        SessionizerArgs {
            group: STAGE_NAME.into(),
            events_topic: topics::EVENTS.into(),
            sessionized_topic: topics::SESSIONIZED.into(),
            sessions_topic: topics::SESSIONS.into(),
            changelog_topic: topics::SESSIONIZER_CHANGELOG.into(),
            deadletter_topic: topics::DEADLETTER.into(),
            allowed_lateness_ms: config.allowed_lateness_ms,
            inactivity_gap_ms: config.inactivity_gap_ms,
            max_session_ms: config.max_session_ms,
            commit: CommitArgs::default(),
        }
    }
}

impl SessionizerArgs {
    /// The stage as these settings say: its runtime configuration and its handler.
    pub fn stage(&self) -> Result<(StageConfig, SessionizerHandler), ConfigError> {
        let config = SessionizerConfig {
            allowed_lateness_ms: self.allowed_lateness_ms,
            inactivity_gap_ms: self.inactivity_gap_ms,
            max_session_ms: self.max_session_ms,
            ..SessionizerConfig::default()
        };
        let topics = SessionizerTopics {
            sessionized: Arc::from(self.sessionized_topic.as_str()),
            sessions: Arc::from(self.sessions_topic.as_str()),
        };
        let handler = SessionizerHandler::new(config, topics)?;
        let mut stage = StageConfig::new(self.group.clone(), vec![self.events_topic.clone()]);
        stage.changelog_topic = Some(self.changelog_topic.clone());
        stage.deadletter_topic = self.deadletter_topic.clone();
        self.commit.apply(&mut stage);
        Ok((stage, handler))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: SessionizerArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, SessionizerArgs::default());
        let (stage, _) = flags.stage().expect("valid");
        assert_eq!(stage.input_topics, [topics::EVENTS]);
        assert_eq!(stage.changelog_topic.as_deref(), Some(topics::SESSIONIZER_CHANGELOG));
    }
}
