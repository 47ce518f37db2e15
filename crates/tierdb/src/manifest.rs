//! The manifest: the database's identity and partition map, in one small
//! file replaced atomically (write `MANIFEST.tmp`, sync, rename, sync the
//! directory). Format: docs/format/manifest.md.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tierdb_io::{OpenMode, Vfs};

use crate::{Error, Result, Tier};

/// File name of the manifest inside the database directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
const MANIFEST_TMP: &str = "MANIFEST.tmp";
const MAGIC: &[u8; 8] = b"TDBMANIF";
/// The manifest format version this build writes and reads.
pub(crate) const MANIFEST_VERSION: u32 = 1;
const TIER_BTREE: u8 = 1;
const TIER_LSM: u8 = 2;

/// One partition as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionEntry {
    pub id: u32,
    pub start: Bytes,
    pub tier: Tier,
    pub page_size: u32,
    /// Bumped each time the partition is rebuilt (split, merge, re-tier):
    /// the rebuilt data goes to a new file, so the old one stays intact
    /// until the manifest names the new one.
    pub generation: u32,
}

impl PartitionEntry {
    /// The partition's data file (B+tree) or directory (LSM), relative to
    /// the database directory: `p{id:06}g{generation:06}.btree` / `.lsm`.
    pub fn file_name(&self) -> String {
        let ext = match self.tier {
            Tier::BTree => "btree",
            Tier::Lsm => "lsm",
        };
        format!("p{:06}g{:06}.{ext}", self.id, self.generation)
    }
}

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub next_partition_id: u32,
    /// Sorted by start key; the first starts at the empty key.
    pub partitions: Vec<PartitionEntry>,
}

impl Manifest {
    /// The manifest of a new database: one partition covering everything.
    #[cfg(test)]
    pub fn new(tier: Tier, page_size: u32) -> Self {
        Self::with_splits(tier, &[], page_size)
    }

