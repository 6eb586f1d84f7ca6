//! Flags shared by every binary. Each flag also reads an environment variable, so a deployment can
//! configure a stage without a command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines with colours when the output is a terminal.
    Human,
}

/// Logging and admin-server flags.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Log format.
    #[arg(long, env = "FRICTION_LOG_FORMAT", value_enum, default_value = "human", global = true)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info,friction_gateway=debug`.
    #[arg(long, env = "FRICTION_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Kafka connection and producer settings. The defaults are the ones every stage wants: acks from
/// all in-sync replicas, idempotent retries, lz4 batches, a small linger.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated (e.g. `127.0.0.1:9092`).
    #[arg(long, env = "FRICTION_BROKERS")]
    pub brokers: Option<String>,
    /// How long the producer waits to fill a batch (`linger.ms`).
    #[arg(long, env = "FRICTION_KAFKA_LINGER_MS", default_value_t = 5)]
    pub kafka_linger_ms: u32,
    /// How long a message may wait for the broker before it fails (`message.timeout.ms`); requests
    /// wait at most this long before answering 503.
    #[arg(long, env = "FRICTION_KAFKA_MESSAGE_TIMEOUT_MS", default_value_t = 10_000)]
    pub kafka_message_timeout_ms: u32,
    /// Compression codec for produced batches.
    #[arg(long, env = "FRICTION_KAFKA_COMPRESSION", default_value = "lz4")]
    pub kafka_compression: String,
    /// Largest message the producer sends (`message.max.bytes`); keep it at or below the broker's.
    #[arg(long, env = "FRICTION_KAFKA_MESSAGE_MAX_BYTES", default_value_t = 1_000_000)]
    pub kafka_message_max_bytes: u32,
    /// Producer queue bound in KiB (`queue.buffering.max.kbytes`); a full queue answers 503.
    #[arg(long, env = "FRICTION_KAFKA_QUEUE_KIB", default_value_t = 262_144)]
    pub kafka_queue_kib: u32,
    /// Extra librdkafka properties, `key=value`, repeatable (e.g. `security.protocol=ssl`).
    #[arg(long = "kafka-property", env = "FRICTION_KAFKA_PROPERTIES", value_delimiter = ',')]
    pub kafka_properties: Vec<String>,
}

impl KafkaArgs {
    /// Defaults with the given brokers (tests and `friction up`).
    pub fn with_brokers(brokers: impl Into<String>) -> Self {
        KafkaArgs {
            brokers: Some(brokers.into()),
            kafka_linger_ms: 5,
            kafka_message_timeout_ms: 10_000,
            kafka_compression: "lz4".into(),
            kafka_message_max_bytes: 1_000_000,
            kafka_queue_kib: 262_144,
            kafka_properties: Vec::new(),
        }
    }
}

/// The address of a binary's admin server (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Where the admin server listens.
    #[arg(long, env = "FRICTION_ADMIN_ADDR", default_value = "127.0.0.1:9100")]
    pub admin_addr: SocketAddr,
}

/// When a stateful stage runs a commit cycle (outputs acknowledged, state written, offsets
/// committed): every `--commit-interval-ms`, or sooner after `--commit-max-messages` input messages.
#[derive(Debug, Clone, Args)]
pub struct CommitArgs {
    /// Input messages after which a commit cycle runs even if the interval has not passed; a bound
    /// on the work replayed after a crash. Default 100,000.
    #[arg(long, env = "FRICTION_COMMIT_MAX_MESSAGES", default_value_t = crate::stage::DEFAULT_COMMIT_MAX_MESSAGES)]
    pub commit_max_messages: usize,
    /// Longest time between commit cycles, in milliseconds. Default 1000.
    #[arg(long, env = "FRICTION_COMMIT_INTERVAL_MS", default_value_t = crate::stage::DEFAULT_COMMIT_INTERVAL_MS)]
    pub commit_interval_ms: u64,
}

impl CommitArgs {
    /// Sets the stage's commit cadence from these flags.
    pub fn apply(&self, stage: &mut crate::stage::StageConfig) {
        stage.commit_max_messages = self.commit_max_messages.max(1);
        stage.commit_interval = Duration::from_millis(self.commit_interval_ms.max(1));
    }
}
