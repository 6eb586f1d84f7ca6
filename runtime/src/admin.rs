//! The admin server every binary runs: `/metrics` (Prometheus text), `/healthz` (the process is
//! alive) and `/readyz` (every dependency it registered — broker, store, key cache — is reachable).
//!
//! Readiness is a set of named flags that background tasks keep current, so `/readyz` never blocks
//! on a dependency and never adds load to one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::AdminArgs;
use crate::shutdown::Shutdown;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder; installed on first use. Several stages in one process
/// (`friction up`) share it.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests); ours still renders what it records.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Named readiness checks, shared by a binary's components.
#[derive(Clone, Default)]
pub struct Health {
    checks: Arc<RwLock<BTreeMap<&'static str, Arc<AtomicBool>>>>,
}

/// One component's readiness flag.
#[derive(Clone)]
pub struct HealthHandle(Arc<AtomicBool>);

impl HealthHandle {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Health {
    /// Registers a component that starts not ready.
    pub fn register(&self, name: &'static str) -> HealthHandle {
        let flag = Arc::new(AtomicBool::new(false));
        if let Ok(mut checks) = self.checks.write() {
            checks.insert(name, flag.clone());
        }
        HealthHandle(flag)
    }

    /// Every check by name, and whether all are ready.
    pub fn report(&self) -> (bool, BTreeMap<&'static str, bool>) {
        let checks: BTreeMap<_, _> = match self.checks.read() {
            Ok(c) => c.iter().map(|(k, v)| (*k, v.load(Ordering::Relaxed))).collect(),
            Err(_) => BTreeMap::new(),
        };
        (checks.values().all(|v| *v), checks)
    }
}

pub fn admin_router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .route("/readyz", get(ready_handler))
        .with_state(health)
}

async fn metrics_handler() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render()).into_response()
}

async fn ready_handler(State(health): State<Health>) -> Response {
    let (ready, checks) = health.report();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(serde_json::json!({"ready": ready, "checks": checks}))).into_response()
}

/// Binds the admin server and serves it until shutdown. Returns the bound address (port 0 picks one).
pub async fn serve_admin(args: &AdminArgs, health: Health, shutdown: Shutdown) -> std::io::Result<SocketAddr> {
    serve_admin_with(args.admin_addr, args.http.limits(), health, shutdown, Router::new()).await
}

/// [`serve_admin`] with more routes on the same listener (the console's API in `friction up`).
/// Connections carry their peer address (`ConnectInfo<SocketAddr>`) for handlers that log it.
/// The listener is bounded by `limits` (from [`crate::serve::AdminHttpArgs`] in the binaries).
pub async fn serve_admin_with(
    addr: SocketAddr,
    limits: crate::serve::HttpLimits,
    health: Health,
    shutdown: Shutdown,
    extra: Router,
) -> std::io::Result<SocketAddr> {
    prometheus();
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = admin_router(health).merge(extra);
    tokio::spawn(async move {
        let result = crate::serve::serve("admin", listener, app, limits, shutdown).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let resp = router.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_follows_registered_checks() {
        let health = Health::default();
        let broker = health.register("broker");
        let (status, body) = get(admin_router(health.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"broker\":false"), "{body}");
        broker.set(true);
        let (status, _) = get(admin_router(health.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = get(admin_router(health), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_render_recorded_counters() {
        prometheus();
        metrics::counter!("friction_admin_test_total").increment(3);
        let (status, body) = get(admin_router(Health::default()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("friction_admin_test_total 3"), "{body}");
    }
}
