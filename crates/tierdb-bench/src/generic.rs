//! The YCSB (A–F) and classic (db_bench) workloads on `user<i>` keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::cli::{Cli, Workload};
use crate::engine::{Engine, EngineKind, Pair, Result};
use crate::keys::{KeyChooser, KeyDist, ValueSource, user_key};
use crate::measure::PhaseStart;
use crate::phase::Recorder;
use crate::report::Output;
use crate::runner::{self, Stop};

/// Runs `workload` on `kind` with `cli.n` records.
pub fn run(cli: &Cli, workload: Workload, kind: EngineKind, out: &mut Output) -> Result<()> {
    let name = workload.name();
    let n = cli.n;
    let dir = cli.base_dir().join(format!("{name}-{kind}-{n}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let cfg = cli.engine_config();
    out.engine(kind.name(), &name, n, &kind.settings(&cfg))?;
    let mut rec = Recorder {
        workload: name,
        engine: kind.name().to_string(),
        n,
        dir: dir.clone(),
        live_bytes: cli.value_size.live_bytes(n, user_key),
        out,
    };
    let engine = kind.open(&dir, &cfg)?;
    let src = ValueSource::new(cli.seed);
    let db = engine.as_ref();
    match workload {
        Workload::Fillseq => fill(cli, db, &src, &mut rec, "fillseq", false, false)?,
        Workload::Fillrandom => fill(cli, db, &src, &mut rec, "fillrandom", true, false)?,
        _ => {
            fill(cli, db, &src, &mut rec, "load", true, true)?;
            measured(cli, workload, db, &src, &mut rec)?;
        }
    }
    engine.close()?;
    if !cli.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn record_value(cli: &Cli, src: &ValueSource, i: u64, rng: &mut StdRng) -> Pair {
    let version = rng.random::<u32>() as u64;
    (
        user_key(i),
        src.value(i, version, cli.value_size.len_of(i), rng),
    )
}

/// Writes records `0..n` in key or random order. `bulk` loads in batches
/// of `--batch` then syncs (the preparation of the other workloads);
/// otherwise one record per commit with `--durability`, as db_bench does.
fn fill(
    cli: &Cli,
    db: &dyn Engine,
    src: &ValueSource,
    rec: &mut Recorder,
    phase: &str,
    random: bool,
    bulk: bool,
) -> Result<()> {
    let n = cli.n;
    let mut order: Vec<u64> = (0..n).collect();
    if random {
        order.shuffle(&mut StdRng::seed_from_u64(cli.seed));
    }
    let per = if bulk { cli.batch.max(1) } else { 1 };
    let chunks: Vec<&[u64]> = order.chunks(per).collect();
    let durable = cli.durable() && !bulk;
    let start = PhaseStart::now();
    let mut o = runner::run(
        phase,
        1,
        Stop::Ops(chunks.len() as u64),
        cli.seed,
        |_, i, rng| {
            let pairs: Vec<Pair> = chunks[i as usize]
                .iter()
                .map(|&id| record_value(cli, src, id, rng))
                .collect();
            if let [(k, v)] = pairs.as_slice() {
                db.put(k, v, durable)?;
            } else {
                db.write_batch(&pairs, durable)?;
            }
            Ok(pairs.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum())
        },
    )?;
    let t = Instant::now();
    if bulk {
        db.sync()?;
    }
    o.ops = n;
    rec.record(phase, "records", 1, &start, &o, t.elapsed())?;
    Ok(())
}

/// The measured phase of the workloads that run on a loaded store.
fn measured(
    cli: &Cli,
    workload: Workload,
    db: &dyn Engine,
    src: &ValueSource,
    rec: &mut Recorder,
) -> Result<()> {
    let n = cli.n.max(1);
    let durable = cli.durable();
    let phase = workload.name();
    let dist = if workload == Workload::YcsbD {
        KeyDist::Latest
    } else {
        cli.dist
    };
    let chooser = KeyChooser::new(dist, n);
    // Records inserted by D and E get numbers from here on.
    let next_id = AtomicU64::new(n);
    let read = |id: u64| -> Result<u64> {
        match db.get(&user_key(id))? {
            Some(_) => Ok(0),
            None if id >= n => Ok(0), // an insert of another thread still in flight
            None => Err(format!("record {id} is missing").into()),
        }
    };
    let write = |id: u64, rng: &mut StdRng| -> Result<u64> {
        let (k, v) = record_value(cli, src, id, rng);
        db.put(&k, &v, durable)?;
        Ok((k.len() + v.len()) as u64)
    };
    let insert = |rng: &mut StdRng| write(next_id.fetch_add(1, Ordering::Relaxed), rng);
    let (unit, threads) = match workload {
        Workload::Overwrite => ("writes", 1),
        Workload::Readseq => ("records", 1),
        _ => ("ops", cli.threads),
    };
    // readseq reads everything once, in chunks of 1,000, then stops.
    let chunk = 1000u64;
    let stop = if workload == Workload::Readseq {
        Stop::Ops(n.div_ceil(chunk))
    } else {
        cli.stop()
    };
    let scanned = AtomicU64::new(0);
    let start = PhaseStart::now();
    let mut o = runner::run(&phase, threads, stop, cli.seed + 7, |_, i, rng| {
        let pct = rng.random_range(0..100u32);
        match workload {
            Workload::YcsbA | Workload::YcsbB | Workload::YcsbC => {
                let update = match workload {
                    Workload::YcsbA => 50,
                    Workload::YcsbB => 5,
                    _ => 0,
                };
                let id = chooser.next(rng);
                if pct < update {
                    write(id, rng)
                } else {
                    read(id)
                }
            }
            Workload::YcsbD => {
                if pct < 5 {
                    insert(rng)
                } else {
                    read(chooser.next_below(rng, next_id.load(Ordering::Relaxed)))
                }
            }
            Workload::YcsbE => {
                if pct < 5 {
                    insert(rng)
                } else {
                    let from = user_key(chooser.next(rng));
                    db.scan(&from, rng.random_range(1..=cli.scan_len.max(1)))?;
                    Ok(0)
                }
            }
            Workload::YcsbF => {
                let id = chooser.next(rng);
                read(id)?;
                if pct < 50 { write(id, rng) } else { Ok(0) }
            }
            Workload::Overwrite => write(rng.random_range(0..n), rng),
            Workload::Readrandom => read(chooser.next(rng)),
            Workload::Seekrandom => {
                if db.scan(&user_key(rng.random_range(0..n)), 1)? != 1 {
                    return Err("seek found nothing".into());
                }
                Ok(0)
            }
            Workload::Readseq => {
                let got = db.scan(&user_key(i * chunk), chunk as usize)?;
                scanned.fetch_add(got as u64, Ordering::Relaxed);
                Ok(0)
            }
            other => Err(format!("{other:?} has no measured phase").into()),
        }
    })?;
    if workload == Workload::Readseq {
        let got = scanned.into_inner();
        if got != n {
            return Err(format!("readseq read {got} records of {n}").into());
        }
        o.ops = got;
    }
    rec.record(&phase, unit, 1, &start, &o, Duration::ZERO)?;
    Ok(())
}
