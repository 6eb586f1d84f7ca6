//! Reading the primitive encodings of Avro's binary format off the rest of a datum (varints,
//! zig-zag longs, length-prefixed bytes, block counts, union and enum indices), refusing what
//! apache-avro's reader refuses and never allocating for a length the message cannot hold.

use super::error::{err, DecodeError, ErrorKind, Result};

/// Upper bound on one allocation while decoding: a corrupt length prefix must not make a consumer
/// allocate gigabytes (messages are at most a few MiB). The registry gives apache-avro's reader
/// the same bound.
pub const MAX_DECODE_ALLOCATION: usize = 16 * 1024 * 1024;

/// The rest of the datum.
pub(crate) struct Input<'de> {
    pub(crate) data: &'de [u8],
}

impl<'de> Input<'de> {
    #[inline]
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8> {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                Ok(b)
            }
            None => err(ErrorKind::UnexpectedEnd(what)),
        }
    }

    /// Exactly what apache-avro accepts: at most 10 bytes, bits beyond 64 dropped.
    #[inline]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64> {
        let mut value = 0u64;
        for (i, &b) in self.data.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                self.data = &self.data[i + 1..];
                return Ok(value);
            }
        }
        if self.data.len() >= 10 {
            err(ErrorKind::VarintOverflow)
        } else {
            err(ErrorKind::UnexpectedEnd(what))
        }
    }

    #[inline]
    pub(crate) fn long(&mut self, what: &'static str) -> Result<i64> {
        let z = self.varint(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    #[inline]
    pub(crate) fn int(&mut self, what: &'static str) -> Result<i32> {
        let v = self.long(what)?;
        i32::try_from(v).map_err(|_| DecodeError::new(ErrorKind::IntOutOfRange(v)))
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'de [u8]> {
        if n > self.data.len() {
            return err(ErrorKind::UnexpectedEnd(what));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    /// A length prefix of bytes or a string, then that many bytes.
    #[inline]
    pub(crate) fn length_prefixed(&mut self, what: &'static str) -> Result<&'de [u8]> {
        let len = self.long(what)?;
        let len = check_len(len)?;
        self.take(len, what)
    }

    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'de str> {
        let bytes = self.length_prefixed("string")?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError::new(ErrorKind::InvalidUtf8(e)))
    }

    #[inline]
    pub(crate) fn boolean(&mut self) -> Result<bool> {
        match self.byte("boolean")? {
            0 => Ok(false),
            1 => Ok(true),
            b => err(ErrorKind::InvalidBool(b)),
        }
    }

    #[inline]
    pub(crate) fn f32(&mut self) -> Result<f32> {
        let b = self.take(4, "float")?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(f32::from_le_bytes(a))
    }

    #[inline]
    pub(crate) fn f64(&mut self) -> Result<f64> {
        let b = self.take(8, "double")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// The item count of the next array or map block (0: the end). A negative count is followed by
    /// the block's size in bytes, which is read and not needed.
    #[inline]
    pub(crate) fn block_count(&mut self, what: &'static str) -> Result<usize> {
        let raw = self.long(what)?;
        let count = if raw < 0 {
            self.long(what)?;
            raw.checked_neg().ok_or_else(|| DecodeError::new(ErrorKind::BlockCountOverflow(raw)))?
        } else {
            raw
        };
        check_len(count)
    }

    #[inline]
    pub(crate) fn union_index(&mut self, variants: usize) -> Result<usize> {
        let index = self.long("union branch index")?;
        match usize::try_from(index) {
            Ok(i) if i < variants => Ok(i),
            _ => err(ErrorKind::UnionIndex { index, variants }),
        }
    }

    #[inline]
    pub(crate) fn enum_index(&mut self, symbols: usize) -> Result<usize> {
        let index = self.int("enum symbol index")?;
        match usize::try_from(index) {
            Ok(i) if i < symbols => Ok(i),
            _ => err(ErrorKind::EnumIndex { index: i64::from(index), symbols }),
        }
    }
}

/// A length or count as `usize`, within [`MAX_DECODE_ALLOCATION`] (apache-avro's `safe_len`).
#[inline]
fn check_len(len: i64) -> Result<usize> {
    if len < 0 {
        return err(ErrorKind::NegativeLength(len));
    }
    match usize::try_from(len) {
        Ok(n) if n <= MAX_DECODE_ALLOCATION => Ok(n),
        _ => err(ErrorKind::TooLarge { len: len.unsigned_abs(), max: MAX_DECODE_ALLOCATION }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_read_as_apache_avro_reads_them() {
        let mut ten = Input { data: &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] };
        assert_eq!(ten.long("long").expect("10 bytes"), i64::MIN);
        let mut eleven = Input { data: &[0xFF; 11] };
        assert!(matches!(eleven.long("long").map_err(DecodeError::into_kind), Err(ErrorKind::VarintOverflow)));
        let mut cut = Input { data: &[0x80, 0x80] };
        assert!(matches!(cut.long("long").map_err(DecodeError::into_kind), Err(ErrorKind::UnexpectedEnd("long"))));
        let mut big = Input { data: &[0x80, 0x80, 0x80, 0x80, 0x10] };
        assert!(matches!(big.int("int").map_err(DecodeError::into_kind), Err(ErrorKind::IntOutOfRange(_))));
        let mut min = Input { data: &[0x01] };
        assert_eq!(min.long("long").expect("-1"), -1);
    }
}
