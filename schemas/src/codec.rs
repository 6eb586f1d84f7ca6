//! Encoding and decoding topic values in Avro single-object encoding (spec: "Single object
//! encoding"): `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema
//! (`crate::header`), then the binary datum. Written with the newest schema of the value's family;
//! read from any embedded version of it (`crate::registry`).

use apache_avro::{from_avro_datum, from_value, write_avro_datum_ref};

use crate::header::{header_fingerprint, write_header, HEADER_LEN};
pub use crate::passthrough::{embeddable_event_datum, encode_sessionized_with_event_datum};
pub use crate::record::{CodecError, Record};
use crate::registry::{Registry, SchemaVersion};
use crate::{direct, direct_ser};

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
