//! Flags and environment of friction-logwatch (docs/operators.md "Tailing log files"). Every
//! setting has a flag and an environment variable; `friction logwatch` and `friction up
//! --watch-logs` use the same type.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

/// The example at the end of `--help`.
pub const EXAMPLE: &str = "Example:\n  friction-logwatch --watch 'pos=/var/log/pos/*.log' --gateway-url http://127.0.0.1:8080 \\\n    --api-key \"$FRICTION_API_KEY\" --patterns patterns.yaml --admin-addr 127.0.0.1:9108\n\n\
Rotation: rename (logrotate `create`) is followed by inode; for copytruncate, do not let the glob\n\
match the rotated copies (app.log.1). Docs: docs/operators.md, \"Tailing log files\".";

/// `SERVICE=GLOB`: files matching GLOB are the log of SERVICE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub service: String,
    pub glob: String,
}

impl FromStr for WatchSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (service, glob) = s.split_once('=').ok_or_else(|| format!("{s:?} is not SERVICE=GLOB"))?;
        let service = service.trim();
        if service.is_empty() || service.len() > 200 || service.chars().any(char::is_control) {
            return Err(format!("{s:?}: the service is 1 to 200 characters, no control characters"));
        }
        if glob.is_empty() {
            return Err(format!("{s:?}: the glob is empty"));
        }
        glob::Pattern::new(glob).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(WatchSpec { service: service.to_string(), glob: glob.to_string() })
    }
}

/// Where files are read from when they have no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadFrom {
    /// From their first byte.
    Beginning,
    /// From their end, for files present at start-up; files that appear later are read whole.
    End,
}

/// How files are tailed and sent (not where: see [`LogwatchArgs`]).
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Directory of the checkpoint file (`checkpoints.json`): what the gateway acknowledged, per file.
    #[arg(long, env = "FRICTION_LOGWATCH_CHECKPOINT_DIR", default_value = ".friction/logwatch")]
    pub checkpoint_dir: PathBuf,
    /// Pattern rules (YAML: `patterns: [{name, regex, level, services}]`).
    #[arg(long, env = "FRICTION_LOGWATCH_PATTERNS")]
    pub patterns: Option<PathBuf>,
    /// Records per request to the gateway (at most 1000, the gateway's limit).
    #[arg(long, env = "FRICTION_LOGWATCH_BATCH_SIZE", default_value_t = 1000)]
    pub batch_size: usize,
    /// Bytes of JSON per request at most (the gateway takes 1 MiB).
    #[arg(long, env = "FRICTION_LOGWATCH_BATCH_MAX_BYTES", default_value_t = 900 * 1024)]
    pub batch_max_bytes: usize,
    /// Longest wait, in milliseconds, for a batch to fill before it is sent.
    #[arg(long, env = "FRICTION_LOGWATCH_BATCH_INTERVAL_MS", default_value_t = 200)]
    pub batch_interval_ms: u64,
    /// Records read but not yet acknowledged, at most; reading pauses when it is reached.
    #[arg(long, env = "FRICTION_LOGWATCH_BUFFER_RECORDS", default_value_t = 10_000)]
    pub buffer_records: usize,
    /// How often the globs are searched again for new files, in milliseconds.
    #[arg(long, env = "FRICTION_LOGWATCH_SCAN_INTERVAL_MS", default_value_t = 1000)]
    pub scan_interval_ms: u64,
    /// Longest pause between reads of an idle file, in milliseconds.
    #[arg(long, env = "FRICTION_LOGWATCH_POLL_MAX_MS", default_value_t = 250)]
    pub poll_max_ms: u64,
    /// How long a file renamed or deleted away stays open after its last byte, in milliseconds.
    #[arg(long, env = "FRICTION_LOGWATCH_ROTATE_WAIT_MS", default_value_t = 5000)]
    pub rotate_wait_ms: u64,
    /// A line starts a record exactly when it matches this regex (default: the built-in rules for
    /// Java, Python, Node and Rust stack traces; `^` makes every line a record).
    #[arg(long, env = "FRICTION_LOGWATCH_MULTILINE_START")]
    pub multiline_start: Option<String>,
    /// A record whose file stays quiet this long, in milliseconds, is complete.
    #[arg(long, env = "FRICTION_LOGWATCH_MULTILINE_TIMEOUT_MS", default_value_t = 1000)]
    pub multiline_timeout_ms: u64,
    /// Bytes of text per record at most; the rest is left out and the record marked `truncated`.
    #[arg(long, env = "FRICTION_LOGWATCH_MAX_RECORD_BYTES", default_value_t = 32 * 1024)]
    pub max_record_bytes: usize,
    /// JSON lines: keys holding the level, first present wins.
    #[arg(
        long,
        env = "FRICTION_LOGWATCH_JSON_LEVEL_KEYS",
        value_delimiter = ',',
        default_value = "level,severity,lvl,log.level"
    )]
    pub json_level_keys: Vec<String>,
    /// JSON lines: keys holding the message.
    #[arg(
        long,
        env = "FRICTION_LOGWATCH_JSON_MESSAGE_KEYS",
        value_delimiter = ',',
        default_value = "message,msg,log,text"
    )]
    pub json_message_keys: Vec<String>,
    /// JSON lines: keys holding the time (RFC 3339, or seconds or milliseconds since the epoch).
    #[arg(
        long,
        env = "FRICTION_LOGWATCH_JSON_TIME_KEYS",
        value_delimiter = ',',
        default_value = "timestamp,time,ts,@timestamp,t"
    )]
    pub json_time_keys: Vec<String>,
    /// Where a file without a checkpoint is read from.
    #[arg(long, env = "FRICTION_LOGWATCH_READ_FROM", value_enum, default_value_t = ReadFrom::Beginning)]
    pub read_from: ReadFrom,
    /// First retry delay after a 429, 503 or connection error, in milliseconds (doubling, full jitter).
    #[arg(long, env = "FRICTION_LOGWATCH_RETRY_INITIAL_MS", default_value_t = 250)]
    pub retry_initial_ms: u64,
    /// Longest retry delay, in milliseconds (also caps the gateway's Retry-After).
    #[arg(long, env = "FRICTION_LOGWATCH_RETRY_MAX_MS", default_value_t = 30_000)]
    pub retry_max_ms: u64,
    /// Timeout of one request to the gateway, in milliseconds.
    #[arg(long, env = "FRICTION_LOGWATCH_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
}

