//! A joined record made ready for the gateway: parsed, named by the pattern rules, given its event
//! id and serialised as one element of a `POST /v1/logs` batch (docs/architecture.md §3 "Ingest
//! API"). Pure: the read time is passed in.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::identity::{event_id, FileId};
use crate::multiline::Joined;
use crate::parse::{parse_record, AttrValue, JsonKeys};
use crate::patterns::{Patterns, PATTERN_ATTRIBUTE};

/// The gateway refuses a line whose JSON is over 64 KiB; a serialised line is kept under this by
/// shortening its message (JSON escapes can make text several times longer).
pub const MAX_LINE_JSON_BYTES: usize = 60 * 1024;

/// One record on its way to the gateway, and what acknowledging it moves in the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The serialised log line; `None` for a record with nothing to send (blank lines), which is
    /// acknowledged with the batch it travels in, so the offset still moves past it.
    pub json: Option<Vec<u8>>,
    pub file: FileId,
    pub generation: u32,
    /// The offset just past the record.
    pub end: u64,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "eventId")]
    event_id: &'a str,
    service: &'a str,
    level: &'static str,
    message: &'a str,
    timestamp: i64,
    attributes: &'a BTreeMap<String, AttrValue>,
}

/// What [`build`] needs besides the record.
pub struct Source<'a> {
    pub service: &'a str,
    pub path: &'a str,
    pub file: FileId,
    pub generation: u32,
}

/// Builds the gateway's log line for `record`, read at `read_ms` (its time when it carries none).
pub fn build(source: &Source<'_>, record: &Joined, read_ms: i64, keys: &JsonKeys, patterns: &Patterns) -> Outgoing {
    let mut out = Outgoing { json: None, file: source.file, generation: source.generation, end: record.end };
    if record.text.trim().is_empty() {
        return out;
    }
    let parsed = parse_record(&record.text, keys);
    let mut attributes: BTreeMap<String, AttrValue> = parsed.attributes.into_iter().collect();
    let mut level = parsed.level;
    if let Some(m) = patterns.apply(source.service, &parsed.message) {
        level = m.level.unwrap_or(level);
        for (k, v) in m.captures {
            attributes.insert(k, AttrValue::Str(v));
        }
        attributes.insert(PATTERN_ATTRIBUTE.into(), AttrValue::Str(m.name));
    }
    attributes.insert("file".into(), AttrValue::Str(source.path.to_string()));
    if record.truncated {
        attributes.insert("truncated".into(), AttrValue::Bool(true));
    }
    let id = event_id(&source.file, source.generation, record.start);
    let mut message: &str = &parsed.message;
    loop {
        let wire = Wire {
            event_id: &id,
            service: source.service,
            level: level.as_str(),
            message,
            timestamp: parsed.timestamp_ms.unwrap_or(read_ms),
            attributes: &attributes,
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        if json.len() <= MAX_LINE_JSON_BYTES || message.is_empty() {
            out.json = Some(json);
            return out;
        }
        let mut cut = message.len() / 2;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message = message.get(..cut).unwrap_or("");
        attributes.insert("truncated".into(), AttrValue::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn source() -> Source<'static> {
        Source {
            service: "pos",
            path: "/var/log/pos/app.log",
            file: FileId { dev: 1, ino: 2, fingerprint: 3 },
            generation: 0,
        }
    }

    fn joined(text: &str) -> Joined {
        Joined { text: text.into(), start: 100, end: 100 + text.len() as u64 + 1, lines: 1, truncated: false }
    }

    #[test]
    fn a_record_becomes_a_gateway_log_line_with_its_pattern() {
        let patterns = Patterns::parse(
            "patterns:\n  - name: MISSING_PRICE\n    regex: 'MISSING_PRICE product=(?P<product>\\d+)'\n    level: fatal\n",
        )
        .expect("rules");
        let rec = joined("2024-01-15T10:00:00Z WARN MISSING_PRICE product=999");
        let out = build(&source(), &rec, 5, &JsonKeys::default(), &patterns);
        assert_eq!(out.end, rec.end);
        let v: Value = serde_json::from_slice(out.json.as_deref().expect("json")).expect("valid");
        assert_eq!(v["level"], "fatal");
        assert_eq!(v["timestamp"], 1_705_312_800_000i64);
        assert_eq!(v["attributes"]["pattern"], "MISSING_PRICE");
        assert_eq!(v["attributes"]["product"], "999");
        assert_eq!(v["attributes"]["file"], "/var/log/pos/app.log");
        assert_eq!(v["eventId"], event_id(&source().file, 0, 100));
        let plain = build(&source(), &joined("hello"), 5, &JsonKeys::default(), &Patterns::default());
        let v: Value = serde_json::from_slice(plain.json.as_deref().expect("json")).expect("valid");
        assert_eq!((v["level"].as_str(), v["timestamp"].as_i64()), (Some("info"), Some(5)));
    }

    #[test]
    fn blank_records_carry_no_line_and_huge_ones_are_shortened() {
        assert_eq!(build(&source(), &joined("  "), 5, &JsonKeys::default(), &Patterns::default()).json, None);
        let control = "\u{1}".repeat(30_000); // six bytes each as JSON
        let out = build(&source(), &joined(&control), 5, &JsonKeys::default(), &Patterns::default());
        let json = out.json.expect("json");
        assert!(json.len() <= MAX_LINE_JSON_BYTES);
        let v: Value = serde_json::from_slice(&json).expect("valid");
        assert_eq!(v["attributes"]["truncated"], true);
    }
}
