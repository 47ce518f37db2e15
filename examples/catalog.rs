//! The catalog example: builds a product catalog in a local database,
//! updates and queries it the way an online shop does, and prints figures.
//!
//! ```text
//! cargo run --release --example catalog                 # 100,000 products: mixed, then btree and lsm to compare
//! cargo run --release --example catalog -- --n 1000000  # more
//! cargo run --release --example catalog -- --tier mixed # one layout: mixed | btree | lsm | all
//! cargo run --release --example catalog -- --dir ./catalog.tdb --keep
//! ```
//!
//! The catalog's layout is the mixed one: products in a B+tree partition
//! (read-mostly: point reads and category scans), stock levels in an LSM
//! partition (the write-heavy feed), updated together in one transaction
//! when needed. By default the same workload then runs on a database whose
//! one partition is a B+tree and on one whose partition is an LSM tree, and
//! a side-by-side table closes the output.
//! Phases: bulk load in random order (batches of 1,000); durable (`Sync`)
//! stock updates from 1 thread, then from 4 threads (group commit); batched
//! non-durable price updates; random point reads; category scans of 100
//! products (forward and backward); close and reopen; statistics.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Durability, Options, Tier, WriteBatch};

const CATEGORIES: u64 = 200;

/// Where the catalog's data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Everything in one B+tree partition.
    BTree,
    /// Everything in one LSM partition.
    Lsm,
    /// Products (`p/...`, read-mostly) in a B+tree partition; stock levels
    /// (`stock/...`, the write-heavy feed) in an LSM partition.
    Mixed,
}

impl Layout {
    fn options(self) -> Options {
        match self {
            Layout::BTree => Options::default().default_tier(Tier::BTree),
            Layout::Lsm => Options::default().default_tier(Tier::Lsm),
            Layout::Mixed => Options::default()
                .default_tier(Tier::BTree)
                .partition(b"stock/", Tier::Lsm),
        }
    }
}

struct Args {
    n: u64,
    layouts: Vec<Layout>,
    dir: PathBuf,
    keep: bool,
    cache_mib: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        n: 100_000,
        layouts: vec![Layout::Mixed, Layout::BTree, Layout::Lsm],
        dir: std::env::temp_dir().join(format!("tierdb-catalog-{}", std::process::id())),
        keep: false,
        cache_mib: 256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--n" => args.n = it.next().and_then(|v| v.parse().ok()).expect("--n NUMBER"),
            "--dir" => args.dir = it.next().map(PathBuf::from).expect("--dir PATH"),
            "--cache-mib" => {
                args.cache_mib = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--cache-mib NUMBER")
            }
            "--keep" => args.keep = true,
            "--tier" | "--layout" => {
                args.layouts = match it.next().as_deref() {
                    Some("btree") => vec![Layout::BTree],
                    Some("lsm") => vec![Layout::Lsm],
                    Some("mixed") => vec![Layout::Mixed],
                    Some("all") => vec![Layout::Mixed, Layout::BTree, Layout::Lsm],
                    _ => panic!("--tier mixed|btree|lsm|all"),
                }
            }
            "--help" | "-h" => {
                println!(
                    "usage: catalog [--n PRODUCTS] [--tier mixed|btree|lsm|all] [--dir PATH] [--keep] [--cache-mib MIB]"
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (try --help)"),
        }
    }
    args
}

fn product_key(id: u64) -> String {
    format!("p/{:03}/{id:08}", id % CATEGORIES)
}

