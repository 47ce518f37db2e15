//! The catalog workload: a growing product catalog (see docs/benchmarks.md).

use std::path::Path;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::cli::Cli;
use crate::engine::{Breakdown, Engine, EngineKind, Pair, Result};
use crate::keys::{
    self, CATEGORIES, KeyChooser, STOCK_VALUE_LEN, ValueSource, product_key, stock_key,
};
use crate::measure::{PhaseStart, new_histogram};
use crate::phase::Recorder;
use crate::report::Output;
use crate::runner::{self, Outcome, Stop};

/// Key and value bytes of a catalog of `n` products with their stock rows.
pub fn live_bytes(cli: &Cli, n: u64) -> u64 {
    cli.value_size.live_bytes(n, product_key)
        + (0..n)
            .map(|i| (stock_key(i).len() + STOCK_VALUE_LEN) as u64)
            .sum::<u64>()
}

/// A new version of product `id` (same length as every other version).
fn product(cli: &Cli, src: &ValueSource, id: u64, rng: &mut StdRng) -> Pair {
    let version = rng.random::<u32>() as u64;
    (
        product_key(id),
        src.value(id, version, cli.value_size.len_of(id), rng),
    )
}

fn stock(id: u64, rng: &mut StdRng) -> Pair {
    (
        stock_key(id),
        keys::stock_value(rng.random_range(0..100_000)),
    )
}

fn bytes(pairs: &[Pair]) -> u64 {
    pairs.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
}

/// The disk's own rate of small appends each followed by fdatasync, on
/// one thread: what group commit with T committers can at best multiply
/// by T. Recorded as engine "disk", phase "fdatasync-1".
pub fn fsync_baseline(cli: &Cli, out: &mut Output) -> Result<()> {
    use std::io::Write;
    let dir = cli.base_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("fdatasync-baseline");
    let file = std::sync::Mutex::new(std::fs::File::create(&path)?);
    out.engine(
        "disk",
        "catalog",
        0,
        "append 64 bytes + fdatasync, 1 thread, in --dir",
    )?;
    let mut rec = Recorder {
        workload: "catalog".into(),
        engine: "disk".into(),
        n: 0,
        dir: dir.join("none"),
        live_bytes: 0,
        out,
    };
    let start = PhaseStart::now();
    let o = runner::run("fdatasync-1", 1, cli.stop(), cli.seed, |_, _, _| {
        let mut f = file.lock().expect("file");
        f.write_all(&[7u8; 64])?;
        f.sync_data()?;
        Ok(64)
    })?;
    rec.record("fdatasync-1", "syncs", 1, &start, &o, Duration::ZERO)?;
    std::fs::remove_file(&path)?;
    Ok(())
}