    /// The manifest of a new database: a first partition from the empty key
    /// with tier `first`, then one partition per split point, in key order.
    /// `splits` must be sorted, distinct and non-empty keys (checked by
    /// `Options::validate`).
    pub fn with_splits(first: Tier, splits: &[(Bytes, Tier)], page_size: u32) -> Self {
        let starts = std::iter::once((Bytes::new(), first)).chain(splits.iter().cloned());
        let partitions: Vec<PartitionEntry> = starts
            .enumerate()
            .map(|(id, (start, tier))| PartitionEntry {
                id: id as u32,
                start,
                tier,
                page_size,
                generation: 0,
            })
            .collect();
        Manifest {
            next_partition_id: partitions.len() as u32,
            partitions,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
        out.extend_from_slice(&self.next_partition_id.to_le_bytes());
        out.extend_from_slice(&(self.partitions.len() as u32).to_le_bytes());
        for p in &self.partitions {
            out.extend_from_slice(&p.id.to_le_bytes());
            out.push(match p.tier {
                Tier::BTree => TIER_BTREE,
                Tier::Lsm => TIER_LSM,
            });
            out.extend_from_slice(&p.page_size.to_le_bytes());
            out.extend_from_slice(&p.generation.to_le_bytes());
            out.extend_from_slice(&(p.start.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.start);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(buf: &[u8], file: &Path) -> Result<Self> {
        let bad = |offset: usize, reason: &str| Error::corruption(file, offset as u64, reason);
        if buf.len() < 24 || &buf[..8] != MAGIC {
            return Err(bad(0, "bad magic or too short for a manifest"));
        }
        let body_len = buf.len() - 4;
        let stored = read_u32(buf, body_len).ok_or_else(|| bad(body_len, "truncated"))?;
        if crc32fast::hash(&buf[..body_len]) != stored {
            return Err(bad(body_len, "checksum mismatch"));
        }
        let version = read_u32(buf, 8).ok_or_else(|| bad(8, "truncated"))?;
        if version != MANIFEST_VERSION {
            return Err(Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found: version,
                supported: MANIFEST_VERSION,
            });
        }
        let body = &buf[..body_len];
        let next_partition_id = read_u32(body, 12).ok_or_else(|| bad(12, "truncated"))?;
        let count = read_u32(body, 16).ok_or_else(|| bad(16, "truncated"))? as usize;
        let mut pos = 20;
        let mut partitions = Vec::with_capacity(count.min(body.len() / 17));
        for _ in 0..count {
            let (entry, next) =
                decode_entry(body, pos).ok_or_else(|| bad(pos, "bad partition entry"))?;
            partitions.push(entry);
            pos = next;
        }
        if pos != body_len {
            return Err(bad(pos, "trailing bytes"));
        }
        let m = Manifest {
            next_partition_id,
            partitions,
        };
        m.check_invariants().map_err(|reason| bad(20, &reason))?;
        Ok(m)
    }

    fn check_invariants(&self) -> std::result::Result<(), String> {
        let first = self.partitions.first().ok_or("no partitions")?;
        if !first.start.is_empty() {
            return Err("first partition does not start at the empty key".into());
        }
        for w in self.partitions.windows(2) {
            if w[0].start >= w[1].start {
                return Err("partitions out of order".into());
            }
        }
        if self
            .partitions
            .iter()
            .any(|p| p.id >= self.next_partition_id)
        {
            return Err("partition id not below next_partition_id".into());
        }
        let mut ids: Vec<u32> = self.partitions.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("two partitions share an id".into());
        }
        if let Some(p) = self
            .partitions
            .iter()
            .find(|p| !p.page_size.is_power_of_two() || !(1024..=65536).contains(&p.page_size))
        {
            return Err(format!("partition {} has page size {}", p.id, p.page_size));
        }
        Ok(())
    }

    /// Reads the manifest of the database in `dir`.
    pub fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let buf = vfs.open(&path, OpenMode::Read)?.read_all()?;
        Self::decode(&buf, &path)
    }

    /// Replaces the manifest of `dir` atomically and durably.
    pub fn write(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let tmp: PathBuf = dir.join(MANIFEST_TMP);
        let file = vfs.open(&tmp, OpenMode::Create)?;
        file.set_len(0)?;
        file.write_all_at(&self.encode(), 0)?;
        file.sync()?;
        drop(file);
        vfs.rename(&tmp, &dir.join(MANIFEST_FILE))?;
        vfs.sync_dir(dir)
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn decode_entry(body: &[u8], pos: usize) -> Option<(PartitionEntry, usize)> {
    let id = read_u32(body, pos)?;
    let tier = match *body.get(pos + 4)? {
        TIER_BTREE => Tier::BTree,
        TIER_LSM => Tier::Lsm,
        _ => return None,
    };
    let page_size = read_u32(body, pos + 5)?;
    let generation = read_u32(body, pos + 9)?;
    let len = read_u32(body, pos + 13)? as usize;
    let start_at = pos + 17;
    let start = body.get(start_at..start_at.checked_add(len)?)?;
    let entry = PartitionEntry {
        id,
        start: Bytes::copy_from_slice(start),
        tier,
        page_size,
        generation,
    };
    Some((entry, start_at + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_damage_is_detected() {
        let m = Manifest::new(Tier::BTree, 4096);
        let bytes = m.encode();
        let path = Path::new("MANIFEST");
        assert_eq!(Manifest::decode(&bytes, path).unwrap(), m);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let err = Manifest::decode(&b, path).unwrap_err();
                assert!(err.is_corruption(), "byte {i} bit {bit}: {err}");
            }
            let err = Manifest::decode(&bytes[..i], path).unwrap_err();
            assert!(err.is_corruption(), "truncated to {i}: {err}");
        }
    }

    /// Found by the `db_manifest` fuzz target: a manifest (checksum
    /// intact) with a page size no B+tree accepts decoded, and opening the
    /// partition then failed with `InvalidArgument` instead of
    /// `Corruption`; two partitions with one id would share a file.
    #[test]
    fn regression_db_manifest_bad_page_size_or_shared_id() {
        let path = Path::new("MANIFEST");
        let mut m = Manifest::with_splits(Tier::BTree, &[(Bytes::from("m"), Tier::Lsm)], 4096);
        m.partitions[1].page_size = 536_875_008;
        let err = Manifest::decode(&m.encode(), path).unwrap_err();
        assert!(
            err.is_corruption() && err.to_string().contains("page size"),
            "{err}"
        );
        m.partitions[1].page_size = 4096;
        m.partitions[1].id = 0;
        let err = Manifest::decode(&m.encode(), path).unwrap_err();
        assert!(
            err.is_corruption() && err.to_string().contains("share"),
            "{err}"
        );
    }

    #[test]
    fn newer_version_is_refused_by_name() {
        let mut bytes = Manifest::new(Tier::BTree, 4096).encode();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        let err = Manifest::decode(&bytes, Path::new("MANIFEST")).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { found: 2, .. }),
            "{err}"
        );
    }
}
