//! The commit cycle (see the [module doc](super)): its boundary on the stage thread, then, as the
//! broker acknowledges, state and offset markers to the changelog and the input offsets committed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::core::{lock, Core, PendingCycle};
use super::delivery::EPOCH_SLOTS;
use super::handler::{StageError, StageHandler};
use super::restore::OFFSET_MARKER_KEY;

/// Commit cycles whose acknowledgements may be outstanding while the stage consumes on.
pub const MAX_PENDING_CYCLES: usize = 2;

impl<H: StageHandler> Core<H> {
    /// A commit cycle, waited for: outputs durable → state durable → offsets committed, for this
    /// cycle and every pending one (revocation, shutdown).
    pub(super) fn commit_cycle<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<(), StageError> {
        self.begin_cycle()?;
        self.flush_producer("outputs and state changes")?;
        self.advance_cycles(consumer, 0)
    }

    /// The boundary of a commit cycle: the handler's side effects made durable and its state
    /// changes taken, and what will be written and committed once the outputs are acknowledged
    /// captured as of now. The rest happens in [`Self::advance_cycles`], while input goes on.
    pub(super) fn begin_cycle(&mut self) -> Result<(), StageError> {
        let mut outputs = std::mem::take(&mut self.outputs);
        let persisted = self.handler.persist(&mut outputs);
        self.outputs = outputs;
        if let Err(detail) = persisted {
            return Err(StageError::Persist { stage: self.stage(), detail });
        }
        let mut outputs = std::mem::take(&mut self.outputs);
        self.handler.flush_state(&mut outputs);
        self.outputs = outputs;
        self.send_outputs()?;

        let state = self.outputs.take_state();
        let mut markers: BTreeMap<i32, i64> = BTreeMap::new();
        if self.changelog_topic.is_some() {
            for ((_, p), next) in &self.processed {
                let e = markers.entry(*p).or_insert(*next);
                *e = (*e).max(*next);
            }
        }
        // The floor as of this boundary: it belongs to the state taken now. A later floor could be
        // past events that this state still holds only by offset.
        let commits: Vec<(String, i32, i64)> = self
            .processed
            .drain(..)
            .map(|((topic, p), next)| {
                let commit = self.handler.commit_floor(p).map_or(next, |floor| floor.min(next));
                (topic, p, commit)
            })
            .collect();
        metrics::histogram!("friction_stage_batch_messages", "stage" => self.stage()).record(self.uncommitted as f64);
        let (entries, bytes) = self.handler.state_stats();
        metrics::gauge!("friction_stage_state_entries", "stage" => self.stage()).set(entries as f64);
        metrics::gauge!("friction_stage_state_bytes", "stage" => self.stage()).set(bytes as f64);
        self.uncommitted = 0;
        self.last_commit = Instant::now();
        if state.is_empty() && commits.is_empty() {
            // Nothing to make durable or commit (an idle cycle); tick outputs go out on their own.
            return Ok(());
        }
        self.pending.push_back(PendingCycle {
            outputs_epoch: self.epoch,
            state_epoch: None,
            state,
            markers,
            commits,
            started: Instant::now(),
        });
        self.next_epoch()
    }

    /// Starts a new epoch for the records enqueued from now on.
    fn next_epoch(&mut self) -> Result<(), StageError> {
        self.epoch += 1;
        // The new epoch's counter slot was last used EPOCH_SLOTS epochs ago; it must be drained.
        if self.epoch >= EPOCH_SLOTS as u64 {
            self.acked(self.epoch - EPOCH_SLOTS as u64, true, "records of an old epoch")?;
        }
        Ok(())
    }

    /// Moves the pending cycles on as far as the acknowledgements allow, in order, waiting while
    /// more than `keep` are pending.
    pub(super) fn advance_cycles<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        keep: usize,
    ) -> Result<(), StageError> {
        while let Some(mut cycle) = self.pending.pop_front() {
            let wait = self.pending.len() + 1 > keep;
            if cycle.state_epoch.is_none() {
                if !self.acked(cycle.outputs_epoch, wait, "outputs")? {
                    self.pending.push_front(cycle);
                    return Ok(());
                }
                cycle.state_epoch = Some(self.write_state(&mut cycle)?);
            }
            let state_epoch = cycle.state_epoch.unwrap_or(cycle.outputs_epoch);
            if !self.acked(state_epoch, wait, "state changes")? {
                self.pending.push_front(cycle);
                return Ok(());
            }
            self.commit_offsets(consumer, &cycle, wait)?;
        }
        Ok(())
    }

    /// Enqueues a cycle's state changes and offset markers; returns the epoch they are in.
    fn write_state(&mut self, cycle: &mut PendingCycle) -> Result<u64, StageError> {
        let Some(changelog) = self.changelog_topic.clone() else { return Ok(cycle.outputs_epoch) };
        let state = std::mem::take(&mut cycle.state);
        if state.is_empty() && cycle.markers.is_empty() {
            return Ok(cycle.outputs_epoch);
        }
        for (partition, key, value) in state.iter() {
            self.enqueue(&changelog, key, value, Some(partition), None)?;
        }
        for (&partition, next) in &cycle.markers {
            self.enqueue(&changelog, OFFSET_MARKER_KEY, Some(&next.to_be_bytes()), Some(partition), None)?;
        }
        let epoch = self.epoch;
        self.next_epoch()?;
        Ok(epoch)
    }

    /// Whether every record of `epoch` and earlier ones is acknowledged; with `wait`, waits for it
    /// (up to `flush_timeout`). A failed delivery is an error: nothing past it may be committed.
    fn acked(&mut self, epoch: u64, wait: bool, what: &'static str) -> Result<bool, StageError> {
        let deadline = Instant::now() + self.config.flush_timeout;
        loop {
            let tracker = self.producer.context();
            while self.drained_through <= epoch && tracker.slot(self.drained_through).load(Ordering::SeqCst) == 0 {
                self.drained_through += 1;
            }
            let failures = tracker.failures.swap(0, Ordering::SeqCst);
            if failures > 0 {
                let detail = lock(&tracker.last_error).clone().unwrap_or_default();
                return Err(StageError::Produce {
                    stage: self.stage(),
                    what,
                    detail: format!("{failures} failed: {detail}"),
                });
            }
            if self.drained_through > epoch {
                return Ok(true);
            }
            if !wait {
                return Ok(false);
            }
            if Instant::now() > deadline {
                return Err(StageError::Produce {
                    stage: self.stage(),
                    what,
                    detail: format!("not acknowledged within {:?}", self.config.flush_timeout),
                });
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Step (4): the cycle's outputs and state are durable; commit its offsets. Synchronously when
    /// the caller waits (revocation, shutdown: the next owner starts from them), else
    /// asynchronously (a commit that is lost only means more replay).
    fn commit_offsets<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        cycle: &PendingCycle,
        sync: bool,
    ) -> Result<(), StageError> {
        if !cycle.commits.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (topic, p, offset) in &cycle.commits {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*offset))?;
            }
            consumer.commit(&tpl, if sync { CommitMode::Sync } else { CommitMode::Async })?;
            let mut committed = lock(&self.committed);
            for (topic, p, offset) in &cycle.commits {
                committed.insert((topic.clone(), *p), *offset);
            }
        }
        metrics::histogram!("friction_stage_commit_seconds", "stage" => self.stage())
            .record(cycle.started.elapsed().as_secs_f64());
        Ok(())
    }
}
