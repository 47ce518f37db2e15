//! The sharded cache: routes each key to one [`Shard`] behind its own lock.

use std::any::Any;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::shard::Shard;
use crate::{CacheStats, CacheValue, PageKey};

/// Most shards [`PageCache::new`] uses.
const SHARDS_MAX: usize = 16;
/// [`PageCache::new`] gives each shard at least this much capacity, so small
/// caches use fewer shards (a shard must hold many pages for S3-FIFO to work).
const SHARD_BYTES_MIN: usize = 256 * 1024;

/// The shared page/block cache. `Send + Sync`; share it as `Arc<PageCache>`.
///
/// See the crate docs for eviction, pinning and the memory bound.
pub struct PageCache {
    shards: Box<[RwLock<Shard>]>,
    capacity_bytes: usize,
}

impl PageCache {
    /// A cache of `capacity_bytes`, with up to 16 shards of at least 256 KiB
    /// each (one shard for caches below 512 KiB).
    pub fn new(capacity_bytes: usize) -> Self {
        let shard_count = (capacity_bytes / SHARD_BYTES_MIN).clamp(1, SHARDS_MAX);
        // A power of two keeps the shard split even for power-of-two budgets.
        let shard_count = 1 << shard_count.ilog2();
        Self::with_shards(capacity_bytes, shard_count)
    }

    /// A cache of `capacity_bytes` split evenly over `shards` shards (at least
    /// one). The shard capacities sum to exactly `capacity_bytes`.
    pub fn with_shards(capacity_bytes: usize, shards: usize) -> Self {
        let shard_count = shards.max(1);
        let base_bytes = capacity_bytes / shard_count;
        let extra_bytes = capacity_bytes % shard_count;
        let shards = (0..shard_count)
            .map(|i| RwLock::new(Shard::new(base_bytes + usize::from(i < extra_bytes))))
            .collect();
        Self {
            shards,
            capacity_bytes,
        }
    }

    /// Typed lookup: `Some` if `key` is cached *and* its value is a `T`.
    /// Counts a hit, or a miss (absent or of another type). The returned
    /// `Arc` pins the entry until it is dropped.
    pub fn get<T: Any + Send + Sync>(&self, key: PageKey) -> Option<Arc<T>> {
        self.shard(key).read().get(key)
    }

    /// Runs `f` on the cached value of `key` (of any type: `f` downcasts)
    /// under the shard's read lock, without cloning the value's `Arc`:
    /// readers of one hot entry then write no shared reference count, and
    /// concurrent readers of a shard never wait for each other (eviction
    /// waits for `f`: keep it short, and do not touch the cache from it).
    /// Where `f` declines (returns `None`), returns the value's `Arc`
    /// instead. `None` if `key` is not cached.
    ///
    /// Counts a hit as `get` does, but not a miss: the caller is expected
    /// to load through [`get_or_load_value`](Self::get_or_load_value) next,
    /// which counts it.
    pub fn borrow_or_get<R>(
        &self,
        key: PageKey,
        f: impl FnOnce(&(dyn Any + Send + Sync)) -> Option<R>,
    ) -> Option<Result<R, CacheValue>> {
        self.shard(key).read().borrow_or_get(key, f)
    }

    /// Inserts `value` under `key`, replacing any old entry (which keeps its
    /// queue position), charges `charge` bytes, then evicts to fit.
    ///
    /// A charge of 0 counts as 1. A value charged more than one shard's
    /// capacity is not cached (and any old entry of `key` is removed); such
    /// a call does not count as an insert. Keep a clone of `value` to pin it.
    pub fn insert<T: Any + Send + Sync>(&self, key: PageKey, value: Arc<T>, charge: usize) {
        let value: CacheValue = value;
        self.shard(key).write().insert(key, value, charge);
    }

    /// `get`, or on a miss run `load` (without holding any cache lock) and
    /// insert what it returns: the value and its charge in bytes.
    ///
    /// Concurrent misses on one key may each run `load`; the first result
    /// inserted wins and every caller gets that one, so all hold the same
    /// `Arc`. An error from `load` is returned and nothing is cached.
    pub fn get_or_load<T: Any + Send + Sync, E>(
        &self,
        key: PageKey,
        load: impl FnOnce() -> Result<(Arc<T>, usize), E>,
    ) -> Result<Arc<T>, E> {
        let shard = self.shard(key);
        if let Some(value) = shard.read().get(key) {
            return Ok(value);
        }
        let (value, charge) = load()?;
        let mut shard = shard.write();
        if let Some(winner) = shard.peek::<T>(key) {
            return Ok(winner);
        }
        shard.insert(key, Arc::clone(&value) as CacheValue, charge);
        Ok(value)
    }

    /// [`get_or_load`](Self::get_or_load) for a cache holding values of
    /// several types under one kind of key (a B+tree's leaves and
    /// branches): whatever `key` holds, of any type, or what `load` returns.
    pub fn get_or_load_value<E>(
        &self,
        key: PageKey,
        load: impl FnOnce() -> Result<(CacheValue, usize), E>,
    ) -> Result<CacheValue, E> {
        let shard = self.shard(key);
        if let Some(value) = shard.read().get_value(key) {
            return Ok(value);
        }
        let (value, charge) = load()?;
        let mut shard = shard.write();
        if let Some(winner) = shard.peek_value(key) {
            return Ok(winner);
        }
        shard.insert(key, Arc::clone(&value), charge);
        Ok(value)
    }

    /// Drops the entry of `key`, if any. Holders of its value keep it.
    pub fn remove(&self, key: PageKey) {
        self.shard(key).write().remove(key);
    }

    /// Drops every entry of `file` (the file was deleted or is reopened).
    /// Locks one shard at a time; O(entries in the cache).
    pub fn remove_file(&self, file: u64) {
        for shard in &self.shards {
            shard.write().remove_file(file);
        }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Sums the per-shard counters. Shards are read one after another, so
    /// under concurrent use the sum is not one atomic snapshot.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for shard in &self.shards {
            shard.read().add_stats(&mut stats);
        }
        stats
    }

    #[cfg(test)]
    pub(crate) fn shard_of(&self, key: PageKey) -> &RwLock<Shard> {
        self.shard(key)
    }

    #[cfg(test)]
    pub(crate) fn shards(&self) -> &[RwLock<Shard>] {
        &self.shards
    }

    fn shard(&self, key: PageKey) -> &RwLock<Shard> {
        &self.shards[key.shard_index(self.shards.len())]
    }
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("shards", &self.shards.len())
            .field("stats", &self.stats())
            .finish()
    }
}
