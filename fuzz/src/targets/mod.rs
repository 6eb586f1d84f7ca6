//! The fuzz targets: each a function over arbitrary bytes that must never panic, returning an
//! [`Outcome`] (a hash of how far the input got: which error, which field) that the runner uses to
//! keep inputs reaching something new. Where a property holds, the target asserts it.

pub mod avro;
pub mod ingest;
pub mod log;
pub mod rules;
pub mod session;

use crate::tree::Structure;

/// A label of what an input reached, hashed; see [`outcome`].
pub type Outcome = u64;

/// One fuzz target.
pub struct Target {
    /// The folder of its corpus under `fuzz/corpus/` and the name on the command line.
    pub name: &'static str,
    /// What it calls.
    pub about: &'static str,
    pub run: fn(&[u8]) -> Outcome,
    /// Tokens the mutator inserts: the field names and values the parser looks for.
    pub dictionary: &'static [&'static [u8]],
    /// Longest input the mutator makes.
    pub max_len: usize,
    /// Whether the inputs are JSON or YAML documents, for structure-aware mutations.
    pub structure: Structure,
}

/// Every target, in the order the runner runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ingest_events",
        about: "POST /v1/events body: gzip decoding, validation, Avro round trip of what is accepted, the detector's view of it",
        run: ingest::events,
        dictionary: ingest::JSON_DICTIONARY,
        max_len: 16 * 1024,
        structure: Structure::Json,
    },
    Target {
        name: "ingest_logs",
        about: "POST /v1/logs body: gzip decoding, validation, Avro round trip, log-message normalisation",
        run: ingest::logs,
        dictionary: ingest::JSON_DICTIONARY,
        max_len: 16 * 1024,
        structure: Structure::Json,
    },
    Target {
        name: "avro_event",
        about: "friction.events.v1 values: by hand vs schema tree vs apache-avro; re-encode round trip; sessionizer pass-through",
        run: avro::event,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 2048,
        structure: Structure::Bytes,
    },
    Target {
        name: "avro_sessionized",
        about: "friction.sessionized.v1 values: by hand vs schema tree vs apache-avro, every version; the detector's view",
        run: avro::sessionized,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 2048,
        structure: Structure::Bytes,
    },
    Target {
        name: "avro_apikey",
        about: "friction.apikeys.v1 values, every version; MAC check",
        run: avro::apikey,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 1024,
        structure: Structure::Bytes,
    },
    Target {
        name: "avro_session",
        about: "friction.sessions.v1 values",
        run: avro::session,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 1024,
        structure: Structure::Bytes,
    },
    Target {
        name: "avro_signal",
        about: "friction.signals.v1 values, every version",
        run: avro::signal,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 2048,
        structure: Structure::Bytes,
    },
    Target {
        name: "avro_incident",
        about: "friction.incidents.v1 values (incident changes)",
        run: avro::incident,
        dictionary: avro::AVRO_DICTIONARY,
        max_len: 2048,
        structure: Structure::Bytes,
    },
    Target {
        name: "log_line",
        about: "friction_rules::normalize_log_message: no panic, idempotent, output at most 3.5x the input",
        run: log::line,
        dictionary: log::LOG_DICTIONARY,
        max_len: 4096,
        structure: Structure::Bytes,
    },
    Target {
        name: "rules_file",
        about: "the detector's rules file and the incidents stage's confirmation section (YAML, serde_norway)",
        run: rules::file,
        dictionary: rules::YAML_DICTIONARY,
        max_len: 4096,
        structure: Structure::Yaml,
    },
];

/// The target named `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The [`Outcome`] of a label: digits are left out (so "column 12" and "column 13" are one
/// outcome), and only the first 120 bytes count.
pub fn outcome(label: &str) -> Outcome {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in label.bytes().filter(|b| !b.is_ascii_digit()).take(120) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}
