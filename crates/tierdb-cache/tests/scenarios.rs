//! Scenarios for the page cache's public API: typed lookups, the budget,
//! pinning, `get_or_load`, removal.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tierdb_cache::{CacheStats, PageCache, PageKey};

#[derive(Debug, PartialEq, Eq)]
struct Page(u64);

fn key(file: u64, page: u64) -> PageKey {
    PageKey { file, page }
}

#[test]
fn typed_get_hits_misses_and_rejects_the_wrong_type() {
    let cache = PageCache::with_shards(1000, 2);
    assert_eq!(cache.get::<Page>(key(1, 1)), None, "empty cache");
    cache.insert(key(1, 1), Arc::new(Page(11)), 10);
    assert_eq!(cache.get::<Page>(key(1, 1)).as_deref(), Some(&Page(11)));
    assert_eq!(cache.get::<String>(key(1, 1)), None, "wrong type is a miss");
    assert_eq!(cache.get::<Page>(key(1, 2)), None, "other page");
    assert_eq!(cache.get::<Page>(key(2, 1)), None, "other file");

    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 4, 1));
    assert_eq!((stats.entries, stats.used_bytes), (1, 10));
    assert_eq!(cache.capacity_bytes(), 1000);
}

#[test]
fn insert_replaces_the_old_value_and_its_charge() {
    let cache = PageCache::with_shards(1000, 1);
    cache.insert(key(1, 1), Arc::new(Page(1)), 10);
    cache.insert(key(1, 1), Arc::new(Page(2)), 30);
    assert_eq!(cache.get::<Page>(key(1, 1)).as_deref(), Some(&Page(2)));
    cache.insert(key(1, 1), Arc::new("text".to_string()), 5);
    assert_eq!(cache.get::<Page>(key(1, 1)), None);
    assert_eq!(
        cache
            .get::<String>(key(1, 1))
            .as_deref()
            .map(String::as_str),
        Some("text")
    );
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.used_bytes, stats.inserts), (1, 5, 3));
}

#[test]
fn budget_is_respected_without_pins() {
    let capacity_bytes = 64 * 4096;
    let cache = PageCache::new(capacity_bytes);
    for page in 0..5_000u64 {
        let charge = 1024 + (page as usize * 7919) % 8192;
        cache.insert(key(page % 3, page), Arc::new(Page(page)), charge);
        let stats = cache.stats();
        assert!(
            stats.used_bytes <= capacity_bytes as u64,
            "insert {page}: {stats:?}"
        );
        if page % 3 == 0 {
            let _ = cache.get::<Page>(key(0, page / 2));
        }
    }
    let stats = cache.stats();
    assert!(stats.evictions > 4_000, "{stats:?}");
    assert!(
        stats.used_bytes > capacity_bytes as u64 / 2,
        "cache should stay well used: {stats:?}"
    );
    assert_eq!(stats.pinned_skips, 0);
}

#[test]
fn oversized_values_are_not_cached_and_drop_the_old_value() {
    let cache = PageCache::with_shards(100, 1);
    cache.insert(key(1, 1), Arc::new(Page(1)), 10);
    cache.insert(key(1, 1), Arc::new(Page(2)), 101);
    assert_eq!(cache.get::<Page>(key(1, 1)), None);
    assert_eq!(cache.stats().used_bytes, 0);
}

#[test]
fn pinned_entries_survive_pressure_and_are_evicted_once_released() {
    let capacity_bytes = 100;
    let cache = PageCache::with_shards(capacity_bytes, 1);
    // 30 pinned entries of 5 bytes: 150 bytes, more than the whole budget.
    let pins: Vec<Arc<Page>> = (0..30).map(|page| Arc::new(Page(page))).collect();
    for (page, pin) in (0u64..).zip(&pins) {
        cache.insert(key(1, page), Arc::clone(pin), 5);
    }
    let weak_pins: Vec<_> = pins.iter().map(Arc::downgrade).collect();
    for page in 0..1_000 {
        cache.insert(key(2, page), Arc::new(Page(page)), 5);
    }
    for page in 0..30 {
        assert!(
            cache.get::<Page>(key(1, page)).is_some(),
            "pinned page {page} was evicted"
        );
    }
    let stats = cache.stats();
    assert_eq!(
        stats.used_bytes, 150,
        "over budget only by pinned entries: {stats:?}"
    );
    assert!(stats.pinned_skips > 0);

    drop(pins);
    cache.insert(key(3, 0), Arc::new(Page(0)), 5);
    assert!(
        cache.stats().used_bytes <= capacity_bytes as u64,
        "released pins are reclaimed"
    );
    // The survivors were just read (hit), so they count as hot; a new working
    // set as large as the cache, used repeatedly, takes their place. (A one-pass scan would
    // not: that is the scan resistance.)
    for _round in 0..10 {
        for page in 0..20 {
            let _ = cache.get_or_load(key(4, page), || Ok::<_, ()>((Arc::new(Page(page)), 5)));
        }
    }
    for (page, weak) in (0u64..).zip(&weak_pins) {
        assert_eq!(cache.get::<Page>(key(1, page)), None);
        assert!(
            weak.upgrade().is_none(),
            "the cache still holds released page {page}"
        );
    }
}

#[test]
fn eviction_stops_when_everything_is_pinned() {
    let cache = PageCache::with_shards(50, 1);
    let mut pins = Vec::new();
    for page in 0..2_000 {
        let value = Arc::new(Page(page));
        cache.insert(key(1, page), Arc::clone(&value), 1);
        pins.push(value);
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.entries, stats.used_bytes, stats.evictions),
        (2_000, 2_000, 0)
    );
    drop(pins);
    cache.insert(key(2, 0), Arc::new(Page(0)), 1);
    assert!(cache.stats().used_bytes <= 50);
}

