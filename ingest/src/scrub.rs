//! PII scrubbing, the gateway's second line after the SDK: email addresses, payment card numbers
//! (Luhn-valid runs of 13–19 digits) and secrets in query strings are replaced before an event is
//! produced. Strings without any of them are returned borrowed, so the common case costs a scan.

use std::borrow::Cow;

pub const EMAIL: &str = "[email]";
pub const CARD: &str = "[card]";
pub const REDACTED: &str = "[redacted]";

/// Scrubs one string.
pub fn scrub(input: &str) -> Cow<'_, str> {
    let bytes = input.as_bytes();
    let has_at = bytes.contains(&b'@');
    let has_eq = bytes.contains(&b'=');
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    if !has_at && !has_eq && digits < 13 {
        return Cow::Borrowed(input);
    }
    let mut current = Cow::Borrowed(input);
    if has_eq {
        if let Some(s) = scrub_query_secrets(&current) {
            current = Cow::Owned(s);
        }
    }
    if has_at {
        if let Some(s) = scrub_emails(&current) {
            current = Cow::Owned(s);
        }
    }
    if digits >= 13 {
        if let Some(s) = scrub_cards(&current) {
            current = Cow::Owned(s);
        }
    }
    current
}

/// Scrubs a `Cow` in place, keeping it borrowed when nothing changed.
pub fn scrub_cow<'a>(value: &mut Cow<'a, str>) {
    if let Cow::Owned(s) = scrub(value) {
        *value = Cow::Owned(s);
    }
}

pub fn scrub_opt(value: &mut Option<Cow<'_, str>>) {
    if let Some(v) = value.as_mut() {
        scrub_cow(v);
    }
}

/// Scrubs a JSON text (an event's `metadata`) so that it stays JSON: scrubbing the text itself
/// would turn a card number written as a JSON number into `[card]`, or drop the backslash of an
/// escaped quote along with a query-string secret. When the text holds nothing to scrub (the common
/// case) it stays borrowed; otherwise every string (keys included) and number is scrubbed in the
/// parsed document, a number that changes becoming a string, and the document written back. A text
/// that does not parse as JSON becomes `{}`.
pub fn scrub_json(value: &mut Cow<'_, str>) {
    if matches!(scrub(value), Cow::Borrowed(_)) {
        return;
    }
    let scrubbed = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(mut doc) => {
            scrub_json_value(&mut doc);
            doc.to_string()
        }
        Err(_) => "{}".to_string(),
    };
    *value = Cow::Owned(scrubbed);
}

