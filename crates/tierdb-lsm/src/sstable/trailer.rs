//! The 5-byte trailer after every block: a compression type byte (only
//! `0` = none exists) and a CRC-32 (`crc32fast`, IEEE) of the block
//! contents followed by that type byte.
//!
//! ```text
//! | block contents (handle.size bytes) | type u8 = 0 | crc32 u32 LE |
//! ```

use std::path::Path;

use bytes::Bytes;
use tierdb_io::{Error, Result, VfsFile};

use super::footer::BlockHandle;

/// Bytes after each block's contents.
pub(crate) const BLOCK_TRAILER_BYTES: u64 = 5;

/// The only compression type of format version 1.
const COMPRESSION_NONE: u8 = 0;

/// Appends the trailer to `contents`, giving the bytes to write.
pub(crate) fn seal(mut contents: Vec<u8>) -> Vec<u8> {
    let crc = block_crc(&contents, COMPRESSION_NONE);
    contents.push(COMPRESSION_NONE);
    contents.extend_from_slice(&crc.to_le_bytes());
    contents
}

/// Reads the block at `handle` from `file` (the caller has checked that it
/// lies inside the file) and verifies its trailer.
pub(crate) fn read_block(file: &dyn VfsFile, handle: BlockHandle) -> Result<Bytes> {
    let total = handle.size.saturating_add(BLOCK_TRAILER_BYTES);
    let total = usize::try_from(total)
        .map_err(|_| Error::corruption(file.path(), handle.offset, "block too large"))?;
    let mut raw = vec![0; total];
    file.read_exact_at(&mut raw, handle.offset)?;
    unseal(raw, file.path(), handle.offset)
}

/// Checks and strips the trailer of `raw`, the block at `offset` of `path`.
pub(crate) fn unseal(raw: Vec<u8>, path: &Path, offset: u64) -> Result<Bytes> {
    unseal_shared(Bytes::from(raw), path, offset)
}

/// [`unseal`] of a block that is a slice of a larger read (a sequential
/// read's window): the contents share `raw`'s buffer.
pub(crate) fn unseal_shared(raw: Bytes, path: &Path, offset: u64) -> Result<Bytes> {
    let split = check(&raw, path, offset)?;
    Ok(raw.slice(..split))
}

/// Verifies the trailer of `raw`; returns where the contents end.
fn check(raw: &[u8], path: &Path, offset: u64) -> Result<usize> {
    let corrupt = |reason: &str| Error::corruption(path, offset, reason);
    let split = raw
        .len()
        .checked_sub(5)
        .ok_or_else(|| corrupt("block shorter than its trailer"))?;
    let (contents, trailer) = raw.split_at(split);
    let [kind, c0, c1, c2, c3] =
        <[u8; 5]>::try_from(trailer).map_err(|_| corrupt("bad trailer"))?;
    let stored = u32::from_le_bytes([c0, c1, c2, c3]);
    if block_crc(contents, kind) != stored {
        return Err(corrupt("block checksum mismatch"));
    }
    if kind != COMPRESSION_NONE {
        return Err(corrupt("unknown block compression type"));
    }
    Ok(split)
}

fn block_crc(contents: &[u8], kind: u8) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(contents);
    hasher.update(&[kind]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_unseal_and_every_flip_is_caught() {
        let sealed = seal(b"hello block".to_vec());
        let path = Path::new("t.sst");
        assert_eq!(
            &unseal(sealed.clone(), path, 0).unwrap()[..],
            b"hello block"
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(unseal(bad, path, 7).unwrap_err().is_corruption());
        }
        assert!(unseal(vec![1, 2], path, 0).is_err());
        let shared = Bytes::from(sealed.clone());
        assert_eq!(&unseal_shared(shared, path, 0).unwrap()[..], b"hello block");
        let mut bad = sealed;
        bad[0] ^= 1;
        assert!(unseal_shared(Bytes::from(bad), path, 0).is_err());
    }
}
