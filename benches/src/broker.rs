//! What the stage benches share for their runs through a broker (librdkafka's in-process mock
//! cluster, or `FRICTION_BENCH_BROKERS`): filling a topic, a bare consumer of it, a pass-through
//! stage (the floor of any stage that produces one output per input), and a clock that times each
//! run from its first to its last message and counts the pauses between them.
//!
//! Rates are wall-clock rates from the first to the last message, with one exclusion applied alike
//! to every run, baselines and stage: a pause (gap ≥ 100 ms) that ends with the first message of a
//! partition not seen before is the consumer waiting for that partition's first fetch (~0.8 s in
//! most runs), not work of the run. Every other pause counts, so a stage's own flush, commit and
//! produce stalls are in its rate.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use friction_runtime::kafka::{consumer_config, producer_config, EmbeddedBroker};
use friction_runtime::stage::{spawn_stage, Outputs, StageConfig, StageError, StageHandler};
use friction_runtime::{topics, KafkaArgs, Shutdown};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::report::Run;

/// What a consumer saw: first and last message, how many, the pauses, and which of them were
/// waits for a partition's first fetch.
#[derive(Debug, Default)]
struct Seen {
    first: Option<Instant>,
    last: Option<Instant>,
    count: u64,
    pauses: u64,
    paused: Duration,
    /// Partitions seen, by index (cheaper per message than a set).
    partitions: Vec<bool>,
    first_fetch_waits: u64,
    first_fetch_waited: Duration,
}

/// A [`Seen`] shared with the thread that consumes.
type Clock = Arc<Mutex<Seen>>;

fn lock(clock: &Clock) -> std::sync::MutexGuard<'_, Seen> {
    clock.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts one message of `partition`.
fn tick(clock: &Clock, partition: i32) {
    let now = Instant::now();
    let mut c = lock(clock);
    c.first.get_or_insert(now);
    let index = usize::try_from(partition).unwrap_or(0);
    if c.partitions.len() <= index {
        c.partitions.resize(index + 1, false);
    }
    let new_partition = !std::mem::replace(&mut c.partitions[index], true);
    if let Some(last) = c.last {
        let gap = now - last;
        if gap >= Duration::from_millis(100) {
            c.pauses += 1;
            c.paused += gap;
            if new_partition {
                c.first_fetch_waits += 1;
                c.first_fetch_waited += gap;
            }
        }
    }
    c.last = Some(now);
    c.count += 1;
}

/// Messages seen, and the time from the first to the last.
fn seen(clock: &Clock) -> (u64, Duration) {
    let c = lock(clock);
    let d = match (c.first, c.last) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    (c.count, d)
}

/// Messages per second between the first and the last message, leaving out only the waits for a
/// partition's first fetch (every other pause, the run's own stalls, counts).
fn wall_rate(clock: &Clock) -> f64 {
    let c = lock(clock);
    let wall = match (c.first, c.last) {
        (Some(a), Some(b)) => (b - a).saturating_sub(c.first_fetch_waited),
        _ => Duration::ZERO,
    };
    c.count as f64 / wall.as_secs_f64().max(1e-9)
}

/// The pauses, for a run's note.
fn pauses(clock: &Clock) -> String {
    let c = lock(clock);
    format!(
        "{} pauses ≥ 100 ms between messages, {:.1} s in total, of which {} waits for a partition's first fetch ({:.1} s)",
        c.pauses,
        c.paused.as_secs_f64(),
        c.first_fetch_waits,
        c.first_fetch_waited.as_secs_f64()
    )
}