fn scrub_json_value(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = scrub(s) {
                *s = clean;
            }
        }
        Value::Number(n) => {
            let text = n.to_string();
            if let Cow::Owned(clean) = scrub(&text) {
                *value = Value::String(clean);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json_value),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                scrub_json_value(&mut v);
                map.insert(scrub(&k).into_owned(), v);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn scrub_emails(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `s` already copied to `out`
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && is_local_char(b[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < b.len() && is_domain_char(b[end]) {
            end += 1;
        }
        // Trim a trailing dot or dash (end of sentence), then require a dot and a 2+ letter TLD.
        while end > i + 1 && (b[end - 1] == b'.' || b[end - 1] == b'-') {
            end -= 1;
        }
        let domain = &s[i + 1..end];
        let valid = start < i
            && start >= copied
            && domain.rsplit_once('.').is_some_and(|(host, tld)| {
                !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
            });
        if valid {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[copied..start]);
            o.push_str(EMAIL);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.map(|mut o| {
        o.push_str(&s[copied..]);
        o
    })
}

fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn scrub_cards(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let mut digits: Vec<u8> = Vec::new();
    while i < b.len() {
        // A run starts at a digit not preceded by a digit or letter.
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        digits.clear();
        let mut j = i;
        let mut last_digit_end = i;
        while j < b.len() && digits.len() <= 19 {
            if b[j].is_ascii_digit() {
                digits.push(b[j] - b'0');
                j += 1;
                last_digit_end = j;
            } else if (b[j] == b' ' || b[j] == b'-') && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let end = last_digit_end;
        let followed_by_alnum = end < b.len() && b[end].is_ascii_alphanumeric();
        if (13..=19).contains(&digits.len()) && !followed_by_alnum && luhn_valid(&digits) {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[copied..i]);
            o.push_str(CARD);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.map(|mut o| {
        o.push_str(&s[copied..]);
        o
    })
}

fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const CONTAINS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "api_key",
        "apikey",
        "api-key",
        "auth",
        "session",
        "signature",
        "jwt",
        "credential",
    ];
    const EXACT: &[&str] = &["key", "sig", "code", "sid", "pass"];
    EXACT.contains(&n.as_str()) || CONTAINS.iter().any(|c| n.contains(c))
}

/// Replaces the values of secret-looking parameters in `?a=b&c=d` query strings (and fragments).
fn scrub_query_secrets(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'?' | b'&' | b'#' | b';') {
            i += 1;
            continue;
        }
        let name_start = i + 1;
        let mut eq = name_start;
        while eq < b.len() && !matches!(b[eq], b'=' | b'&' | b'#' | b'?' | b' ' | b'"' | b'\'') {
            eq += 1;
        }
        if eq >= b.len() || b[eq] != b'=' || eq == name_start {
            i += 1;
            continue;
        }
        let value_start = eq + 1;
        let mut value_end = value_start;
        while value_end < b.len() && !matches!(b[value_end], b'&' | b'#' | b' ' | b'"' | b'\'' | b'\n') {
            value_end += 1;
        }
        if value_end > value_start && is_secret_param(&s[name_start..eq]) && &s[value_start..value_end] != REDACTED {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[copied..value_start]);
            o.push_str(REDACTED);
            copied = value_end;
        }
        i = value_end.max(i + 1);
    }
    out.map(|mut o| {
        o.push_str(&s[copied..]);
        o
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clean_strings_stay_borrowed() {
        assert!(matches!(scrub("/checkout/step-2"), Cow::Borrowed(_)));
        assert!(matches!(scrub("order 12345 shipped"), Cow::Borrowed(_)));
    }

    #[test]
    fn emails_are_replaced() {
        assert_eq!(scrub("contact jane.doe+x@example.co.uk now."), "contact [email] now.");
        assert_eq!(scrub("a@b.io,c@d.org"), "[email],[email]");
        assert_eq!(scrub("@handle and user@localhost"), "@handle and user@localhost");
    }

    #[test]
    fn card_numbers_are_replaced_only_when_luhn_valid() {
        assert_eq!(scrub("card 4111 1111 1111 1111 ok"), "card [card] ok");
        assert_eq!(scrub("4111-1111-1111-1111"), "[card]");
        assert_eq!(scrub("5500005555555559"), "[card]");
        // Not Luhn-valid: an order number, kept.
        assert_eq!(scrub("order 4111111111111112"), "order 4111111111111112");
        // Part of a longer identifier: kept.
        assert_eq!(scrub("id a4111111111111111"), "id a4111111111111111");
    }

    #[test]
    fn query_secrets_are_redacted() {
        assert_eq!(
            scrub("https://x.io/cb?code=abc123&state=ok&access_token=eyJ.x#id_token=zz"),
            "https://x.io/cb?code=[redacted]&state=ok&access_token=[redacted]#id_token=[redacted]"
        );
        assert_eq!(scrub("/search?q=shoes&page=2"), "/search?q=shoes&page=2");
        assert_eq!(scrub("/reset?password=hunter2"), "/reset?password=[redacted]");
    }

    /// Found by the `ingest_events` fuzz target (fuzz/corpus/ingest_events/crash-*): scrubbing the
    /// metadata's text made it invalid JSON.
    #[test]
    fn scrubbed_metadata_stays_json() {
        let mut m: Cow<str> =
            Cow::Borrowed(r#"{"card": 4111111111111111, "u": "?token=ab\"c", "a@b.io": ["x@y.org", 1]}"#);
        scrub_json(&mut m);
        let doc: serde_json::Value = serde_json::from_str(&m).expect("still JSON");
        assert_eq!(doc, serde_json::json!({"card": "[card]", "u": "?token=[redacted]\"c", "[email]": ["[email]", 1]}));
        let mut clean: Cow<str> = Cow::Borrowed(r#"{"plan": "pro", "n": 3}"#);
        scrub_json(&mut clean);
        assert!(matches!(clean, Cow::Borrowed(_)));
    }

    #[test]
    fn everything_together() {
        assert_eq!(
            scrub("/u?email=me@x.com&api_key=s3cr3t card=4242424242424242"),
            "/u?email=[email]&api_key=[redacted] card=[card]"
        );
    }

    proptest! {
        #[test]
        fn scrub_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            let once = scrub(&s).into_owned();
            let twice = scrub(&once).into_owned();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn scrubbed_output_has_no_email(local in "[a-z]{1,10}", host in "[a-z]{1,10}", tld in "[a-z]{2,4}") {
            let s = format!("x {local}@{host}.{tld} y");
            let out = scrub(&s);
            prop_assert!(!out.contains('@'), "{}", out);
        }
    }
}
