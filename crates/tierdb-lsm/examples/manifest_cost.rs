//! Manifest cost per install as the tree grows: flushes `N` one-key
//! memtables into `N` L0 tables (compaction off) on real files and prints,
//! for the first and the last 100 installs, the manifest bytes written per
//! install and the median persist latency (table write + sync + manifest
//! install).
//!
//! `cargo run --release -p tierdb-lsm --example manifest_cost -- 2000 [dir]`

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const WINDOW: u64 = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let tables: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let base = args.next().map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir)).unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let opts = LsmOptions {
        background_compaction: false,
        l0_compaction_trigger: usize::MAX,
        l0_slowdown_tables: usize::MAX,
        l0_stop_tables: usize::MAX,
        ..LsmOptions::default()
    };
    let cache = Arc::new(PageCache::new(1 << 20));
    let tier = LsmTier::open(vfs, tmp.path(), cache, 0, opts).unwrap();
    let (mut bytes, mut times) = (0u64, Vec::new());
    for seq in 1..=tables {
        let op = WriteOp::Put {
            key: Bytes::from(format!("key{seq:08}")),
            value: Bytes::from_static(b"value"),
        };
        tier.apply(seq, &[op]).unwrap();
        let before = manifest_bytes(&tier);
        let started = Instant::now();
        tier.persist(&|_| Ok(())).unwrap();
        times.push(started.elapsed());
        bytes += manifest_bytes(&tier) - before;
        if seq == WINDOW || seq == tables {
            times.sort();
            println!(
                "installs {:>5}..{seq:<5} tables {seq:>5}: {:>7} manifest bytes/install, \
                 median {:>7.1} us/persist",
                seq + 1 - WINDOW,
                bytes / WINDOW,
                times[times.len() / 2].as_secs_f64() * 1e6
            );
        }
        if seq % WINDOW == 0 {
            (bytes, times) = (0, Vec::new());
        }
    }
}

/// Bytes written to the tier's files other than tables: its manifest.
fn manifest_bytes(tier: &LsmTier) -> u64 {
    tier.stats().bytes_written - tier.lsm_stats().table_bytes_written
}