/// Waits until `clock` has seen `n` messages (or 10 minutes pass).
fn wait_for(clock: &Clock, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if seen(clock).0 >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// One run through the broker.
#[derive(Debug)]
struct BrokerRun {
    count: u64,
    /// First to last message, pauses included.
    elapsed: Duration,
    /// Messages per second, see [`wall_rate`].
    wall_rate: f64,
    note: String,
}

impl BrokerRun {
    fn from_clock(clock: &Clock, note: String) -> Self {
        let (count, elapsed) = seen(clock);
        let wall_rate = wall_rate(clock);
        let note = format!("{note}{}; {wall_rate:.0} messages/s without the first-fetch waits", pauses(clock));
        BrokerRun { count, elapsed, wall_rate, note }
    }
}

/// The broker of the runs: `FRICTION_BENCH_BROKERS` (with `FRICTION_BENCH_KAFKA_PROPERTIES`), or an
/// embedded one, kept alive by the returned guard.
pub fn broker() -> (KafkaArgs, Option<EmbeddedBroker>) {
    match std::env::var("FRICTION_BENCH_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => {
            let mut k = KafkaArgs::with_brokers(brokers);
            k.kafka_properties = std::env::var("FRICTION_BENCH_KAFKA_PROPERTIES")
                .map(|p| p.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default();
            (k, None)
        }
        _ => {
            let embedded = EmbeddedBroker::start(&topics::catalogue()).expect("embedded broker");
            (KafkaArgs::with_brokers(embedded.bootstrap_servers()), Some(embedded))
        }
    }
}

/// Produces every (key, payload) to `topic` and waits until the broker has them all.
pub fn fill(kafka: &KafkaArgs, topic: &str, records: impl Iterator<Item = (String, Vec<u8>)>) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(kafka).expect("config").create().expect("producer");
    for (key, payload) in records {
        let mut rec = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flushed");
}

/// A bare consumer group on `topic`: reads `n` messages, passing each payload to `work` (which
/// returns whether it decoded).
fn bare_consumer(kafka: &KafkaArgs, topic: &str, group: &str, n: u64, work: impl Fn(&[u8]) -> bool) -> BrokerRun {
    let consumer: BaseConsumer = consumer_config(kafka, group).expect("config").create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let clock = Clock::default();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut ok = 0usize;
    while seen(&clock).0 < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                ok += usize::from(work(m.payload().unwrap_or_default()));
                tick(&clock, m.partition());
            }
            Some(Err(e)) => eprintln!("bare consumer: {e}"),
            None => {}
        }
    }
    black_box(ok);
    BrokerRun::from_clock(&clock, String::new())
}

/// A stage measured against its baselines through the broker, on the `n` messages already in its
/// first input topic: a bare consumer that only reads, one that also decodes each payload with
/// `decode`, the pass-through stage from the input to `pass_to`, and `handler` run as configured
/// by `stage` (the row `stage_row`). Returns the four rows for the results table and the verdict
/// line, from the wall rates (see [`wall_rate`]).
pub fn compare<H: StageHandler>(
    kafka: &KafkaArgs,
    n: u64,
    decode: impl Fn(&[u8]) -> bool,
    pass_to: &str,
    stage: StageConfig,
    handler: H,
    stage_row: &str,
) -> (Vec<Run>, String) {
    let input = stage.input_topics.first().cloned().unwrap_or_default();
    let group = &stage.name;
    let bare = bare_consumer(kafka, &input, &format!("{group}-bare"), n, |_| true);
    let decoding = bare_consumer(kafka, &input, &format!("{group}-bare-decode"), n, decode);
    let pass = PassThrough { topic: Arc::from(pass_to) };
    let pass_through = stage_run(kafka, StageConfig::new(format!("{group}-pass-through"), vec![input]), pass, n);
    let measured = stage_run(kafka, stage, handler, n);
    let verdict =
        verdict_line(stage_row, measured.wall_rate, bare.wall_rate, decoding.wall_rate, pass_through.wall_rate);
    let runs = [
        ("broker baseline: bare BaseConsumer, read only", bare),
        ("broker baseline: bare BaseConsumer, read + Avro-decode", decoding),
        ("broker baseline: pass-through stage (spawn_stage, each payload produced unchanged, no state)", pass_through),
        (stage_row, measured),
    ]
    .map(|(name, r)| Run { name: name.to_string(), events: r.count as usize, elapsed: r.elapsed, note: r.note });
    (runs.into(), verdict)
}

