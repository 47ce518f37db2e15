//! Little-endian fixed integers and LEB128 varints, and a bounds-checked
//! [`Decoder`] over bytes read from disk. Decoding never panics: every read
//! checks the remaining length and returns a reason on failure.

/// Why a decode failed; wrapped into `Error::Corruption` by the caller,
/// who knows the file and the offset.
pub(crate) type Reason = &'static str;

/// Appends `value` as a LEB128 varint (at most 10 bytes).
pub(crate) fn put_varint64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Truncation is the encoding: the low seven bits plus a flag.
        #[allow(clippy::cast_possible_truncation)]
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(value as u8);
}

/// Appends `value` as a LEB128 varint (at most 5 bytes).
pub(crate) fn put_varint32(out: &mut Vec<u8>, value: u32) {
    put_varint64(out, u64::from(value));
}

/// Reads values front to back from a byte slice, checking every length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], Reason> {
        let end = self.pos.checked_add(len).ok_or("length overflows")?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or("field runs past the end")?;
        self.pos = end;
        Ok(bytes)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, Reason> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, Reason> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, Reason> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A varint of at most 10 bytes that fits a `u64`.
    pub(crate) fn varint64(&mut self) -> Result<u64, Reason> {
        // Fast path: most lengths in a block fit one byte.
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8().map_err(|_| "varint runs past the end")?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    /// A varint that fits a `u32`, as a `usize`.
    pub(crate) fn varint32(&mut self) -> Result<usize, Reason> {
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(usize::from(byte));
        }
        let value = self.varint64()?;
        let value = u32::try_from(value).map_err(|_| "varint overflows 32 bits")?;
        usize::try_from(value).map_err(|_| "varint overflows usize")
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Reason> {
        let bytes = self.bytes(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| "field runs past the end")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        let values = [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ];
        for value in values {
            let mut buf = Vec::new();
            put_varint64(&mut buf, value);
            assert!(buf.len() <= 10);
            let mut dec = Decoder::new(&buf);
            assert_eq!(dec.varint64(), Ok(value));
            assert!(dec.is_empty());
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        assert!(Decoder::new(&[0x80]).varint64().is_err());
        assert!(Decoder::new(&[0xff; 11]).varint64().is_err());
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(Decoder::new(&too_big).varint64().is_err());
        let mut buf = Vec::new();
        put_varint64(&mut buf, 1 << 32);
        assert!(Decoder::new(&buf).varint32().is_err());
    }

    #[test]
    fn fixed_reads_check_the_length() {
        let mut dec = Decoder::new(&[1, 0, 0]);
        assert!(dec.u32().is_err());
        assert_eq!(dec.u8(), Ok(1));
        assert!(dec.bytes(3).is_err());
        assert_eq!(dec.bytes(2), Ok(&[0u8, 0][..]));
    }
}
