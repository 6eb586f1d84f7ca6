//! Friction's wire contracts: the Avro schemas of every topic value (`schemas/avro/*.avsc`), the Rust
//! types that mirror them, and the codec that writes and reads Avro single-object encoding
//! (`C3 01` + the writer schema's CRC-64-AVRO fingerprint + the datum), so any consumer can find the
//! writer schema among the embedded ones without a registry.
//!
//! Schemas only evolve compatibly: `registry::check_compatibility` is run by the tests over every
//! family's consecutive versions.

pub mod apikey;
pub mod codec;
mod direct;
mod direct_ser;
pub mod event;
mod fast;
mod header;
pub mod incident;
mod passthrough;
mod record;
pub mod registry;
pub mod sessionized;
pub mod signal;

pub use apikey::{hash_api_key, ApiKeyRecord, MacCheck};
pub use codec::{
    decode, decode_direct, decode_via_value, embeddable_event_datum, encode, encode_direct,
    encode_sessionized_with_event_datum, encode_to_vec, encode_via_avro, CodecError, Record,
};
pub use event::RawEvent;
pub use incident::{EvidenceSample, IncidentChange};
pub use sessionized::{SessionSummary, Sessionized};
pub use signal::{EpisodeMember, EvidenceRecord, SignalRecord};

/// The JSON Schema of the ingest API (`POST /v1/events` and `POST /v1/logs`), served by the gateway at
/// `GET /v1/schema/events.json`.
pub const INGEST_JSON_SCHEMA: &str = include_str!("../json/events.schema.json");
