//! LSM read path cost on a fixed tree shape: loads `N` catalog-style keys
//! (`p/CCC/IIIIIIIIII`, 200-byte values) in a scrambled order with
//! compaction inside `persist` (deterministic: the same tables every run),
//! flushing every `N / 12` keys but the last twelfth, which stays in the
//! memtable — 8 flushes compacted into one level, 3 L0 tables over the
//! whole key range, as the catalog benchmark leaves the tree after its
//! load — then times point reads of random loaded keys and 100-entry scans
//! from random keys, each phase 7 times, printing the best rate by elapsed
//! time and by the thread's CPU time (`/proc/thread-self/schedstat`, Linux;
//! CPU time is what other work on a busy machine disturbs least).
//!
//! `READ_PATH_L0=L` leaves `L` L0 tables instead of 3 (8 + `L` flushes, every
//! `N / (9 + L)` keys); `READ_PATH_THREADS=T` also times point reads on `T`
//! threads at once (elapsed rate of all of them: what shared counters and
//! cache lines written by every read cost when reads run in parallel).
//!
//! `cargo run --release -p tierdb-lsm --example read_path -- 1000000 [dir]`

use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const READS: u64 = 100_000;
const SCANS: u64 = 10_000;
const ROUNDS: usize = 7;

fn key(id: u64) -> Bytes {
    Bytes::from(format!("p/{:03}/{id:010}", id % 100))
}

/// A permutation of `0..n` (multiplication by an odd constant modulo the
/// next power of two, skipping values past `n`).
fn scrambled(n: u64) -> impl Iterator<Item = u64> {
    let size = n.next_power_of_two();
    (0..size)
        .map(move |i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & (size - 1))
        .filter(move |&i| i < n)
}

/// Nanoseconds this thread has run on a CPU (0 where unknown).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn best(label: &str, ops: u64, mut run: impl FnMut()) {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        run();
        wall = wall.min(start.elapsed().as_secs_f64());
        cpu = cpu.min((thread_cpu_ns() - cpu_start) as f64 / 1e9);
    }
    println!(
        "{label:12} {:>9.0} ops/s elapsed, {:>9.0} ops/s of CPU ({:.2} us CPU/op, best of {ROUNDS})",
        ops as f64 / wall,
        ops as f64 / cpu,
        cpu * 1e6 / ops as f64
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = args.next().map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir)).unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let opts = LsmOptions {
        background_compaction: false,
        memtable_bytes: 1 << 30,
        l0_compaction_trigger: 8,
        ..LsmOptions::default()
    };
    let cache = Arc::new(PageCache::new(256 << 20));
    let tier = LsmTier::open(vfs, tmp.path(), cache, 1, opts).unwrap();
    let value = Bytes::from(vec![b'v'; 200]);
    let no_wal = |_| Ok(());
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (l0, threads) = (env("READ_PATH_L0", 3), env("READ_PATH_THREADS", 0));
    let chunks = 9 + l0;
    let mut seq = 0;
    let mut batch = Vec::new();
    for (i, id) in scrambled(n).enumerate() {
        batch.push(WriteOp::Put {
            key: key(id),
            value: value.clone(),
        });
        if batch.len() == 1000 {
            seq += 1;
            tier.apply(seq, &batch).unwrap();
            batch.clear();
        }
        let done = i as u64 + 1;
        let chunk = (n / chunks).max(1);
        if done.is_multiple_of(chunk) && done <= chunk * (chunks - 1) {
            tier.persist(&no_wal).unwrap();
        }
    }
    seq += 1;
    tier.apply(seq, &batch).unwrap();
    println!("{:?}", tier.lsm_stats().tables_per_level);
    let view = tier.read_view();
    let mut rng = 0x1234_5678_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    best("point-reads", READS, || {
        for _ in 0..READS {
            assert!(view.get(&key(next())).unwrap().is_some());
        }
    });
    if threads > 0 {
        let mut elapsed = f64::MAX;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let view = &view;
                    scope.spawn(move || {
                        let mut rng = 0x9e37_79b9 ^ (t + 1);
                        for _ in 0..READS {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            assert!(view.get(&key(rng % n)).unwrap().is_some());
                        }
                    });
                }
            });
            elapsed = elapsed.min(start.elapsed().as_secs_f64());
        }
        println!(
            "point-reads on {threads} threads: {:>9.0} ops/s elapsed (best of {ROUNDS})",
            (READS * threads) as f64 / elapsed
        );
    }
    best("scans-100", SCANS, || {
        for _ in 0..SCANS {
            let from = Bound::Included(key(next()));
            let got = view
                .range(from, Bound::Unbounded)
                .unwrap()
                .take(100)
                .count();
            assert!(got > 0);
        }
    });
}
