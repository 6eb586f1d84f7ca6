//! Gateway settings, from flags or environment. Every default is stated on its field.

use std::net::SocketAddr;

use clap::Args;

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
    /// Topic the events and log lines are produced to.
    #[arg(long, env = "FRICTION_EVENTS_TOPIC", default_value = friction_runtime::topics::EVENTS)]
    pub events_topic: String,
    /// Topic the API keys are read from.
    #[arg(long, env = "FRICTION_APIKEYS_TOPIC", default_value = friction_runtime::topics::APIKEYS)]
    pub apikeys_topic: String,
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
            events_topic: friction_runtime::topics::EVENTS.into(),
            apikeys_topic: friction_runtime::topics::APIKEYS.into(),
        }
    }
}
