//! What every Friction binary shares: configuration from flags and environment, logging, the admin
//! server (`/metrics`, `/healthz`, `/readyz`), graceful shutdown, the Kafka client defaults, the
//! embedded broker used by `friction up`, and the topic catalogue (`topics.yaml`).

/// Every binary that links the runtime (each stage, the gateway, `friction`, their tests and the
/// benches) allocates through mimalloc. The stages allocate and free a few short strings per event;
/// under glibc's malloc a tenth of the sessionizer's time went to consolidating and trimming its
/// heap and zeroing the pages it took back (SZ_ONLY=handler and =partition, back to back: +15–20 %
/// and +25–40 % events/s with mimalloc; benches/HISTORY.md, "Commit cadence, pass-through output,
/// mimalloc").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod allocator;
pub mod auth_guard;
pub mod config;
pub mod isolate;
pub mod kafka;
pub mod logging;
pub mod retry;
pub mod serve;
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
