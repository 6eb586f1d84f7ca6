//! From a joined record to a log line (docs/operators.md "Tailing log files"): a JSON object
//! (level, message and time from configurable keys, every other field an attribute) or plain text
//! (level and a leading timestamp found by cheap scanning; without one, the time it was read).
//! Pure: the read time is passed in.

use serde_json::{Map, Value};

/// The gateway's log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// A level name as loggers write it (any case): `warning`, `err`, `crit`, `severe`, ... .
    pub fn from_name(name: &str) -> Option<Level> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "trc" | "finest" | "finer" => Level::Trace,
            "debug" | "dbg" | "fine" | "config" => Level::Debug,
            "info" | "inf" | "information" | "notice" => Level::Info,
            "warn" | "warning" | "wrn" => Level::Warn,
            "error" | "err" | "eror" | "severe" => Level::Error,
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" | "ftl" => Level::Fatal,
            _ => return None,
        })
    }

    /// A numeric level: pino/bunyan (10 trace ... 60 fatal) or syslog severities (0 emerg ... 7 debug).
    pub fn from_number(n: f64) -> Option<Level> {
        Some(match n as i64 {
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            7 => Level::Debug,
            10..=19 => Level::Trace,
            20..=29 => Level::Debug,
            30..=39 => Level::Info,
            40..=49 => Level::Warn,
            50..=59 => Level::Error,
            60..=69 => Level::Fatal,
            _ => return None,
        })
    }
}

/// Where JSON lines keep level, message and time (first key present wins).
#[derive(Debug, Clone)]
pub struct JsonKeys {
    pub level: Vec<String>,
    pub message: Vec<String>,
    pub time: Vec<String>,
}

impl Default for JsonKeys {
    fn default() -> Self {
        let v = |s: &[&str]| s.iter().map(|k| k.to_string()).collect();
        JsonKeys {
            level: v(&["level", "severity", "lvl", "log.level"]),
            message: v(&["message", "msg", "log", "text"]),
            time: v(&["timestamp", "time", "ts", "@timestamp", "t"]),
        }
    }
}

/// An attribute's value (the gateway takes strings, numbers and booleans).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
}

/// A record as the gateway takes it (without service and id).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub level: Level,
    pub message: String,
    /// Epoch milliseconds, when the record carried a time.
    pub timestamp_ms: Option<i64>,
    pub attributes: Vec<(String, AttrValue)>,
}

/// Longest attribute value kept from a JSON line (longer ones are cut).
const MAX_ATTR_BYTES: usize = 4096;
/// At most this many attributes are kept from a JSON line.
const MAX_ATTRS: usize = 64;

/// Parses a record: JSON when it is one JSON object, plain text otherwise.
pub fn parse_record(text: &str, keys: &JsonKeys) -> Parsed {
    if text.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
            return parse_json(map, keys, text);
        }
    }
    parse_plain(text)
}