/// Runs every catalog phase on `kind` with `n` products.
pub fn run(cli: &Cli, kind: EngineKind, n: u64, out: &mut Output) -> Result<()> {
    let dir = cli.base_dir().join(format!("catalog-{kind}-{n}"));
    let reuse = cli.reuse && dir.exists();
    if dir.exists() && !reuse {
        std::fs::remove_dir_all(&dir)?;
    }
    let cfg = cli.engine_config();
    out.engine(kind.name(), "catalog", n, &kind.settings(&cfg))?;
    let mut rec = Recorder {
        workload: "catalog".into(),
        engine: kind.name().to_string(),
        n,
        dir: dir.clone(),
        live_bytes: live_bytes(cli, n),
        out,
    };
    let engine = kind.open(&dir, &cfg)?;
    if !reuse {
        load(cli, engine.as_ref(), n, &mut rec)?;
    }
    live_phases(cli, engine.as_ref(), n, &mut rec)?;

    engine.close()?;
    reopens(cli, kind, &dir, n, &mut rec)?;
    if !cli.keep && !cli.reuse {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Reopen after a clean close, then after a kill, each timed up to the
/// first read answered (those of them `--phases` selects).
fn reopens(cli: &Cli, kind: EngineKind, dir: &Path, n: u64, rec: &mut Recorder) -> Result<()> {
    if cli.runs("reopen-clean") {
        let start = PhaseStart::now();
        let (engine, took) = timed_reopen(kind, dir, cli, n)?;
        engine.close()?;
        rec.record(
            "reopen-clean",
            "opens",
            1,
            &start,
            &single(took),
            Duration::ZERO,
        )?;
    }
    if !cli.runs("reopen-kill") {
        return Ok(());
    }
    // A child process reopens the store, updates it and is killed
    // (SIGKILL); the reopen after that is timed the same way.
    kill_child_at_work(cli, kind, dir, n)?;
    let start = PhaseStart::now();
    let (engine, took) = timed_reopen(kind, dir, cli, n)?;
    rec.record(
        "reopen-kill",
        "opens",
        1,
        &start,
        &single(took),
        Duration::ZERO,
    )?;
    engine.close()?;
    Ok(())
}

/// Bulk load in random order, batches of `--batch` products (with their
/// stock rows), not durable one by one; one sync at the end.
fn load(cli: &Cli, db: &dyn Engine, n: u64, rec: &mut Recorder) -> Result<()> {
    let src = ValueSource::new(cli.seed);
    let mut ids: Vec<u64> = (0..n).collect();
    ids.shuffle(&mut StdRng::seed_from_u64(cli.seed));
    let chunks: Vec<&[u64]> = ids.chunks(cli.batch.max(1)).collect();
    let before = db.breakdown();
    let start = PhaseStart::now();
    let outcome = runner::run(
        "load",
        1,
        Stop::Ops(chunks.len() as u64),
        cli.seed,
        |_, i, rng| {
            let mut pairs = Vec::with_capacity(2 * cli.batch);
            for &id in chunks[i as usize] {
                pairs.push(product(cli, &src, id, rng));
                pairs.push(stock(id, rng));
            }
            db.write_batch(&pairs, false)?;
            Ok(bytes(&pairs))
        },
    )?;
    let t = Instant::now();
    db.sync()?;
    let mut load = outcome;
    load.ops = n;
    rec.record("load", "products", 1, &start, &load, t.elapsed())?;
    print_breakdown(db, &before);

    // Let the OS write back what the load left dirty (untimed), so that
    // the fsyncs below do not queue behind it, whichever engine runs.
    settle()
}

/// Everything but the load and the reopens, on an open loaded store.
fn live_phases(cli: &Cli, db: &dyn Engine, n: u64, rec: &mut Recorder) -> Result<()> {
    let src = ValueSource::new(cli.seed);

    // Durable single-key stock updates (the inventory feed): one thread,
    // then `--threads` (group commit).
    let stop = cli.stop();
    for (phase, threads) in [("sync-1", 1), ("sync-n", cli.threads)] {
        if !cli.runs(phase) {
            continue;
        }
        let before = db.breakdown();
        let start = PhaseStart::now();
        let o = runner::run(phase, threads, stop, cli.seed + 1, |_, _, rng| {
            let (k, v) = stock(rng.random_range(0..n), rng);
            db.put(&k, &v, true)?;
            Ok((k.len() + v.len()) as u64)
        })?;
        rec.record(phase, "commits", 1, &start, &o, Duration::ZERO)?;
        print_breakdown(db, &before);
    }

    // Batched, non-durable product updates (a price feed).
    if cli.runs("batched") {
        let before = db.breakdown();
        let start = PhaseStart::now();
        let batch = cli.batch.max(1);
        let o = runner::run(
            "batched",
            1,
            stop_batches(stop, batch),
            cli.seed + 2,
            |_, _, rng| {
                let pairs: Vec<Pair> = (0..batch)
                    .map(|_| product(cli, &src, rng.random_range(0..n), rng))
                    .collect();
                db.write_batch(&pairs, false)?;
                Ok(bytes(&pairs))
            },
        )?;
        rec.record(
            "batched",
            "updates",
            batch as u64,
            &start,
            &o,
            Duration::ZERO,
        )?;
        print_breakdown(db, &before);
    }

    // Zipfian point reads of products.
    let chooser = KeyChooser::new(cli.dist, n);
    if cli.runs("point-reads") {
        let before = db.breakdown();
        let start = PhaseStart::now();
        let o = runner::run(
            "point-reads",
            cli.threads,
            stop,
            cli.seed + 3,
            |_, _, rng| {
                let id = chooser.next(rng);
                match db.get(&product_key(id))? {
                    Some(_) => Ok(0),
                    None => Err(format!("product {id} is missing").into()),
                }
            },
        )?;
        rec.record("point-reads", "reads", 1, &start, &o, Duration::ZERO)?;
        print_breakdown(db, &before);
    }

    // Category range scans: `--scan-len` products of a category, from a
    // random product on.
    if cli.runs("scans") {
        let before = db.breakdown();
        let start = PhaseStart::now();
        let o = runner::run("scans", cli.threads, stop, cli.seed + 4, |_, _, rng| {
            let cat = rng.random_range(0..CATEGORIES.min(n));
            let from = if rng.random_bool(0.5) {
                keys::category_start(cat)
            } else {
                product_key(cat + CATEGORIES * rng.random_range(0..(n / CATEGORIES).max(1)))
            };
            let got = db.scan(&from, cli.scan_len)?;
            if got == 0 {
                return Err(
                    format!("scan from {} found nothing", String::from_utf8_lossy(&from)).into(),
                );
            }
            Ok(0)
        })?;
        rec.record("scans", "scans", 1, &start, &o, Duration::ZERO)?;
        print_breakdown(db, &before);
    }

    // 90/10 read/update mix.
    if cli.runs("mix-90-10") {
        let durable = cli.durable();
        let before = db.breakdown();
        let start = PhaseStart::now();
        let o = runner::run("mix-90-10", cli.threads, stop, cli.seed + 5, |_, _, rng| {
            let id = chooser.next(rng);
            if rng.random_range(0..10) == 0 {
                let (k, v) = product(cli, &src, id, rng);
                db.put(&k, &v, durable)?;
                Ok((k.len() + v.len()) as u64)
            } else if db.get(&product_key(id))?.is_none() {
                Err(format!("product {id} is missing").into())
            } else {
                Ok(0)
            }
        })?;
        rec.record("mix-90-10", "ops", 1, &start, &o, Duration::ZERO)?;
        print_breakdown(db, &before);
    }
    Ok(())
}

/// Prints where the phase's writes went and what the files hold, for
/// engines that say (`Engine::breakdown`).
fn print_breakdown(db: &dyn Engine, before: &Breakdown) {
    if let Some(line) = db.breakdown().line_since(before) {
        println!("{line}");
    }
}

/// Opens the store and reads one product; returns the store and the time.
fn timed_reopen(
    kind: EngineKind,
    dir: &Path,
    cli: &Cli,
    n: u64,
) -> Result<(Box<dyn Engine>, Duration)> {
    let t = Instant::now();
    let engine = kind.open(dir, &cli.engine_config())?;
    let id = n / 2;
    if engine.get(&product_key(id))?.is_none() {
        return Err(format!("{kind}: product {id} is missing after reopen").into());
    }
    Ok((engine, t.elapsed()))
}

/// An outcome of one operation that took `took`.
fn single(took: Duration) -> Outcome {
    let mut latency = new_histogram();
    latency.saturating_record(took.as_nanos() as u64);
    Outcome {
        ops: 1,
        user_bytes: 0,
        elapsed: took,
        latency,
    }
}

/// Runs this program as `kill-child` on the store in `dir`, waits until
/// it has opened the store, lets it update for `--kill-after-ms`, then
/// kills it (SIGKILL: `Child::kill` on Unix).
fn kill_child_at_work(cli: &Cli, kind: EngineKind, dir: &Path, n: u64) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("kill-child")
        .arg("--child-engine")
        .arg(kind.name())
        .arg("--dir")
        .arg(dir)
        .args(["--n", &n.to_string()])
        .args(["--value-size", &cli.value_size.to_string()])
        .args(["--cache-mib", &cli.cache_mib.to_string()])
        .args(["--seed", &cli.seed.to_string()])
        .stdout(Stdio::piped());
    // The child runs with the parent's engine settings.
    if let Some(mib) = cli.lsm_memtable_mib {
        cmd.args(["--lsm-memtable-mib", &mib.to_string()]);
    }
    if let Some(mib) = cli.checkpoint_wal_mib {
        cmd.args(["--checkpoint-wal-mib", &mib.to_string()]);
    }
    for (prefix, tier) in &cli.splits {
        let tier = if *tier == tierdb::Tier::Lsm {
            "lsm"
        } else {
            "btree"
        };
        cmd.arg("--split").arg(format!("{prefix}={tier}"));
    }
    let mut child = cmd.spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("child has no stdout")?).read_line(&mut line)?;
    if line.trim() != "ready" {
        let status = child.wait()?;
        return Err(format!("kill-child did not start ({status}): {line:?}").into());
    }
    std::thread::sleep(Duration::from_millis(cli.kill_after_ms));
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// The child's side: open, say "ready", update until killed (durable
/// stock updates and non-durable product updates, alternately).
pub fn kill_child(cli: &Cli) -> Result<()> {
    use std::io::Write;
    let kind = cli.child_engine.ok_or("kill-child needs --child-engine")?;
    let dir = cli.dir.clone().ok_or("kill-child needs --dir")?;
    let db = kind.open(&dir, &cli.engine_config())?;
    let src = ValueSource::new(cli.seed);
    let mut rng = StdRng::seed_from_u64(cli.seed + 99);
    println!("ready");
    std::io::stdout().flush()?;
    let n = cli.n.max(1);
    loop {
        let (k, v) = stock(rng.random_range(0..n), &mut rng);
        db.put(&k, &v, true)?;
        let pairs: Vec<Pair> = (0..100)
            .map(|_| product(cli, &src, rng.random_range(0..n), &mut rng))
            .collect();
        db.write_batch(&pairs, false)?;
    }
}

/// Runs sync(1): every dirty page of the system goes to disk.
fn settle() -> Result<()> {
    let status = std::process::Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync: {status}").into());
    }
    Ok(())
}

/// As `stop`, with an operation count counted in batches.
fn stop_batches(stop: Stop, batch: usize) -> Stop {
    match stop {
        Stop::Ops(ops) => Stop::Ops(ops.div_ceil(batch as u64).max(1)),
        t => t,
    }
}
