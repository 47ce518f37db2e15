//! Scan resistance: a one-pass scan of many cold pages must not flush a hot
//! working set. The same access trace is replayed against a plain LRU of the
//! same capacity, which loses the hot set, so the test can tell them apart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tierdb_cache::{PageCache, PageKey};

const HOT_FILE: u64 = 1;
const COLD_FILE: u64 = 2;

/// A cache under test: `access` returns true on a hit (and loads on a miss).
trait Policy {
    fn access(&mut self, key: PageKey, charge_bytes: usize) -> bool;
}

impl Policy for PageCache {
    fn access(&mut self, key: PageKey, charge_bytes: usize) -> bool {
        let mut hit = true;
        let page = self.get_or_load(key, || {
            hit = false;
            Ok::<_, ()>((Arc::new(key.page), charge_bytes))
        });
        assert_eq!(page.as_deref(), Ok(&key.page));
        hit
    }
}

/// Plain LRU over byte charges: the baseline to beat.
struct Lru {
    capacity_bytes: usize,
    used_bytes: usize,
    tick: u64,
    /// key -> (last use tick, charge)
    entries: HashMap<PageKey, (u64, usize)>,
    by_tick: BTreeMap<u64, PageKey>,
}

impl Lru {
    fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            used_bytes: 0,
            tick: 0,
            entries: HashMap::new(),
            by_tick: BTreeMap::new(),
        }
    }
}

impl Policy for Lru {
    fn access(&mut self, key: PageKey, charge_bytes: usize) -> bool {
        self.tick += 1;
        let hit = if let Some((tick, _)) = self.entries.get_mut(&key) {
            self.by_tick.remove(tick);
            *tick = self.tick;
            true
        } else {
            self.entries.insert(key, (self.tick, charge_bytes));
            self.used_bytes += charge_bytes;
            false
        };
        self.by_tick.insert(self.tick, key);
        while self.used_bytes > self.capacity_bytes {
            let (_, victim) = self
                .by_tick
                .pop_first()
                .expect("over budget means non-empty");
            let (_, charge) = self.entries.remove(&victim).expect("indexed both ways");
            self.used_bytes -= charge;
        }
        hit
    }
}

struct Workload {
    page_bytes: usize,
    hot_pages: u64,
    /// Warm-up passes over the hot set before the scan starts.
    warmup_rounds: u64,
    cold_pages: u64,
    /// Cold pages scanned between two hot accesses.
    cold_per_hot: u64,
}

/// Returns the hot set's hit ratio while the scan runs.
fn run(policy: &mut impl Policy, workload: &Workload) -> f64 {
    let charge = workload.page_bytes;
    for _ in 0..workload.warmup_rounds {
        for page in 0..workload.hot_pages {
            let _ = policy.access(
                PageKey {
                    file: HOT_FILE,
                    page,
                },
                charge,
            );
        }
    }
    let (mut hot_hits, mut hot_accesses) = (0u64, 0u64);
    for cold in 0..workload.cold_pages {
        let _ = policy.access(
            PageKey {
                file: COLD_FILE,
                page: cold,
            },
            charge,
        );
        if cold.is_multiple_of(workload.cold_per_hot) {
            let page = hot_accesses % workload.hot_pages;
            hot_hits += u64::from(policy.access(
                PageKey {
                    file: HOT_FILE,
                    page,
                },
                charge,
            ));
            hot_accesses += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = hot_hits as f64 / hot_accesses as f64;
    ratio
}

fn assert_scan_resistant(cache: &mut PageCache, workload: &Workload, capacity_bytes: usize) {
    let hot_ratio = run(cache, workload);
    let lru_ratio = run(&mut Lru::new(capacity_bytes), workload);
    let stats = cache.stats();
    println!("hot hit ratio during scan: S3-FIFO {hot_ratio:.3}, LRU {lru_ratio:.3}; {stats:?}");
    assert!(hot_ratio > 0.9, "S3-FIFO lost the hot set: {hot_ratio:.3}");
    assert!(
        lru_ratio < 0.2,
        "the workload must defeat plain LRU, else it proves nothing: {lru_ratio:.3}"
    );
    assert!(stats.used_bytes <= capacity_bytes as u64);
}

#[test]
fn hot_set_survives_a_scan_of_ten_times_the_capacity_one_shard() {
    let capacity_bytes = 100;
    let workload = Workload {
        page_bytes: 1,
        hot_pages: 60,
        warmup_rounds: 2,
        cold_pages: 1_000,
        cold_per_hot: 4,
    };
    let mut cache = PageCache::with_shards(capacity_bytes, 1);
    assert_scan_resistant(&mut cache, &workload, capacity_bytes);
}

#[test]
fn hot_set_survives_a_scan_of_ten_times_the_capacity_sharded() {
    let page_bytes = 4096;
    let capacity_bytes = 4096 * page_bytes; // 16 MiB: 16 shards of 256 pages
    let workload = Workload {
        page_bytes,
        hot_pages: 2048,
        warmup_rounds: 2,
        cold_pages: 40_960,
        cold_per_hot: 4,
    };
    let mut cache = PageCache::new(capacity_bytes);
    assert_eq!(cache.shard_count(), 16);
    assert_scan_resistant(&mut cache, &workload, capacity_bytes);
}
