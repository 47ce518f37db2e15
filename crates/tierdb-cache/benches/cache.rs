//! Page cache lookups: a hit and a miss.
//!
//! `cargo bench -p tierdb-cache --bench cache`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tierdb_cache::{PageCache, PageKey};

const PAGES: u64 = 10_000;

fn bench_lookup(c: &mut Criterion) {
    let cache = PageCache::new(64 << 20);
    for page in 0..PAGES {
        cache.insert(PageKey { file: 1, page }, Arc::new([0u8; 64]), 4096);
    }
    let mut group = c.benchmark_group("cache_lookup");
    let mut i = 0u64;
    group.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 7919) % PAGES;
            cache
                .get::<[u8; 64]>(PageKey { file: 1, page: i })
                .expect("cached")
        })
    });
    group.bench_function("miss", |b| {
        b.iter(|| {
            i = (i + 7919) % PAGES;
            assert!(
                cache
                    .get::<[u8; 64]>(PageKey { file: 2, page: i })
                    .is_none()
            );
        })
    });
    group.finish();
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
