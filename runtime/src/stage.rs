//! The consume → process → produce → commit loop every stage runs, with dead letters and keyed
//! state kept in a compacted changelog topic.
//!
//! Delivery (DESIGN §5): at least once. A commit cycle (every `commit_max_messages` messages or
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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::admin::HealthHandle;
use crate::config::KafkaArgs;
use crate::kafka::{consumer_config, producer_config, reader_config, KafkaSetupError};
use crate::shutdown::Shutdown;

/// The changelog key under which the runtime stores, per partition, the next input offset whose
/// effects are not yet in the state. Handlers never see it.
pub const OFFSET_MARKER_KEY: &[u8] = b"\0friction.offset";

/// Input messages between commit cycles at most ([`StageConfig::commit_max_messages`]).
///
/// Time is the main trigger ([`DEFAULT_COMMIT_INTERVAL_MS`], as Arroyo commits once a second and
/// Kafka Streams every 30 s); the count only bounds what a crash replays. Each cycle writes every
/// key changed since the last one, so under a backlog a small count makes a stage re-write the same
/// keys over and over (with 10,000 sessions active, 10,000 messages between cycles meant one
/// changelog record per input message).
pub const DEFAULT_COMMIT_MAX_MESSAGES: usize = 100_000;
/// Longest time between commit cycles, in milliseconds ([`StageConfig::commit_interval`]).
pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 1_000;

/// How a stage runs. Defaults in [`StageConfig::new`].
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// The consumer group and the `stage` label of every metric.
    pub name: String,
    pub input_topics: Vec<String>,
    /// Compacted topic holding the handler's state; `None` for stateless stages.
    pub changelog_topic: Option<String>,
    pub deadletter_topic: String,
    /// Commit after this many input messages (default [`DEFAULT_COMMIT_MAX_MESSAGES`])...
    pub commit_max_messages: usize,
    /// ...or this much time (default [`DEFAULT_COMMIT_INTERVAL_MS`]), whichever comes first.
    pub commit_interval: Duration,
    /// How often the handler's `on_tick` runs for time-driven output (default 200 ms).
    pub tick_interval: Duration,
    /// More dead letters than this in one minute stops the stage (default 100).
    pub max_dead_letters_per_minute: u32,
    /// Longest wait for the broker to acknowledge a commit cycle's writes (default 30 s).
    pub flush_timeout: Duration,
}

