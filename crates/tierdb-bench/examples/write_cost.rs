//! CPU cost of the catalog's batched updates on the writing thread, for
//! A/B comparisons of write-path changes on a busy machine: opens a fresh
//! store under DIR (LSM by default, `btree` as the second argument for the
//! B+tree), then writes `BATCHES` batches of 1,000 puts of random keys
//! among `KEYS` (16-byte keys, 100–500-byte values, as the catalog's
//! products) with `Durability::Buffered`, `ROUNDS` times, and prints the
//! best round's rate by the writing thread's CPU time
//! (`/proc/thread-self/schedstat`: flushes, compactions and checkpoints on
//! their own threads are left out, as is what other work on the machine
//! takes).
//!
//! ```text
//! cargo run --release -p tierdb-bench --example write_cost -- /tmp/store [lsm|btree]
//! ```

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Durability, Options, Tier, WriteBatch};
use tierdb_bench::measure::thread_cpu_ns;

const KEYS: u64 = 1_000_000;
const BATCH: usize = 1_000;
const BATCHES: usize = 100;
const ROUNDS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: write_cost DIR [lsm|btree]")?;
    let tier = match args.next().as_deref() {
        None | Some("lsm") => Tier::Lsm,
        Some("btree") => Tier::BTree,
        Some(other) => return Err(format!("unknown tier {other}").into()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default().default_tier(tier))?;
    let mut rng = StdRng::seed_from_u64(1);
    let value: Vec<u8> = (0..500u32).map(|i| (i % 251) as u8).collect();
    let (mut best_cpu, mut best_wall) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        for _ in 0..BATCHES {
            let mut batch = WriteBatch::new();
            for _ in 0..BATCH {
                let key = format!("product/{:08}", rng.random_range(0..KEYS));
                let len = rng.random_range(100..=500);
                batch.put(key.as_bytes(), &value[..len]);
            }
            db.write_with(batch, Durability::Buffered)?;
        }
        best_cpu = best_cpu.min((thread_cpu_ns() - cpu_start) as f64 / 1e9);
        best_wall = best_wall.min(start.elapsed().as_secs_f64());
    }
    let ops = (BATCH * BATCHES) as f64;
    println!(
        "{tier:?} batched puts: {:.0} ops/s of the writer's CPU ({:.3} us CPU/op, best of {ROUNDS}), {:.0} ops/s elapsed",
        ops / best_cpu,
        best_cpu * 1e6 / ops,
        ops / best_wall,
    );
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
