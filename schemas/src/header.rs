//! The single-object header (Avro spec, "Single object encoding"): the marker `C3 01`, then the
//! 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema. The datum follows it.

use crate::record::{CodecError, Record};
use crate::registry::{Registry, SchemaVersion};

const MARKER: [u8; 2] = [0xC3, 0x01];
/// Marker and fingerprint: where the datum starts.
pub(crate) const HEADER_LEN: usize = 10;

/// Appends the single-object header (marker, newest schema's fingerprint) of `T`'s family to
/// `out` and returns that schema version.
pub(crate) fn write_header<T: Record>(out: &mut Vec<u8>) -> Result<&'static SchemaVersion, CodecError> {
    let latest = Registry::get().latest(T::FAMILY).ok_or(CodecError::UnknownFamily(T::FAMILY))?;
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&latest.fingerprint);
    Ok(latest)
}

/// The writer schema's fingerprint from a single-object header.
pub(crate) fn header_fingerprint(bytes: &[u8]) -> Result<[u8; 8], CodecError> {
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
