//! The consume → process → produce → commit loop every stage runs, with dead letters and keyed
//! state kept in a compacted changelog topic.
//!
//! Delivery (docs/architecture.md §5): at least once. A commit cycle (every `commit_max_messages` messages or
//! `commit_interval`, on revocation and on shutdown) does, in order: (0) let the handler make its
//! side effects durable (`persist`: a sink's transaction); (1) ask the handler for the
//! state it changed; (2) wait until every output of the processed messages is acknowledged;
//! (3) write the changed state, and for each partition a marker with the next input offset, to the
//! changelog, and wait for those acknowledgements; (4) commit the input offsets. A crash anywhere
//! before (4) replays input: after (2) the outputs are already durable and the replay's copies carry
//! the same deterministic ids; after (3) the restored state already contains the replayed messages,
//! and the marker makes the stage skip them.
//!
//! Steps (0), (1) and the capture of what (3) and (4) will write (state bytes, offset markers,
//! offsets with the handler's commit floor) happen at the cycle's boundary, on the stage thread;
//! the waits of (2) and (3) do not stop consumption: the loop keeps processing the next messages
//! while the broker acknowledges, and moves the cycle on when the acknowledgements are in
//! (at most [`MAX_PENDING_CYCLES`] cycles in flight; a further boundary waits for the oldest).
//! Acknowledgements are counted per *epoch*: every record produced carries the number of the epoch
//! it was enqueued in, and a cycle waits until every record of its epoch and all earlier ones is
//! acknowledged. Cycles complete in order. Revocation and shutdown run a cycle and wait for all.
//!
//! State: the changelog has one partition per input partition (stages' inputs are co-partitioned by
//! key). When a partition is assigned, its changelog partition is read from the beginning into the
//! handler before any input of it is processed — up to a sentinel record the restore itself appends,
//! not up to the broker's reported end; when revoked, a commit cycle runs and the handler
//! drops the partition's state. Two copies of a stage in one group split the partitions, and state
//! follows a partition when it moves.
//!
//! Backpressure: outputs go through librdkafka's bounded queue; when it is full the loop waits
//! (and stops polling input) instead of buffering more.
//!
//! Where each part lives: [`StageHandler`] (the contract a stage implements) and [`StageError`] in
//! `handler`; [`Outputs`] in `outputs`; the consume loop and thread in `run`; the per-message path
//! and the commit cycle of the stage's core in `core` and `cycle`; acknowledgement counting in
//! `delivery`; the changelog's reserved keys and the restore of a partition's state in `restore`;
//! the consumer context that hands state over in rebalances in `rebalance`. How a stage runs
//! ([`StageConfig`]) and its defaults are in [`crate::config`].

mod core;
mod cycle;
mod delivery;
mod handler;
mod outputs;
mod rebalance;
mod restore;
mod run;

pub use self::cycle::MAX_PENDING_CYCLES;
pub use self::delivery::DeliveryTracker;
pub use self::handler::{StageError, StageHandler};
pub use self::outputs::{DeadLetter, Outputs};
pub use self::rebalance::StageContext;
pub use self::restore::{OFFSET_MARKER_KEY, RESTORE_SENTINEL_KEY};
pub use self::run::{run_stage_process, spawn_stage, wait_stage};
pub use crate::config::{StageConfig, DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_MAX_MESSAGES};
