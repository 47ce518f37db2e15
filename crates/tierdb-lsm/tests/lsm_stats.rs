//! The tier's read, space and bloom figures, checked against workloads
//! whose answer is known. Prints the measured bloom false-positive rate at
//! the default bits per key (`-- --nocapture`).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::LsmOptions;
use tierdb_lsm::sstable::SstOptions;
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

/// Deterministic tiers (compaction inside persist) with default table
/// options, so the bloom filter has the default bits per key; compaction
/// writes one output table.
fn options() -> LsmOptions {
    LsmOptions {
        background_compaction: false,
        sst: SstOptions::default(),
        target_file_bytes: 64 << 20,
        ..small_options()
    }
}

/// A tier of `options()` with an L0 trigger of 8 (no compaction in these
/// short runs unless asked).
fn open_untriggered(seed_base: u64) -> tierdb_lsm::LsmTier {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed(seed_base)));
    let opts = LsmOptions {
        l0_compaction_trigger: 8,
        ..options()
    };
    let cache = Arc::new(tierdb_cache::PageCache::new(8 << 20));
    open_with(&vfs, Path::new(DIR), cache, opts).unwrap()
}

fn puts(ids: impl Iterator<Item = u64>, seq: u64) -> Vec<WriteOp> {
    ids.map(|id| WriteOp::Put {
        key: key(id),
        value: value(id, seq, 40),
    })
    .collect()
}

#[test]
fn bloom_false_positive_rate_and_read_amplification() {
    let sim = SimVfs::new(seed(31));
    let vfs: Arc<dyn Vfs> = Arc::new(sim);
    let cache = Arc::new(tierdb_cache::PageCache::new(64 << 20));
    let tier = open_with(&vfs, Path::new(DIR), cache, options()).unwrap();
    // Even ids present, in 10 flushes, then compacted into one level.
    const KEYS: u64 = 20_000;
    for round in 0..10u64 {
        let ids = (round * KEYS / 10..(round + 1) * KEYS / 10).map(|i| i * 2);
        tier.apply(round + 1, &puts(ids, round + 1)).unwrap();
        persist(&tier);
    }
    tier.compact_all().unwrap();
    let lsm = tier.lsm_stats();
    assert_eq!(lsm.tables_per_level[0], 0, "{lsm:?}");
    let view = tier.read_view();

    // Present keys: exactly one table holds each key, one block per read.
    for i in 0..KEYS {
        assert!(view.get(&key(i * 2)).unwrap().is_some());
    }
    let present = tier.stats();
    assert_eq!(present.gets, KEYS);
    assert_eq!(present.read_amplification(), Some(1.0), "{present:?}");
    assert_eq!(present.bloom_useful + present.bloom_ineffective, 0);

    // Absent keys inside the tables' key ranges: only false positives
    // cost a block.
    for i in 0..KEYS {
        assert!(view.get(&key(i * 2 + 1)).unwrap().is_none());
    }
    let s = tier.stats();
    let (useful, ineffective) = (s.bloom_useful, s.bloom_ineffective);
    // One table; the last absent key lies past its range and never
    // reaches the filter.
    assert_eq!(useful + ineffective, KEYS - 1, "{s:?}");
    assert_eq!(s.get_blocks - present.get_blocks, ineffective);
    let rate = s.bloom_false_positive_rate().unwrap();
    eprintln!(
        "bloom at {} bits/key: {ineffective} false positives in {} probes of absent keys = {:.3}%",
        SstOptions::default().bloom_bits_per_key,
        useful + ineffective,
        rate * 100.0
    );
    assert!(rate > 0.0 && rate < 0.02, "false-positive rate {rate}");
    assert_eq!(s.gets, 2 * KEYS);
    // Blocks were fetched through a warm cache: no more file reads than
    // blocks.
    assert!(tier.lsm_stats().get_blocks_read <= s.get_blocks);
}

#[test]
fn reads_from_memtables_cost_no_block_and_l0_tables_add_up() {
    let tier = open_untriggered(32);
    tier.apply(1, &puts(0..100, 1)).unwrap();
    let view = tier.read_view();
    assert!(view.get(&key(5)).unwrap().is_some());
    assert_eq!(tier.stats().read_amplification(), Some(0.0));
    // Three overlapping L0 tables; key 0 only in the oldest: the two newer
    // ones are probed first (bloom says absent), then one block read.
    persist(&tier);
    tier.apply(2, &puts(1..100, 2)).unwrap();
    persist(&tier);
    tier.apply(3, &puts(1..100, 3)).unwrap();
    persist(&tier);
    assert_eq!(tier.lsm_stats().tables_per_level[0], 3);
    let before = tier.stats();
    tier.read_view().get(&key(0)).unwrap().unwrap();
    let after = tier.stats();
    assert_eq!(after.gets - before.gets, 1);
    assert_eq!(after.get_blocks - before.get_blocks, 1, "{after:?}");
}

#[test]
fn space_amplification_tracks_garbage() {
    let tier = open_untriggered(33);
    assert_eq!(tier.stats().space_amplification(), None);
    tier.apply(1, &puts(0..2000, 1)).unwrap();
    persist(&tier);
    tier.compact_all().unwrap();
    let once = tier.stats();
    assert_eq!(once.space_amplification(), Some(1.0), "{once:?}");
    // Every key overwritten twice: three copies on disk, one live.
    for seq in 2..=3 {
        tier.apply(seq, &puts(0..2000, seq)).unwrap();
        persist(&tier);
    }
    let thrice = tier.stats();
    let amp = thrice.space_amplification().unwrap();
    assert!((2.8..3.2).contains(&amp), "{amp} {thrice:?}");
    tier.compact_all().unwrap();
    assert_eq!(tier.stats().space_amplification(), Some(1.0));
}
