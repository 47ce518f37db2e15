//! tierdb's shared page/block cache.
//!
//! One [`PageCache`] with one memory budget serves the B+tree pages and the
//! SSTable blocks of every partition. Values are type-erased
//! ([`CacheValue`]); [`PageCache::get`] hands back a typed `Arc<T>` only if
//! the entry holds a `T`. Keys are ([`PageKey`]) a file id and a page or
//! block number.
//!
//! # Clean pages only
//!
//! Only clean, immutable copies of on-disk data live here. The B+tree keeps
//! its dirty pages in its own in-memory tree until a checkpoint writes them,
//! and SSTable blocks are never modified, so the cache has no dirty state, no
//! write-back and no flush: evicting an entry just drops a reference.
//!
//! # Sharding
//!
//! Keys are spread over shards by a hash of the key; each shard has its own
//! `parking_lot::RwLock`, its own share of the capacity (split evenly, summing
//! to exactly [`PageCache::capacity_bytes`]) and runs eviction on its own.
//! [`PageCache::new`] uses up to 16 shards of at least 256 KiB each.
//!
//! Hits take the read lock only (the frequency counter and the hit/miss
//! counters are atomics), so readers of one shard never wait for each other,
//! nor for one that was descheduled mid-lookup; inserts, removals and
//! eviction take the write lock. [`PageCache::borrow_or_get`] runs a
//! closure on a cached value under the read lock, without cloning its `Arc`:
//! readers of one hot entry then write no shared reference count.
//!
//! # Eviction: S3-FIFO
//!
//! Each shard runs S3-FIFO (Yang et al., "FIFO queues are all you need for
//! cache eviction", SOSP 2023) over byte charges:
//!
//! * **small** FIFO: new entries start here. Its target is 10% of the shard.
//! * **main** FIFO: entries that proved themselves. Evicted CLOCK-style.
//! * **ghost** FIFO: keys only (no values, no charge) of entries recently
//!   evicted from small; at most as many keys as the shard holds entries
//!   (at least 16).
//! * each entry has a 2-bit **frequency** counter (0..=3), raised by every
//!   hit; no other bookkeeping happens on a hit.
//!
//! On insert of a new key: if the key is in the ghost, it was evicted too
//! early, so it goes straight to main; otherwise it goes to small. Then,
//! while the shard is over budget, evict from small if small holds at least
//! its target (else from main):
//!
//! * small head with freq > 0 → moves to main (freq reset to 0);
//!   with freq = 0 → evicted, key remembered in the ghost;
//! * main head with freq > 0 → freq − 1, back to the main tail;
//!   with freq = 0 → evicted.
//!
//! Why it resists scans: a page touched once by a scan sits in small with
//! freq 0 and is evicted from there after about a tenth of the cache's worth
//! of inserts, never reaching main. The working set was promoted to main
//! because it was hit while in small, and main is only evicted from when
//! small is below its target. So a scan of any length churns the small queue
//! and leaves main alone. Plain LRU moves every scanned page to the front
//! and a scan of one cache's worth of pages flushes the working set; the
//! `scan_resistance` test shows both side by side (S3-FIFO keeps a hot-set
//! hit ratio near 1.0 during a 10× scan; a reference LRU gets about 0).
//!
//! Queues are `VecDeque`s of `(key, slot id)` with lazy deletion: removal
//! just forgets the entry in the map, and stale slots are skipped at the
//! head or compacted away once they outnumber live ones. All operations are
//! O(1) amortized, plus the pinned entries an eviction skips (see Pinning),
//! except [`PageCache::remove_file`], which scans every shard's map.
//!
//! # Pinning
//!
//! The `Arc` returned by `get`/`get_or_load` (or kept by the caller of
//! `insert`) **is the pin**: an entry whose value has a strong count above 1
//! is in use outside the cache and is never evicted. Eviction that meets a
//! pinned entry with freq 0 puts it back at the tail of its queue and counts
//! a `pinned_skip`. Dropping the last outside `Arc` unpins it; nothing else
//! is needed. Weak references do not pin. `remove`, `remove_file` and a
//! replacing `insert` do drop pinned entries from the cache; the holders keep
//! a valid value, which the cache no longer charges for.
//!
//! Eviction is bounded even when everything is pinned: within one eviction
//! run, once a queue has been skipped as many times in a row as it has live
//! entries, every entry in it was seen pinned and the queue is given up;
//! when both are given up eviction stops. With `p` pinned entries an
//! eviction run may skip up to `p` entries per pass.
//!
//! # Memory bound
//!
//! When an insert returns, its shard is within its capacity, or every entry
//! the shard holds was found pinned by that eviction run. So per shard
//! `used <= max(capacity, charges pinned at the last insert)`, and for the
//! whole cache `used_bytes <= capacity_bytes + (charges of entries pinned
//! when their shard last evicted)`: the budget is exceeded only by pinned
//! entries. Note that `get_or_load` pins the value it just loaded while it
//! inserts it (it is about to hand it to the caller). A shard whose pins were
//! released stays over budget until its next insert reclaims the excess.
//!
//! The budget counts charges only. Per-entry bookkeeping (map slot, queue
//! slots, a ghost key: on the order of 100 bytes per entry) is not charged;
//! callers should fold it into `charge` if it matters. A zero charge counts
//! as 1 byte, so the entry count stays bounded by the capacity. The ghost
//! holds at most max(entries, 16) keys per shard, and stale queue slots are
//! compacted once they outnumber live ones, so bookkeeping is O(entries).

mod cache;
mod key;
#[cfg(test)]
mod model_tests;
mod queue;
mod shard;

use std::any::Any;
use std::sync::Arc;

pub use cache::PageCache;
pub use key::PageKey;

/// A cached value of any type. One cache holds pages and blocks of every
/// tier; [`PageCache::get`] downcasts.
pub type CacheValue = Arc<dyn Any + Send + Sync>;

/// Counters summed over all shards. `hits`, `misses`, `inserts`,
/// `evictions` and `pinned_skips` only grow; `used_bytes` and `entries`
/// describe the cache now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `get` (or `get_or_load`) found a value of the requested type.
    pub hits: u64,
    /// `get` found nothing, or a value of another type.
    pub misses: u64,
    /// Values stored by `insert` or `get_or_load` (oversized ones excluded).
    pub inserts: u64,
    /// Entries dropped to make room (not counting `remove`/`remove_file`).
    pub evictions: u64,
    /// Sum of the charges of resident entries.
    pub used_bytes: u64,
    /// Resident entries.
    pub entries: u64,
    /// Times eviction passed over an entry because it was pinned.
    pub pinned_skips: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 when nothing was looked up.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let ratio = self.hits as f64 / lookups as f64;
            ratio
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn page_cache_is_send_and_sync() {
        assert_send_sync::<PageCache>();
        assert_send_sync::<Arc<PageCache>>();
    }
}