/// Runs `handler` as a stage configured by `config` until it has processed `n` messages, then
/// stops it.
fn stage_run<H: StageHandler>(kafka: &KafkaArgs, config: StageConfig, handler: H, n: u64) -> BrokerRun {
    let clock = Clock::default();
    let shutdown = Shutdown::new();
    let timed = Timed { inner: handler, clock: clock.clone() };
    let handle = spawn_stage(config, kafka, timed, shutdown.clone(), None).expect("stage");
    let done = wait_for(&clock, n);
    shutdown.trigger();
    let result: std::thread::Result<Result<(), StageError>> = handle.join();
    let outcome = match result {
        Ok(Ok(())) => "stopped cleanly".to_string(),
        Ok(Err(e)) => format!("stage error: {e}"),
        Err(_) => "stage thread panicked".to_string(),
    };
    BrokerRun::from_clock(&clock, format!("{}{outcome}; ", if done { "" } else { "TIMED OUT; " }))
}

/// The floor of any stage that produces one output per input: the runtime's consume → produce →
/// commit path with a handler that forwards each payload unchanged to `topic` (no decoding, no
/// state, no work of its own).
struct PassThrough {
    topic: Arc<str>,
}

impl StageHandler for PassThrough {
    fn on_message(
        &mut self,
        _partition: i32,
        _offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        _now_ms: i64,
        out: &mut Outputs,
    ) -> Result<(), String> {
        out.send(&self.topic, key.unwrap_or_default(), payload);
        Ok(())
    }
}

/// A handler, timing the messages it processes.
struct Timed<H> {
    inner: H,
    clock: Clock,
}

impl<H: StageHandler> StageHandler for Timed<H> {
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        now_ms: i64,
        out: &mut Outputs,
    ) -> Result<(), String> {
        let r = self.inner.on_message(partition, offset, key, payload, now_ms, out);
        tick(&self.clock, partition);
        r
    }
    fn on_tick(&mut self, partition: i32, now_ms: i64, out: &mut Outputs) {
        self.inner.on_tick(partition, now_ms, out);
    }
    fn persist(&mut self, out: &mut Outputs) -> Result<(), String> {
        self.inner.persist(out)
    }
    fn flush_state(&mut self, out: &mut Outputs) {
        self.inner.flush_state(out);
    }
    fn restore(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        self.inner.restore(partition, key, value)
    }
    fn restored(&mut self, partition: i32, now_ms: i64) {
        self.inner.restored(partition, now_ms);
    }
    fn revoke(&mut self, partition: i32) {
        self.inner.revoke(partition);
    }
    fn state_stats(&self) -> (usize, usize) {
        self.inner.state_stats()
    }
    fn commit_floor(&self, partition: i32) -> Option<i64> {
        self.inner.commit_floor(partition)
    }
    fn recognises_replays(&self) -> bool {
        self.inner.recognises_replays()
    }
}

/// The three ratios the stage benches report (docs/architecture.md §9: a stage through Kafka ≥ 80 % of a bare
/// consumer of the same topic), each from the wall rates (see [`wall_rate`]).
fn verdict_line(stage_name: &str, stage: f64, bare: f64, bare_decoding: f64, pass_through: f64) -> String {
    let verdict = |x: f64| if x >= 0.8 { "met" } else { "NOT met" };
    format!(
        "through the broker, wall rates (first-fetch waits left out of every run): {stage_name} {stage:.0}/s = {:.1} % of the bare consumer (target ≥ 80 %: {}); \
         {:.1} % of a bare consumer that also decodes ({}); {:.1} % of the pass-through stage ({}); the pass-through stage is {:.1} % of the bare consumer",
        100.0 * stage / bare,
        verdict(stage / bare),
        100.0 * stage / bare_decoding,
        verdict(stage / bare_decoding),
        100.0 * stage / pass_through,
        verdict(stage / pass_through),
        100.0 * pass_through / bare,
    )
}
