//! Deterministic ids and fingerprints: SHA-256 over length-prefixed fields (docs/architecture.md §3 "IDs are
//! deterministic", §4 Incidents), so replaying the same events yields the same ids.

use sha2::{Digest, Sha256};

use crate::kind::SignalKind;

/// SHA-256 over length-prefixed fields, hex, truncated to 32 chars (128 bits). Length prefixes make
/// `("ab","c")` and `("a","bc")` differ.
fn hash_fields(fields: &[Option<&str>]) -> String {
    let mut h = Sha256::new();
    for f in fields {
        match f {
            Some(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update([0u8]),
        }
    }
    let mut s = hex::encode(h.finalize());
    s.truncate(32);
    s
}

/// The incident fingerprint: hash(project, kind, route template, element key) (docs/architecture.md §4 "Incidents").
pub fn fingerprint(project: &str, kind: SignalKind, route_template: &str, element_key: &str) -> String {
    hash_fields(&[
        Some("friction.fingerprint.v1"),
        Some(project),
        Some(kind.as_str()),
        Some(route_template),
        Some(element_key),
    ])
}

/// The deterministic signal id: hash(session, tab, rule, element key, first event id) (docs/architecture.md §3).
/// Replaying the same events yields the same id, so downstream writes are idempotent.
pub fn signal_id(
    session_id: &str,
    tab_id: Option<&str>,
    rule: SignalKind,
    element_key: &str,
    first_event_id: &str,
) -> String {
    hash_fields(&[
        Some("friction.signal.v1"),
        Some(session_id),
        tab_id,
        Some(rule.as_str()),
        Some(element_key),
        Some(first_event_id),
    ])
}

/// The deterministic episode id: like [`signal_id`] over the episode's first signal.
pub(crate) fn episode_id(session_id: &str, tab_id: Option<&str>, element_key: &str, first_event_id: &str) -> String {
    hash_fields(&[Some("friction.episode.v1"), Some(session_id), tab_id, Some(element_key), Some(first_event_id)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_field_separated() {
        let a = signal_id("s", Some("t"), SignalKind::DeadClick, "k", "e1");
        assert_eq!(a, signal_id("s", Some("t"), SignalKind::DeadClick, "k", "e1"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, signal_id("s", None, SignalKind::DeadClick, "k", "e1"));
        assert_ne!(a, signal_id("s", Some("t"), SignalKind::RageClick, "k", "e1"));
        assert_ne!(
            signal_id("ab", None, SignalKind::DeadClick, "c", "e"),
            signal_id("a", None, SignalKind::DeadClick, "bc", "e")
        );
        let f = fingerprint("p", SignalKind::DeadClick, "/x", "k");
        assert_eq!(f, fingerprint("p", SignalKind::DeadClick, "/x", "k"));
        assert_ne!(f, fingerprint("p2", SignalKind::DeadClick, "/x", "k"));
        assert!(f.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
