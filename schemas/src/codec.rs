//! Avro single-object encoding (spec: "Single object encoding"): `C3 01`, the 8-byte little-endian
//! CRC-64-AVRO fingerprint of the writer schema, then the binary datum.

use apache_avro::{from_avro_datum, from_value, write_avro_datum_ref};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::registry::{Registry, SchemaVersion};
use crate::{direct, direct_ser};

const MARKER: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// A type that is the value of a topic, written with the newest schema of its family.
pub trait Record: Serialize + DeserializeOwned {
    /// The schema family in `schemas/avro/<family>.v<N>.avsc`.
    const FAMILY: &'static str;

    /// Decodes a datum written with `version` of the family by hand, for the records read once per
    /// event (`crate::fast`); `None` (the default) when there is no such decoder for `version`.
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

/// Appends the single-object header (marker, newest schema's fingerprint) of `T`'s family to
/// `out` and returns that schema version.
fn write_header<T: Record>(out: &mut Vec<u8>) -> Result<&'static SchemaVersion, CodecError> {
    let latest = Registry::get().latest(T::FAMILY).ok_or(CodecError::UnknownFamily(T::FAMILY))?;
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&latest.fingerprint);
    Ok(latest)
}

/// Appends the single-object encoding of `value` to `out`.
///
/// Written straight from the value against the compiled schema (`crate::direct_ser`) when the
/// value's shape allows, else (or if that fails part-way) from the start with apache-avro's
/// serializer: the bytes are the same either way.
pub fn encode<T: Record>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let latest = write_header::<T>(out)?;
    let start = out.len();
    if let Some(tree) = &latest.direct {
        if direct_ser::to_datum(tree, value, out).is_ok() {
            return Ok(());
        }
        out.truncate(start);
    }
    write_avro_datum_ref(&latest.schema, value, out).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(())
}

/// [`encode`] through apache-avro's serializer only (the encoder before `direct_ser`). For the
/// tests that compare the two and for benches.
#[doc(hidden)]
pub fn encode_via_avro<T: Record>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let latest = write_header::<T>(out)?;
    write_avro_datum_ref(&latest.schema, value, out).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(())
}

/// [`encode`]'s direct path only: an error where it would fall back. For tests and benches.
#[doc(hidden)]
pub fn encode_direct<T: Record>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let latest = Registry::get().latest(T::FAMILY).ok_or(CodecError::UnknownFamily(T::FAMILY))?;
    let tree = latest.direct.as_ref().ok_or(CodecError::Encode(format!("{} is not encoded directly", T::FAMILY)))?;
    write_header::<T>(out)?;
    direct_ser::to_datum(tree, value, out).map_err(|e| CodecError::Encode(e.to_string()))
}

pub fn encode_to_vec<T: Record>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    encode(value, &mut out)?;
    Ok(out)
}

/// Decodes a single-object message written with any embedded version of `T`'s family, resolving it
/// to the newest version.
///
/// A message written with the newest version (the common case) is decoded straight from the Avro
/// datum into `T` (`crate::direct`); an older one is read into an `apache_avro` `Value` resolved to
/// the newest schema (defaults for the fields it lacks) and converted with `from_value`. Bytes after
/// the datum are ignored, as apache-avro's reader does.
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, CodecError> {
    let (writer, reader) = versions::<T>(bytes)?;
    if reader.version == writer.version {
        if let Some(decoded) = T::decode_fast(writer.version, &bytes[HEADER_LEN..]) {
            return decoded;
        }
        if let Some(tree) = &writer.direct {
            return direct::from_datum(tree, &bytes[HEADER_LEN..]).map_err(|e| CodecError::Decode(e.to_string()));
        }
    }
    via_value(writer, reader, bytes)
}

/// [`decode`] the way it worked before the direct decoder: always through apache-avro's `Value`
/// tree and `from_value`. Kept for the tests that compare the two and for the codec bench.
#[doc(hidden)]
pub fn decode_via_value<T: Record>(bytes: &[u8]) -> Result<T, CodecError> {
    let (writer, reader) = versions::<T>(bytes)?;
    via_value(writer, reader, bytes)
}

/// [`decode`]'s direct path only: fails unless the message was written with the newest version
/// and that version decodes directly. For tests and benches.
#[doc(hidden)]
pub fn decode_direct<T: Record>(bytes: &[u8]) -> Result<T, CodecError> {
    let (writer, reader) = versions::<T>(bytes)?;
    match &writer.direct {
        Some(tree) if reader.version == writer.version => {
            direct::from_datum(tree, &bytes[HEADER_LEN..]).map_err(|e| CodecError::Decode(e.to_string()))
        }
        _ => Err(CodecError::Decode(format!(
            "{} v{} is not decoded directly (newest is v{})",
            writer.family, writer.version, reader.version
        ))),
    }
}