impl StageConfig {
    pub fn new(name: impl Into<String>, input_topics: Vec<String>) -> Self {
        StageConfig {
            name: name.into(),
            input_topics,
            changelog_topic: None,
            deadletter_topic: crate::topics::DEADLETTER.into(),
            commit_max_messages: DEFAULT_COMMIT_MAX_MESSAGES,
            commit_interval: Duration::from_millis(DEFAULT_COMMIT_INTERVAL_MS),
            tick_interval: Duration::from_millis(200),
            max_dead_letters_per_minute: 100,
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// One record a handler wants produced: its key and payload are ranges of [`Outputs`]' buffer.
#[derive(Debug, Clone)]
struct OutRecord {
    topic: Arc<str>,
    key: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

/// What a handler produces while processing: output records and state changes.
///
/// Output keys and payloads are appended to one buffer that the stage reuses from message to
/// message (librdkafka copies each record when it is enqueued), so producing an output allocates
/// nothing once the buffer has grown to a message's outputs.
#[derive(Debug, Default)]
pub struct Outputs {
    records: Vec<OutRecord>,
    bytes: Vec<u8>,
    state: StateWrites,
}

/// State changes a handler recorded since the last commit boundary: keys and values copied into one
/// buffer (one allocation per commit cycle, not two per write), in the order they were recorded.
#[derive(Debug, Default)]
struct StateWrites {
    bytes: Vec<u8>,
    /// (partition, key, value; `None`: a tombstone) as ranges of `bytes`.
    entries: Vec<(i32, std::ops::Range<usize>, Option<std::ops::Range<usize>>)>,
}

impl StateWrites {
    fn push(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let key = start..self.bytes.len();
        let value = value.map(|v| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(v);
            start..self.bytes.len()
        });
        self.entries.push((partition, key, value));
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = (i32, &[u8], Option<&[u8]>)> + '_ {
        self.entries.iter().map(|(p, k, v)| (*p, &self.bytes[k.clone()], v.clone().map(|v| &self.bytes[v])))
    }
}

impl Outputs {
    pub fn send(&mut self, topic: &Arc<str>, key: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) {
        let copied: Result<(), std::convert::Infallible> = self.send_with(topic, key.as_ref(), |out| {
            out.extend_from_slice(payload.as_ref());
            Ok(())
        });
        let Ok(()) = copied;
    }
    /// Like [`Self::send`], with the payload written by `write` straight into the outputs' buffer
    /// (`write` must only append to the `Vec` it is given). When it fails, nothing is added.
    pub fn send_with<E>(
        &mut self,
        topic: &Arc<str>,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let mid = self.bytes.len();
        match write(&mut self.bytes) {
            Ok(()) if self.bytes.len() >= mid => {
                self.records.push(OutRecord { topic: topic.clone(), key: start..mid, payload: mid..self.bytes.len() });
                Ok(())
            }
            result => {
                self.bytes.truncate(start);
                result
            }
        }
    }
    /// Records the new state of `key` in `partition` (written to the changelog at the next commit).
    /// Both are copied, so a handler can hand out bytes from a buffer it reuses.
    pub fn put_state(&mut self, partition: i32, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.state.push(partition, key.as_ref(), Some(value.as_ref()));
    }
    /// Records that `key` has no state any more (a tombstone in the changelog).
    pub fn delete_state(&mut self, partition: i32, key: impl AsRef<[u8]>) {
        self.state.push(partition, key.as_ref(), None);
    }
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// The output records so far: (topic, key, payload). What the stage enqueues after each
    /// message; tests that drive a handler directly read them too.
    #[doc(hidden)]
    pub fn records(&self) -> impl Iterator<Item = (&str, &[u8], &[u8])> + '_ {
        self.records.iter().map(|r| {
            let (key, payload) = (self.bytes.get(r.key.clone()), self.bytes.get(r.payload.clone()));
            (&*r.topic, key.unwrap_or_default(), payload.unwrap_or_default())
        })
    }
    /// Forgets the output records, keeping the buffer's memory: what the stage does once it has
    /// enqueued them after each message (benches that drive a handler without a broker do too).
    #[doc(hidden)]
    pub fn clear_records(&mut self) {
        self.records.clear();
        self.bytes.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.state.is_empty()
    }
}

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

/// Waits, from async code, for a thread started by [`spawn_stage`].
pub async fn wait_stage(name: &str, thread: std::thread::JoinHandle<Result<(), StageError>>) -> Result<(), StageError> {
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(result)) => result,
        _ => Err(StageError::Panicked(name.to_string())),
    }
}

/// What a stage binary does: admin server, signal handling, the stage, until SIGTERM or failure.
pub async fn run_stage_process<H: StageHandler>(
    admin_addr: std::net::SocketAddr,
    config: StageConfig,
    kafka: &KafkaArgs,
    handler: H,
) -> Result<(), StageError> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let health = crate::admin::Health::default();
    let admin = crate::admin::serve_admin(admin_addr, health.clone(), shutdown.clone()).await?;
    tracing::info!(%admin, "admin server listening: /metrics /healthz /readyz");
    let name = config.name.clone();
    let thread = spawn_stage(config, kafka, handler, shutdown, Some(health.register("stage")))?;
    wait_stage(&name, thread).await
}

/// How many epochs' acknowledgements are counted at once (see the module doc). Far more than the
/// stage ever has in flight (each pending cycle spans two epochs).
const EPOCH_SLOTS: usize = 64;

/// Commit cycles whose acknowledgements may be outstanding while the stage consumes on.
pub const MAX_PENDING_CYCLES: usize = 2;

/// Counts delivery failures so a commit cycle can refuse to commit past lost output, and the
/// records not yet acknowledged per epoch (the delivery opaque is the epoch number).
pub struct DeliveryTracker {
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    outstanding: [AtomicU64; EPOCH_SLOTS],
}