impl Default for TailArgs {
    /// The flags' defaults.
    fn default() -> Self {
        TailArgs {
            checkpoint_dir: PathBuf::from(".friction/logwatch"),
            patterns: None,
            batch_size: 1000,
            batch_max_bytes: 900 * 1024,
            batch_interval_ms: 200,
            buffer_records: 10_000,
            scan_interval_ms: 1000,
            poll_max_ms: 250,
            rotate_wait_ms: 5000,
            multiline_start: None,
            multiline_timeout_ms: 1000,
            max_record_bytes: 32 * 1024,
            json_level_keys: ["level", "severity", "lvl", "log.level"].map(String::from).to_vec(),
            json_message_keys: ["message", "msg", "log", "text"].map(String::from).to_vec(),
            json_time_keys: ["timestamp", "time", "ts", "@timestamp", "t"].map(String::from).to_vec(),
            read_from: ReadFrom::Beginning,
            retry_initial_ms: 250,
            retry_max_ms: 30_000,
            request_timeout_ms: 30_000,
        }
    }
}

impl TailArgs {
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_interval_ms.max(10))
    }
}

/// Everything friction-logwatch needs: what to watch, where to send it, and how.
#[derive(Debug, Clone, Args)]
pub struct LogwatchArgs {
    /// `SERVICE=GLOB`, repeatable (or comma-separated in the variable): tail the files matching
    /// GLOB as the log of SERVICE, e.g. `pos=/var/log/pos/*.log`.
    #[arg(long = "watch", env = "FRICTION_LOGWATCH_WATCH", value_delimiter = ',', required = true)]
    pub watch: Vec<WatchSpec>,
    /// The gateway's base URL (`POST {URL}/v1/logs`).
    #[arg(long, env = "FRICTION_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub gateway_url: String,
    /// The project's API key.
    #[arg(long, env = "FRICTION_API_KEY", hide_env_values = true)]
    pub api_key: String,
    #[command(flatten)]
    pub tail: TailArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_specs_parse() {
        let w: WatchSpec = "pos=/var/log/pos/*.log".parse().expect("spec");
        assert_eq!((w.service.as_str(), w.glob.as_str()), ("pos", "/var/log/pos/*.log"));
        assert!("no-equals".parse::<WatchSpec>().is_err());
        assert!("=/x".parse::<WatchSpec>().is_err());
        assert!("pos=".parse::<WatchSpec>().is_err());
        assert!("pos=/x/[".parse::<WatchSpec>().is_err());
    }

    #[test]
    fn defaults_match_the_flags() {
        let parsed = friction_runtime::config::flag_defaults::<TailArgs>().expect("defaults");
        assert_eq!(format!("{parsed:?}"), format!("{:?}", TailArgs::default()));
    }
}