/// Checks the header; returns the writer's and the newest version of `T`'s family.
fn versions<T: Record>(bytes: &[u8]) -> Result<(&'static SchemaVersion, &'static SchemaVersion), CodecError> {
    let fingerprint = header_fingerprint(bytes)?;
    let registry = Registry::get();
    let writer = registry
        .by_fingerprint(&fingerprint)
        .ok_or_else(|| CodecError::UnknownFingerprint(hex::encode(fingerprint)))?;
    if writer.family != T::FAMILY {
        return Err(CodecError::WrongFamily { found: writer.family, expected: T::FAMILY });
    }
    let reader = registry.latest(T::FAMILY).ok_or(CodecError::UnknownFamily(T::FAMILY))?;
    Ok((writer, reader))
}

/// The writer schema's fingerprint from a single-object header.
fn header_fingerprint(bytes: &[u8]) -> Result<[u8; 8], CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::TooShort(bytes.len()));
    }
    if bytes[..2] != MARKER {
        return Err(CodecError::BadMarker);
    }
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(fingerprint)
}

fn via_value<T: Record>(writer: &SchemaVersion, reader: &SchemaVersion, bytes: &[u8]) -> Result<T, CodecError> {
    let value = if reader.version == writer.version {
        // The writer's schema with its names resolved once per process (resolving them per message
        // was ~40 % of decoding).
        let mut message = bytes;
        writer.reader.read_value(&mut message).map_err(|e| CodecError::Decode(e.to_string()))?
    } else {
        // An older writer: resolve to the newest version (defaults for the fields it lacks).
        let mut datum = &bytes[HEADER_LEN..];
        from_avro_datum(&writer.schema, &mut datum, Some(&reader.schema))
            .map_err(|e| CodecError::Decode(e.to_string()))?
    };
    from_value::<T>(&value).map_err(|e| CodecError::Decode(e.to_string()))
}

/// The fingerprint of the `event` version the newest `sessionized` schema embeds as its first
/// field, when its other fields are exactly `sessionKey: string, seq: long, viewId: string,
/// viewIndex: int, late: boolean, sessionStart: long` ([`encode_sessionized_with_event_datum`]
/// writes those itself). `None` when the schemas differ from that shape: the pass-through is then
/// off and every output is encoded in full.
fn embedded_event_fingerprint() -> Option<[u8; 8]> {
    static EMBEDDED: std::sync::LazyLock<Option<[u8; 8]>> = std::sync::LazyLock::new(|| {
        use apache_avro::Schema;
        let registry = Registry::get();
        let sessionized = registry.latest(crate::Sessionized::FAMILY)?;
        let Schema::Record(record) = &sessionized.schema else { return None };
        type IsType = fn(&Schema) -> bool;
        let expected: [(&str, IsType); 6] = [
            ("sessionKey", |s| matches!(s, Schema::String)),
            ("seq", |s| matches!(s, Schema::Long)),
            ("viewId", |s| matches!(s, Schema::String)),
            ("viewIndex", |s| matches!(s, Schema::Int)),
            ("late", |s| matches!(s, Schema::Boolean)),
            ("sessionStart", |s| matches!(s, Schema::Long)),
        ];
        let (first, rest) = record.fields.split_first()?;
        if first.name != "event" || rest.len() != expected.len() {
            return None;
        }
        if !rest.iter().zip(expected).all(|(f, (name, is))| f.name == name && is(&f.schema)) {
            return None;
        }
        let embedded = crate::registry::fingerprint_of(&first.schema);
        // Only a version this process knows (and could have decoded) is passed through.
        registry.by_fingerprint(&embedded).filter(|v| v.family == crate::RawEvent::FAMILY).map(|v| v.fingerprint)
    });
    *EMBEDDED
}

/// The Avro datum of a single-object `event` message when it can stand as the `event` field of a
/// `sessionized` record unchanged: the message was written with exactly the `event` version the
/// newest `sessionized` schema embeds. The sessionizer copies these bytes into its output instead
/// of re-encoding the event it decoded (DESIGN: the output's `event` is the input, unchanged).
pub fn embeddable_event_datum(message: &[u8]) -> Option<&[u8]> {
    let embedded = embedded_event_fingerprint()?;
    (header_fingerprint(message).ok()? == embedded).then(|| &message[HEADER_LEN..])
}

/// Appends the single-object encoding of `record` with `event_datum` as its `event` field: the
/// bytes [`encode`] writes when `event_datum` is the datum of `record.event` and came from
/// [`embeddable_event_datum`] (which checked that the schemas allow it), without re-encoding the
/// event.
pub fn encode_sessionized_with_event_datum(
    record: &crate::Sessionized<'_>,
    event_datum: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    write_header::<crate::Sessionized<'_>>(out)?;
    out.extend_from_slice(event_datum);
    sessionized_fields_after_event(record, out).map_err(|e| {
        out.truncate(start);
        CodecError::Encode(e.to_string())
    })
}

/// The fields of `sessionized` after `event`, in the order [`embedded_event_fingerprint`] checked.
fn sessionized_fields_after_event(
    record: &crate::Sessionized<'_>,
    out: &mut Vec<u8>,
) -> Result<(), direct_ser::EncodeError> {
    direct_ser::string(out, &record.session_key)?;
    direct_ser::long(out, record.seq);
    direct_ser::string(out, &record.view_id)?;
    direct_ser::long(out, i64::from(record.view_index));
    out.push(u8::from(record.late));
    direct_ser::long(out, record.session_start);
    Ok(())
}
