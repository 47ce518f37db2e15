//! Helpers shared by the scenario tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tierdb_io::{Result, Vfs};
use tierdb_wal::{Recovered, Wal, WalOptions};

/// The WAL directory every test uses inside its vfs root.
pub fn wal_dir(root: &Path) -> PathBuf {
    root.join("wal")
}

/// A record payload that depends on its lsn (and varies in length), so a
/// replay can be checked byte for byte.
pub fn payload(lsn: u64) -> Vec<u8> {
    let len = (lsn * 7 % 50) as usize + 1;
    (0..len)
        .map(|i| (lsn as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// Replayed records: `(lsn, payload)`.
pub type Replayed = Vec<(u64, Vec<u8>)>;

/// Opens the WAL and collects what it replays.
pub fn open_collect(
    vfs: Arc<dyn Vfs>,
    opts: WalOptions,
    replay_after: u64,
) -> Result<(Arc<Wal>, Recovered, Replayed)> {
    let mut seen = Vec::new();
    let (wal, rec) = Wal::open(vfs, opts, replay_after, &mut |lsn, p| {
        seen.push((lsn, p.to_vec()));
        Ok(())
    })?;
    Ok((wal, rec, seen))
}

/// Appends `from..=to` with [`payload`]s.
pub fn append_range(wal: &Wal, from: u64, to: u64) {
    for lsn in from..=to {
        wal.append(lsn, &payload(lsn)).unwrap();
    }
}

/// Asserts that `seen` is exactly the records `from..=to` with [`payload`]s.
pub fn assert_replayed(seen: &[(u64, Vec<u8>)], from: u64, to: u64, context: &str) {
    let lsns: Vec<u64> = seen.iter().map(|(l, _)| *l).collect();
    let want: Vec<u64> = (from..=to).collect();
    assert_eq!(lsns, want, "{context}: replayed lsns");
    for (lsn, p) in seen {
        assert_eq!(p, &payload(*lsn), "{context}: payload of lsn {lsn}");
    }
}

/// The segment files in `dir` on `vfs`, sorted.
pub fn segment_names(vfs: &dyn Vfs, dir: &Path) -> Vec<String> {
    vfs.list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect()
}

/// A small deterministic PRNG (splitmix64) for randomized tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `(offset, lsn, synced_offset)` of each record in a segment image, parsed
/// by the documented layout (header 32 bytes; record header 24 bytes).
pub fn record_offsets(bytes: &[u8]) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    let mut at = 32;
    while at + 24 <= bytes.len() {
        if bytes[at..at + 24].iter().all(|&b| b == 0) {
            break; // the active segment's preallocated, zeroed tail
        }
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let lsn = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let synced = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap());
        out.push((at, lsn, synced));
        at += 24 + len;
    }
    out
}

/// Recomputes the crc of the record at `at` (after a deliberate edit).
pub fn fix_record_crc(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&bytes[at + 4..at + 24 + len]);
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}
