//! `friction logwatch` (the friction-logwatch agent under the one CLI) and the log tailing of
//! `friction up --watch-logs SERVICE=GLOB` (docs/operators.md "Tailing log files").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use friction_logwatch::{LogwatchArgs, LogwatchHandle, TailArgs, WatchSpec};
use friction_runtime::config::AdminArgs;
use friction_runtime::Shutdown;

/// `friction logwatch`: the flags of friction-logwatch.
#[derive(Args)]
#[command(after_help = friction_logwatch::config::EXAMPLE)]
pub struct LogwatchCommand {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub logwatch: LogwatchArgs,
}

/// Runs `friction logwatch` until SIGTERM or Ctrl-C.
pub async fn run(cmd: LogwatchCommand) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    friction_logwatch::serve(cmd.logwatch, &cmd.admin, shutdown).await?;
    Ok(())
}

/// Starts tailing `watch` into the gateway of `friction up` at `gateway` with its default key;
/// checkpoints in `DATA_DIR/logwatch`. `None` when nothing is to be watched.
pub fn start_for_up(
    watch: &[WatchSpec],
    patterns: Option<PathBuf>,
    data_dir: &Path,
    gateway: SocketAddr,
    api_key: &str,
    shutdown: Shutdown,
) -> anyhow::Result<Option<LogwatchHandle>> {
    if watch.is_empty() {
        return Ok(None);
    }
    let ip = if gateway.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { gateway.ip() };
    let args = LogwatchArgs {
        watch: watch.to_vec(),
        gateway_url: format!("http://{}", SocketAddr::new(ip, gateway.port())),
        api_key: api_key.to_string(),
        tail: TailArgs { checkpoint_dir: data_dir.join("logwatch"), patterns, ..TailArgs::default() },
    };
    let handle = friction_logwatch::spawn(args, shutdown)?;
    for w in watch {
        eprintln!("logwatch: {} as service {}", w.glob, w.service);
    }
    Ok(Some(handle))
}
