//! Log-message normalisation: the variable parts of a server log line (numbers, hex, UUIDs, e-mail
//! addresses, ids) replaced by placeholders, so one message of many requests is one key; and the
//! pattern name a log shipper (friction-logwatch) put in a line's attributes.

use super::token::{is_hexish, is_uuid};

/// Normalises a log message for grouping (docs/detection.md "Server errors"): numbers become `<n>`, hex `<hex>`,
/// UUIDs `<uuid>`, e-mail addresses `<email>`, other tokens mixing letters and digits `<id>`;
/// whitespace is collapsed.
///
/// ```
/// use friction_rules::normalize_log_message;
/// assert_eq!(
///     normalize_log_message("Timeout after 3000ms for order 123 (req 5f2b9c1e-0000-4000-8000-123456789abc)"),
///     normalize_log_message("Timeout after 250ms for order 9 (req 0b2b9c1e-1111-4000-8000-abcdef012345)"),
/// );
/// ```
pub fn normalize_log_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    let mut pending_space = false;
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '+');
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            rest = rest.get(c.len_utf8()..).unwrap_or("");
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if is_word(c) {
            let end = rest.find(|ch: char| !is_word(ch)).unwrap_or(rest.len());
            let word = rest.get(..end).unwrap_or("");
            push_word(word, &mut out);
            rest = rest.get(end..).unwrap_or("");
        } else {
            out.push(c);
            rest = rest.get(c.len_utf8()..).unwrap_or("");
        }
    }
    out
}

/// The pattern name in a log line's attributes (a flat JSON object of strings, as the detector
/// receives them; friction-logwatch sets it, docs/operators.md "Tailing log files"): the value of
/// `"pattern"` when it is a plain name (letters, digits, `_`, `-`, `.`;
/// 1 to 128 bytes), else `None`. Cheap: no JSON parsing, a substring search.
///
/// ```
/// use friction_rules::log_pattern_name;
/// assert_eq!(log_pattern_name(r#"{"pattern":"MISSING_PRICE","product":"999"}"#), Some("MISSING_PRICE"));
/// assert_eq!(log_pattern_name(r#"{"order":"1"}"#), None);
/// ```
pub fn log_pattern_name(attributes: &str) -> Option<&str> {
    const NEEDLE: &str = "\"pattern\":\"";
    let mut from = 0;
    while let Some(found) = attributes.get(from..).and_then(|rest| rest.find(NEEDLE)) {
        let at = from + found;
        from = at + NEEDLE.len();
        // A key starts right after `{` or `,` (whitespace allowed); anything else is inside a value.
        let before = attributes.get(..at).unwrap_or("").trim_end();
        if !(before.ends_with('{') || before.ends_with(',')) {
            continue;
        }
        let value = attributes.get(from..).unwrap_or("");
        let end = value.find('"')?;
        let name = value.get(..end)?;
        let plain = (1..=128).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        return plain.then_some(name);
    }
    None
}

fn push_word(word: &str, out: &mut String) {
    // Keep trailing punctuation (end of sentence) outside the classification.
    let core = word.trim_end_matches(['.', '-', '+']);
    let tail = word.get(core.len()..).unwrap_or("");
    let has_digit = core.bytes().any(|c| c.is_ascii_digit());
    let has_alpha = core.chars().any(char::is_alphabetic);
    let class = if core.is_empty() {
        None
    } else if is_uuid(core) {
        Some("<uuid>")
    } else if core.contains('@') && core.contains('.') {
        Some("<email>")
    } else if (core.starts_with("0x") || core.starts_with("0X")) && core.len() > 2 {
        Some("<hex>")
    } else if has_digit && !has_alpha {
        Some("<n>")
    } else if is_hexish(core, 8) {
        Some("<hex>")
    } else if has_digit {
        Some("<id>")
    } else {
        None
    };
    match class {
        Some(c) => out.push_str(c),
        None => out.push_str(core),
    }
    out.push_str(tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_messages_normalise() {
        assert_eq!(
            normalize_log_message("Order 123 failed: user jane@x.io, id 0xdeadbeef  trace 9f8e7d6c5b4a"),
            "Order <n> failed: user <email>, id <hex> trace <hex>"
        );
        assert_eq!(normalize_log_message("db timeout on shard-12."), "db timeout on <id>.");
        assert_eq!(normalize_log_message("GET /orders/42 -> 502"), normalize_log_message("GET /orders/7 -> 503"));
        assert_ne!(normalize_log_message("disk full"), normalize_log_message("out of memory"));
    }

    #[test]
    fn pattern_names_are_read_from_attributes() {
        assert_eq!(log_pattern_name(r#"{"order":"7","pattern":"MISSING_PRICE"}"#), Some("MISSING_PRICE"));
        assert_eq!(log_pattern_name(r#"{ "pattern":"db.timeout-2"}"#), Some("db.timeout-2"));
        // Inside a value, not a key.
        assert_eq!(log_pattern_name(r#"{"note":"x\"pattern\":\"EVIL"}"#), None);
        assert_eq!(log_pattern_name(r#"{"note":"a \"pattern\":\"B\" c","pattern":"REAL"}"#), Some("REAL"));
        // Not a plain name.
        assert_eq!(log_pattern_name(r#"{"pattern":"two words"}"#), None);
        assert_eq!(log_pattern_name(r#"{"pattern":""}"#), None);
        assert_eq!(log_pattern_name(""), None);
        assert_eq!(log_pattern_name(r#"{"pattern":"unterminated"#), None);
    }
}
