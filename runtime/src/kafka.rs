//! Kafka client setup in one place: producer and consumer defaults, and the embedded broker that
//! `friction up` runs when no `--brokers` is given.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;

use crate::config::KafkaArgs;
use crate::topics::TopicSpec;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("no Kafka brokers configured: pass --brokers HOST:PORT or set FRICTION_BROKERS")]
    NoBrokers,
    #[error("invalid --kafka-property {0:?}: expected key=value")]
    BadProperty(String),
    #[error("embedded broker failed to start: {0}")]
    Embedded(String),
}

fn base_config(args: &KafkaArgs) -> Result<ClientConfig, KafkaSetupError> {
    let brokers = args.brokers.as_deref().filter(|b| !b.is_empty()).ok_or(KafkaSetupError::NoBrokers)?;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // librdkafka may resolve `localhost` to ::1 while loopback brokers listen on IPv4.
        .set("broker.address.family", "v4")
        // Nagle's algorithm plus delayed ACKs adds ~40 ms to small produce requests.
        .set("socket.nagle.disable", "true")
        .set("log_level", "4");
    Ok(config)
}

/// The operator's `--kafka-property key=value` settings, applied last so they override defaults.
fn apply_overrides(mut config: ClientConfig, args: &KafkaArgs) -> Result<ClientConfig, KafkaSetupError> {
    for prop in &args.kafka_properties {
        let (k, v) = prop.split_once('=').ok_or_else(|| KafkaSetupError::BadProperty(prop.clone()))?;
        config.set(k.trim(), v.trim());
    }
    Ok(config)
}

/// Producer defaults every stage shares: acks=all and idempotence (no loss, no duplicates from
/// retries), lz4 batches, a small linger, a bounded queue and a delivery timeout below any client's
/// patience so a broker outage turns into a 503 rather than a hang.
pub fn producer_config(args: &KafkaArgs) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = base_config(args)?;
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", &args.kafka_compression)
        .set("linger.ms", args.kafka_linger_ms.to_string())
        .set("message.timeout.ms", args.kafka_message_timeout_ms.to_string())
        .set("message.max.bytes", args.kafka_message_max_bytes.to_string())
        .set("queue.buffering.max.kbytes", args.kafka_queue_kib.to_string())
        .set("queue.buffering.max.messages", "500000")
        .set("batch.num.messages", "10000")
        .set("partitioner", "murmur2_random")
        .set("statistics.interval.ms", "0");
    apply_overrides(config, args)
}

/// Consumer defaults: manual commits (a stage commits only what is durable), start from the
/// earliest offset when a group is new.
pub fn consumer_config(args: &KafkaArgs, group_id: &str) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = base_config(args)?;
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // A fetch with nothing to return waits at most this long: brokers that do not answer a
        // waiting fetch as soon as data arrives (librdkafka's mock cluster, tansu) would otherwise
        // hold every hop of the pipeline for up to 500 ms (docs/architecture.md §9 latency).
        .set("fetch.wait.max.ms", "20")
        .set("enable.partition.eof", "false");
    apply_overrides(config, args)
}

/// A consumer that reads without a group (assigned partitions, no commits): key caches and tests.
pub fn reader_config(args: &KafkaArgs) -> Result<ClientConfig, KafkaSetupError> {
    let mut config = base_config(args)?;
    config
        .set("group.id", "friction-reader-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    apply_overrides(config, args)
}

/// librdkafka's in-process mock cluster, run on its own thread (the handle is not `Send`), with
/// every catalogue topic created. It listens on an ephemeral loopback port (librdkafka binds its
/// mock brokers to 127.0.0.1; [`EmbeddedBroker::start`] refuses any other address), so only
/// processes on this machine can reach it, and only `friction up`'s own commands are told where
/// (`DATA_DIR/brokers`, mode 0600). It has no authentication: API-key records on it are trusted
/// only when their MAC verifies (docs/operators.md, "Keys and projects"). Data lives in memory only.
pub struct EmbeddedBroker {
    bootstrap_servers: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    pub fn start(topics: &[TopicSpec]) -> Result<Self, KafkaSetupError> {
        let topics: Vec<(String, i32)> = topics.iter().map(|t| (t.name.clone(), t.partitions)).collect();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                for (name, partitions) in &topics {
                    if let Err(e) = cluster.create_topic(name, *partitions, 1) {
                        let _ = ready_tx.send(Err(format!("creating topic {name}: {e}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Keep the cluster alive until asked to stop (or the owner is dropped).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| KafkaSetupError::Embedded(e.to_string()))?;
        let bootstrap_servers = ready_rx
            .recv()
            .map_err(|_| KafkaSetupError::Embedded("broker thread exited".into()))?
            .map_err(KafkaSetupError::Embedded)?;
        if !all_loopback(&bootstrap_servers) {
            return Err(KafkaSetupError::Embedded(format!(
                "the embedded broker listens on {bootstrap_servers}, not on loopback only; refusing to use it"
            )));
        }
        Ok(EmbeddedBroker { bootstrap_servers, stop: Some(stop_tx), thread: Some(thread) })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

/// Whether every `host:port` of a bootstrap list is a loopback IP address.
fn all_loopback(bootstrap_servers: &str) -> bool {
    let mut any = false;
    for server in bootstrap_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        any = true;
        match server.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => {}
            _ => return false,
        }
    }
    any
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::*;

    #[test]
    fn only_loopback_bootstrap_lists_pass() {
        assert!(all_loopback("127.0.0.1:39211"));
        assert!(all_loopback("127.0.0.1:1,[::1]:2"));
        assert!(!all_loopback("0.0.0.0:39211"));
        assert!(!all_loopback("10.0.0.5:9092"));
        assert!(!all_loopback("localhost:9092"), "names are not trusted to resolve to loopback");
        assert!(!all_loopback(""));
    }

    #[test]
    fn the_embedded_broker_listens_on_loopback() {
        let broker = EmbeddedBroker::start(&[]).expect("embedded broker starts");
        assert!(all_loopback(broker.bootstrap_servers()), "{}", broker.bootstrap_servers());
    }
}
