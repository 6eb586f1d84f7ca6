//! Assembling and serving the console: the one place that turns a store, the broker settings and
//! the optional parts (ClickHouse, the master key, the key publishers' secret) into a listening
//! console with its pages, its API, `/metrics`, `/healthz` and `/readyz` (docs/console.md,
//! "Running the console"). Used by the `friction-console` binary and by `friction up`.

use std::net::SocketAddr;
use std::time::Duration;

use friction_exporter::MasterKey;
use friction_runtime::auth_guard::AuthThrottleArgs;
use friction_runtime::serve::AdminHttpArgs;
use friction_runtime::{serve_admin_with, Health, KafkaArgs, Shutdown};
use friction_store::Store;

use crate::{ConsoleArgs, ConsoleState, IncidentPublisher, KeyPublisher, LiveHub, PublisherError};

/// The console's own listener flags, shared by `friction-console` and `friction up`.
#[derive(clap::Args, Clone, Debug)]
pub struct ConsoleServeArgs {
    /// Where the console (pages, `/v1/...` API) and /metrics, /healthz, /readyz listen.
    #[arg(long, env = "FRICTION_CONSOLE_ADDR", default_value = "127.0.0.1:8081")]
    pub console_addr: SocketAddr,
    /// The console listener's bounds (it also serves /metrics and the health endpoints).
    #[command(flatten)]
    pub console_http: AdminHttpArgs,
    /// Incident changes a client of the console's live stream (`GET /v1/live`) may fall behind
    /// before it is dropped (it then resumes with `Last-Event-ID`).
    #[arg(long, env = "FRICTION_LIVE_BUFFER", default_value_t = crate::live::DEFAULT_BUFFER)]
    pub live_buffer: usize,
    /// The console's address as people's browsers reach it, for the links in tickets
    /// (`URL/incidents/ID`); default `http://` and the console's own address.
    #[arg(long, env = "FRICTION_CONSOLE_URL")]
    pub console_url: Option<String>,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

/// Everything the console needs besides its own flags.
pub struct ConsoleSetup {
    pub store: Store,
    pub kafka: KafkaArgs,
    /// `friction.incidents.v1` (with any prefix): status changes are published there and the live
    /// stream reads it.
    pub incidents_topic: String,
    /// `friction.apikeys.v1` (with any prefix): key changes are published there for gateways.
    pub apikeys_topic: String,
    /// The key publishers' secret (`FRICTION_KEYS_SECRET`) key records are signed with.
    pub keys_secret: Option<Vec<u8>>,
    pub auth: AuthThrottleArgs,
    pub clickhouse: Option<friction_warehouse::ClickHouseConfig>,
    /// `None`: adding or testing an integration answers 503.
    pub master_key: Option<MasterKey>,
    /// Register `store` and `broker` readiness checks (off in `friction up`, whose gateway
    /// already checks the broker).
    pub check_broker: bool,
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Publisher(#[from] PublisherError),
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] friction_warehouse::WarehouseError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Builds the console's state and serves it with the admin endpoints on `args.console_addr`;
/// keeps the `store` readiness check current (and `broker` when `setup.check_broker`). Returns
/// the bound address; the server stops on `shutdown`.
pub async fn serve(
    args: &ConsoleServeArgs,
    setup: ConsoleSetup,
    health: &Health,
    shutdown: &Shutdown,
) -> Result<SocketAddr, ServeError> {
    watch_store(setup.store.clone(), health, shutdown).await;
    if setup.check_broker {
        watch_broker(&setup.kafka, health, shutdown)?;
    }
    let publisher = IncidentPublisher::new(&setup.kafka, &setup.incidents_topic)?;
    let key_publisher = KeyPublisher::new(&setup.kafka, &setup.apikeys_topic, setup.keys_secret.as_deref())?;
    let mut state = ConsoleState::new(setup.store, Some(publisher))
        .with_auth_throttle(setup.auth)
        .with_key_publisher(key_publisher)
        .with_console_args(&args.console);
    if let Some(clickhouse) = &setup.clickhouse {
        state = state.with_clickhouse(clickhouse.client()?);
    }
    match setup.master_key {
        Some(key) => state = state.with_master_key(key),
        None => tracing::warn!("console: FRICTION_MASTER_KEY is not set; integrations answer 503"),
    }
    match LiveHub::start(&setup.kafka, &setup.incidents_topic, args.live_buffer, shutdown.clone()) {
        Ok(hub) => state = state.with_live(hub),
        Err(e) => tracing::warn!(error = %e, "console: the live stream (/v1/live) is off"),
    }
    let addr = args.console_addr;
    serve_admin_with(addr, args.console_http.limits(), health.clone(), shutdown.clone(), crate::router(state))
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Every few seconds until `shutdown`: the store answers (`store` readiness check).
async fn watch_store(store: Store, health: &Health, shutdown: &Shutdown) {
    let flag = health.register("store");
    flag.set(store.ping().await.is_ok());
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(5)) => flag.set(store.ping().await.is_ok()),
            }
        }
    });
}

/// Every few seconds until `shutdown` (every second while it fails): the broker answers a
/// metadata request (`broker` readiness check).
fn watch_broker(kafka: &KafkaArgs, health: &Health, shutdown: &Shutdown) -> Result<(), PublisherError> {
    let producer: rdkafka::producer::FutureProducer = friction_runtime::kafka::producer_config(kafka)?.create()?;
    let flag = health.register("broker");
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let p = producer.clone();
            let ok = tokio::task::spawn_blocking(move || {
                use rdkafka::producer::Producer as _;
                p.client().fetch_metadata(None, Duration::from_secs(3)).is_ok()
            })
            .await
            .unwrap_or(false);
            flag.set(ok);
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(if ok { 5 } else { 1 })) => {}
            }
        }
    });
    Ok(())
}
