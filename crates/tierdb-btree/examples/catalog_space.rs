//! The catalog benchmark's data on the B+tree tier alone (no WAL, no
//! database): where its file's space goes after a random-order load and
//! after random product rewrites, with a checkpoint whenever the dirty
//! pages pass a budget (as `Options::checkpoint_dirty_bytes` does).
//!
//! ```sh
//! cargo run --release -p tierdb-btree --example catalog_space -- \
//!     [N=1000000] [UPDATES=200000] [BUDGET_MIB=64] [DIR=/tmp]
//! ```
//!
//! Products `p/<category>/<id>` with 100-500 byte values (fixed per id) and
//! stock rows `stock/<id>` of 8 bytes, as `tierdb-bench catalog` writes
//! them; loaded in batches of 1,000 products in a shuffled order.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tierdb_btree::{BTreeOptions, BTreeTier};
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

/// splitmix64: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn product(id: u64, version: u64) -> WriteOp {
    let len = 100 + (id.wrapping_mul(0x9e37_79b9) >> 7) % 401;
    let mut value = format!("{{\"id\":{id},\"v\":{version},\"d\":\"").into_bytes();
    value.resize(len as usize, b'x');
    WriteOp::Put {
        key: Bytes::from(format!("p/{:03}/{id:010}", id % 200)),
        value: Bytes::from(value),
    }
}

fn stock(id: u64, count: u64) -> WriteOp {
    WriteOp::Put {
        key: Bytes::from(format!("stock/{id:010}")),
        value: Bytes::from(format!("{:08}", count % 100_000_000)),
    }
}

fn live_bytes(n: u64) -> u64 {
    (0..n)
        .map(|id| match (product(id, 0), stock(id, 0)) {
            (WriteOp::Put { key, value }, WriteOp::Put { key: k2, value: v2 }) => {
                (key.len() + value.len() + k2.len() + v2.len()) as u64
            }
            _ => 0,
        })
        .sum()
}

struct Run {
    tier: BTreeTier,
    path: std::path::PathBuf,
    seq: u64,
    budget: u64,
    checkpoints: u64,
    live: u64,
}

impl Run {
    fn apply(&mut self, ops: &[WriteOp]) -> Result<(), Box<dyn std::error::Error>> {
        self.seq += 1;
        self.tier.apply(self.seq, ops)?;
        if self.tier.dirty_bytes() > self.budget {
            self.tier.persist(&|_| Ok(()))?;
            self.checkpoints += 1;
        }
        Ok(())
    }

    fn report(&self, phase: &str, started: Instant) -> Result<(), Box<dyn std::error::Error>> {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let file = std::fs::metadata(&self.path)?.len();
        let written = self.tier.stats().bytes_written;
        let (free, pending) = self.tier.free_page_counts();
        println!(
            "{phase:<8} {:6.1}s  file {:7.1} MiB = {:.3}x live  written {:8.1} MiB  checkpoints {:4}  free now {:6} pending {:6} pages",
            started.elapsed().as_secs_f64(),
            mib(file),
            file as f64 / self.live as f64,
            mib(written),
            self.checkpoints,
            free,
            pending,
        );
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).map_or(Ok(default), |s| s.parse::<u64>());
    let n = arg(0, 1_000_000)?;
    let updates = arg(1, 200_000)?;
    let budget = arg(2, 64)? << 20;
    let dir = args.get(3).map_or("/tmp", String::as_str);
    let dir = tempfile::tempdir_in(dir)?;
    let path = dir.path().join("catalog.btree");
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let cache = Arc::new(PageCache::new(256 << 20));
    let tier = BTreeTier::open(vfs, &path, cache, 0, BTreeOptions::default())?;
    let live = live_bytes(n);
    println!("N {n}, live {:.1} MiB", live as f64 / (1 << 20) as f64);
    let mut run = Run {
        tier,
        path,
        seq: 0,
        budget,
        checkpoints: 0,
        live,
    };
    let mut rng = Rng(1);
    let mut ids: Vec<u64> = (0..n).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let started = Instant::now();
    for chunk in ids.chunks(1000) {
        let ops: Vec<WriteOp> = chunk
            .iter()
            .flat_map(|&id| [product(id, 0), stock(id, rng.next())])
            .collect();
        run.apply(&ops)?;
    }
    run.report("load", started)?;
    let started = Instant::now();
    for batch in 0..updates.div_ceil(1000) {
        let ops: Vec<WriteOp> = (0..1000)
            .map(|_| product(rng.below(n), batch + 1))
            .collect();
        run.apply(&ops)?;
    }
    run.report("updates", started)?;
    run.tier.persist(&|_| Ok(()))?;
    run.report("final", started)?;
    let r = run.tier.verify()?;
    let mib = |pages: u64| (pages * r.page_size) as f64 / (1 << 20) as f64;
    println!(
        "leaves {} ({:.1} MiB) fill {:.1} %, branches {}, free {} ({:.1} MiB), used in leaves {:.1} MiB",
        r.leaves,
        mib(r.leaves),
        100.0 * r.leaf_fill(),
        r.branches,
        r.free_pages,
        mib(r.free_pages),
        r.leaf_bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}