impl Default for DeliveryTracker {
    fn default() -> Self {
        DeliveryTracker {
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            outstanding: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl DeliveryTracker {
    fn slot(&self, epoch: u64) -> &AtomicU64 {
        &self.outstanding[(epoch % EPOCH_SLOTS as u64) as usize]
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, epoch: usize) {
        if let Err((e, _)) = result {
            self.failures.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e.to_string());
            }
        }
        // After the failure count: a cycle that sees its epoch drained also sees its failures.
        self.slot(epoch as u64).fetch_sub(1, Ordering::SeqCst);
    }
}

/// A commit cycle past its boundary, waiting for acknowledgements (see the module doc).
struct PendingCycle {
    /// Every record of this epoch and earlier ones must be acknowledged before the state is written.
    outputs_epoch: u64,
    /// The epoch the state records were enqueued in, once they are.
    state_epoch: Option<u64>,
    state: StateWrites,
    /// Per partition, the next input offset whose effects are not in `state`.
    markers: BTreeMap<i32, i64>,
    /// What to commit, commit floors applied, as of the boundary.
    commits: Vec<(String, i32, i64)>,
    started: Instant,
}

/// Committed offset per assigned (topic, partition), shared with the lag reporter's thread.
type CommittedOffsets = Arc<Mutex<BTreeMap<(String, i32), i64>>>;

struct Core<H: StageHandler> {
    /// What the lag reporter reads (see [`spawn_lag_reporter`]).
    committed: CommittedOffsets,
    config: StageConfig,
    kafka: KafkaArgs,
    handler: H,
    producer: ThreadedProducer<DeliveryTracker>,
    deadletter_topic: Arc<str>,
    changelog_topic: Option<Arc<str>>,
    assigned: BTreeSet<(String, i32)>,
    /// Next offset to commit, per (topic, partition), for messages processed since the last commit
    /// (a handful of entries: a list is cheaper to update per message than a map keyed by String).
    processed: Vec<((String, i32), i64)>,
    /// Per-message counters, registered once (a `counter!` per message costs a label allocation
    /// and a registry lookup).
    counters: StageCounters,
    /// Per partition: offsets below this are already in the restored state.
    skip_below: HashMap<i32, i64>,
    uncommitted: usize,
    last_commit: Instant,
    dead_letter_window: (Instant, u32),
    fatal: Option<StageError>,
    outputs: Outputs,
    /// Epoch of the records enqueued now, and the oldest epoch that may still have records
    /// unacknowledged (every earlier one is fully acknowledged).
    epoch: u64,
    drained_through: u64,
    pending: VecDeque<PendingCycle>,
    /// Partitions read up to their end (librdkafka's partition-EOF, from the fetch high watermark)
    /// with nothing since. Only these get ticks: "nothing arrived" on a partition with input still
    /// waiting means "not read yet", not "quiet", and a backlog must not look idle.
    at_end: BTreeSet<i32>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl<H: StageHandler> Core<H> {
    fn stage(&self) -> String {
        self.config.name.clone()
    }

    /// Enqueues a record, waiting while the producer queue is full (backpressure).
    fn enqueue(
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

    fn send_outputs(&mut self) -> Result<(), StageError> {
        let n = self.outputs.records.len();
        let result = self
            .outputs
            .records()
            .try_for_each(|(topic, key, payload)| self.enqueue(topic, key, Some(payload), None, None));
        // Enqueued (copied by librdkafka) or failed: either way the buffer is free for the next
        // message. Its memory is given back after an unusually large batch (a flush, a tick).
        self.outputs.clear_records();
        if self.outputs.bytes.capacity() > 1 << 20 {
            self.outputs.bytes = Vec::new();
            self.outputs.records = Vec::new();
        }
        result?;
        if n > 0 {
            self.counters.produced.increment(n as u64);
        }
        Ok(())
    }

    fn handle(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), StageError> {
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
        let now = Instant::now();
        if now.duration_since(self.dead_letter_window.0) > Duration::from_secs(60) {
            self.dead_letter_window = (now, 0);
        }
        self.dead_letter_window.1 += 1;
        let count = self.dead_letter_window.1;
        let limit = self.config.max_dead_letters_per_minute;
        tracing::warn!(stage = %self.config.name, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), error, "dead-lettering a message");
        metrics::counter!("friction_stage_dead_letters_total", "stage" => self.stage()).increment(1);
        if count > limit {
            return Err(StageError::TooManyDeadLetters { stage: self.stage(), count, limit, last: error.to_string() });
        }
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "source.topic", value: Some(msg.topic()) })
            .insert(Header { key: "source.partition", value: Some(partition.as_str()) })
            .insert(Header { key: "source.offset", value: Some(offset.as_str()) })
            .insert(Header { key: "stage", value: Some(self.config.name.as_str()) })
            .insert(Header { key: "error", value: Some(error) });
        let topic = self.deadletter_topic.clone();
        self.enqueue(&topic, msg.key().unwrap_or(&[]), msg.payload(), None, Some(headers))
    }

