//! B+tree tier hot paths: point get, insert (apply of one put), and a
//! 100-entry range scan, on 100,000 keys checkpointed to a real file and
//! held in the page cache.
//!
//! `cargo bench -p tierdb-btree --bench btree`

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tierdb_btree::{BTreeOptions, BTreeTier};
use tierdb_cache::PageCache;
use tierdb_io::OsVfs;
use tierdb_tier::{Tier, WriteOp};

const KEYS: u64 = 100_000;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("p/{:03}/{i:010}", i % 200))
}

fn put(i: u64) -> WriteOp {
    WriteOp::Put {
        key: key(i),
        value: Bytes::from(vec![b'v'; 200]),
    }
}

fn bench_btree(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tier = BTreeTier::open(
        Arc::new(OsVfs::new()),
        &dir.path().join("tree"),
        Arc::new(PageCache::new(256 << 20)),
        1,
        BTreeOptions::default(),
    )
    .expect("open");
    let mut seq = 0;
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        seq += 1;
        let ops: Vec<WriteOp> = chunk.iter().map(|&i| put(i)).collect();
        tier.apply(seq, &ops).expect("apply");
    }
    tier.persist(&|_| Ok(())).expect("persist");
    let mut group = c.benchmark_group("btree");
    let view = tier.read_view();
    let mut i = 0u64;
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            view.get(&key(i)).expect("get").expect("present")
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("scan_100", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let it = view
                .range(Bound::Included(key(i)), Bound::Unbounded)
                .expect("range");
            it.take(100)
                .map(|e| e.expect("entry").1.len())
                .sum::<usize>()
        })
    });
    drop(view);
    group.throughput(Throughput::Elements(1));
    group.bench_function("insert", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            seq += 1;
            tier.apply(seq, &[put(KEYS + i)]).expect("apply");
        })
    });
    group.finish();
}

criterion_group!(benches, bench_btree);
criterion_main!(benches);
