//! The sessionizer's shortcut: its output's `event` field is its input event unchanged, so when the
//! input was written with exactly the `event` schema the `sessionized` schema embeds, the input's
//! datum is copied into the output instead of the decoded event being encoded again. The bytes are
//! the ones `codec::encode` writes; the tests compare the two.

use apache_avro::Schema;

use crate::direct_ser;
use crate::event::RawEvent;
use crate::header::{header_fingerprint, write_header, HEADER_LEN};
use crate::record::{CodecError, Record};
use crate::registry::{fingerprint_of, Registry};
use crate::sessionized::Sessionized;

/// The fingerprint of the `event` version the newest `sessionized` schema embeds as its first
/// field, when its other fields are exactly `sessionKey: string, seq: long, viewId: string,
/// viewIndex: int, late: boolean, sessionStart: long, reordered: boolean`
/// ([`encode_sessionized_with_event_datum`] writes those itself). `None` when the schemas differ from that shape: the pass-through is then
/// off and every output is encoded in full.
fn embedded_event_fingerprint() -> Option<[u8; 8]> {
    static EMBEDDED: std::sync::LazyLock<Option<[u8; 8]>> = std::sync::LazyLock::new(|| {
        let registry = Registry::get();
        let sessionized = registry.latest(Sessionized::FAMILY)?;
        let Schema::Record(record) = &sessionized.schema else { return None };
        type IsType = fn(&Schema) -> bool;
        let expected: [(&str, IsType); 7] = [
            ("sessionKey", |s| matches!(s, Schema::String)),
            ("seq", |s| matches!(s, Schema::Long)),
            ("viewId", |s| matches!(s, Schema::String)),
            ("viewIndex", |s| matches!(s, Schema::Int)),
            ("late", |s| matches!(s, Schema::Boolean)),
            ("sessionStart", |s| matches!(s, Schema::Long)),
            ("reordered", |s| matches!(s, Schema::Boolean)),
        ];
        let (first, rest) = record.fields.split_first()?;
        if first.name != "event" || rest.len() != expected.len() {
            return None;
        }
        if !rest.iter().zip(expected).all(|(f, (name, is))| f.name == name && is(&f.schema)) {
            return None;
        }
        let embedded = fingerprint_of(&first.schema);
        // Only a version this process knows (and could have decoded) is passed through.
        registry.by_fingerprint(&embedded).filter(|v| v.family == RawEvent::FAMILY).map(|v| v.fingerprint)
    });
    *EMBEDDED
}

/// The Avro datum of a single-object `event` message when it can stand as the `event` field of a
/// `sessionized` record unchanged: the message was written with exactly the `event` version the
/// newest `sessionized` schema embeds. The sessionizer copies these bytes into its output instead
/// of re-encoding the event it decoded (docs/architecture.md §4 "Sessionizer": the output's `event` is the input, unchanged).
pub fn embeddable_event_datum(message: &[u8]) -> Option<&[u8]> {
    let embedded = embedded_event_fingerprint()?;
    (header_fingerprint(message).ok()? == embedded).then(|| &message[HEADER_LEN..])
}

/// Appends the single-object encoding of `record` with `event_datum` as its `event` field: the
/// bytes `codec::encode` writes when `event_datum` is the datum of `record.event` and came from
/// [`embeddable_event_datum`] (which checked that the schemas allow it), without re-encoding the
/// event.
pub fn encode_sessionized_with_event_datum(
    record: &Sessionized<'_>,
    event_datum: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    write_header::<Sessionized<'_>>(out)?;
    out.extend_from_slice(event_datum);
    sessionized_fields_after_event(record, out).map_err(|e| {
        out.truncate(start);
        CodecError::Encode(e.to_string())
    })
}

/// The fields of `sessionized` after `event`, in the order [`embedded_event_fingerprint`] checked.
fn sessionized_fields_after_event(record: &Sessionized<'_>, out: &mut Vec<u8>) -> Result<(), direct_ser::EncodeError> {
    direct_ser::string(out, &record.session_key)?;
    direct_ser::long(out, record.seq);
    direct_ser::string(out, &record.view_id)?;
    direct_ser::long(out, i64::from(record.view_index));
    out.push(u8::from(record.late));
    direct_ser::long(out, record.session_start);
    out.push(u8::from(record.reordered));
    Ok(())
}
