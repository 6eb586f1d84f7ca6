//! The log-line path: `friction_rules::normalize_log_message`, the grouping key of a server log
//! line (docs/detection.md "Server errors"). The gateway's log-payload parsing is `ingest_logs`,
//! which runs these checks on every line it accepts.

use super::{outcome, Outcome};

/// What normalisation classifies: the characters of its words, its placeholders, Unicode
/// whitespace and digits.
pub const LOG_DICTIONARY: &[&[u8]] = &[
    b"0x",
    b"0X1F",
    b"@",
    b".",
    b"-",
    b"+",
    b"_",
    b"<n>",
    b"<id>",
    b"<hex>",
    b"<uuid>",
    b"<email>",
    b"jane@example.com",
    b"5f2b9c1e-0000-4000-8000-123456789abc",
    b"deadbeef",
    b"12345",
    b"shard-12.",
    b"  ",
    b"\t",
    b"\n",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b"\xe3\x80\x80",
    b"\xd9\xa3",
    b"\xef\xbc\x91",
    b"\xc3\xa9",
    b"\xcc\x81",
    b"\xc7\x85",
    b"\xe2\x85\xa0",
    b"\xf0\x9f\x98\x80",
    b"\xef\xbf\xbd",
    b"Timeout after 3000ms for order 123",
];

/// A log line as the gateway hands it on (UTF-8: the JSON body was).
pub fn line(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let normalised = normalises(&text);
    // Which placeholders the key holds, and whether the text was whitespace only.
    let mut label = String::from(if normalised.is_empty() { "empty" } else { "text" });
    for placeholder in ["<n>", "<id>", "<hex>", "<uuid>", "<email>"] {
        if normalised.contains(placeholder) {
            label.push_str(placeholder);
        }
    }
    outcome(&label)
}

/// The properties of normalisation over `message`; returns the normalised text.
///
/// - Idempotent: a key normalised again is the same key.
/// - Bounded: at most 3.5 bytes out per byte in (a one-byte number becomes `<n>`, the two bytes
///   `.@` become `<email>`: any word holding `@` and `.` does), so a log line cannot grow into a
///   much larger key.
/// - No leading or trailing whitespace and no two spaces in a row (whitespace is collapsed).
pub fn normalises(message: &str) -> String {
    let once = friction_rules::normalize_log_message(message);
    assert!(2 * once.len() <= 7 * message.len(), "{} bytes normalised into {}: {once:?}", message.len(), once.len());
    assert!(!once.starts_with(char::is_whitespace) && !once.ends_with(char::is_whitespace), "{once:?}");
    assert!(!once.contains("  "), "{once:?}");
    let twice = friction_rules::normalize_log_message(&once);
    assert_eq!(twice, once, "normalising {message:?} again changes it");
    once
}
