//! The building blocks of the hand-written decoders of the records every stage reads per event:
//! `event` v1 and `sessionized` v2, each in its record's module.
//!
//! The schema-walking decoder (`crate::direct`) hands every field to serde by name: a key, a
//! field-name match, an `Option` slot per field and a struct move at the end, ~30 ns a field and
//! ~1.2 µs for a 250-byte sessionized event, as much as the detector's rules and state together.
//! The hand decoders read the fields in schema order straight into the structs. They are used only
//! for the schema version they were written for (see `Record::decode_fast`); any other writer
//! version goes through the schema tree. The decoding tests compare them with the schema tree and
//! with apache-avro on arbitrary, cut and mutated messages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::direct::{DecodeError, Input, Result};
use crate::record::CodecError;

type Str = Cow<'static, str>;

/// Names the field an error happened in, as the schema-walking decoder does.
pub(crate) fn field<T>(name: &'static str, value: Result<T>) -> Result<T> {
    value.map_err(|e| e.in_field(name))
}

pub(crate) fn string(i: &mut Input<'_>) -> Result<Str> {
    Ok(Cow::Owned(i.str()?.to_owned()))
}

/// A `["null", X]` union.
pub(crate) fn optional<'de, T>(
    i: &mut Input<'de>,
    value: impl FnOnce(&mut Input<'de>) -> Result<T>,
) -> Result<Option<T>> {
    match i.union_index(2)? {
        0 => Ok(None),
        _ => value(i).map(Some),
    }
}

pub(crate) fn opt_string(i: &mut Input<'_>) -> Result<Option<Str>> {
    optional(i, string)
}

/// An array of strings, in blocks.
pub(crate) fn strings(i: &mut Input<'_>) -> Result<Vec<Str>> {
    let mut out = Vec::new();
    loop {
        let count = i.block_count("array block count")?;
        if count == 0 {
            return Ok(out);
        }
        for _ in 0..count {
            let index = out.len();
            out.push(string(i).map_err(|e: DecodeError| e.at_index(index))?);
        }
    }
}

/// A map of strings, in blocks (a repeated key keeps its last value).
pub(crate) fn string_map(i: &mut Input<'_>) -> Result<BTreeMap<Str, Str>> {
    let mut out = BTreeMap::new();
    loop {
        let count = i.block_count("map block count")?;
        if count == 0 {
            return Ok(out);
        }
        for _ in 0..count {
            let key = i.str()?;
            let value = string(i).map_err(|e| e.in_field(key))?;
            out.insert(Cow::Owned(key.to_owned()), value);
        }
    }
}

/// Runs `read` over `datum` (bytes after the datum are ignored, as everywhere).
pub(crate) fn decode<T>(datum: &[u8], read: fn(&mut Input<'_>) -> Result<T>) -> Result<T, CodecError> {
    read(&mut Input { data: datum }).map_err(|e| CodecError::Decode(e.to_string()))
}