fn product_value(id: u64, rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(100..=500);
    let mut v = format!(
        "{{\"id\":{id},\"name\":\"product {id}\",\"price_cents\":{},\"desc\":\"",
        rng.random_range(100..100_000)
    )
    .into_bytes();
    while v.len() < len - 2 {
        v.push(b'a' + rng.random_range(0..26u8));
    }
    v.extend_from_slice(b"\"}");
    v
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn report(phase: &str, count: u64, elapsed: Duration, unit: &str) -> f64 {
    let r = rate(count, elapsed);
    println!(
        "{phase:<38} {count:>9} {unit:<8} {:>9.1} ms  {r:>12.0} {unit}/s",
        elapsed.as_secs_f64() * 1e3
    );
    r
}

fn load(db: &Db, n: u64) -> tierdb::Result<f64> {
    let mut ids: Vec<u64> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(1);
    ids.shuffle(&mut rng);
    let t = Instant::now();
    for chunk in ids.chunks(1000) {
        let mut batch = WriteBatch::new();
        for &id in chunk {
            batch.put(product_key(id), product_value(id, &mut rng));
            batch.put(
                format!("stock/{id:08}"),
                rng.random_range(0..500u32).to_string(),
            );
        }
        db.write(batch)?;
    }
    Ok(report(
        "load (batches of 1000, Sync)",
        n,
        t.elapsed(),
        "products",
    ))
}

/// Durable single-key stock updates from `threads` threads for `window`.
fn stock_updates(db: &Db, n: u64, threads: u64, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let (db, done) = (db.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(100 + th);
                while t.elapsed() < window {
                    let id = rng.random_range(0..n);
                    let stock = rng.random_range(0..500u32).to_string();
                    db.put(format!("stock/{id:08}"), stock)
                        .expect("stock update");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("updater thread");
    }
    let label = format!("stock updates, Sync, {threads} thread(s)");
    report(&label, done.load(Ordering::Relaxed), t.elapsed(), "commits")
}

fn price_updates(db: &Db, n: u64) -> tierdb::Result<f64> {
    let mut rng = StdRng::seed_from_u64(7);
    let t = Instant::now();
    let batches = 50;
    for _ in 0..batches {
        let mut batch = WriteBatch::new();
        for _ in 0..1000 {
            let id = rng.random_range(0..n);
            batch.put(product_key(id), product_value(id, &mut rng));
        }
        db.write_with(batch, Durability::Buffered)?;
    }
    Ok(report(
        "price updates (batches of 1000, Buffered)",
        batches * 1000,
        t.elapsed(),
        "updates",
    ))
}

fn point_reads(db: &Db, n: u64) -> tierdb::Result<f64> {
    let mut rng = StdRng::seed_from_u64(9);
    let count = 200_000u64.min(n * 4);
    let t = Instant::now();
    let mut found = 0;
    for _ in 0..count {
        // Skewed: half the reads go to the first 1% of products.
        let id = if rng.random_bool(0.5) {
            rng.random_range(0..n.div_ceil(100))
        } else {
            rng.random_range(0..n)
        };
        found += u64::from(db.get(product_key(id))?.is_some());
    }
    let rate = report("point reads (skewed)", count, t.elapsed(), "reads");
    assert_eq!(found, count, "every product must be found");
    Ok(rate)
}

fn category_scans(db: &Db) -> tierdb::Result<f64> {
    let mut rng = StdRng::seed_from_u64(11);
    let scans = 5_000u64;
    let t = Instant::now();
    let mut items = 0u64;
    for i in 0..scans {
        let prefix = format!("p/{:03}/", rng.random_range(0..CATEGORIES));
        let iter = db.prefix(prefix.as_bytes())?;
        let got: Vec<_> = if i % 2 == 0 {
            iter.take(100).collect()
        } else {
            iter.rev().take(100).collect()
        };
        for item in got {
            item?;
            items += 1;
        }
    }
    let rate = report(
        "category scans (100 items, both ways)",
        scans,
        t.elapsed(),
        "scans",
    );
    println!("{:<38} {items:>9} items", "  items returned");
    Ok(rate)
}

/// Peak resident set size of this process (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One tier's figures, for the side-by-side summary.
struct Summary {
    layout: Layout,
    load: f64,
    sync_one: f64,
    sync_four: f64,
    price_updates: f64,
    point_reads: f64,
    scans: f64,
    reopen: Duration,
    disk_bytes: u64,
    partition_bytes_written: u64,
    wal_bytes_written: u64,
    totals: tierdb::PartitionStats,
}

fn run(args: &Args, layout: Layout) -> tierdb::Result<Summary> {
    let dir = args.dir.join(format!("{layout:?}").to_lowercase());
    if dir.exists() && !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    let opts = || {
        layout
            .options()
            .cache_bytes(args.cache_mib << 20)
            .durability(Durability::Sync)
    };
    println!(
        "\n== {layout:?} layout: {} products in {}",
        args.n,
        dir.display()
    );
    println!(
        "{:<38} {:>9} {:<8} {:>12}  {:>14}",
        "phase", "count", "unit", "time", "throughput"
    );
    let db = Db::open(&dir, opts())?;
    let load = load(&db, args.n)?;
    let t = Instant::now();
    db.checkpoint()?;
    report("checkpoint after load", 1, t.elapsed(), "ops");
    // Alternate the two so that background noise (other processes, the
    // device's own housekeeping) hits both alike.
    let (mut sync_one, mut sync_four) = (0.0, 0.0);
    for _ in 0..2 {
        sync_one += stock_updates(&db, args.n, 1, Duration::from_millis(1500)) / 2.0;
        sync_four += stock_updates(&db, args.n, 4, Duration::from_millis(1500)) / 2.0;
    }
    println!(
        "{:<38} {:>9.2}x  (4 threads vs 1; group commit)",
        "  Sync commit scaling",
        sync_four / sync_one
    );
    let price_updates = price_updates(&db, args.n)?;
    let point_reads = point_reads(&db, args.n)?;
    let scans = category_scans(&db)?;
    let t = Instant::now();
    db.checkpoint()?;
    report("checkpoint", 1, t.elapsed(), "ops");
    let s = db.stats();
    for advice in db.advise() {
        println!("advisor: {}", advice.reason);
    }
    db.close()?;
    let t = Instant::now();
    let db = Db::open(&dir, opts())?;
    let reopen = t.elapsed();
    report("reopen after clean close", 1, reopen, "opens");
    print_stats(&s, &db.stats());
    db.close()?;
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(Summary {
        layout,
        load,
        sync_one,
        sync_four,
        price_updates,
        point_reads,
        scans,
        reopen,
        disk_bytes: s.disk_bytes(),
        partition_bytes_written: s.partitions.iter().map(|p| p.stats.bytes_written).sum(),
        wal_bytes_written: s.wal_bytes_written,
        totals: s.totals(),
    })
}

/// A ratio with two decimals, or "-" when undefined.
fn figure(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn print_stats(s: &tierdb::Stats, reopened: &tierdb::Stats) {
    println!(
        "entries {}  partition files {:.1} MiB  WAL live {:.1} MiB  commits {}  WAL syncs {}  checkpoints {}",
        s.entries(),
        mib(s.disk_bytes()),
        mib(s.wal_live_bytes),
        s.commits,
        s.wal_syncs,
        s.checkpoints
    );
    println!(
        "cache hits {}  misses {}  evictions {}  used {:.1} of {:.1} MiB;  reopen replayed {} WAL records",
        s.cache_hits,
        s.cache_misses,
        s.cache_evictions,
        mib(s.cache_used_bytes),
        mib(s.cache_capacity_bytes),
        reopened.open_replayed_records
    );
    for p in &s.partitions {
        let st = &p.stats;
        println!(
            "partition {} {:?}: {} entries, {} reads, {} writes, {} scans, {:.1} MiB written to its files",
            p.id,
            p.tier,
            st.entries,
            st.reads,
            st.writes,
            st.scans,
            mib(st.bytes_written)
        );
        println!(
            "  write amp. {}  read amp. {} blocks/get  space amp. {}  bloom useful {} ineffective {} (fp rate {})  compactions {}  debt {:.1} MiB  stalls {} ({:.1} ms)",
            figure(st.write_amplification()),
            figure(st.read_amplification()),
            figure(st.space_amplification()),
            st.bloom_useful,
            st.bloom_ineffective,
            figure(st.bloom_false_positive_rate()),
            st.compactions,
            mib(st.compaction_debt_bytes),
            st.stalls,
            st.stall_micros as f64 / 1e3
        );
    }
}

fn print_summary(summaries: &[Summary]) {
    println!("\n== side by side (per second, except where a unit is given)");
    print!("{:<34}", "");
    for s in summaries {
        print!("{:>14}", format!("{:?}", s.layout));
    }
    println!();
    type Row = (&'static str, fn(&Summary) -> String);
    let rows: [Row; 14] = [
        ("load: products", |s| format!("{:.0}", s.load)),
        ("Sync commits, 1 thread", |s| format!("{:.0}", s.sync_one)),
        ("Sync commits, 4 threads", |s| format!("{:.0}", s.sync_four)),
        ("  scaling", |s| format!("{:.2}x", s.sync_four / s.sync_one)),
        ("price updates (batched)", |s| {
            format!("{:.0}", s.price_updates)
        }),
        ("point reads", |s| format!("{:.0}", s.point_reads)),
        ("category scans (100 items)", |s| format!("{:.0}", s.scans)),
        ("reopen after close (ms)", |s| {
            format!("{:.1}", s.reopen.as_secs_f64() * 1e3)
        }),
        ("partition files (MiB)", |s| {
            format!("{:.1}", mib(s.disk_bytes))
        }),
        ("written to partition files (MiB)", |s| {
            format!("{:.1}", mib(s.partition_bytes_written))
        }),
        ("  per byte of WAL (write amp.)", |s| {
            format!(
                "{:.2}",
                s.partition_bytes_written as f64 / s.wal_bytes_written.max(1) as f64
            )
        }),
        ("  per byte committed (write amp.)", |s| {
            figure(s.totals.write_amplification())
        }),
        ("read amp. (blocks per get)", |s| {
            figure(s.totals.read_amplification())
        }),
        ("space amp. (disk / live)", |s| {
            figure(s.totals.space_amplification())
        }),
    ];
    for (label, value) in rows {
        print!("{label:<34}");
        for s in summaries {
            print!("{:>14}", value(s));
        }
        println!();
    }
}

fn main() -> tierdb::Result<()> {
    let args = parse_args();
    let mut summaries = Vec::new();
    for &layout in &args.layouts {
        summaries.push(run(&args, layout)?);
    }
    print_summary(&summaries);
    if let Some(peak) = peak_rss_kib() {
        println!(
            "peak RSS {:.1} MiB (cache budget {} MiB)",
            peak as f64 / 1024.0,
            args.cache_mib
        );
    }
    if !args.keep {
        std::fs::remove_dir_all(&args.dir).ok();
    }
    Ok(())
}