fn parse_json(mut map: Map<String, Value>, keys: &JsonKeys, text: &str) -> Parsed {
    let take = |map: &mut Map<String, Value>, names: &[String]| names.iter().find_map(|k| map.remove(k));
    let level = match take(&mut map, &keys.level) {
        Some(Value::String(s)) => Level::from_name(&s),
        Some(Value::Number(n)) => n.as_f64().and_then(Level::from_number),
        _ => None,
    };
    let message = match take(&mut map, &keys.message) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => text.to_string(),
    };
    let timestamp_ms =
        match take(&mut map, &keys.time) {
            Some(Value::String(s)) => parse_timestamp(&s).map(|(ms, _)| ms),
            // Seconds or milliseconds since the epoch (seconds below 10^11, i.e. before 5138).
            Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| {
                if f < 1e11 {
                    (f * 1000.0) as i64
                } else {
                    f as i64
                }
            }),
            _ => None,
        };
    let mut attributes = Vec::with_capacity(map.len().min(MAX_ATTRS));
    for (k, v) in map.into_iter().take(MAX_ATTRS) {
        if k.is_empty() || k.len() > 256 || k.chars().any(char::is_control) {
            continue;
        }
        let value = match v {
            Value::Null => continue,
            Value::String(s) => AttrValue::Str(clip(s)),
            Value::Number(n) => AttrValue::Num(n),
            Value::Bool(b) => AttrValue::Bool(b),
            other => AttrValue::Str(clip(other.to_string())),
        };
        attributes.push((k, value));
    }
    let level = level.unwrap_or_else(|| detect_level(&message));
    Parsed { level, message, timestamp_ms, attributes }
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_ATTR_BYTES {
        let mut cut = MAX_ATTR_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn parse_plain(text: &str) -> Parsed {
    let first = text.lines().next().unwrap_or("");
    let trimmed = first.trim_start_matches(['[', ' ']);
    let timestamp_ms = parse_timestamp(trimmed).map(|(ms, _)| ms);
    Parsed { level: detect_level(text), message: text.to_string(), timestamp_ms, attributes: Vec::new() }
}

/// The level named near the start of the first line: an upper-case level word (`ERROR`, `[WARN]`,
/// `E/`, ...) or `level=...`; else `error` for a stack trace or panic; else `info`.
pub fn detect_level(text: &str) -> Level {
    let first = text.lines().next().unwrap_or("");
    let head = first.get(..first.len().min(160)).unwrap_or(first);
    for key in ["level=", "lvl=", "severity="] {
        if let Some(at) = head.find(key) {
            let rest = head.get(at + key.len()..).unwrap_or("").trim_start_matches('"');
            let word: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            if let Some(level) = Level::from_name(&word) {
                return level;
            }
        }
    }
    for word in head.split(|c: char| !c.is_ascii_alphabetic()) {
        if word.len() >= 3 && word.bytes().all(|b| b.is_ascii_uppercase()) {
            if let Some(level) = Level::from_name(word) {
                return level;
            }
        }
    }
    if first.starts_with("Traceback (most recent call last):")
        || (first.starts_with("thread '") && first.contains("' panicked at "))
        || text.contains("\n\tat ")
        || text.contains("\n    at ")
        || first.starts_with("Error: ")
        || first.starts_with("Exception in thread ")
    {
        return Level::Error;
    }
    Level::Info
}

/// A timestamp at the start of `s`: `YYYY-MM-DD[T ]HH:MM:SS`, optional fraction (`.` or `,`),
/// optional `Z` or `±HH[:]MM` (none: UTC). Returns epoch milliseconds and the bytes used.
pub fn parse_timestamp(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, options: &[u8]| b.get(at).is_some_and(|c| options.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"T ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b".,") {
        at += 1;
        let mut digits = 0;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            if digits < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
            digits += 1;
            at += 1;
        }
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let mut offset_minutes = 0i64;
    if sep(at, b"Z") {
        at += 1;
    } else if sep(at, b"+-") {
        let sign = if b.get(at) == Some(&b'-') { -1 } else { 1 };
        let hh = num(at + 1, 2)?;
        let (mm, used) = if sep(at + 3, b":") { (num(at + 4, 2)?, 6) } else { (num(at + 3, 2).unwrap_or(0), 5) };
        offset_minutes = sign * (hh * 60 + mm);
        at += used;
    }
    let days = days_from_civil(year, month, day);
    let ms = ((days * 86_400 + hour * 3600 + minute * 60 + second) - offset_minutes * 60) * 1000 + millis;
    Some((ms, at))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp("2024-01-15T10:00:00Z rest"), Some((1_705_312_800_000, 20)));
        assert_eq!(parse_timestamp("2024-01-15 10:00:00,123 INFO").map(|t| t.0), Some(1_705_312_800_123));
        assert_eq!(parse_timestamp("2024-01-15T11:00:00.5+01:00").map(|t| t.0), Some(1_705_312_800_500));
        assert_eq!(parse_timestamp("2024-01-15T05:00:00-0500").map(|t| t.0), Some(1_705_312_800_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").map(|t| t.0), Some(0));
        for bad in ["", "2024-13-01T00:00:00", "2024-01-15X10:00:00", "24-01-15 10:00:00", "2024-01-15T10:00:00.Z"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn plain_text_levels_and_times() {
        let p = parse_record("2024-01-15 10:00:00 ERROR MISSING_PRICE product=999", &JsonKeys::default());
        assert_eq!((p.level, p.timestamp_ms), (Level::Error, Some(1_705_312_800_000)));
        assert_eq!(p.message, "2024-01-15 10:00:00 ERROR MISSING_PRICE product=999");
        assert_eq!(detect_level("[WARN] disk at 91%"), Level::Warn);
        assert_eq!(detect_level("ts=1 level=error msg=x"), Level::Error);
        assert_eq!(detect_level("an error occurred while informing"), Level::Info);
        assert_eq!(detect_level("Traceback (most recent call last):\n  File x"), Level::Error);
        assert_eq!(detect_level("thread 'main' panicked at src/a.rs:1:1:\nboom"), Level::Error);
        assert_eq!(detect_level("CRITICAL:root:down"), Level::Fatal);
        assert_eq!(parse_record("no time here", &JsonKeys::default()).timestamp_ms, None);
    }

    #[test]
    fn json_lines_use_their_keys_and_keep_the_rest() {
        let p = parse_record(
            r#"{"level":"warning","msg":"slow","time":"2024-01-15T10:00:00Z","order":17,"ok":true,"user":"u1","ctx":{"a":1},"n":null}"#,
            &JsonKeys::default(),
        );
        assert_eq!((p.level, p.message.as_str(), p.timestamp_ms), (Level::Warn, "slow", Some(1_705_312_800_000)));
        assert!(p.attributes.contains(&("order".into(), AttrValue::Num(17.into()))));
        assert!(p.attributes.contains(&("ok".into(), AttrValue::Bool(true))));
        assert!(p.attributes.contains(&("user".into(), AttrValue::Str("u1".into()))));
        assert!(p.attributes.contains(&("ctx".into(), AttrValue::Str(r#"{"a":1}"#.into()))));
        assert_eq!(p.attributes.len(), 4);
        let pino = parse_record(r#"{"level":50,"time":1705312800000,"msg":"x"}"#, &JsonKeys::default());
        assert_eq!((pino.level, pino.timestamp_ms), (Level::Error, Some(1_705_312_800_000)));
        let custom = JsonKeys { level: vec!["sev".into()], message: vec!["body".into()], time: vec!["at".into()] };
        let c = parse_record(r#"{"sev":"E","body":"b","at":1705312800}"#, &custom);
        assert_eq!((c.level, c.message.as_str(), c.timestamp_ms), (Level::Info, "b", Some(1_705_312_800_000)));
        // Not an object, or broken: plain text.
        assert_eq!(parse_record("{not json", &JsonKeys::default()).message, "{not json");
    }
}