    fn tick(&mut self) -> Result<(), StageError> {
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

    fn flush_producer(&self, what: &'static str) -> Result<(), StageError> {
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

    /// A commit cycle, waited for: outputs durable → state durable → offsets committed, for this
    /// cycle and every pending one (revocation, shutdown).
    fn commit_cycle(&mut self, consumer: &BaseConsumer<StageContext<H>>) -> Result<(), StageError> {
        self.begin_cycle()?;
        self.flush_producer("outputs and state changes")?;
        self.advance_cycles(consumer, 0)
    }

    /// The boundary of a commit cycle: the handler's side effects made durable and its state
    /// changes taken, and what will be written and committed once the outputs are acknowledged
    /// captured as of now. The rest happens in [`Self::advance_cycles`], while input goes on.
    fn begin_cycle(&mut self) -> Result<(), StageError> {
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

        let state = std::mem::take(&mut self.outputs.state);
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
    fn advance_cycles(&mut self, consumer: &BaseConsumer<StageContext<H>>, keep: usize) -> Result<(), StageError> {
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
    fn commit_offsets(
        &mut self,
        consumer: &BaseConsumer<StageContext<H>>,
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

    /// Reads the changelog partitions of `partitions` into the handler, each up to its real end.
    ///
    /// The end is not taken from the broker's high watermark (ListOffsets): a restarted stage may
    /// start while its dead predecessor's last writes are still being appended, and a broker may
    /// answer ListOffsets from a view that lags. Instead the stage appends to each partition a
    /// sentinel record with a value unique to this restore, waits for the acknowledgements, and
    /// reads each partition until it sees its sentinel: everything appended before it — every
    /// acknowledged write of any earlier owner — is then in the restored state. All partitions are
    /// read by one reader at once (a rebalance restores them in one round trip, not one by one).
    fn restore_partitions(&mut self, partitions: &BTreeSet<i32>) -> Result<(), StageError> {
        let Some(changelog) = self.changelog_topic.clone() else {
            return Ok(());
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let stage = self.config.name.clone();
        let fail = |partition: i32, detail: String| StageError::Restore {
            stage: stage.clone(),
            topic: changelog.to_string(),
            partition,
            detail,
        };
        // Partition → (its sentinel, records restored, offset markers read).
        let mut pending: BTreeMap<i32, (Vec<u8>, u64, u64)> = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            let sentinel = restore_sentinel(p);
            self.enqueue(&changelog, RESTORE_SENTINEL_KEY, Some(&sentinel), Some(p), None)?;
            pending.insert(p, (sentinel, 0, 0));
            tpl.add_partition_offset(&changelog, p, Offset::Beginning)?;
        }
        self.flush_producer("the restore sentinels")?;

        let reader: BaseConsumer = reader_config(&self.kafka)?.create()?;
        reader.assign(&tpl)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some((&first, _)) = pending.first_key_value() {
            if Instant::now() > deadline {
                return Err(fail(
                    first,
                    "the sentinel written at the start of the restore was not read back within 120 s".into(),
                ));
            }
            let Some(result) = reader.poll(Duration::from_millis(100)) else { continue };
            let msg = result.map_err(|e| fail(first, e.to_string()))?;
            let partition = msg.partition();
            // A partition already restored: what follows its sentinel is not ours to read.
            let Some(entry) = pending.get_mut(&partition) else { continue };
            let key = msg.key().unwrap_or(&[]);
            if key == RESTORE_SENTINEL_KEY {
                if msg.payload() == Some(&entry.0[..]) {
                    let (_, records, markers) = entry.clone();
                    pending.remove(&partition);
                    self.handler.restored(partition, crate::now_ms());
                    let took = started.elapsed();
                    metrics::histogram!("friction_stage_restore_seconds", "stage" => self.stage())
                        .record(took.as_secs_f64());
                    tracing::info!(
                        stage = %self.config.name,
                        partition,
                        records,
                        markers,
                        sentinel_offset = msg.offset(),
                        next_offset_marker = self.skip_below.get(&partition).copied(),
                        ms = took.as_millis() as u64,
                        "partition state restored"
                    );
                }
                continue;
            }
            if key == OFFSET_MARKER_KEY {
                if let Some(bytes) = msg.payload().and_then(|p| <[u8; 8]>::try_from(p).ok()) {
                    self.skip_below.insert(partition, i64::from_be_bytes(bytes));
                }
                entry.2 += 1;
            } else {
                entry.1 += 1;
                self.handler.restore(partition, key, msg.payload()).map_err(|e| fail(partition, e))?;
            }
        }
        Ok(())
    }
}

/// The changelog key of the record a restore appends and reads up to (see
/// [`Core::restore_partitions`]). Handlers never see it.
pub const RESTORE_SENTINEL_KEY: &[u8] = b"\0friction.restore";

/// A value no other restore writes: process id, wall-clock nanoseconds, partition and a counter.
fn restore_sentinel(partition: i32) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut v = Vec::with_capacity(28);
    v.extend_from_slice(&std::process::id().to_be_bytes());
    v.extend_from_slice(&nanos.to_be_bytes());
    v.extend_from_slice(&partition.to_be_bytes());
    v.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    v
}

/// The consumer context: runs the commit cycle and the state hand-over inside rebalances.
pub struct StageContext<H: StageHandler> {
    core: Arc<Mutex<Core<H>>>,
}

impl<H: StageHandler> ClientContext for StageContext<H> {
    fn error(&self, error: KafkaError, reason: &str) {
        // Reaching a partition's end is how ticks are gated, not an error.
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!(error = %error, reason, "librdkafka error");
        }
    }
}

impl<H: StageHandler> ConsumerContext for StageContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut core = lock(&self.core);
            if core.fatal.is_some() {
                return;
            }
            if let Err(e) = core.commit_cycle(consumer) {
                tracing::error!(error = %e, "commit before revocation failed");
                core.fatal = Some(e);
                return;
            }
            for elem in tpl.elements() {
                let p = elem.partition();
                core.assigned.remove(&(elem.topic().to_string(), p));
                core.skip_below.remove(&p);
                core.handler.revoke(p);
                lock(&core.committed).remove(&(elem.topic().to_string(), p));
                tracing::info!(stage = %core.config.name, topic = elem.topic(), partition = p, "partition revoked");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut core = lock(&self.core);
            if core.fatal.is_some() {
                return;
            }
            let partitions: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            if let Err(e) = core.restore_partitions(&partitions) {
                tracing::error!(error = %e, "restore failed");
                core.fatal = Some(e);
                return;
            }
            // Where input resumes (for diagnosis: the committed offset, or none).
            let committed = consumer.committed_offsets((*tpl).clone(), Duration::from_secs(10)).ok();
            for elem in tpl.elements() {
                // No ticks until the partition has been read to its end.
                core.at_end.remove(&elem.partition());
                core.assigned.insert((elem.topic().to_string(), elem.partition()));
                let resume = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(elem.topic(), elem.partition()))
                    .map(|e| format!("{:?}", e.offset()));
                tracing::info!(stage = %core.config.name, topic = elem.topic(), partition = elem.partition(), committed = resume.as_deref().unwrap_or("?"), "partition assigned");
            }
        }
    }
}

