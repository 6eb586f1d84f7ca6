//! Wiring: producer, key follower, broker health, and the HTTP server. `serve` runs a router on a
//! listener until shutdown (tests call it on port 0); `start` builds everything from config.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, Producer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use friction_runtime::kafka::producer_config;
use friction_runtime::{Health, KafkaArgs, Shutdown};

use crate::config::GatewayArgs;
use crate::keys::{follow_apikeys, KeyFollowError, KeyStore};
use crate::router::{router, GatewayState};
use crate::sink::KafkaSink;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Kafka(#[from] friction_runtime::kafka::KafkaSetupError),
    #[error("creating the Kafka producer failed: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Keys(#[from] KeyFollowError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Serves the ingest API on `listener` until shutdown, within the configured connection limits and
/// timeouts ([`GatewayArgs::http_limits`]); in-flight requests finish first.
pub async fn serve(state: Arc<GatewayState>, listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
    let limits = state.config.http_limits();
    friction_runtime::serve::serve("gateway", listener, router(state), limits, shutdown).await
}

/// A running gateway.
pub struct GatewayHandle {
    pub addr: SocketAddr,
    pub keys: Arc<KeyStore>,
    pub server: JoinHandle<std::io::Result<()>>,
}

/// Starts the gateway: producer, API-key follower, broker health check, HTTP server.
pub async fn start(
    config: GatewayArgs,
    kafka: &KafkaArgs,
    health: &Health,
    shutdown: Shutdown,
) -> Result<GatewayHandle, StartError> {
    let producer: FutureProducer = producer_config(kafka)?.create()?;
    let broker_health = health.register("broker");
    let keys_health = health.register("api_keys");
    spawn_broker_check(producer.clone(), broker_health, shutdown.clone());

    let keys = Arc::new(KeyStore::with_secret(config.keys_secret.clone()));
    follow_apikeys(keys.clone(), kafka, &config.apikeys_topic, Some(keys_health), shutdown.clone())?;

    let sink = Arc::new(KafkaSink::new(producer, kafka.kafka_message_max_bytes as usize));
    let addr = config.addr;
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let state = Arc::new(GatewayState::new(config, keys.clone(), sink));
    let server = tokio::spawn(serve(state, listener, shutdown));
    tracing::info!(addr = %bound, "gateway listening: POST /v1/events, POST /v1/logs");
    Ok(GatewayHandle { addr: bound, keys, server })
}

/// Keeps the `broker` readiness flag current by asking for cluster metadata every few seconds.
fn spawn_broker_check(producer: FutureProducer, flag: friction_runtime::admin::HealthHandle, shutdown: Shutdown) {
    tokio::spawn(async move {
        loop {
            let p = producer.clone();
            let ok =
                tokio::task::spawn_blocking(move || p.client().fetch_metadata(None, Duration::from_secs(3)).is_ok())
                    .await
                    .unwrap_or(false);
            if ok != flag.get() {
                if ok {
                    tracing::info!("broker reachable");
                } else {
                    tracing::warn!("broker unreachable: requests will get 503 until it is back");
                }
            }
            flag.set(ok);
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(if ok { 5 } else { 1 })) => {}
            }
        }
    });
}
