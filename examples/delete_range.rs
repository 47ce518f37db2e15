//! Measures what one `delete_range` over many keys costs: WAL bytes
//! written and wall time, on a B+tree and on an LSM partition.
//!
//! ```text
//! cargo run --release --example delete_range              # 100,000 keys
//! cargo run --release --example delete_range -- 1000000   # more
//! ```
//!
//! Loads `n` keys (`k/0000000000` ..) in batches of 1,000, checkpoints,
//! then deletes them all with one `delete_range` and reports the WAL bytes
//! that commit wrote, its duration, and the partition's disk bytes after a
//! checkpoint and `compact_range` (space reclaimed).

use std::time::Instant;

use tierdb::{Db, Options, Tier, WriteBatch};

fn key(i: u64) -> Vec<u8> {
    format!("k/{i:010}").into_bytes()
}

fn run(tier: Tier, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path().join("db"), Options::default().default_tier(tier))?;
    for chunk in 0..n.div_ceil(1000) {
        let mut batch = WriteBatch::new();
        for i in chunk * 1000..((chunk + 1) * 1000).min(n) {
            batch.put(key(i), [7u8; 32]);
        }
        db.write(batch)?;
    }
    db.checkpoint()?;
    let disk_before = db.stats().disk_bytes();
    let wal_before = db.stats().wal_bytes_written;
    let started = Instant::now();
    db.delete_range(b"k/".as_slice()..b"k0".as_slice())?;
    let elapsed = started.elapsed();
    let wal_bytes = db.stats().wal_bytes_written - wal_before;
    let read_back = db.range(..)?.count();
    db.checkpoint()?;
    db.compact_range(..)?;
    db.checkpoint()?;
    let disk_after = db.stats().disk_bytes();
    println!(
        "{tier:?}: delete_range over {n} keys: WAL {wal_bytes} bytes, {:.3} ms; \
         keys left {read_back}; disk {disk_before} -> {disk_after} bytes after compaction",
        elapsed.as_secs_f64() * 1e3
    );
    db.close()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    for tier in [Tier::BTree, Tier::Lsm] {
        run(tier, n)?;
    }
    Ok(())
}
