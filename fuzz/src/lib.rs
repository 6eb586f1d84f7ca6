//! `friction-fuzz`: fuzz targets over every parser that reads input Friction does not control
//! (docs/operators.md "Fuzzing"), and a small mutation fuzzer that drives them on stable Rust.
//!
//! A target ([`targets::Target`]) is a function over arbitrary bytes that must never panic; where a
//! property holds it asserts it (two decoders agree, encode→decode round-trips, normalisation is
//! idempotent), so a broken property is a panic too. The targets:
//! - `ingest_events`, `ingest_logs`: the gateway's body decoding (gzip included) and validation, the
//!   functions its router calls for `POST /v1/events` and `POST /v1/logs`;
//! - `avro_<family>`: both Avro decoders (by hand / schema tree, and apache-avro's) on every record
//!   type the stages read;
//! - `log_line`: `friction_rules::normalize_log_message`;
//! - `rules_file`: the detector's rules file and the incidents stage's `confirmation:` section.
//!
//! The runner ([`run`]) replays the corpus kept in the repository (`fuzz/corpus/<target>/`), then
//! mutates it ([`mutate`]) for a bounded time, keeping inputs that reach an outcome not seen
//! before; a panicking input is saved next to the corpus and printed.

pub mod corpus;
pub mod mutate;
pub mod rng;
pub mod run;
pub mod seeds;
pub mod targets;
pub mod tree;

pub use targets::{Outcome, Target, TARGETS};