/// Starts a stage on its own thread. The thread returns when `shutdown` is triggered (after a final
/// commit) or with the error that stopped the stage.
pub fn spawn_stage<H: StageHandler>(
    config: StageConfig,
    kafka: &KafkaArgs,
    handler: H,
    shutdown: Shutdown,
    health: Option<HealthHandle>,
) -> Result<std::thread::JoinHandle<Result<(), StageError>>, StageError> {
    let producer: ThreadedProducer<DeliveryTracker> =
        producer_config(kafka)?.create_with_context(DeliveryTracker::default())?;
    let committed: CommittedOffsets = Arc::default();
    spawn_lag_reporter(kafka, config.name.clone(), committed.clone(), shutdown.clone());
    let core = Arc::new(Mutex::new(Core {
        committed,
        deadletter_topic: Arc::from(config.deadletter_topic.as_str()),
        changelog_topic: config.changelog_topic.as_deref().map(Arc::from),
        config: config.clone(),
        kafka: kafka.clone(),
        handler,
        producer,
        assigned: BTreeSet::new(),
        processed: Vec::new(),
        counters: StageCounters::new(&config.name),
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
    }));
    let mut consumer_cfg: ClientConfig = consumer_config(kafka, &config.name)?;
    consumer_cfg.set("max.poll.interval.ms", "300000").set("enable.partition.eof", "true");
    let consumer: BaseConsumer<StageContext<H>> =
        consumer_cfg.create_with_context(StageContext { core: core.clone() })?;
    let topics: Vec<&str> = config.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let name = config.name.clone();
    let thread = std::thread::Builder::new()
        .name(format!("stage-{name}"))
        .spawn(move || {
            let result = run_loop(&consumer, &core, &config, &shutdown, health.as_ref());
            if let Some(h) = &health {
                h.set(false);
            }
            match &result {
                Ok(()) => tracing::info!(stage = %config.name, "stage stopped"),
                Err(e) => tracing::error!(stage = %config.name, error = %e, "stage failed"),
            }
            consumer.unsubscribe();
            result
        })
        .map_err(|e| StageError::Produce { stage: name, what: "a thread", detail: e.to_string() })?;
    Ok(thread)
}

