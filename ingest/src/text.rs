//! What a string field may hold once it passes the gateway, so that every stage and store behind it
//! (Avro, PostgreSQL `text`, SQLite, ClickHouse `String`) can keep it as sent (docs/architecture.md §3).
//!
//! Two kinds of field:
//! - **identifiers and keys** (`sessionId`, `target.key`, `route`, ...): a control character (C0,
//!   DEL, C1 — `\t`, `\n` and `\r` included) or a length over the limit rejects the event, with a
//!   message naming the field. Such a value names something; silently changing it would merge or
//!   split what it names.
//! - **free text** (`error.message`, `error.stack`, `target.text`, URLs, log messages): control
//!   characters other than `\t`, `\n` and `\r` are replaced by U+FFFD, so the text stays readable
//!   and shows where something was removed; a length over the limit rejects the event.
//!
//! Lone surrogates (`"\ud800"`) never reach these checks: the JSON parser refuses them, and the
//! event is rejected naming the field.

use std::borrow::Cow;

/// Longest identifier (`sessionId`, `userId`, `tabId`, `viewId`, `release`, log `service`), in
/// bytes. Unchanged from before the hardening.
pub const MAX_ID_BYTES: usize = 200;
/// Longest key (`target.key`, `target.selector`, `route`, `input.fieldKey`, `submit.formKey`,
/// `custom.name`, ...), in characters. The browser SDK sends at most 1000 (`route`).
pub const MAX_KEY_CHARS: usize = 2048;
/// Longest free text (`error.message`, `error.stack`, `target.text`, URLs, log messages and
/// attribute values), in characters. An event is at most 64 KiB anyway; the SDK sends at most 2000.
pub const MAX_TEXT_CHARS: usize = 32 * 1024;

/// The character that replaces a control character in free text.
pub const REPLACEMENT: char = '\u{FFFD}';

/// A control character that free text may keep: tab, line feed, carriage return.
fn text_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
}

/// An identifier: non-empty, at most [`MAX_ID_BYTES`] bytes, no control character.
pub fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(format!("{field}: longer than {MAX_ID_BYTES} bytes"));
    }
    check_no_control(field, value)
}

/// A key: at most [`MAX_KEY_CHARS`] characters, no control character. Empty is allowed (as before).
pub fn check_key(field: &str, value: &str) -> Result<(), String> {
    check_chars(field, value, MAX_KEY_CHARS)?;
    check_no_control(field, value)
}

/// [`check_key`] on an optional field.
pub fn check_key_opt(field: &str, value: &Option<Cow<'_, str>>) -> Result<(), String> {
    match value {
        Some(v) => check_key(field, v),
        None => Ok(()),
    }
}

/// Free text: at most [`MAX_TEXT_CHARS`] characters; then its control characters (but `\t`, `\n`,
/// `\r`) are replaced by U+FFFD. Borrowed text stays borrowed when there is nothing to replace.
pub fn clean_text(field: &str, value: &mut Cow<'_, str>) -> Result<(), String> {
    check_chars(field, value, MAX_TEXT_CHARS)?;
    if value.chars().any(|c| c.is_control() && !text_allows(c)) {
        let cleaned: String =
            value.chars().map(|c| if c.is_control() && !text_allows(c) { REPLACEMENT } else { c }).collect();
        *value = Cow::Owned(cleaned);
    }
    Ok(())
}

/// [`clean_text`] on an optional field.
pub fn clean_text_opt(field: &str, value: &mut Option<Cow<'_, str>>) -> Result<(), String> {
    match value {
        Some(v) => clean_text(field, v),
        None => Ok(()),
    }
}

fn check_chars(field: &str, value: &str, max: usize) -> Result<(), String> {
    // Bytes bound characters from above: count only when it can matter.
    if value.len() > max && value.chars().count() > max {
        return Err(format!("{field}: longer than {max} characters"));
    }
    Ok(())
}

fn check_no_control(field: &str, value: &str) -> Result<(), String> {
    match value.char_indices().find(|(_, c)| c.is_control()) {
        Some((at, c)) => Err(format!(
            "{field}: contains the control character U+{:04X} at byte {at}; identifiers and keys may not hold control characters",
            c as u32
        )),
        None => Ok(()),
    }
}

/// Whether a raw JSON text holds a `\u` escape of a surrogate that is not part of a pair (the
/// parser lets such escapes through in values it does not decode, like `metadata`).
pub fn has_lone_surrogate_escape(json: &str) -> bool {
    if !json.contains("\\u") {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(json).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_keys_refuse_every_control_character() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let v = format!("a{c}b");
            let e = check_id("sessionId", &v).expect_err("refused");
            assert!(e.starts_with("sessionId: contains the control character"), "{e}");
            let e = check_key("target.key", &v).expect_err("refused");
            assert!(e.starts_with("target.key: "), "{e}");
        }
        assert!(check_key("target.key", "").is_ok());
        assert!(check_key("route", "/a/é/😀").is_ok());
        assert!(check_id("sessionId", "").is_err());
    }

    #[test]
    fn lengths_are_bounded_with_the_field_named() {
        assert!(check_id("userId", &"a".repeat(MAX_ID_BYTES)).is_ok());
        assert_eq!(
            check_id("userId", &"a".repeat(MAX_ID_BYTES + 1)).expect_err("refused"),
            "userId: longer than 200 bytes"
        );
        // Characters, not bytes: 2048 four-byte characters are a valid key.
        assert!(check_key("route", &"😀".repeat(MAX_KEY_CHARS)).is_ok());
        assert!(check_key("route", &"a".repeat(MAX_KEY_CHARS + 1)).expect_err("refused").starts_with("route: longer"));
        let mut long: Cow<str> = Cow::Owned("a".repeat(MAX_TEXT_CHARS + 1));
        assert!(clean_text("error.message", &mut long).expect_err("refused").starts_with("error.message: longer"));
    }

    #[test]
    fn free_text_keeps_tab_newline_return_and_replaces_other_controls() {
        let mut t: Cow<str> = Cow::Borrowed("line1\n\tline2\r\n");
        clean_text("error.stack", &mut t).expect("ok");
        assert!(matches!(t, Cow::Borrowed(_)));
        let mut t: Cow<str> = Cow::Borrowed("a\u{0}b\u{7f}c\u{85}d\u{1b}[0m");
        clean_text("error.message", &mut t).expect("ok");
        assert_eq!(t, "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}[0m");
    }

    #[test]
    fn lone_surrogate_escapes_are_found() {
        assert!(has_lone_surrogate_escape(r#"{"a":"\ud800"}"#));
        assert!(has_lone_surrogate_escape(r#"{"a":"\udc00x"}"#));
        assert!(!has_lone_surrogate_escape(r#"{"a":"\ud83d\ude00"}"#));
        assert!(!has_lone_surrogate_escape(r#"{"a":"plain"}"#));
    }
}
