//! Leveled against size-tiered compaction on an overwrite-heavy workload:
//! both read back exactly what was written; tiered writes less. Prints the
//! measured write, space and read amplification of each (`--nocapture`).
//! `TIERDB_TIERED_WRITES=N` changes the number of writes (default 100,000).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_cache::PageCache;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::sstable::SstOptions;
use tierdb_lsm::{CompactionStyle, LsmOptions, LsmStats};
use tierdb_tier::{Tier, TierStats, WriteOp};

const KEYS: u64 = 20_000;
const BATCH: u64 = 100;

fn writes() -> u64 {
    std::env::var("TIERDB_TIERED_WRITES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn options(style: CompactionStyle) -> LsmOptions {
    LsmOptions {
        compaction_style: style,
        background_compaction: false,
        memtable_bytes: 256 * 1024,
        l0_compaction_trigger: 4,
        level_size_ratio: 10,
        l1_target_bytes: 512 * 1024,
        target_file_bytes: 256 * 1024,
        sst: SstOptions::default(),
        ..LsmOptions::default()
    }
}

/// Random overwrites of `KEYS` keys (100-byte values), a flush every 2,000
/// writes; returns the figures and checks every key at the end.
fn overwrite_workload(style: CompactionStyle) -> (LsmStats, TierStats) {
    let sim = SimVfs::new(seed(41));
    let vfs: Arc<dyn Vfs> = Arc::new(sim);
    let cache = Arc::new(PageCache::new(16 << 20));
    let tier = open_with(&vfs, Path::new("/db/lsm"), cache, options(style)).unwrap();
    let mut rng = Rng::new(7);
    let mut model = Model::new();
    let batches = writes() / BATCH;
    for seq in 1..=batches {
        let ops = (0..BATCH)
            .map(|_| {
                let id = rng.below(KEYS);
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, 100),
                }
            })
            .collect();
        apply(&tier, &mut model, seq, ops);
        if seq.is_multiple_of(2000 / BATCH) {
            persist(&tier);
        }
    }
    persist(&tier);
    let view = tier.read_view();
    for id in 0..KEYS {
        let k = key(id);
        assert_eq!(
            view.get(&k).unwrap(),
            model.get(&k[..]).cloned(),
            "{style:?}"
        );
    }
    assert_equal(&*view, &model, &format!("{style:?}"));
    (tier.lsm_stats(), tier.stats())
}

#[test]
fn tiered_compaction_writes_less_than_leveled() {
    let leveled = overwrite_workload(CompactionStyle::Leveled);
    let tiered = overwrite_workload(CompactionStyle::Tiered);
    for (name, (s, t)) in [("leveled", &leveled), ("tiered", &tiered)] {
        eprintln!(
            "{name}: {} writes, write amp {:.2}, space amp {:.2}, read amp {:.2} blocks/get, \
             {} compactions, tables per level {:?}",
            writes(),
            s.write_amplification(),
            t.space_amplification().unwrap_or(0.0),
            t.read_amplification().unwrap_or(0.0),
            s.compactions,
            s.tables_per_level
        );
    }
    let (tiered, leveled) = (&tiered.0, &leveled.0);
    assert!(tiered.compactions > 0 && leveled.compactions > 0);
    assert!(
        tiered.write_amplification() < leveled.write_amplification(),
        "tiered {tiered:?}\nleveled {leveled:?}"
    );
}