fn run_loop<H: StageHandler>(
    consumer: &BaseConsumer<StageContext<H>>,
    core: &Arc<Mutex<Core<H>>>,
    config: &StageConfig,
    shutdown: &Shutdown,
    health: Option<&HealthHandle>,
) -> Result<(), StageError> {
    let mut last_tick = Instant::now();
    if let Some(h) = health {
        h.set(true);
    }
    while !shutdown.is_triggered() {
        let polled = consumer.poll(Duration::from_millis(50));
        let mut core = lock(core);
        if let Some(e) = core.fatal.take() {
            return Err(e);
        }
        match polled {
            Some(Ok(msg)) => {
                core.at_end.remove(&msg.partition());
                core.handle(&msg)?
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                core.at_end.insert(p);
            }
            Some(Err(e)) => tracing::warn!(stage = %config.name, error = %e, "consumer error"),
            None => {}
        }
        if last_tick.elapsed() >= config.tick_interval {
            core.tick()?;
            last_tick = Instant::now();
        }
        if core.uncommitted >= config.commit_max_messages || core.last_commit.elapsed() >= config.commit_interval {
            // Room for one more cycle in flight (waits for the oldest only when they are all out).
            core.advance_cycles(consumer, MAX_PENDING_CYCLES - 1)?;
            core.begin_cycle()?;
        }
        core.advance_cycles(consumer, MAX_PENDING_CYCLES)?;
    }
    let mut core = lock(core);
    core.tick()?;
    core.commit_cycle(consumer)
}

/// Reports consumer lag per partition (high watermark − committed offset) every 10 s from a
/// thread of its own with its own client: asking the broker for watermarks takes a round trip per
/// partition, which on the stage thread (holding the core lock) stalled a many-partition stage for
/// seconds at a time.
fn spawn_lag_reporter(kafka: &KafkaArgs, stage: String, committed: CommittedOffsets, shutdown: Shutdown) {
    let Ok(config) = reader_config(kafka) else { return };
    let spawned = std::thread::Builder::new().name(format!("lag-{stage}")).spawn(move || {
        let Ok(reader) = config.create::<BaseConsumer>() else { return };
        let mut next = Instant::now() + Duration::from_secs(10);
        while !shutdown.is_triggered() {
            if Instant::now() < next {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            let snapshot: Vec<((String, i32), i64)> = lock(&committed).iter().map(|(k, v)| (k.clone(), *v)).collect();
            for ((topic, p), at) in snapshot {
                if let Ok((_, high)) = reader.fetch_watermarks(&topic, p, Duration::from_secs(2)) {
                    metrics::gauge!("friction_stage_consumer_lag", "stage" => stage.clone(), "partition" => p.to_string())
                        .set((high - at).max(0) as f64);
                }
            }
            next = Instant::now() + Duration::from_secs(10);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no lag reporter thread; consumer lag is not reported");
    }
}
