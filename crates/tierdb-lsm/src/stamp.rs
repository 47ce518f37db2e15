//! A stamp: 20 checksummed bytes naming a manifest by number. It is the
//! whole `LSM-CURRENT` file (magic "TLSC") and the head of every manifest
//! log (magic "TLSM"); see `docs/format/lsm-manifest.md`.
//!
//! ```text
//! magic u32 | version u32 | manifest number u64 | crc32 u32
//! ```
//! The CRC-32 covers the 16 bytes before it, so a damaged version field is
//! corruption, not a "newer version". All integers little-endian.

use std::path::Path;

use tierdb_io::{Error, Result};

/// The version of the LSM manifest format (stamps and log records) this
/// build writes and reads. Version 1 was the single rewritten
/// `LSM-MANIFEST` file.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Bytes of a stamp.
pub(crate) const STAMP_BYTES: usize = 20;

/// The stamp of manifest `number` under `magic`.
pub(crate) fn encode(magic: [u8; 4], number: u64) -> [u8; STAMP_BYTES] {
    let mut out = [0u8; STAMP_BYTES];
    out[..4].copy_from_slice(&magic);
    out[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[8..16].copy_from_slice(&number.to_le_bytes());
    let crc = crc32fast::hash(&out[..16]);
    out[16..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The manifest number of the stamp at the start of `data` (the file
/// `path`); `what` names the file's kind in errors.
pub(crate) fn decode(path: &Path, data: &[u8], magic: [u8; 4], what: &str) -> Result<u64> {
    let Some(stamp) = data.get(..STAMP_BYTES) else {
        return Err(Error::corruption(
            path,
            data.len() as u64,
            format!("{what} truncated ({} bytes)", data.len()),
        ));
    };
    let crc = u32::from_le_bytes(stamp[16..].try_into().expect("4 bytes"));
    if crc32fast::hash(&stamp[..16]) != crc {
        return Err(Error::corruption(
            path,
            16,
            format!("{what} checksum mismatch"),
        ));
    }
    if stamp[..4] != magic {
        return Err(Error::corruption(path, 0, format!("bad {what} magic")));
    }
    let version = u32::from_le_bytes(stamp[4..8].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(u64::from_le_bytes(
        stamp[8..16].try_into().expect("8 bytes"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_every_damage_is_an_error() {
        let path = Path::new("s");
        let good = encode(*b"TLSC", 42);
        assert_eq!(decode(path, &good, *b"TLSC", "x").unwrap(), 42);
        assert!(decode(path, &good, *b"TLSM", "x").is_err(), "other magic");
        for i in 0..good.len() {
            let mut bad = good;
            bad[i] ^= 0x10;
            assert!(decode(path, &bad, *b"TLSC", "x").is_err(), "byte {i}");
            assert!(decode(path, &good[..i], *b"TLSC", "x").is_err(), "len {i}");
        }
    }
}
