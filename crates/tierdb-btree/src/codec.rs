//! Little-endian encoding helpers and a bounds-checked reader for bytes read
//! from disk. Every decoder in this crate reads through [`Reader`], so a short
//! or garbled page gives an error message, never a panic.

/// A reason why bytes failed to parse; the caller turns it into
/// `Error::Corruption` with the file and offset.
pub(crate) type DecodeResult<T> = Result<T, String>;

/// A cursor over a byte slice whose every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at `pos` (which may be out of bounds: the first
    /// read then fails).
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    /// Where the next read starts.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The next `len` bytes. Inlined, its failure kept out of line: pages
    /// read in place (`leaf_page.rs`) parse a cell per key they compare.
    #[inline]
    pub(crate) fn bytes(&mut self, len: usize) -> DecodeResult<&'a [u8]> {
        let slice = self
            .pos
            .checked_add(len)
            .and_then(|end| self.buf.get(self.pos..end));
        match slice {
            Some(slice) => {
                self.pos += len;
                Ok(slice)
            }
            None => Err(self.past_end(len)),
        }
    }

    #[cold]
    fn past_end(&self, len: usize) -> String {
        format!(
            "{len} bytes at {} run past the end ({})",
            self.pos,
            self.buf.len()
        )
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let slice = self.bytes(N)?;
        <[u8; N]>::try_from(slice).map_err(|_| "short read".to_string())
    }

    /// One byte.
    #[inline]
    pub(crate) fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian u16.
    #[inline]
    pub(crate) fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian u32.
    #[inline]
    pub(crate) fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian u64.
    #[inline]
    pub(crate) fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

/// Appends a little-endian u16.
pub(crate) fn put_u16(buf: &mut Vec<u8>, value: u16) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian u32.
pub(crate) fn put_u32(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian u64.
pub(crate) fn put_u64(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Converts a length to u32 for encoding; lengths come from our own
/// in-memory structures, bounded by the layout rules.
pub(crate) fn len_u32(len: usize) -> DecodeResult<u32> {
    u32::try_from(len).map_err(|_| format!("length {len} does not fit in 32 bits"))
}

/// Converts an on-disk u64 to usize.
pub(crate) fn to_usize(value: u64) -> DecodeResult<usize> {
    usize::try_from(value).map_err(|_| format!("{value} does not fit in usize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut buf = Vec::new();
        put_u16(&mut buf, 7);
        put_u32(&mut buf, 9);
        put_u64(&mut buf, 11);
        let mut r = Reader::at(&buf, 0);
        assert_eq!(r.u16().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 9);
        assert_eq!(r.u64().unwrap(), 11);
        assert!(r.u8().is_err());
        assert!(Reader::at(&buf, usize::MAX).bytes(2).is_err());
        assert!(Reader::at(&buf, 100).u8().is_err());
    }
}
