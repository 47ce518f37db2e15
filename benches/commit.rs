//! Criterion micro-benchmarks of the commit path and point reads.
//!
//! `cargo bench -p tierdb --bench commit`
//!
//! - `sync_commit/threads=N`: single-key `Durability::Sync` commits from N
//!   threads on real files; the time per commit falls with N while group
//!   commit shares each fdatasync.
//! - `volatile_commit`: the in-memory part of the commit path alone.
//! - `txn_commit`: a transaction that reads a key and writes it back
//!   (conflict check included), committed `Volatile`.
//! - `get_hit`: a point read of a present key.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tierdb::{Db, Durability, Options, TxnOptions, WriteBatch};

fn open(dir: &tempfile::TempDir) -> Db {
    Db::open(
        dir.path().join("db"),
        Options::default().durability(Durability::Sync),
    )
    .expect("open")
}

/// Runs `total` Sync commits spread over `threads` threads; returns the
/// wall time.
fn sync_commits(db: &Db, threads: u64, total: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (db, barrier) = (db.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..total / threads {
                    db.put(format!("k/{t}/{i:08}"), b"value").expect("commit");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("thread");
    }
    start.elapsed()
}

fn bench_sync_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_commit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for threads in [1u64, 4] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(&dir);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| sync_commits(&db, threads, iters.max(threads)));
            },
        );
        db.close().expect("close");
    }
    group.finish();
}

fn bench_volatile_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    let mut i = 0u64;
    c.bench_function("volatile_commit", |b| {
        b.iter(|| {
            i += 1;
            let mut batch = WriteBatch::new();
            batch.put(format!("k/{:08}", i % 100_000), b"value");
            db.write_with(batch, Durability::Volatile).expect("commit");
        })
    });
    db.close().expect("close");
}

fn bench_txn_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    let mut i = 0u64;
    c.bench_function("txn_commit", |b| {
        b.iter(|| {
            i += 1;
            let key = format!("k/{:08}", i % 100_000);
            let mut tx = db.begin_with(TxnOptions::default().durability(Durability::Volatile));
            let old = tx.get(&key).expect("get");
            tx.put(&key, old.as_deref().unwrap_or(b"value"))
                .expect("put");
            tx.commit().expect("commit");
        })
    });
    db.close().expect("close");
}

fn bench_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    for chunk in 0..100u64 {
        let mut batch = WriteBatch::new();
        for i in 0..1000 {
            batch.put(format!("k/{:08}", chunk * 1000 + i), [7u8; 100]);
        }
        db.write(batch).expect("load");
    }
    db.checkpoint().expect("checkpoint");
    let mut i = 0u64;
    c.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % 100_000;
            db.get(format!("k/{i:08}")).expect("get").expect("present")
        })
    });
    db.close().expect("close");
}

criterion_group!(
    benches,
    bench_sync_commit,
    bench_volatile_commit,
    bench_txn_commit,
    bench_get
);
criterion_main!(benches);
