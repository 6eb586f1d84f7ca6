//! Shapes of id-like tokens, shared by selectors, route segments and log-message words.

/// Hex-only token of at least `min` chars with at least one digit.
pub(super) fn is_hexish(s: &str, min: usize) -> bool {
    s.len() >= min && s.bytes().all(|c| c.is_ascii_hexdigit()) && s.bytes().any(|c| c.is_ascii_digit())
}

/// A UUID, with or without its dashes.
pub(super) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() == 36 {
        b.iter().enumerate().all(
            |(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            },
        )
    } else {
        b.len() == 32 && b.iter().all(u8::is_ascii_hexdigit)
    }
}
