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
