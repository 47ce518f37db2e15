//! Disk use stays bounded: overwrites and deletes are reclaimed by
//! compaction.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

fn sst_bytes(sim: &SimVfs) -> u64 {
    sim.files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .map(|p| sim.file_contents(p).map_or(0, |c| c.len() as u64))
        .sum()
}

/// Overwrites of one key: 1,000,000 by default, `TIERDB_OVERWRITES=N`
/// to change.
fn overwrites() -> u64 {
    std::env::var("TIERDB_OVERWRITES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

#[test]
fn key_overwritten_a_million_times_stays_small() {
    let sim = SimVfs::new(seed(11));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let k = key(42);
    let mut max_disk = 0;
    let n = overwrites();
    for seq in 1..=n {
        let op = WriteOp::Put {
            key: k.clone(),
            value: value(42, seq, 100),
        };
        tier.apply(seq, &[op]).unwrap();
        if seq.is_multiple_of(2000) {
            persist(&tier);
            max_disk = max_disk.max(sst_bytes(&sim));
        }
    }
    persist(&tier);
    tier.compact_all().unwrap();
    let stats = tier.stats();
    let lsm = tier.lsm_stats();
    eprintln!("{n} overwrites: {stats:?} {lsm:?} max disk {max_disk}");
    assert!(max_disk < 64 * 1024, "disk grew to {max_disk}");
    assert!(stats.disk_bytes < 4096, "{stats:?}");
    assert_eq!(sst_bytes(&sim), stats.disk_bytes);
    assert_eq!(stats.entries, 1);
    assert!(lsm.write_amplification() < 2.0, "{lsm:?}");
    let view = tier.read_view();
    assert_eq!(view.get(&k).unwrap(), Some(value(42, n, 100)));
}

#[test]
fn deletes_are_reclaimed() {
    let sim = SimVfs::new(seed(12));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let mut model = Model::new();
    for seq in 1..=20u64 {
        let ops = (0..250)
            .map(|i| {
                let id = (seq - 1) * 250 + i;
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, 100),
                }
            })
            .collect();
        apply(&tier, &mut model, seq, ops);
        persist(&tier);
    }
    tier.compact_all().unwrap();
    let full = tier.stats().disk_bytes;
    assert!(full > 5000 * 100, "{full}");
    let mut seq = 20;
    for chunk in 0..50u64 {
        seq += 1;
        let ops = (chunk * 100..chunk * 100 + 100)
            .map(|id| WriteOp::Delete { key: key(id) })
            .collect();
        apply(&tier, &mut model, seq, ops);
        if chunk % 10 == 9 {
            persist(&tier);
        }
    }
    assert!(model.is_empty());
    persist(&tier);
    tier.compact_all().unwrap();
    assert_equal(&*tier.read_view(), &model, "after deletes");
    let stats = tier.stats();
    assert_eq!(stats.disk_bytes, 0, "{stats:?} {:?}", tier.lsm_stats());
    assert_eq!(sst_bytes(&sim), 0, "table files left");
    drop(tier);
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    assert_equal(&*tier.read_view(), &model, "reopened");
}

/// Three flushes of `keys` keys each (interleaved, so every L0 table spans
/// the key space), persisted one by one; returns the tier after the
/// compaction the third flush triggers.
fn three_flushes(l1_target_bytes: u64, keys: u64) -> tierdb_lsm::LsmTier {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed(12)));
    let opts = tierdb_lsm::LsmOptions {
        background_compaction: false,
        l0_compaction_trigger: 3,
        memtable_bytes: 1 << 20,
        l1_target_bytes,
        ..small_options()
    };
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let tier = open_with(&vfs, Path::new(DIR), cache, opts).unwrap();
    for round in 0..3 {
        let ops: Vec<WriteOp> = (0..keys)
            .map(|i| WriteOp::Put {
                key: key(i * 3 + round),
                value: value(i, round + 1, 100),
            })
            .collect();
        tier.apply(round + 1, &ops).unwrap();
        persist(&tier);
    }
    let view = tier.read_view();
    for i in 0..keys * 3 {
        assert!(view.get(&key(i)).unwrap().is_some(), "key {i} lost");
    }
    tier
}

/// An L0 holding more than L1's target would pass nearly all of it on to
/// L2 right after landing in L1: it goes to the first level whose target
/// it fits instead, and L1 is not written at all. A smaller L0 still goes
/// to L1.
#[test]
fn an_l0_larger_than_l1s_target_compacts_past_l1() {
    // ~3 x 400 x 120 B = ~140 KiB of L0 against a 32 KiB L1 (L2: 128 KiB,
    // L3: 512 KiB with the ratio of 4).
    let tier = three_flushes(32 * 1024, 400);
    let lsm = tier.lsm_stats();
    let stats = tier.stats();
    assert_eq!(lsm.tables_per_level[0], 0, "{lsm:?}");
    assert_eq!(lsm.tables_per_level[1], 0, "{lsm:?}");
    assert_eq!(stats.compaction_bytes_written[1], 0, "{stats:?}");
    let deeper: u64 = stats.compaction_bytes_written[2..].iter().sum();
    assert!(deeper > 0, "{stats:?}");
    assert_eq!(
        stats.bytes_written,
        stats.persist_bytes_written
            + stats.compaction_bytes_written.iter().sum::<u64>()
            + stats.metadata_bytes_written,
        "the parts add up"
    );
    assert_eq!(stats.level_disk_bytes.iter().sum::<u64>(), stats.disk_bytes);

    let tier = three_flushes(1 << 20, 400);
    let lsm = tier.lsm_stats();
    assert!(lsm.tables_per_level[1] > 0, "{lsm:?}");
    assert!(tier.stats().compaction_bytes_written[1] > 0);
}