#[test]
fn get_or_load_runs_the_loader_once_per_miss() {
    let cache = PageCache::with_shards(1000, 4);
    let mut loads = 0;
    for _ in 0..5 {
        let page = cache
            .get_or_load(key(1, 7), || {
                loads += 1;
                Ok::<_, String>((Arc::new(Page(7)), 10))
            })
            .expect("loader succeeds");
        assert_eq!(*page, Page(7));
    }
    assert_eq!(loads, 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.inserts), (4, 1, 1));

    let failed = cache.get_or_load(key(1, 8), || Err::<(Arc<Page>, usize), _>("disk on fire"));
    assert_eq!(failed, Err("disk on fire"));
    assert_eq!(cache.stats().entries, 1, "a failed load caches nothing");
}

#[test]
fn get_or_load_runs_the_loader_without_holding_a_lock() {
    let cache = Arc::new(PageCache::with_shards(1000, 1));
    let (done_tx, done_rx) = mpsc::channel();
    let worker_cache = Arc::clone(&cache);
    thread::spawn(move || {
        let page = worker_cache.get_or_load(key(1, 1), || {
            // Locks every shard: would deadlock if the loader ran under one.
            let _ = worker_cache.stats();
            worker_cache.insert(key(1, 2), Arc::new(Page(2)), 1);
            Ok::<_, ()>((Arc::new(Page(1)), 1))
        });
        done_tx.send(page).expect("test thread waits");
    });
    let page = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("loader deadlocked");
    assert_eq!(page.as_deref(), Ok(&Page(1)));
    assert_eq!(cache.get::<Page>(key(1, 2)).as_deref(), Some(&Page(2)));
}

#[test]
fn get_or_load_returns_the_value_a_racing_loader_inserted() {
    let cache = PageCache::with_shards(1000, 1);
    let page = cache
        .get_or_load(key(1, 1), || {
            // Another thread's load of the same page lands first.
            cache.insert(key(1, 1), Arc::new(Page(100)), 1);
            Ok::<_, ()>((Arc::new(Page(200)), 1))
        })
        .expect("loader succeeds");
    assert_eq!(
        *page,
        Page(100),
        "all callers share the first inserted value"
    );
    assert_eq!(cache.get::<Page>(key(1, 1)).as_deref(), Some(&Page(100)));
}

#[test]
fn remove_and_remove_file_drop_entries() {
    let cache = PageCache::with_shards(10_000, 4);
    for file in 1..=3 {
        for page in 0..100 {
            cache.insert(key(file, page), Arc::new(Page(page)), 10);
        }
    }
    cache.remove(key(1, 5));
    assert_eq!(cache.get::<Page>(key(1, 5)), None);
    assert!(cache.get::<Page>(key(1, 6)).is_some());

    cache.remove_file(2);
    for page in 0..100 {
        assert_eq!(cache.get::<Page>(key(2, page)), None, "file 2 page {page}");
        assert!(
            cache.get::<Page>(key(3, page)).is_some(),
            "file 3 page {page}"
        );
    }
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.used_bytes), (199, 1990));
    assert_eq!(stats.evictions, 0, "removal is not eviction");
}

#[test]
fn new_uses_fewer_shards_for_small_caches() {
    assert_eq!(PageCache::new(0).shard_count(), 1);
    assert_eq!(PageCache::new(64 * 1024).shard_count(), 1);
    assert_eq!(PageCache::new(1 << 20).shard_count(), 4);
    assert_eq!(PageCache::new(1 << 30).shard_count(), 16);
    // A zero-capacity cache caches nothing and never panics.
    let cache = PageCache::new(0);
    cache.insert(key(1, 1), Arc::new(Page(1)), 1);
    assert_eq!(cache.get::<Page>(key(1, 1)), None);
    assert_eq!(
        cache.stats(),
        CacheStats {
            misses: 1,
            ..CacheStats::default()
        }
    );
}

#[test]
fn untyped_lookups_see_values_of_every_type() {
    let cache = PageCache::with_shards(1000, 1);
    cache.insert(key(1, 1), Arc::new(Page(11)), 10);
    cache.insert(key(1, 2), Arc::new("text".to_string()), 10);
    // borrow_or_get: `f` downcasts; declining hands back the value.
    let found = cache.borrow_or_get(key(1, 1), |v| v.downcast_ref::<Page>().map(|p| p.0));
    assert_eq!(found.map(Result::ok), Some(Some(11)));
    let declined = cache.borrow_or_get(key(1, 2), |v| v.downcast_ref::<Page>().map(|p| p.0));
    let value = declined.and_then(Result::err).expect("the value back");
    assert_eq!(
        value.downcast_ref::<String>().map(String::as_str),
        Some("text")
    );
    assert!(cache.borrow_or_get(key(1, 3), |_| Some(())).is_none());
    // get_or_load_value: a hit of any type, or the loaded value, inserted.
    let mut loads = 0;
    let mut load = |n: u64| {
        loads += 1;
        Ok::<_, ()>((Arc::new(Page(n)) as tierdb_cache::CacheValue, 7))
    };
    let text = cache.get_or_load_value(key(1, 2), || load(0)).unwrap();
    assert!(text.is::<String>());
    let loaded = cache.get_or_load_value(key(1, 3), || load(13)).unwrap();
    assert_eq!(loaded.downcast_ref::<Page>(), Some(&Page(13)));
    assert_eq!(cache.get::<Page>(key(1, 3)).as_deref(), Some(&Page(13)));
    assert_eq!(loads, 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (4, 1, 3));
}
