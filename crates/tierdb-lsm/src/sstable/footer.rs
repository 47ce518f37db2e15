//! [`BlockHandle`] (where a block lives) and the fixed-size [`Footer`] at
//! the end of every table.
//!
//! ```text
//! 0                16               32                 48       52       56          64
//! +----------------+----------------+------------------+--------+--------+-----------+
//! | filter handle  | index handle   | properties handle| version| crc32  | magic     |
//! | off u64,size u64| off u64,size u64| off u64,size u64| u32    | u32    | "TDBSSTBL"|
//! +----------------+----------------+------------------+--------+--------+-----------+
//! ```

use std::path::Path;

use tierdb_io::{Error, Result};

use super::coding::{Decoder, Reason, put_varint64};

/// Bytes of the footer.
pub(crate) const FOOTER_BYTES: u64 = 64;
/// The last 8 bytes of every table.
pub(crate) const MAGIC: [u8; 8] = *b"TDBSSTBL";
/// The table format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 3;

/// Where a block lives: its offset in the file and the size of its
/// contents, not counting the 5-byte trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockHandle {
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

impl BlockHandle {
    /// Offset just after the block's trailer (saturating on bad values).
    pub(crate) fn end(self) -> u64 {
        self.offset
            .saturating_add(self.size)
            .saturating_add(super::trailer::BLOCK_TRAILER_BYTES)
    }

    /// Appends the handle as two varints (as index entries store it).
    pub(crate) fn encode_varint(self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }

    /// Reads a handle written by [`BlockHandle::encode_varint`].
    pub(crate) fn decode_varint(dec: &mut Decoder<'_>) -> Result<Self, Reason> {
        let offset = dec.varint64()?;
        let size = dec.varint64()?;
        Ok(Self { offset, size })
    }

    fn encode_fixed(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
    }

    fn decode_fixed(dec: &mut Decoder<'_>) -> Result<Self, Reason> {
        let offset = dec.u64()?;
        let size = dec.u64()?;
        Ok(Self { offset, size })
    }
}

/// The last 64 bytes of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) filter: BlockHandle,
    pub(crate) index: BlockHandle,
    pub(crate) properties: BlockHandle,
}

impl Footer {
    /// The 64 footer bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.filter.encode_fixed(&mut out);
        self.index.encode_fixed(&mut out);
        self.properties.encode_fixed(&mut out);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&MAGIC);
        debug_assert_eq!(out.len() as u64, FOOTER_BYTES);
        out
    }

    /// Decodes the footer `bytes` read at `offset` of `path`. Checks the
    /// magic, then the checksum, then the version.
    pub(crate) fn decode(bytes: &[u8], path: &Path, offset: u64) -> Result<Self> {
        let corrupt = |reason: &str| Error::corruption(path, offset, reason);
        let (body, magic) = bytes
            .split_at_checked(56)
            .ok_or_else(|| corrupt("short footer"))?;
        if magic != MAGIC {
            return Err(corrupt("bad magic: not a tierdb table"));
        }
        let mut dec = Decoder::new(body);
        let parsed = Self::decode_fields(&mut dec).map_err(corrupt)?;
        let version = dec.u32().map_err(corrupt)?;
        let stored_crc = dec.u32().map_err(corrupt)?;
        if crc32fast::hash(body.get(..52).unwrap_or_default()) != stored_crc {
            return Err(corrupt("footer checksum mismatch"));
        }
        match version {
            FORMAT_VERSION => Ok(parsed),
            0 => Err(corrupt("format version 0")),
            found => Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            }),
        }
    }

    fn decode_fields(dec: &mut Decoder<'_>) -> Result<Self, Reason> {
        Ok(Self {
            filter: BlockHandle::decode_fixed(dec)?,
            index: BlockHandle::decode_fixed(dec)?,
            properties: BlockHandle::decode_fixed(dec)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        let h = |offset, size| BlockHandle { offset, size };
        Footer {
            filter: h(100, 10),
            index: h(115, 20),
            properties: h(140, 30),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), 64);
        assert_eq!(Footer::decode(&bytes, Path::new("f"), 0).unwrap(), sample());
    }

    #[test]
    fn every_flip_is_an_error() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(
                Footer::decode(&bad, Path::new("f"), 9).is_err(),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn other_versions_are_unsupported() {
        // 1: before range-deletion blocks; 2: before two-level indexes;
        // 4: a future version.
        for version in [1u32, 2, 4] {
            let mut bytes = sample().encode();
            bytes[48..52].copy_from_slice(&version.to_le_bytes());
            let crc = crc32fast::hash(&bytes[..52]);
            bytes[52..56].copy_from_slice(&crc.to_le_bytes());
            let err = Footer::decode(&bytes, Path::new("f"), 0).unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedVersion { found, supported: 3, .. } if found == version),
                "{err}"
            );
        }
    }
}
