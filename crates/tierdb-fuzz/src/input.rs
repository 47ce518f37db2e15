//! Reading fuzz input: the mode byte, and a reader of small numbers that
//! yields zeros once the bytes run out (so every input is a valid program).

/// Mode bit: recompute checksums before decoding.
pub(crate) const RESEAL: u8 = 1;

/// Splits `data` into its mode byte (0 if empty) and the rest.
pub(crate) fn split_mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((mode, rest)) => (*mode, rest),
        None => (0, &[]),
    }
}

/// A cursor over the input that never fails.
pub(crate) struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        u32::from(self.u16()) % n
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}
