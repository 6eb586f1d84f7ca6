//! The sessionizer's logic, pure and I/O-free: it turns the events of one input partition of
//! `friction.events.v1` into `friction.sessionized.v1` records (each event placed in its session,
//! view and sequence) and `friction.sessions.v1` summaries, and describes its own state as
//! changelog records. The `friction-sessionizer` binary wires it to Kafka.
//!
//! # Model
//!
//! Every event is forwarded when it arrives (docs/architecture.md §4 "Sessionizer" and "Time:
//! decide early, settle later"): nothing waits for event time to pass. Event time (the `timestamp`
//! the gateway already corrected for client clock skew) decides which split an event joins, its
//! flags, and when splits close. Each input partition has one [`PartitionState`] with one
//! watermark:
//!
//! * **watermark** = newest event time seen − `allowed_lateness_ms` (10 s). A partition that
//!   receives nothing moves it on by the wall-clock time passed since its newest event arrived,
//!   never straight to the wall clock ([`PartitionState::advance`], which the stage calls only for a
//!   partition read to its end: a pause in consumption with input waiting is not idle time).
//! * **forwarding**: an event that is not a duplicate is emitted at once, with the next `seq` of its
//!   split: `seq` is arrival order within the split, so the output of a key is in arrival order.
//! * **reordered**: an event older than its split's newest event time (an event of the split that
//!   arrived before it is newer) is flagged `reordered`. Consumers that keep a session in time
//!   order (the detector) insert it by (timestamp, seq).
//! * **late**: an event that arrives behind the watermark is flagged `late` and counted (metric and
//!   `lateEvents`), never dropped: it joins its key's open split like any other event. If its key
//!   has none (its session closed already), it opens a split named after its own time that stays
//!   open until the watermark is `allowed_lateness_ms` further, so a late batch forms one split.
//! * **duplicates**: the last `dedup_ids` (64) eventIds of a key are remembered as 32-bit hashes; a
//!   repeat is dropped and counted (`duplicatesDropped`). Events without an id are never duplicates.
//!   A distinct id is mistaken for a repeat with probability ≤ 64 / 2³² (see `hash`).
//! * **splits**: an arriving event starts a new split when it comes at least `inactivity_gap_ms`
//!   (30 min) after the split's newest event, or at least `max_session_ms` (24 h) after its anchor.
//!   A split is named `<sessionId>#<anchor>`, anchor = event time of its first *arrived* event:
//!   unique per key without remembering earlier splits, and identical on every replay of the same
//!   topic (a different arrival order of the same events may name it after another event). An event
//!   that arrives before its split's anchor but within the gap (any event not late, with the default
//!   settings) joins that split, flagged reordered; the split's `start` is its earliest event time.
//!   With arrival delays far below the gap, the splits group the same events as in time order; an
//!   event delayed across a gap boundary may land on the other side of it.
//! * **close**: a split closes when the watermark reaches min(newest event + gap, anchor + max):
//!   from then on no on-time event could join it (it would start a new split). Its
//!   [`SessionSummary`] is emitted and its state dropped. Never by wall clock, except through the
//!   idle rule above. `closeReason` names the deadline that bound (a split quiet at its 24 h mark
//!   closes as `max_duration`). An event that splits its key's session closes the previous split
//!   at once: its summary comes just before the event.
//! * **views**: view 0 starts with the split; a later-arriving pageview / navigation event, or one
//!   whose client `viewId` differs from the current view's, starts the next — unless it is
//!   reordered (it belongs before the split's newest event: it gets the current view). `viewId` is
//!   the client's when known, else `<sessionKey>:v<viewIndex>`.
//! * **log lines** (`eventType` `log`, `sessionId` `log:<service>`) are treated like any session:
//!   deduplicated, split and summarised (errors count `error`/`fatal` lines) and forwarded at once,
//!   so one error line reaches the detector without waiting.
//! * **time semantics at the edges**: an event exactly at the watermark is not late; a gap of
//!   exactly `inactivity_gap_ms` splits; an event at exactly its split's newest time is not
//!   reordered; splits due at the same watermark close in key order.
//!
//! # State and restarts
//!
//! [`PartitionState::drain_changelog`] returns the records to write to the compacted changelog
//! (per key, plus the partition record under [`PARTITION_KEY`]), in the order they must be written;
//! [`PartitionState::restore`] loads them back. Nothing is held back, so once the runtime has the
//! outputs of what it read acknowledged it may commit all of it. Replayed input is recognised by
//! offset and changes nothing twice. The encoding is described in [`state`](crate::state) and
//! rejects anything malformed with a [`StateError`].
//!
//! Records written by a sessionizer from before issue 17 (which buffered events until the
//! watermark passed them) may list the input offsets of events it held: those were never emitted.
//! After restoring such a record the runtime must consume input from
//! [`PartitionState::min_needed_offset`] (the stage never commits past it); when those offsets are
//! read again their events are emitted ([`Ingested::Reapplied`]).
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
    /// How far an event may trail its partition's newest event time without being flagged late. Default 10 s.
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
