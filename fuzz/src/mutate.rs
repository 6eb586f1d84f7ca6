//! Byte-level mutations of a corpus entry: bit flips, interesting bytes and numbers, inserts,
//! deletions, duplications, splices with another entry, and the target's dictionary tokens (the
//! JSON field names, Avro varints and YAML keys the parsers look for). One to four are stacked per
//! new input.

use crate::rng::Rng;

/// Bytes that often sit on a boundary of some parser.
const INTERESTING_BYTES: &[u8] = &[
    0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0xFE, 0xC0, 0xED, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'\n', b' ',
    b'-', b'0', b'9',
];

/// Numbers, as ASCII, that sit on a boundary of some parser (JSON numbers, YAML scalars, log text).
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "1.5e300",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "946684799999",
    "253402300800000",
    "0.000000001",
    "1e-400",
    "65536",
];

/// A new input derived from `input` (and maybe another `pool` entry), at most `max_len` bytes.
pub fn mutate(input: &[u8], pool: &[Vec<u8>], dictionary: &[&[u8]], max_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(&mut out, pool, dictionary, rng);
    }
    out.truncate(max_len);
    out
}

fn mutate_once(out: &mut Vec<u8>, pool: &[Vec<u8>], dictionary: &[&[u8]], rng: &mut Rng) {
    let len = out.len();
    match rng.below(12) {
        // Flip one bit.
        0 if len > 0 => {
            let at = rng.below(len);
            out[at] ^= 1 << rng.below(8);
        }
        // Replace a byte by a random or an interesting one.
        1 if len > 0 => {
            let at = rng.below(len);
            out[at] = if rng.one_in(2) { rng.byte() } else { INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())] };
        }
        // Insert random bytes.
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            out.splice(at..at, bytes);
        }
        // Delete a range.
        3 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(32));
            out.drain(at..at + n);
        }
        // Duplicate a range (repeats: array items, nested objects, long strings).
        4 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            let chunk = out[at..at + n].to_vec();
            let times = 1 + rng.below(4);
            let to = rng.below(len + 1);
            for _ in 0..times {
                out.splice(to..to, chunk.iter().copied());
            }
        }
        // Splice: a range of another pool entry inserted or overwritten here.
        5 if !pool.is_empty() => {
            let other = &pool[rng.below(pool.len())];
            if other.is_empty() {
                return;
            }
            let from = rng.below(other.len());
            let n = 1 + rng.below((other.len() - from).min(128));
            let chunk = &other[from..from + n];
            let at = rng.below(len + 1);
            if rng.one_in(2) {
                out.splice(at..at, chunk.iter().copied());
            } else {
                let end = (at + n).min(len);
                out.splice(at..end, chunk.iter().copied());
            }
        }
        // Insert a dictionary token.
        6 | 7 if !dictionary.is_empty() => {
            let token = dictionary[rng.below(dictionary.len())];
            let at = rng.below(len + 1);
            out.splice(at..at, token.iter().copied());
        }
        // Overwrite with a dictionary token.
        8 if !dictionary.is_empty() && len > 0 => {
            let token = dictionary[rng.below(dictionary.len())];
            let at = rng.below(len);
            let end = (at + token.len()).min(len);
            out.splice(at..end, token.iter().copied());
        }
        // Replace a run of ASCII digits by an interesting number.
        9 if len > 0 => {
            let start = rng.below(len);
            let Some(first) = out[start..].iter().position(u8::is_ascii_digit).map(|p| start + p) else { return };
            let end = out[first..].iter().position(|b| !b.is_ascii_digit()).map_or(len, |p| first + p);
            let number = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
            out.splice(first..end, number.bytes());
        }
        // Truncate.
        10 if len > 0 => out.truncate(rng.below(len)),
        // Swap two bytes.
        _ if len > 1 => {
            let (a, b) = (rng.below(len), rng.below(len));
            out.swap(a, b);
        }
        _ => out.push(rng.byte()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_within_the_length_and_change_the_input() {
        let mut rng = Rng::new(1);
        let input = br#"{"events":[{"eventType":"click","timestamp":1705312800000}]}"#.to_vec();
        let pool = vec![input.clone(), b"[1,2,3]".to_vec()];
        let mut changed = 0;
        for _ in 0..2000 {
            let out = mutate(&input, &pool, &[b"\"sessionId\"", b"\\u0000"], 80, &mut rng);
            assert!(out.len() <= 80);
            changed += usize::from(out != input);
        }
        assert!(changed > 1900, "{changed} of 2000 changed");
    }
}
