//! Starting a stage: its thread and the consume loop (poll, process, tick, commit cycles), the lag
//! reporter, and the whole of a stage binary ([`run_stage_process`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::ThreadedProducer;

use super::core::{lock, CommittedOffsets, Core};
use super::cycle::MAX_PENDING_CYCLES;
use super::delivery::DeliveryTracker;
use super::handler::{StageError, StageHandler};
use super::rebalance::StageContext;
use crate::admin::HealthHandle;
use crate::config::{KafkaArgs, StageConfig};
use crate::kafka::{consumer_config, producer_config, reader_config};
use crate::shutdown::Shutdown;

/// Waits, from async code, for a thread started by [`spawn_stage`].
pub async fn wait_stage(name: &str, thread: std::thread::JoinHandle<Result<(), StageError>>) -> Result<(), StageError> {
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(result)) => result,
        _ => Err(StageError::Panicked(name.to_string())),
    }
}

/// What a stage binary does: admin server, signal handling, the stage, until SIGTERM or failure.
pub async fn run_stage_process<H: StageHandler>(
    admin: &crate::config::AdminArgs,
    config: StageConfig,
    kafka: &KafkaArgs,
    handler: H,
) -> Result<(), StageError> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let health = crate::admin::Health::default();
    let admin = crate::admin::serve_admin(admin, health.clone(), shutdown.clone()).await?;
    tracing::info!(%admin, "admin server listening: /metrics /healthz /readyz");
    let name = config.name.clone();
    let thread = spawn_stage(config, kafka, handler, shutdown, Some(health.register("stage")))?;
    wait_stage(&name, thread).await
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
    let core = Arc::new(Mutex::new(Core::new(config.clone(), kafka, handler, producer, committed)));
    let mut consumer_cfg: ClientConfig = consumer_config(kafka, &config.name)?;
    consumer_cfg.set("max.poll.interval.ms", "300000").set("enable.partition.eof", "true");
    let consumer: BaseConsumer<StageContext<H>> =
        consumer_cfg.create_with_context(StageContext { core: core.clone() })?;
    let topics: Vec<&str> = config.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let name = config.name.clone();
    // Present from the start (0), so that a dashboard or a test can tell "no failure" from "no stage".
    metrics::counter!("friction_stage_failures_total", "stage" => name.clone()).increment(0);
    let thread = std::thread::Builder::new()
        .name(format!("stage-{name}"))
        .spawn(move || {
            // A panic stops the stage like an error does: not ready, counted, logged (it used to
            // leave the stage's health check saying ready while nothing consumed).
            let run = std::panic::AssertUnwindSafe(|| run_loop(&consumer, &core, &config, &shutdown, health.as_ref()));
            let result =
                std::panic::catch_unwind(run).unwrap_or_else(|_| Err(StageError::Panicked(config.name.clone())));
            if let Some(h) = &health {
                h.set(false);
            }
            match &result {
                Ok(()) => tracing::info!(stage = %config.name, "stage stopped"),
                Err(e) => {
                    metrics::counter!("friction_stage_failures_total", "stage" => config.name.clone()).increment(1);
                    tracing::error!(stage = %config.name, error = %e, "stage failed")
                }
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
