//! The LSM manifest: which table is in which level, the persisted sequence
//! and the next table number. One small file, replaced atomically (see
//! `docs/format/lsm-manifest.md`):
//!
//! ```text
//! magic u32 | version u32 | body_len u32 | crc32 u32 | body
//! crc32 covers magic, version, body_len and body (everything but itself),
//! so a damaged version field is corruption, not a "newer version".
//! body = persisted_seq u64 | next_table u64 | level_count u32
//!        | level_count × (table_count u32 | table_count × (number u64 | file_bytes u64))
//! ```
//! All integers little-endian.

use std::path::Path;

use tierdb_io::{Error, OpenMode, Result, Vfs};

use crate::files::{MANIFEST_NAME, MANIFEST_TMP_NAME};

/// "TLSM" read as a little-endian u32.
const MAGIC: u32 = u32::from_le_bytes(*b"TLSM");
/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 16;
/// Refuse absurd counts before allocating for them.
const LEVELS_MAX: u32 = 64;

/// A table as the manifest lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableRecord {
    pub(crate) number: u64,
    pub(crate) file_bytes: u64,
}

/// The manifest's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) persisted_seq: u64,
    pub(crate) next_table: u64,
    /// Tables per level, in the version's order.
    pub(crate) levels: Vec<Vec<TableRecord>>,
}

impl Manifest {
    /// Encodes the whole file.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.persisted_seq.to_le_bytes());
        body.extend_from_slice(&self.next_table.to_le_bytes());
        body.extend_from_slice(&(self.levels.len() as u32).to_le_bytes());
        for level in &self.levels {
            body.extend_from_slice(&(level.len() as u32).to_le_bytes());
            for t in level {
                body.extend_from_slice(&t.number.to_le_bytes());
                body.extend_from_slice(&t.file_bytes.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        let crc = checksum(&out, &body);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes the file at `path` holding `data`.
    pub(crate) fn decode(path: &Path, data: &[u8]) -> Result<Manifest> {
        let mut r = Reader { data, pos: 0, path };
        if r.u32()? != MAGIC {
            return Err(Error::corruption(path, 0, "bad LSM manifest magic"));
        }
        let version = r.u32()?;
        let body_len = r.u32()? as usize;
        let crc = r.u32()?;
        if data.len() != HEADER_BYTES + body_len {
            return Err(Error::corruption(path, 8, "LSM manifest length mismatch"));
        }
        if checksum(&data[..12], &data[HEADER_BYTES..]) != crc {
            return Err(Error::corruption(
                path,
                12,
                "LSM manifest checksum mismatch",
            ));
        }
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        decode_body(&mut r)
    }
}

/// CRC-32 of the first 12 header bytes followed by the body.
fn checksum(header: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(body);
    h.finalize()
}

fn decode_body(r: &mut Reader<'_>) -> Result<Manifest> {
    let persisted_seq = r.u64()?;
    let next_table = r.u64()?;
    let level_count = r.u32()?;
    if level_count > LEVELS_MAX {
        return Err(r.corrupt("too many levels"));
    }
    let mut levels = Vec::new();
    for _ in 0..level_count {
        let count = r.u32()? as usize;
        if count.saturating_mul(16) > r.remaining() {
            return Err(r.corrupt("table count exceeds manifest"));
        }
        let mut level = Vec::with_capacity(count);
        for _ in 0..count {
            let number = r.u64()?;
            let file_bytes = r.u64()?;
            level.push(TableRecord { number, file_bytes });
        }
        levels.push(level);
    }
    if r.remaining() != 0 {
        return Err(r.corrupt("trailing bytes in LSM manifest"));
    }
    Ok(Manifest {
        persisted_seq,
        next_table,
        levels,
    })
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self
            .data
            .get(self.pos..self.pos + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| self.corrupt("LSM manifest truncated"))?;
        self.pos += N;
        Ok(bytes)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    fn corrupt(&self, reason: &str) -> Error {
        Error::corruption(self.path, self.pos as u64, reason)
    }
}

/// Reads the manifest of `dir`, or `None` if there is none (a new tier).
pub(crate) fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_NAME);
    if !vfs.exists(&path)? {
        return Ok(None);
    }
    let data = vfs.open(&path, OpenMode::Read)?.read_all()?;
    Manifest::decode(&path, &data).map(Some)
}

/// Replaces the manifest of `dir` atomically and durably: sync the
/// directory (so every table the new manifest lists has a durable name:
/// without it a crash could keep the rename but lose a table's create),
/// write the temp file, sync it, rename it over the manifest, sync the
/// directory. Returns the bytes written.
pub(crate) fn write(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<u64> {
    let tmp = dir.join(MANIFEST_TMP_NAME);
    let data = manifest.encode();
    vfs.sync_dir(dir)?;
    let file = vfs.open(&tmp, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&data, 0)?;
    file.sync()?;
    drop(file);
    vfs.rename(&tmp, &dir.join(MANIFEST_NAME))?;
    vfs.sync_dir(dir)?;
    Ok(data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            persisted_seq: 77,
            next_table: 9,
            levels: vec![
                vec![TableRecord {
                    number: 8,
                    file_bytes: 100,
                }],
                vec![],
                vec![
                    TableRecord {
                        number: 3,
                        file_bytes: 5,
                    },
                    TableRecord {
                        number: 4,
                        file_bytes: 6,
                    },
                ],
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let decoded = Manifest::decode(Path::new("m"), &m.encode()).unwrap();
        assert_eq!(decoded, m);
    }

    #[test]
    fn every_flipped_byte_or_truncation_is_an_error() {
        let data = sample().encode();
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            assert!(Manifest::decode(Path::new("m"), &bad).is_err(), "byte {i}");
            assert!(
                Manifest::decode(Path::new("m"), &data[..i]).is_err(),
                "len {i}"
            );
        }
    }
}
