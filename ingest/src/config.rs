//! Gateway settings, from flags or environment. Every default is stated on its field.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use friction_runtime::auth_guard::AuthThrottleArgs;
use friction_runtime::serve::HttpLimits;

use crate::keys::KeysSecret;

/// Default bound of the clock-skew correction: 365 days.
pub const MAX_CLOCK_SKEW_MS: i64 = 365 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Where the ingest API listens.
    #[arg(long = "gateway-addr", env = "FRICTION_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Largest request body as sent (compressed or not), in bytes. Default 1 MiB.
    #[arg(long, env = "FRICTION_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression, in bytes; more is a 413 (gzip-bomb guard). Default 5 MiB.
    #[arg(long, env = "FRICTION_MAX_DECOMPRESSED_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_decompressed_bytes: usize,
    /// Largest single event (its JSON text), in bytes. Default 64 KiB.
    #[arg(long, env = "FRICTION_MAX_EVENT_BYTES", default_value_t = 64 * 1024)]
    pub max_event_bytes: usize,
    /// Most events (or log lines) in one batch. Default 1000.
    #[arg(long, env = "FRICTION_MAX_BATCH_EVENTS", default_value_t = 1000)]
    pub max_batch_events: usize,
    /// Sustained events per second allowed per API key (token bucket refill). Default 1000.
    #[arg(long, env = "FRICTION_RATE_LIMIT_PER_SEC", default_value_t = 1000.0)]
    pub rate_limit_per_sec: f64,
    /// Burst size per API key, in events. Default 5000.
    #[arg(long, env = "FRICTION_RATE_LIMIT_BURST", default_value_t = 5000.0)]
    pub rate_limit_burst: f64,
    /// Origins allowed by CORS, comma separated; `*` allows any. A project can narrow this further
    /// with its own list. Default `*`.
    #[arg(long, env = "FRICTION_CORS_ORIGINS", value_delimiter = ',', default_value = "*")]
    pub cors_origins: Vec<String>,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a trusted proxy).
    #[arg(long, env = "FRICTION_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Clock skew (receivedAt - sentAt) below which event times are left as sent, in ms; larger
    /// skews are corrected. Default 1000.
    #[arg(long, env = "FRICTION_SKEW_TOLERANCE_MS", default_value_t = 1000)]
    pub skew_tolerance_ms: i64,
    /// Largest clock skew (receivedAt - sentAt) that is corrected, in ms; a `sentAt` further off
    /// (the year 9999, say) is ignored and the events are flagged `timestampClamped`. Default 365 days.
    #[arg(long, env = "FRICTION_MAX_CLOCK_SKEW_MS", default_value_t = MAX_CLOCK_SKEW_MS)]
    pub max_clock_skew_ms: i64,
    /// Connections the ingest listener serves at once. Beyond it the connection idle longest is
    /// closed to make room, or, when all are busy, the answer is 503 with `Retry-After`. Default 4096.
    #[arg(long, env = "FRICTION_GATEWAY_MAX_CONNECTIONS", default_value_t = 4096)]
    pub gateway_max_connections: usize,
    /// Of those, how many one client address (an IPv6 /64) may hold; 0: no bound of its own. At its
    /// bound the client's own connection idle longest is closed, or the answer is 503, while other
    /// clients keep their share. Behind a load balancer every client has the balancer's address:
    /// set 0 or the whole limit there. Default 512.
    #[arg(long, env = "FRICTION_GATEWAY_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 512)]
    pub gateway_max_connections_per_client: usize,
    /// Time for a request head (request line and headers) to arrive in full, in ms; then the
    /// connection is closed. Default 10000.
    #[arg(long, env = "FRICTION_GATEWAY_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub gateway_header_read_timeout_ms: u64,
    /// Time for a request body to arrive in full, in ms; then the answer is 408. Default 30000.
    #[arg(long, env = "FRICTION_GATEWAY_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub gateway_body_read_timeout_ms: u64,
    /// A connection with no request in flight is closed after this many ms; at most the header-read
    /// timeout, which also bounds the wait for the next request on a kept-alive connection. Default 10000.
    #[arg(long, env = "FRICTION_GATEWAY_IDLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub gateway_idle_timeout_ms: u64,
    /// Topic the events and log lines are produced to.
    #[arg(long, env = "FRICTION_EVENTS_TOPIC", default_value = friction_runtime::topics::EVENTS)]
    pub events_topic: String,
    /// Topic the API keys are read from.
    #[arg(long, env = "FRICTION_APIKEYS_TOPIC", default_value = friction_runtime::topics::APIKEYS)]
    pub apikeys_topic: String,
    /// The key publishers' secret (at least 16 characters; prefer the environment variable to the
    /// flag): API-key records whose MAC does not verify under it are ignored. Unset: every record on
    /// the topic is trusted. `friction up` creates one in DATA_DIR/keys-secret when unset.
    #[arg(long, env = "FRICTION_KEYS_SECRET", hide_env_values = true)]
    pub keys_secret: Option<KeysSecret>,
    /// Per-source budget of failed authentications (429 beyond it).
    #[command(flatten)]
    pub auth: AuthThrottleArgs,
}

impl Default for GatewayArgs {
    fn default() -> Self {
        GatewayArgs {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            max_decompressed_bytes: 5 * 1024 * 1024,
            max_event_bytes: 64 * 1024,
            max_batch_events: 1000,
            rate_limit_per_sec: 1000.0,
            rate_limit_burst: 5000.0,
            cors_origins: vec!["*".into()],
            trust_forwarded_for: false,
            skew_tolerance_ms: 1000,
            max_clock_skew_ms: MAX_CLOCK_SKEW_MS,
            gateway_max_connections: 4096,
            gateway_max_connections_per_client: 512,
            gateway_header_read_timeout_ms: 10_000,
            gateway_body_read_timeout_ms: 30_000,
            gateway_idle_timeout_ms: 10_000,
            events_topic: friction_runtime::topics::EVENTS.into(),
            apikeys_topic: friction_runtime::topics::APIKEYS.into(),
            keys_secret: None,
            auth: AuthThrottleArgs::default(),
        }
    }
}

impl GatewayArgs {
    /// The ingest listener's bounds.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_millis(self.gateway_header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.gateway_body_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.gateway_idle_timeout_ms),
            max_connections: self.gateway_max_connections,
            max_connections_per_client: self.gateway_max_connections_per_client,
            ..HttpLimits::default()
        }
    }
}
