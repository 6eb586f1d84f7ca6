//! The event-id hash the duplicate filter remembers.
//!
//! It is part of the persisted state, so it must never change and must not depend on the process
//! (std's `RandomState` does). FNV-1a over the UTF-8 bytes, then the SplitMix64 finalizer so similar
//! ids (UUIDs differing in one digit) spread over all 64 bits. State format v1 stored these 64 bits;
//! v2 stores their upper half ([`fold`]), so a v1 ring converts exactly to what v2 computes: 64
//! remembered ids cost 256 bytes instead of 512 (docs/architecture.md §9: ≤ 1 KiB per open session). The price is
//! a false duplicate with probability ≤ `dedup_ids` / 2³² per event (1.5·10⁻⁸ with 64 ids: about one
//! event in 67 million is dropped as a duplicate it is not, and counted in `duplicatesDropped`).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The hash of an event id, or `None` for an empty id: an event without an id cannot be recognised
/// as a duplicate (the gateway always sets one, derived from the content when the client gave none).
pub(crate) fn event_id_hash(id: &str) -> Option<u64> {
    if id.is_empty() {
        return None;
    }
    let mut h = FNV_OFFSET;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    Some(h)
}

/// The 32-bit hash remembered since state format v2: the upper half of [`event_id_hash`] (the
/// finalizer's best-mixed bits). Also converts the hashes of a v1 record.
pub(crate) fn fold(h: u64) -> u32 {
    (h >> 32) as u32
}

pub(crate) fn event_id_hash32(id: &str) -> Option<u32> {
    event_id_hash(id).map(fold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_32_bit_hash_is_the_folded_64_bit_one() {
        assert_eq!(event_id_hash32("a"), Some(0x02c0_bdbf));
        assert_eq!(event_id_hash32(""), None);
    }

    #[test]
    fn stable_and_distinct() {
        // Pinned: a change would silently break duplicate detection across a restore.
        assert_eq!(
            event_id_hash("0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f2a11"),
            event_id_hash("0b6c3b1e-8c52-4a3b-9d8a-6a0d1e0f2a11")
        );
        assert_eq!(event_id_hash("a"), Some(PINNED_A));
        assert_ne!(event_id_hash("e-1"), event_id_hash("e-2"));
        assert_eq!(event_id_hash(""), None);
    }

    // Computed independently (Python) from the algorithm described above.
    const PINNED_A: u64 = 0x02c0_bdbf_4814_20f8;
}
