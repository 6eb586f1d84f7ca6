//! What the logwatch tests share: a real gateway (in process, its Kafka sink on the test broker,
//! tansu) that can be made to answer 503, a reader of its events topic, and log writers.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use friction_gateway::keys::KeyStore;
use friction_gateway::{EventSink, GatewayArgs, GatewayState, KafkaSink, SinkError};
use friction_logwatch::{LogwatchArgs, TailArgs, WatchSpec};
use friction_runtime::Shutdown;
use friction_schemas::{decode, hash_api_key, ApiKeyRecord, RawEvent};
use futures::future::BoxFuture;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;

pub const KEY: &str = "frk_logwatch_test_key";

/// The gateway's Kafka sink, or a broker that is down (503) while `down` is set.
pub struct Outage {
    inner: KafkaSink,
    pub down: AtomicBool,
    pub refused: AtomicUsize,
}

impl EventSink for Outage {
    fn send_batch<'a>(&'a self, topic: &'a str, events: &'a [RawEvent<'a>]) -> BoxFuture<'a, Result<(), SinkError>> {
        if self.down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async { Err(SinkError::Unavailable("the test took the broker down".into())) });
        }
        self.inner.send_batch(topic, events)
    }
}

pub struct Gateway {
    pub url: String,
    pub topic: String,
    pub sink: Arc<Outage>,
    pub shutdown: Shutdown,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A gateway on a fresh one-partition events topic, or `None` when the broker is not configured
/// (the test is skipped, or fails under FRICTION_REQUIRE_SERVICES=1).
pub async fn gateway(test: &str) -> Option<Gateway> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let brokers = friction_test_support::kafka::brokers_or_skip(test)?;
    let topic = friction_test_support::unique("logwatch.events");
    friction_test_support::kafka::create_topics(&brokers, &[(&topic, 1)]).await;
    let kafka = friction_test_support::kafka::kafka();
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(&kafka).expect("producer config").create().expect("producer");
    let sink = Arc::new(Outage {
        inner: KafkaSink::new(producer, kafka.kafka_message_max_bytes as usize),
        down: AtomicBool::new(false),
        refused: AtomicUsize::new(0),
    });
    let keys = Arc::new(KeyStore::with_records([ApiKeyRecord {
        key_hash: hash_api_key(KEY),
        key_id: "k".into(),
        project_id: "p1".into(),
        project_name: "default".into(),
        revoked: false,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at: 1,
        mac: None,
    }]));
    let config = GatewayArgs {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        events_topic: topic.clone(),
        rate_limit_per_sec: 1_000_000.0,
        rate_limit_burst: 1_000_000.0,
        ..GatewayArgs::default()
    };
    let listener = tokio::net::TcpListener::bind(config.addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    let state = Arc::new(GatewayState::new(config, keys, sink.clone()));
    tokio::spawn(friction_gateway::serve(state, listener, shutdown.clone()));
    Some(Gateway { url: format!("http://{addr}"), topic, sink, shutdown })
}

/// Settings for a logwatch sending to `gw`, fast enough for tests.
pub fn args(gw: &Gateway, service: &str, glob: &Path, checkpoints: &Path) -> LogwatchArgs {
    LogwatchArgs {
        watch: vec![WatchSpec { service: service.into(), glob: glob.display().to_string() }],
        gateway_url: gw.url.clone(),
        api_key: KEY.into(),
        tail: TailArgs {
            checkpoint_dir: checkpoints.to_path_buf(),
            batch_interval_ms: 20,
            scan_interval_ms: 100,
            poll_max_ms: 20,
            rotate_wait_ms: 300,
            multiline_timeout_ms: 300,
            retry_initial_ms: 20,
            retry_max_ms: 200,
            ..TailArgs::default()
        },
    }
}

/// What arrived on the events topic so far.
pub struct Topic {
    consumer: BaseConsumer,
    /// Every message, in order: (event id, message, attributes).
    pub all: Vec<(String, String, BTreeMap<String, String>)>,
}

impl Topic {
    pub fn new(topic: &str) -> Self {
        Topic { consumer: friction_test_support::kafka::reader(topic, 1), all: Vec::new() }
    }

    fn poll_once(&mut self, wait: Duration) {
        if let Some(Ok(msg)) = self.consumer.poll(wait) {
            let e: RawEvent<'static> = decode(msg.payload().expect("payload")).expect("decodes");
            let log = e.log.expect("a log event");
            let attributes = log.attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            self.all.push((e.event_id.to_string(), log.message.to_string(), attributes));
        }
    }

    /// Polls until `done` holds (panics after `timeout`, saying what it has).
    pub fn wait_until(&mut self, timeout: Duration, what: &str, done: impl Fn(&Topic) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {} messages, {} distinct ids",
                self.all.len(),
                self.distinct()
            );
            self.poll_once(Duration::from_millis(100));
        }
    }

    /// Polls for a little longer, for anything that would arrive behind what was awaited.
    pub fn settle(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while Instant::now() < deadline {
            self.poll_once(Duration::from_millis(50));
        }
    }

    pub fn distinct(&self) -> usize {
        self.all.iter().map(|(id, _, _)| id).collect::<std::collections::HashSet<_>>().len()
    }

    /// Asserts every message in `expected` arrived under exactly one event id and nothing else
    /// arrived; returns how many copies (same id, sent again) there were.
    pub fn assert_each_once(&self, expected: &[String]) -> usize {
        let mut ids: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, message, _) in &self.all {
            ids.entry(message.as_str()).or_default().push(id.as_str());
        }
        for m in expected {
            let got = ids.get(m.as_str()).unwrap_or_else(|| panic!("{m:?} never arrived"));
            assert!(got.iter().all(|id| *id == got[0]), "{m:?} arrived under different ids: {got:?}");
        }
        assert_eq!(ids.len(), expected.len(), "messages that were never written arrived");
        self.all.len() - expected.len()
    }
}

/// `n` numbered lines `{prefix} line {i} ...` starting at `from`.
pub fn lines(prefix: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("{prefix} line {i:06} checkout step done")).collect()
}

pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().to_path_buf();
    (dir, path)
}
