//! `friction-console`: the web console and the JSON API over the store and the warehouse —
//! incidents (list, detail with evidence, status changes) and analytics (frustration rate, top
//! elements, from ClickHouse) — for people logged in with a session ([`web`], [`session`]) or
//! callers with a bearer token, each with a role (viewer reads, engineer changes, admin manages)
//! and an optional project scope ([`auth`]). Every write is audited. `friction up` serves it on
//! `--console-addr` next to `/metrics`, `/healthz` and `/readyz` (docs/console.md).

pub mod analytics;
pub mod auth;
mod error;
pub mod incidents;
pub mod password;
pub mod session;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use friction_incidents::IncidentConfig;
use friction_runtime::auth_guard::{AuthGuard, AuthThrottleArgs};
use friction_runtime::KafkaArgs;
use friction_schemas::{encode_to_vec, IncidentChange};
use friction_store::Store;
use rdkafka::producer::{FutureProducer, FutureRecord};

pub use auth::Caller;
pub use error::ApiError;
pub use session::{ConsoleArgs, SessionSettings};

/// Why the publisher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    #[error(transparent)]
    Setup(#[from] friction_runtime::kafka::KafkaSetupError),
    #[error("kafka producer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Publishes incident changes made through the console to `friction.incidents.v1`.
#[derive(Clone)]
pub struct IncidentPublisher {
    producer: FutureProducer,
    topic: Arc<str>,
}

impl IncidentPublisher {
    pub fn new(kafka: &KafkaArgs, topic: &str) -> Result<Self, PublisherError> {
        let producer = friction_runtime::kafka::producer_config(kafka)?.create()?;
        Ok(IncidentPublisher { producer, topic: Arc::from(topic) })
    }

    /// Sends one change and waits for the broker's acknowledgement.
    pub async fn publish(&self, change: &IncidentChange) -> Result<(), String> {
        let payload = encode_to_vec(change).map_err(|e| e.to_string())?;
        let record = FutureRecord::to(&self.topic).key(change.id.as_bytes()).payload(&payload);
        self.producer.send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(e, _)| e.to_string())
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ConsoleState {
    pub store: Store,
    /// `None`: changes are stored but not published (tests without a broker).
    pub publisher: Option<IncidentPublisher>,
    /// Scoring weights, so a status change rescores like the incidents stage does.
    pub incident_config: IncidentConfig,
    /// The warehouse, for analytics; `None` when ClickHouse is not configured (analytics answer 503).
    pub clickhouse: Option<clickhouse::Client>,
    /// Failed token authentications: metrics, bounded log, per-source budget ([`auth`]).
    pub auth: Arc<AuthGuard>,
    /// How long sessions live, and the clock they are judged by.
    pub sessions: SessionSettings,
    /// Failed logins per address and per username ([`web::login`]).
    pub logins: Arc<web::login::LoginGuard>,
}

impl ConsoleState {
    pub fn new(store: Store, publisher: Option<IncidentPublisher>) -> Self {
        ConsoleState {
            store,
            publisher,
            incident_config: IncidentConfig::default(),
            clickhouse: None,
            auth: Arc::new(AuthGuard::new("console", AuthThrottleArgs::default())),
            sessions: SessionSettings::default(),
            logins: Arc::new(web::login::LoginGuard::new(&ConsoleArgs::default())),
        }
    }

    /// With these session lifetimes and login limits (`friction up`'s flags).
    pub fn with_console_args(mut self, args: &ConsoleArgs) -> Self {
        self.sessions = args.sessions();
        self.logins = Arc::new(web::login::LoginGuard::new(args));
        self
    }

    /// With these session settings (tests: short lifetimes, a clock of their own).
    pub fn with_sessions(mut self, sessions: SessionSettings) -> Self {
        self.sessions = sessions;
        self
    }

    /// With this per-source budget of failed authentications (default: 20 a minute).
    pub fn with_auth_throttle(mut self, args: AuthThrottleArgs) -> Self {
        self.auth = Arc::new(AuthGuard::new("console", args));
        self
    }

    /// With analytics served from this ClickHouse.
    pub fn with_clickhouse(mut self, client: clickhouse::Client) -> Self {
        self.clickhouse = Some(client);
        self
    }
}

/// The console: its pages ([`web`]) and the API routes (`/v1/...`).
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .merge(web::routes())
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::get).patch(incidents::patch))
        .route("/v1/analytics/frustration-rate", get(analytics::frustration_rate))
        .route("/v1/analytics/top-elements", get(analytics::top_elements))
        .fallback(web::not_found)
        .with_state(state)
}
