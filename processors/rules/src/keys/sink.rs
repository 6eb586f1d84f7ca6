//! Where key text goes: a `String` when a signal needs the key, or an FNV-1a hasher when only
//! its identity matters (the rule hot path compares keys by hash without allocating).

pub(super) trait KeySink {
    fn put(&mut self, s: &str);
}

impl KeySink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

/// FNV-1a 64: streaming, so hashing the pieces equals hashing the joined string.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fnv(pub(super) u64);

impl Fnv {
    pub(super) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl KeySink for Fnv {
    fn put(&mut self, s: &str) {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// FNV-1a 64 of a string.
pub(crate) fn fnv(s: &str) -> u64 {
    let mut h = Fnv::new();
    h.put(s);
    h.0
}

/// Writes `s` in ASCII lower case (tag names and attribute values are case-insensitive).
pub(super) fn put_lower<S: KeySink>(s: &str, out: &mut S) {
    let mut buf = [0u8; 4];
    for c in s.chars() {
        out.put(c.to_ascii_lowercase().encode_utf8(&mut buf));
    }
}
