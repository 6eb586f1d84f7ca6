//! Which file a log line came from, independent of its path: device and inode, plus a fingerprint of
//! the file's first line so a reused inode is a new file (docs/operators.md "Tailing log files").
//! The event id of a record is derived from this identity and the record's byte offset, so a record
//! read twice (after a crash) is sent twice with one id and dropped downstream.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// At most this many leading bytes are fingerprinted: the first line, cut here.
pub const FINGERPRINT_BYTES: usize = 256;

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// [`fingerprint`] of the file's first bytes.
    pub fingerprint: u64,
}

/// The fingerprint of a file that starts with `head`: FNV-1a over its first line (newline included)
/// or its first [`FINGERPRINT_BYTES`] bytes, whichever is shorter. `None` while the file has
/// neither a complete first line nor that many bytes: it is not read until it has.
pub fn fingerprint(head: &[u8]) -> Option<u64> {
    let head = head.get(..FINGERPRINT_BYTES.min(head.len())).unwrap_or(head);
    let end = match head.iter().position(|&b| b == b'\n') {
        Some(nl) => nl + 1,
        None if head.len() >= FINGERPRINT_BYTES => head.len(),
        None => return None,
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in head.get(..end).unwrap_or(head) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Some(h)
}

/// The event id of the record starting at byte `offset` of generation `generation` (truncations
/// seen so far) of file `id`: a UUID from SHA-256, the same in every run.
pub fn event_id(id: &FileId, generation: u32, offset: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"friction-logwatch\0");
    h.update(id.dev.to_le_bytes());
    h.update(id.ino.to_le_bytes());
    h.update(id.fingerprint.to_le_bytes());
    h.update(generation.to_le_bytes());
    h.update(offset.to_le_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_need_a_first_line() {
        assert_eq!(fingerprint(b""), None);
        assert_eq!(fingerprint(b"no newline yet"), None);
        assert_eq!(fingerprint(b"first\nsecond"), fingerprint(b"first\nother"));
        assert_ne!(fingerprint(b"first\n"), fingerprint(b"first!\n"));
        assert!(fingerprint(&[b'x'; FINGERPRINT_BYTES]).is_some());
        assert_eq!(fingerprint(&[b'x'; 1000]), fingerprint(&[b'x'; FINGERPRINT_BYTES]));
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let id = FileId { dev: 1, ino: 2, fingerprint: 3 };
        assert_eq!(event_id(&id, 0, 10), event_id(&id, 0, 10));
        assert_ne!(event_id(&id, 0, 10), event_id(&id, 0, 11));
        assert_ne!(event_id(&id, 0, 10), event_id(&id, 1, 10));
        assert_ne!(event_id(&id, 0, 10), event_id(&FileId { ino: 9, ..id }, 0, 10));
        assert!(uuid::Uuid::try_parse(&event_id(&id, 0, 0)).is_ok());
    }
}
