//! CPU cost of compacting a store a `--keep` run left, for A/B comparisons
//! of compaction changes on a busy machine: opens the store with the
//! benchmark's LSM options, runs `Db::compact_range(..)` (a checkpoint, then
//! every level merged into the deepest), closes it, and prints the tree
//! before and after, the wall time, and the process's CPU time
//! (`/proc/self/stat`: the background compactor's share included, as it may
//! start the L0 merge before `compact_range` takes over).
//!
//! Compaction rewrites the store in place, so run it on a copy:
//!
//! ```text
//! target/release/tierdb-bench catalog --engines tierdb-lsm --n 1000000 \
//!     --dir /tmp/store --keep --phases load,batched
//! cp -a /tmp/store /tmp/copy
//! cargo run --release -p tierdb-bench --example compact_cost -- \
//!     /tmp/copy/catalog-tierdb-lsm-1000000
//! ```

use std::time::Instant;

use tierdb::{Db, Options, Tier};

/// User and system CPU seconds of this process so far (0 where unknown).
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) end with ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|s| s.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

fn shape(db: &Db) -> String {
    let t = db.stats().totals();
    let levels = t.level_disk_bytes.iter().enumerate();
    let parts: Vec<String> = levels
        .filter(|(_, b)| **b > 0)
        .map(|(l, b)| {
            let tables = t.level_tables.get(l).copied().unwrap_or(0);
            format!("L{l}[{tables}] {:.1} MiB", *b as f64 / (1 << 20) as f64)
        })
        .collect();
    parts.join(", ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: compact_cost DIR")?;
    let opts = Options::default().default_tier(Tier::Lsm);
    let (start, cpu_start) = (Instant::now(), process_cpu_secs());
    let db = Db::open(&dir, opts)?;
    println!("before: {}", shape(&db));
    let all: std::ops::RangeFull = ..;
    db.compact_range(all)?;
    println!("after:  {}", shape(&db));
    db.close()?;
    println!(
        "compaction: {:.2} s elapsed, {:.2} s CPU (process)",
        start.elapsed().as_secs_f64(),
        process_cpu_secs() - cpu_start
    );
    Ok(())
}
