//! The contract a stage implements ([`StageHandler`]) and what stops a stage ([`StageError`]).

use rdkafka::error::KafkaError;

use super::outputs::Outputs;
use crate::kafka::KafkaSetupError;

/// A stage's logic. Called from one thread; never concurrently.
pub trait StageHandler: Send + 'static {
    /// One input message. An `Err` dead-letters the message (with the error text) and moves on.
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        now_ms: i64,
        out: &mut Outputs,
    ) -> Result<(), String>;
    /// Time passes for an assigned partition (watermarks, timeouts).
    fn on_tick(&mut self, _partition: i32, _now_ms: i64, _out: &mut Outputs) {}
    /// First step of a commit cycle: make the side effects of the messages since the last cycle
    /// durable (a sink's database transaction), recording any output they cause with `out.send`.
    /// An `Err` stops the stage without committing, so the messages are read again after a
    /// restart; handlers retry transient failures themselves (while they do, input waits).
    fn persist(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// Before a commit: record every state change since the last call with `out.put_state` /
    /// `out.delete_state`.
    fn flush_state(&mut self, _out: &mut Outputs) {}
    /// A changelog record of `partition`, read while restoring (`None` = deleted).
    fn restore(&mut self, _partition: i32, _key: &[u8], _value: Option<&[u8]>) -> Result<(), String> {
        Ok(())
    }
    /// Restoring `partition` is complete; its input follows.
    fn restored(&mut self, _partition: i32, _now_ms: i64) {}
    /// `partition` moved away: drop its state.
    fn revoke(&mut self, _partition: i32) {}
    /// (entries, approximate bytes) of the state held, for metrics.
    fn state_stats(&self) -> (usize, usize) {
        (0, 0)
    }
    /// The lowest input offset of `partition` the handler still needs after a restore (e.g. events
    /// it buffers but keeps in its state only by offset). Commits never go past it, so a restarted
    /// stage reads those messages again. `None`: nothing held back.
    fn commit_floor(&self, _partition: i32) -> Option<i64> {
        None
    }
    /// True when the handler recognises replayed input itself (by offset); the runtime then passes
    /// every message instead of skipping those already reflected in the restored state.
    fn recognises_replays(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("stage {stage}: the broker did not acknowledge {what} ({detail}); nothing was committed")]
    Produce { stage: String, what: &'static str, detail: String },
    #[error("stage {stage}: {count} dead letters within a minute (limit {limit}); stopping instead of dead-lettering everything. Last error: {last}")]
    TooManyDeadLetters { stage: String, count: u32, limit: u32, last: String },
    #[error("stage {stage}: could not make its work durable ({detail}); nothing was committed")]
    Persist { stage: String, detail: String },
    #[error("stage {stage}: restoring partition {partition} from {topic} failed: {detail}")]
    Restore { stage: String, topic: String, partition: i32, detail: String },
    #[error("stage {0}: its thread panicked")]
    Panicked(String),
    #[error("admin server: {0}")]
    Admin(#[from] std::io::Error),
}
