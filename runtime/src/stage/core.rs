//! The stage's core: what one stage thread owns (handler, producer, offsets, pending commit
//! cycles) and the per-message path (process, dead-letter, tick, enqueue with backpressure).
//! The commit cycle is in `cycle`, the restore in `restore`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::delivery::DeliveryTracker;
use super::handler::{StageError, StageHandler};
use super::outputs::{Outputs, StateWrites};
use crate::config::{KafkaArgs, StageConfig};

/// A commit cycle past its boundary, waiting for acknowledgements (see the module doc).
pub(super) struct PendingCycle {
    /// Every record of this epoch and earlier ones must be acknowledged before the state is written.
    pub(super) outputs_epoch: u64,
    /// The epoch the state records were enqueued in, once they are.
    pub(super) state_epoch: Option<u64>,
    pub(super) state: StateWrites,
    /// Per partition, the next input offset whose effects are not in `state`.
    pub(super) markers: BTreeMap<i32, i64>,
    /// What to commit, commit floors applied, as of the boundary.
    pub(super) commits: Vec<(String, i32, i64)>,
    pub(super) started: Instant,
}

/// Committed offset per assigned (topic, partition), shared with the lag reporter's thread.
pub(super) type CommittedOffsets = Arc<Mutex<BTreeMap<(String, i32), i64>>>;

/// What a stage thread owns; shared with the consumer context, which runs in rebalances.
pub(super) struct Core<H: StageHandler> {
    /// What the lag reporter reads (see `run::spawn_lag_reporter`).
    pub(super) committed: CommittedOffsets,
    pub(super) config: StageConfig,
    pub(super) kafka: KafkaArgs,
    pub(super) handler: H,
    pub(super) producer: ThreadedProducer<DeliveryTracker>,
    deadletter_topic: Arc<str>,
    pub(super) changelog_topic: Option<Arc<str>>,
    pub(super) assigned: BTreeSet<(String, i32)>,
    /// Next offset to commit, per (topic, partition), for messages processed since the last commit
    /// (a handful of entries: a list is cheaper to update per message than a map keyed by String).
    pub(super) processed: Vec<((String, i32), i64)>,
    /// Per-message counters, registered once (a `counter!` per message costs a label allocation
    /// and a registry lookup).
    counters: StageCounters,
    /// Per partition: offsets below this are already in the restored state.
    pub(super) skip_below: HashMap<i32, i64>,
    pub(super) uncommitted: usize,
    pub(super) last_commit: Instant,
    dead_letter_window: (Instant, u32),
    pub(super) fatal: Option<StageError>,
    pub(super) outputs: Outputs,
    /// Epoch of the records enqueued now, and the oldest epoch that may still have records
    /// unacknowledged (every earlier one is fully acknowledged).
    pub(super) epoch: u64,
    pub(super) drained_through: u64,
    pub(super) pending: VecDeque<PendingCycle>,
    /// Partitions read up to their end (librdkafka's partition-EOF, from the fetch high watermark)
    /// with nothing since. Only these get ticks: "nothing arrived" on a partition with input still
    /// waiting means "not read yet", not "quiet", and a backlog must not look idle.
    pub(super) at_end: BTreeSet<i32>,
}

/// Where a dead-lettered message was read.
struct Source<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

struct StageCounters {
    processed: metrics::Counter,
    produced: metrics::Counter,
    skipped: metrics::Counter,
}

impl StageCounters {
    fn new(stage: &str) -> Self {
        // The process-wide recorder must exist before handles are taken from it.
        crate::admin::prometheus();
        StageCounters {
            processed: metrics::counter!("friction_stage_processed_total", "stage" => stage.to_string()),
            produced: metrics::counter!("friction_stage_produced_total", "stage" => stage.to_string()),
            skipped: metrics::counter!("friction_stage_skipped_restored_total", "stage" => stage.to_string()),
        }
    }
}

