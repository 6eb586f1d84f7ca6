//! Flags shared by every binary, and how a stage runs ([`StageConfig`]) with its defaults. Each flag
//! also reads an environment variable, so a deployment can configure a stage without a command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::topics;

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

/// A binary's admin server (`/metrics`, `/healthz`, `/readyz`): its address and bounds.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Where the admin server listens.
    #[arg(long, env = "FRICTION_ADMIN_ADDR", default_value = "127.0.0.1:9100")]
    pub admin_addr: SocketAddr,
    #[command(flatten)]
    pub http: crate::serve::AdminHttpArgs,
}

/// When a stateful stage runs a commit cycle (outputs acknowledged, state written, offsets
/// committed): every `--commit-interval-ms`, or sooner after `--commit-max-messages` input messages.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CommitArgs {
    /// Input messages after which a commit cycle runs even if the interval has not passed; a bound
    /// on the work replayed after a crash. Default 100,000.
    #[arg(long, env = "FRICTION_COMMIT_MAX_MESSAGES", default_value_t = DEFAULT_COMMIT_MAX_MESSAGES)]
    pub commit_max_messages: usize,
    /// Longest time between commit cycles, in milliseconds. Default 1000.
    #[arg(long, env = "FRICTION_COMMIT_INTERVAL_MS", default_value_t = DEFAULT_COMMIT_INTERVAL_MS)]
    pub commit_interval_ms: u64,
}

impl CommitArgs {
    /// Sets the stage's commit cadence from these flags.
    pub fn apply(&self, stage: &mut StageConfig) {
        stage.commit_max_messages = self.commit_max_messages.max(1);
        stage.commit_interval = Duration::from_millis(self.commit_interval_ms.max(1));
    }
}

impl Default for CommitArgs {
    /// The flags' defaults.
    fn default() -> Self {
        CommitArgs { commit_max_messages: DEFAULT_COMMIT_MAX_MESSAGES, commit_interval_ms: DEFAULT_COMMIT_INTERVAL_MS }
    }
}

/// `T` as its flags' defaults: parsed from an empty command line with the environment ignored.
/// Tests compare it with `T::default()`, which `friction up` and the tests start from, so that a
/// stage runs there as its binary runs without flags.
pub fn flag_defaults<T: Args + clap::FromArgMatches>() -> Result<T, clap::Error> {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None::<&'static str>));
    T::from_arg_matches(&command.try_get_matches_from(["defaults"])?)
}

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
            deadletter_topic: topics::DEADLETTER.into(),
            commit_max_messages: DEFAULT_COMMIT_MAX_MESSAGES,
            commit_interval: Duration::from_millis(DEFAULT_COMMIT_INTERVAL_MS),
            tick_interval: Duration::from_millis(200),
            max_dead_letters_per_minute: 100,
            flush_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_defaults_are_the_flags_and_the_stage_defaults() {
        let flags: CommitArgs = flag_defaults().expect("defaults");
        assert_eq!(flags, CommitArgs::default());
        let mut stage = StageConfig::new("s", vec![]);
        let unchanged = stage.clone();
        flags.apply(&mut stage);
        assert_eq!(
            (stage.commit_max_messages, stage.commit_interval),
            (unchanged.commit_max_messages, unchanged.commit_interval)
        );
    }
}
