//! Helpers shared by the LSM integration tests: a seeded PRNG, tier
//! opening with small sizes (so flushes and compactions happen often), and
//! comparison against a `BTreeMap` model.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{Result, Vfs};
use tierdb_lsm::sstable::SstOptions;
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::testing;
pub use tierdb_tier::testing::{
    Model, Rng, apply, apply_to_model, assert_equal, collect, collect_rev, no_wal,
    random_delete_range, seed, value,
};
use tierdb_tier::{ReadView, Seq, Tier};

/// Small sizes: 16 KiB memtables, 1 KiB blocks, 8 KiB tables, 32 KiB L1.
pub fn small_options() -> LsmOptions {
    LsmOptions {
        memtable_bytes: 16 * 1024,
        l0_compaction_trigger: 3,
        level_size_ratio: 4,
        l1_target_bytes: 32 * 1024,
        target_file_bytes: 8 * 1024,
        sst: SstOptions {
            block_bytes: 1024,
            ..SstOptions::default()
        },
        ..LsmOptions::default()
    }
}

pub fn open(vfs: &Arc<dyn Vfs>, dir: &Path) -> Result<LsmTier> {
    open_with(vfs, dir, Arc::new(PageCache::new(1 << 20)), small_options())
}

pub fn open_with(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    cache: Arc<PageCache>,
    opts: LsmOptions,
) -> Result<LsmTier> {
    LsmTier::open(Arc::clone(vfs), dir, cache, 1 << 32, opts)
}

pub fn persist(tier: &LsmTier) -> Seq {
    tier.persist(&no_wal).expect("persist")
}

/// Key `id` of a workload.
pub fn key(id: u64) -> Bytes {
    Bytes::from(format!("key{id:08}"))
}

/// A random value length: mostly small, some larger than a block.
pub fn value_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=84 => rng.below(60) as usize,
        85..=97 => 100 + rng.below(900) as usize,
        _ => 1000 + rng.below(4000) as usize,
    }
}

/// Gets and ranges (both ways, and from both ends at once) of `view`
/// against `model`, over this suite's keys.
pub fn spot_check(
    view: &dyn ReadView,
    model: &Model,
    rng: &mut Rng,
    key_space: u64,
    context: &str,
) {
    testing::spot_check(view, model, rng, key_space, key, context);
}
