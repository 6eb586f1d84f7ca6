//! What every Friction binary shares: configuration from flags and environment, logging, the admin
//! server (`/metrics`, `/healthz`, `/readyz`), graceful shutdown, the Kafka client defaults, the
//! embedded broker used by `friction up`, and the topic catalogue (`topics.yaml`).

pub mod admin;
pub mod config;
pub mod kafka;
pub mod logging;
pub mod shutdown;
pub mod stage;
pub mod topics;

pub use admin::{serve_admin, serve_admin_with, Health};
pub use config::{CommitArgs, CommonArgs, KafkaArgs, LogFormat};
pub use shutdown::Shutdown;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
