//! `friction-gateway`: the thin HTTP edge of Friction. It authenticates a batch by API key, decodes
//! and validates every event (naming the field at fault), scrubs PII, stamps and enriches it,
//! encodes it as Avro and produces it to `friction.events.v1` — answering 202 only after the broker
//! acknowledged every accepted event. It has no database: keys come from the compacted
//! `friction.apikeys.v1` topic into memory.
//!
//! Limits (all configurable, see [`config::GatewayArgs`]): a request body of at most 1 MiB as sent,
//! 5 MiB after gzip decompression, 64 KiB per event, 1000 events per batch; per-field lengths and
//! characters in [`text`]; connections and timeouts of the listener in `friction_runtime::serve`.

pub mod api;
pub mod config;
pub mod enrich;
pub mod keys;
pub mod payload;
pub mod ratelimit;
pub mod router;
pub mod scrub;
pub mod sdk;
pub mod server;
pub mod sink;
pub mod text;
pub mod validate;

pub use api::GatewayError;
pub use config::GatewayArgs;
pub use keys::KeyStore;
pub use router::{router, GatewayState};
pub use server::{serve, start, GatewayHandle, StartError};
pub use sink::{EventSink, KafkaSink, SinkError};
