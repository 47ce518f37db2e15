//! CPU cost of the catalog's read phases on a store a `--keep` run left,
//! on one thread, for A/B comparisons of read-path changes on a busy
//! machine: opens the store with the benchmark's options (B+tree, cache
//! `CACHE_MIB`), warms the cache with `WARM` zipfian point reads and
//! `WARM / 10` category scans (as the phases run after the load), then
//! times `OPS` zipfian point reads and `OPS / 10` 100-entry category scans
//! (the benchmark's key choice, seed 1), each 3 times, printing the best
//! rate by the thread's CPU time (`/proc/thread-self/schedstat`: what
//! other work on the machine disturbs least) and the cache hit ratio.
//!
//! ```text
//! target/release/tierdb-bench catalog --engines tierdb-btree --n 1000000 \
//!     --dir /tmp/store --keep --phases load
//! cargo run --release -p tierdb-bench --example read_cost -- \
//!     /tmp/store/catalog-tierdb-btree-1000000 1000000 [OPS] [WARM]
//! ```

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Options, Tier};
use tierdb_bench::keys::{CATEGORIES, KeyChooser, KeyDist, category_start, product_key};
use tierdb_bench::measure::thread_cpu_ns;

const CACHE_MIB: usize = 256;
const ROUNDS: usize = 3;
const SCAN_LEN: usize = 100;

fn hit_ratio(db: &Db, before: (u64, u64)) -> f64 {
    let (hits, misses) = cache_counts(db);
    let (h, m) = (hits - before.0, misses - before.1);
    h as f64 / (h + m).max(1) as f64
}

fn cache_counts(db: &Db) -> (u64, u64) {
    let t = db.stats().totals();
    (t.cache_hits, t.cache_misses)
}

#[inline(never)]
fn best(db: &Db, label: &str, ops: u64, mut run: impl FnMut()) {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    let before = cache_counts(db);
    for _ in 0..ROUNDS {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        run();
        wall = wall.min(start.elapsed().as_secs_f64());
        cpu = cpu.min((thread_cpu_ns() - cpu_start) as f64 / 1e9);
    }
    println!(
        "{label:12} {:>9.0} ops/s elapsed, {:>9.0} ops/s of CPU ({:.2} us CPU/op, best of {ROUNDS}), cache hit ratio {:.4}",
        ops as f64 / wall,
        ops as f64 / cpu,
        cpu * 1e6 / ops as f64,
        hit_ratio(db, before),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: read_cost DIR N [OPS] [WARM]")?;
    let n: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let ops: u64 = args.get(3).map_or(Ok(1_000_000), |s| s.parse())?;
    let warm: u64 = args.get(4).map_or(Ok(2_000_000), |s| s.parse())?;
    let opts = Options::default()
        .default_tier(Tier::BTree)
        .cache_bytes(CACHE_MIB << 20);
    let db = Db::open(dir, opts)?;
    let chooser = KeyChooser::new(KeyDist::Zipfian, n);
    let mut rng = StdRng::seed_from_u64(1);
    let read = |rng: &mut StdRng, count: u64| {
        for _ in 0..count {
            let id = chooser.next(rng);
            assert!(db.get(product_key(id)).unwrap().is_some(), "{id} missing");
        }
    };
    let scan = |rng: &mut StdRng, count: u64| {
        for _ in 0..count {
            let cat = rng.random_range(0..CATEGORIES.min(n));
            let from = if rng.random_bool(0.5) {
                category_start(cat)
            } else {
                product_key(cat + CATEGORIES * rng.random_range(0..(n / CATEGORIES).max(1)))
            };
            let got = db.range(from.as_slice()..).unwrap().take(SCAN_LEN).count();
            assert!(got > 0);
        }
    };
    read(&mut rng, warm);
    scan(&mut rng, warm / 10);
    best(&db, "point-reads", ops, || read(&mut rng.clone(), ops));
    best(&db, "scans", ops / 10, || scan(&mut rng.clone(), ops / 10));
    db.close()?;
    Ok(())
}