/// Locks `m`, also after another thread panicked holding it (the stage then stops on its own error).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl<H: StageHandler> Core<H> {
    pub(super) fn new(
        config: StageConfig,
        kafka: &KafkaArgs,
        handler: H,
        producer: ThreadedProducer<DeliveryTracker>,
        committed: CommittedOffsets,
    ) -> Self {
        Core {
            committed,
            deadletter_topic: Arc::from(config.deadletter_topic.as_str()),
            changelog_topic: config.changelog_topic.as_deref().map(Arc::from),
            counters: StageCounters::new(&config.name),
            config,
            kafka: kafka.clone(),
            handler,
            producer,
            assigned: BTreeSet::new(),
            processed: Vec::new(),
            skip_below: HashMap::new(),
            uncommitted: 0,
            last_commit: Instant::now(),
            dead_letter_window: (Instant::now(), 0),
            fatal: None,
            outputs: Outputs::default(),
            epoch: 0,
            drained_through: 0,
            pending: VecDeque::new(),
            at_end: BTreeSet::new(),
        }
    }

    pub(super) fn stage(&self) -> String {
        self.config.name.clone()
    }

    /// Enqueues a record, waiting while the producer queue is full (backpressure).
    pub(super) fn enqueue(
        &self,
        topic: &str,
        key: &[u8],
        payload: Option<&[u8]>,
        partition: Option<i32>,
        headers: Option<OwnedHeaders>,
    ) -> Result<(), StageError> {
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, self.epoch as usize).key(key);
        if let Some(p) = payload {
            record = record.payload(p);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        let mut record = record;
        let outstanding = self.producer.context().slot(self.epoch);
        // Counted before the send: the acknowledgement may arrive before `send` returns.
        outstanding.fetch_add(1, Ordering::SeqCst);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    metrics::counter!("friction_stage_backpressure_waits_total", "stage" => self.stage()).increment(1);
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    outstanding.fetch_sub(1, Ordering::SeqCst);
                    return Err(StageError::Produce { stage: self.stage(), what: "an output", detail: e.to_string() });
                }
            }
        }
    }

    pub(super) fn send_outputs(&mut self) -> Result<(), StageError> {
        if !self.outputs.dead_letters().is_empty() {
            for d in self.outputs.take_dead_letters() {
                let source = Source { topic: &d.topic, partition: d.partition, offset: d.offset };
                self.dead_letter_record(source, d.key.as_deref(), Some(&d.payload), &d.error)?;
            }
        }
        let n = self.outputs.len();
        let result = self
            .outputs
            .records()
            .try_for_each(|(topic, key, payload)| self.enqueue(topic, key, Some(payload), None, None));
        // Enqueued (copied by librdkafka) or failed: either way the buffer is free for the next
        // message. Its memory is given back after an unusually large batch (a flush, a tick).
        self.outputs.clear_records();
        self.outputs.shrink_after_large_batch();
        result?;
        if n > 0 {
            self.counters.produced.increment(n as u64);
        }
        Ok(())
    }

    pub(super) fn handle(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), StageError> {
        let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
        let skip =
            !self.handler.recognises_replays() && self.skip_below.get(&partition).is_some_and(|&below| offset < below);
        if !skip {
            let now = crate::now_ms();
            let payload = msg.payload().unwrap_or(&[]);
            let mut outputs = std::mem::take(&mut self.outputs);
            let result = self.handler.on_message(partition, offset, msg.key(), payload, now, &mut outputs);
            self.outputs = outputs;
            if let Err(error) = result {
                self.dead_letter(msg, &error)?;
            }
            self.send_outputs()?;
            self.counters.processed.increment(1);
        } else {
            self.counters.skipped.increment(1);
        }
        match self.processed.iter_mut().find(|((t, p), _)| *p == partition && t == topic) {
            Some((_, next)) => *next = offset + 1,
            None => self.processed.push(((topic.to_string(), partition), offset + 1)),
        }
        self.uncommitted += 1;
        Ok(())
    }

    fn dead_letter(&mut self, msg: &BorrowedMessage<'_>, error: &str) -> Result<(), StageError> {
        let source = Source { topic: msg.topic(), partition: msg.partition(), offset: msg.offset() };
        self.dead_letter_record(source, msg.key(), msg.payload(), error)
    }

    /// Sends one input message to the dead-letter topic with its source and the error in headers
    /// (docs/architecture.md §5), counting it against `max_dead_letters_per_minute`.
    fn dead_letter_record(
        &mut self,
        source: Source<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        error: &str,
    ) -> Result<(), StageError> {
        let now = Instant::now();
        if now.duration_since(self.dead_letter_window.0) > Duration::from_secs(60) {
            self.dead_letter_window = (now, 0);
        }
        self.dead_letter_window.1 += 1;
        let count = self.dead_letter_window.1;
        let limit = self.config.max_dead_letters_per_minute;
        tracing::warn!(stage = %self.config.name, topic = source.topic, partition = source.partition, offset = source.offset, error, "dead-lettering a message");
        metrics::counter!("friction_stage_dead_letters_total", "stage" => self.stage()).increment(1);
        if count > limit {
            return Err(StageError::TooManyDeadLetters { stage: self.stage(), count, limit, last: error.to_string() });
        }
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "source.topic", value: Some(source.topic) })
            .insert(Header { key: "source.partition", value: Some(partition.as_str()) })
            .insert(Header { key: "source.offset", value: Some(offset.as_str()) })
            .insert(Header { key: "stage", value: Some(self.config.name.as_str()) })
            .insert(Header { key: "error", value: Some(error) });
        let topic = self.deadletter_topic.clone();
        self.enqueue(&topic, key.unwrap_or(&[]), payload, None, Some(headers))
    }

    pub(super) fn tick(&mut self) -> Result<(), StageError> {
        let now = crate::now_ms();
        let partitions: BTreeSet<i32> =
            self.assigned.iter().map(|(_, p)| *p).filter(|p| self.at_end.contains(p)).collect();
        let mut outputs = std::mem::take(&mut self.outputs);
        for p in partitions {
            self.handler.on_tick(p, now, &mut outputs);
        }
        self.outputs = outputs;
        self.send_outputs()
    }

    pub(super) fn flush_producer(&self, what: &'static str) -> Result<(), StageError> {
        self.producer.flush(self.config.flush_timeout).map_err(|e| StageError::Produce {
            stage: self.stage(),
            what,
            detail: e.to_string(),
        })?;
        let failures = self.producer.context().failures.swap(0, Ordering::Relaxed);
        if failures > 0 {
            let detail = lock(&self.producer.context().last_error).clone().unwrap_or_default();
            return Err(StageError::Produce {
                stage: self.stage(),
                what,
                detail: format!("{failures} failed: {detail}"),
            });
        }
        Ok(())
    }
}
