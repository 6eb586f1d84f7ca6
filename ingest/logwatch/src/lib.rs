//! `friction-logwatch`: tails log files and posts their records to the gateway's `POST /v1/logs`
//! (docs/operators.md "Tailing log files", docs/architecture.md §1). Files are found by glob and
//! followed through rotation by rename and by copy-truncate ([`tailer`]); lines are joined into
//! records so a stack trace stays with its line ([`multiline`]), parsed as JSON or plain text
//! ([`parse`]), named by pattern rules ([`patterns`]) and sent in batches with backoff
//! ([`shipper`]). A file's offset moves in the durable checkpoint ([`checkpoint`]) only after the
//! gateway acknowledged its records, and every record's event id comes from the file's identity and
//! the record's offset ([`identity`]): after a crash lines are sent again, never lost, and the
//! copies carry the ids of the originals, so downstream stages drop them.

pub mod checkpoint;
pub mod config;
pub mod identity;
pub mod multiline;
pub mod parse;
pub mod patterns;
pub mod record;
pub mod shipper;
pub mod tailer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use friction_runtime::Shutdown;
use tokio::sync::mpsc;

pub use config::{LogwatchArgs, TailArgs, WatchSpec};

#[derive(Debug, thiserror::Error)]
pub enum LogwatchError {
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    Patterns(#[from] patterns::PatternError),
    #[error("--multiline-start: {0}")]
    MultilineStart(regex::Error),
    #[error("--watch: give at least one SERVICE=GLOB")]
    NothingToWatch,
    #[error("--gateway-url {0:?} is not an http(s) URL")]
    GatewayUrl(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(reqwest::Error),
    #[error("the tailer thread could not start: {0}")]
    Thread(std::io::Error),
    #[error("the admin server could not listen: {0}")]
    Admin(std::io::Error),
}

/// A running logwatch: the tailer thread and the shipper task.
pub struct LogwatchHandle {
    pub tailer: std::thread::JoinHandle<()>,
    pub shipper: tokio::task::JoinHandle<()>,
}

impl LogwatchHandle {
    /// Waits until both halves stopped (after shutdown).
    pub async fn join(self) {
        let _ = self.shipper.await;
        let tailer = self.tailer;
        let _ = tokio::task::spawn_blocking(move || tailer.join()).await;
    }
}

/// What `friction-logwatch` and `friction logwatch` run: the admin server (`/metrics`, `/healthz`,
/// `/readyz`), then tailing and sending until `shutdown` triggers (SIGTERM, Ctrl-C).
pub async fn serve(
    args: LogwatchArgs,
    admin: &friction_runtime::config::AdminArgs,
    shutdown: Shutdown,
) -> Result<(), LogwatchError> {
    let health = friction_runtime::Health::default();
    let ready = health.register("logwatch");
    let addr = friction_runtime::serve_admin(admin, health, shutdown.clone()).await.map_err(LogwatchError::Admin)?;
    tracing::info!(admin = %addr, "admin server listening: /metrics /healthz /readyz");
    let handle = spawn(args, shutdown)?;
    ready.set(true);
    handle.join().await;
    Ok(())
}

/// Starts tailing and sending; both stop when `shutdown` triggers. Must be called inside a tokio
/// runtime.
pub fn spawn(args: LogwatchArgs, shutdown: Shutdown) -> Result<LogwatchHandle, LogwatchError> {
    if args.watch.is_empty() {
        return Err(LogwatchError::NothingToWatch);
    }
    let base = args.gateway_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(LogwatchError::GatewayUrl(args.gateway_url.clone()));
    }
    let tail = args.tail;
    let patterns = match &tail.patterns {
        Some(path) => patterns::Patterns::load(path)?,
        None => patterns::Patterns::default(),
    };
    let start = match &tail.multiline_start {
        Some(re) => multiline::Start::Pattern(regex::Regex::new(re).map_err(LogwatchError::MultilineStart)?),
        None => multiline::Start::Auto,
    };
    let checkpoints = Arc::new(Mutex::new(checkpoint::Checkpoints::load(&tail.checkpoint_dir)?));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(tail.request_timeout_ms.max(1)))
        .build()
        .map_err(LogwatchError::Client)?;
    let (tx, rx) = mpsc::channel(tail.buffer_records.max(1));
    let ship = shipper::ShipConfig {
        url: format!("{base}/v1/logs"),
        api_key: args.api_key,
        batch_size: tail.batch_size.clamp(1, 1000),
        batch_max_bytes: tail.batch_max_bytes.max(64 * 1024),
        batch_interval: Duration::from_millis(tail.batch_interval_ms),
        retry_initial: Duration::from_millis(tail.retry_initial_ms.max(1)),
        retry_max: Duration::from_millis(tail.retry_max_ms.max(1)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let keys = parse::JsonKeys {
        level: tail.json_level_keys.clone(),
        message: tail.json_message_keys.clone(),
        time: tail.json_time_keys.clone(),
    };
    tracing::info!(files = args.watch.len(), patterns = patterns.len(), url = %ship.url, "logwatch starting");
    let cx = tailer::TailContext {
        watches: args.watch,
        args: tail,
        start,
        keys,
        patterns: Arc::new(patterns),
        checkpoints: checkpoints.clone(),
        tx,
        stop: stop.clone(),
    };
    let tailer = std::thread::Builder::new()
        .name("logwatch-tailer".into())
        .spawn(move || tailer::Tailer::new(cx).run())
        .map_err(LogwatchError::Thread)?;
    let shipper = shipper::Shipper::new(ship, client, rx, checkpoints);
    let shipper = tokio::spawn(async move {
        let stopping = shutdown.clone();
        shipper
            .run(async move {
                stopping.wait().await;
            })
            .await;
        stop.store(true, Ordering::Relaxed);
    });
    Ok(LogwatchHandle { tailer, shipper })
}
