//! Helpers shared by the integration tests: a seeded PRNG, tier opening,
//! and comparison against a `BTreeMap` model.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_btree::{BTreeOptions, BTreeTier};
use tierdb_cache::PageCache;
use tierdb_io::{Result, Vfs};
use tierdb_tier::testing;
pub use tierdb_tier::testing::{
    Model, Rng, apply, assert_equal, collect, collect_rev, no_wal, random_delete_range, seed, value,
};
use tierdb_tier::{ReadView, Seq, Tier};

pub fn open(vfs: &Arc<dyn Vfs>, path: &Path, page_size: usize) -> Result<BTreeTier> {
    open_with_cache(vfs, path, page_size, Arc::new(PageCache::new(1 << 20)))
}

pub fn open_with_cache(
    vfs: &Arc<dyn Vfs>,
    path: &Path,
    page_size: usize,
    cache: Arc<PageCache>,
) -> Result<BTreeTier> {
    BTreeTier::open(Arc::clone(vfs), path, cache, 1, BTreeOptions { page_size })
}

pub fn persist(tier: &BTreeTier) -> Seq {
    tier.persist(&no_wal).expect("persist")
}

/// Key `id` of a workload: mostly short, every 37th one 16 KiB long.
pub fn key(id: u64) -> Bytes {
    let mut k = format!("key{id:08}").into_bytes();
    if id % 37 == 5 {
        k.resize(16 * 1024, b'k');
    }
    Bytes::from(k)
}

/// A random value length: mostly small, some spanning overflow pages.
pub fn value_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=79 => rng.below(60) as usize,
        80..=95 => 100 + rng.below(3000) as usize,
        _ => 3000 + rng.below(40_000) as usize,
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
