//! Four threads hammer one cache with lookups, loads, inserts, removals and
//! pins; every value read must belong to its key, and the counters must add up.

use std::sync::Arc;
use std::thread;

use tierdb_cache::{PageCache, PageKey};

const THREADS: u64 = 4;
const OPS_PER_THREAD: u64 = 50_000;
const PINS_MAX: usize = 4;
const PAGE_BYTES: usize = 4096;

/// A page's content is derived from its key, so any mix-up is visible.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    key: PageKey,
}

/// xorshift64*: deterministic per-thread randomness without dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Returns the number of lookups (get and get_or_load) it made.
fn worker(cache: &PageCache, seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let mut pins: Vec<Arc<Page>> = Vec::new();
    let mut lookups = 0;
    for _ in 0..OPS_PER_THREAD {
        let roll = rng.next();
        // Skewed keys: a hot handful of pages and a long tail.
        let page = if roll.is_multiple_of(4) {
            rng.next() % 5_000
        } else {
            rng.next() % 64
        };
        let key = PageKey {
            file: rng.next() % 3,
            page,
        };
        match roll % 1000 {
            0..=499 => {
                lookups += 1;
                if let Some(found) = cache.get::<Page>(key) {
                    assert_eq!(found.key, key);
                    pins.push(found);
                }
            }
            500..=849 => {
                lookups += 1;
                let found = cache
                    .get_or_load(key, || Ok::<_, ()>((Arc::new(Page { key }), PAGE_BYTES)))
                    .expect("loader never fails");
                assert_eq!(found.key, key);
                pins.push(found);
            }
            850..=949 => cache.insert(key, Arc::new(Page { key }), PAGE_BYTES),
            950..=998 => cache.remove(key),
            _ => cache.remove_file(key.file),
        }
        if pins.len() > PINS_MAX {
            pins.swap_remove((rng.next() % pins.len() as u64) as usize);
        }
    }
    lookups
}

#[test]
fn four_threads_share_one_cache() {
    let capacity_bytes = 64 * PAGE_BYTES;
    let cache = Arc::new(PageCache::with_shards(capacity_bytes, 4));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread_id| {
            let cache = Arc::clone(&cache);
            thread::spawn(move || worker(&cache, 0x9e37_79b9_7f4a_7c15 ^ (thread_id + 1)))
        })
        .collect();
    let lookups: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("worker panicked"))
        .sum();

    let stats = cache.stats();
    println!("{stats:?}");
    assert_eq!(stats.hits + stats.misses, lookups);
    assert!(stats.hits > 10_000 && stats.evictions > 10_000, "{stats:?}");
    // Pins were at most THREADS * PINS_MAX pages at any time; each shard may
    // still carry the pins its last eviction saw.
    let slack_bytes = cache.shard_count() * THREADS as usize * (PINS_MAX + 1) * PAGE_BYTES;
    assert!(
        stats.used_bytes <= (capacity_bytes + slack_bytes) as u64,
        "{stats:?}"
    );

    // With every pin gone, further inserts bring every shard within budget.
    for page in 0..10_000 {
        cache.insert(
            PageKey { file: 99, page },
            Arc::new(Page {
                key: PageKey { file: 99, page },
            }),
            PAGE_BYTES,
        );
    }
    assert!(cache.stats().used_bytes <= capacity_bytes as u64);
}
