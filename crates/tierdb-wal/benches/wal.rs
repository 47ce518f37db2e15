//! WAL append: buffered (written to the OS) and group-synced (fdatasync
//! shared by concurrent committers), on real files.
//!
//! `cargo bench -p tierdb-wal --bench wal`

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parking_lot::Mutex;
use tierdb_io::OsVfs;
use tierdb_wal::{Wal, WalOptions};

fn open(dir: &tempfile::TempDir) -> Arc<Wal> {
    let (wal, _) = Wal::open(
        Arc::new(OsVfs::new()),
        WalOptions::new(dir.path().join("wal")),
        0,
        &mut |_, _| Ok(()),
    )
    .expect("open wal");
    wal
}

/// Appends one record under `lock` (lsns must be consecutive) and returns
/// its lsn.
fn append(wal: &Wal, lock: &Mutex<()>, payload: &[u8]) -> u64 {
    let _g = lock.lock();
    let lsn = wal.last_lsn() + 1;
    wal.append(lsn, payload).expect("append");
    lsn
}

fn bench_buffered(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = open(&dir);
    let lock = Mutex::new(());
    let payload = [7u8; 128];
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("buffered_128B", |b| {
        b.iter(|| {
            let lsn = append(&wal, &lock, &payload);
            wal.write_to(lsn).expect("write");
            if wal.live_bytes() > 32 << 20 {
                wal.sync_all().expect("sync");
                wal.release_upto(lsn).expect("release");
            }
        })
    });
    group.finish();
    wal.close().expect("close");
}

/// `total` appends each followed by `sync_to`, spread over `threads`.
fn synced(wal: &Arc<Wal>, lock: &Arc<Mutex<()>>, threads: u64, total: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (wal, lock, barrier) = (wal.clone(), lock.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..total / threads {
                    let lsn = append(&wal, &lock, &[9u8; 128]);
                    wal.sync_to(lsn).expect("sync");
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

fn bench_group_synced(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_synced");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for threads in [1u64, 4] {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = open(&dir);
        let lock = Arc::new(Mutex::new(()));
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
            b.iter_custom(|iters| synced(&wal, &lock, t, iters.max(t)))
        });
        wal.close().expect("close");
    }
    group.finish();
}

criterion_group!(benches, bench_buffered, bench_group_synced);
criterion_main!(benches);
