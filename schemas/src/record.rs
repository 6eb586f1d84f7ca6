//! What a topic value is to the codec: a [`Record`] of one schema family, and the [`CodecError`]
//! encoding or decoding one can fail with. Every record type implements the trait; the codec is
//! written against it.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A type that is the value of a topic, written with the newest schema of its family.
pub trait Record: Serialize + DeserializeOwned {
    /// The schema family in `schemas/avro/<family>.v<N>.avsc`.
    const FAMILY: &'static str;

    /// Decodes a datum written with `version` of the family by hand, for the records read once per
    /// event (`event` and `sessionized`, whose modules hold their decoders); `None` (the default)
    /// when there is no such decoder for `version`.
    #[doc(hidden)]
    fn decode_fast(_version: u32, _datum: &[u8]) -> Option<Result<Self, CodecError>> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("no embedded schema for family `{0}`")]
    UnknownFamily(&'static str),
    #[error("message of {0} bytes is too short for single-object encoding (needs at least 10)")]
    TooShort(usize),
    #[error("message does not start with the single-object marker C3 01")]
    BadMarker,
    #[error("writer schema with fingerprint {0} is not one of the embedded schemas")]
    UnknownFingerprint(String),
    #[error("writer schema is {found}, expected family {expected}")]
    WrongFamily { found: &'static str, expected: &'static str },
    #[error("avro encoding failed: {0}")]
    Encode(String),
    #[error("avro decoding failed: {0}")]
    Decode(String),
}
