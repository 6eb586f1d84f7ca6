//! `friction-console`: the web console and the JSON API over the store and the warehouse
//! (docs/console.md) — incidents (list, detail with evidence, status changes), projects, API keys,
//! integrations (with "test connection"), rules, tokens, the audit log, analytics (from ClickHouse)
//! and a live stream of incident changes (server-sent events from `friction.incidents.v1`) — for
//! people logged in with a session ([`web`], [`session`]) or callers with a bearer token, each with
//! a role (viewer reads, engineer changes incidents and rules, admin manages) and an optional
//! project scope ([`auth`]). Every write is audited. The API is described by an OpenAPI 3.1
//! document generated from the handlers ([`openapi`], served at `/v1/openapi.json`). The
//! `friction-console` binary and `friction up` serve it ([`serve`]) on `--console-addr` next to
//! `/metrics`, `/healthz` and `/readyz`.

pub mod analytics;
pub mod audit;
pub mod auth;
mod body;
mod error;
pub mod incidents;
pub mod integrations;
pub mod keys;
pub mod live;
pub mod openapi;
pub mod password;
pub mod projects;
mod refusals;
pub mod rules;
pub mod serve;
pub mod session;
pub mod tokens;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use friction_exporter::MasterKey;
use friction_incidents::IncidentConfig;
use friction_runtime::auth_guard::{AuthGuard, AuthThrottleArgs};
use friction_runtime::KafkaArgs;
use friction_schemas::{encode_to_vec, IncidentChange};
use friction_store::{ApiKey, Store};
use rdkafka::producer::{FutureProducer, FutureRecord};

pub use auth::Caller;
pub use error::ApiError;
pub use live::LiveHub;
pub use serve::{serve, ConsoleServeArgs, ConsoleSetup};
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

/// Publishes API-key records to the compacted key topic gateways read (`friction.apikeys.v1`),
/// signed with the key publishers' secret when there is one (docs/operators.md, "Keys and
/// projects"), so a key's creation, revocation, origins and rate reach every gateway.
#[derive(Clone)]
pub struct KeyPublisher {
    producer: FutureProducer,
    topic: Arc<str>,
    secret: Option<Arc<[u8]>>,
}

impl KeyPublisher {
    pub fn new(kafka: &KafkaArgs, topic: &str, secret: Option<&[u8]>) -> Result<Self, PublisherError> {
        let producer = friction_runtime::kafka::producer_config(kafka)?.create()?;
        Ok(KeyPublisher { producer, topic: Arc::from(topic), secret: secret.map(Arc::from) })
    }

    /// Sends the key's current record and waits for the broker's acknowledgement.
    pub async fn publish(&self, key: &ApiKey) -> Result<(), String> {
        let record = key.record(self.secret.as_deref());
        let payload = encode_to_vec(&record).map_err(|e| e.to_string())?;
        let record = FutureRecord::to(&self.topic).key(key.key_hash.as_str()).payload(&payload);
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
    /// Encrypts integration secrets (`FRICTION_MASTER_KEY`); `None`: adding or testing an
    /// integration answers 503.
    pub master_key: Option<MasterKey>,
    /// Publishes key changes to gateways; `None`: they are stored only (gateways see them after
    /// `friction keys sync`).
    pub key_publisher: Option<KeyPublisher>,
    /// The live stream's reader of the incidents topic; `None`: `/v1/live` answers 503.
    pub live: Option<LiveHub>,
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
            master_key: None,
            key_publisher: None,
            live: None,
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

    /// With integration secrets encrypted (and read, to test them) with this key.
    pub fn with_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }

    /// With key changes published to gateways.
    pub fn with_key_publisher(mut self, publisher: KeyPublisher) -> Self {
        self.key_publisher = Some(publisher);
        self
    }

    /// With the live stream (`GET /v1/live`) fed by this hub.
    pub fn with_live(mut self, hub: LiveHub) -> Self {
        self.live = Some(hub);
        self
    }
}

/// The console: its pages ([`web`]) and the API routes (`/v1/...`); every API route is declared in
/// [`openapi::api_router`], so it is in the OpenAPI document by construction.
pub fn router(state: ConsoleState) -> Router {
    let (api, _) = openapi::api_router().split_for_parts();
    Router::new().merge(web::routes()).merge(api).fallback(web::not_found).with_state(state)
}
