//! `tierdb-sim`: runs the deterministic simulation or the metamorphic runs.
//!
//! ```text
//! tierdb-sim --seed N                 replay one seed (prints its figures)
//! tierdb-sim --seeds A..B             run seeds A (inclusive) to B (exclusive)
//! tierdb-sim --seconds T [--start S]  run consecutive seeds for T seconds
//! tierdb-sim --metamorphic ...        the same, for metamorphic streams
//!            --ops N                  metamorphic stream length (default 400)
//! ```
//!
//! Exits with status 1 if any seed fails; every failure prints the command
//! that replays it.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tierdb_sim::metamorphic::{self, MetaTally};
use tierdb_sim::seeds::SeedPlan;
use tierdb_sim::{METAMORPHIC_CONFIGS, Tally, describe, run_seed};

const USAGE: &str = "usage: tierdb-sim [--metamorphic] (--seed N | --seeds A..B | --seconds T [--start S]) [--ops N]";

struct Args {
    plan: SeedPlan,
    metamorphic: bool,
    ops: usize,
}

fn parse() -> Result<Args, String> {
    let (mut plan, mut seconds, mut start) = (None, None, 0);
    let (mut metamorphic, mut ops) = (false, 400);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match flag.as_str() {
            "--seed" => {
                let s = number(value()?)?;
                plan = Some(SeedPlan::Range(s, s + 1));
            }
            "--seeds" => plan = Some(SeedPlan::parse_range(&value()?)?),
            "--seconds" => seconds = Some(Duration::from_secs(number(value()?)?)),
            "--start" => start = number(value()?)?,
            "--metamorphic" => metamorphic = true,
            "--ops" => ops = number(value()?)? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let plan = match (plan, seconds) {
        (Some(p), None) => p,
        (None, Some(t)) => SeedPlan::For(t, start),
        (None, None) => SeedPlan::Range(0, 1000),
        (Some(_), Some(_)) => return Err("give either seeds or seconds".into()),
    };
    Ok(Args {
        plan,
        metamorphic,
        ops,
    })
}

fn simulate(plan: SeedPlan) -> u64 {
    let started = Instant::now();
    let mut total = Tally::default();
    let mut failures = 0;
    for seed in plan.seeds() {
        let (w, c) = describe(seed);
        if plan.single().is_some() {
            println!(
                "seed {seed}: workload {} on configuration {}",
                w.name(),
                c.name
            );
        }
        match run_seed(seed) {
            Ok(t) => total += &t,
            Err(v) => {
                failures += 1;
                println!("VIOLATION {v}");
            }
        }
    }
    println!(
        "simulation: {} seeds passed, {failures} failed, {:.1} s\n{total:#?}",
        total.seeds,
        started.elapsed().as_secs_f64()
    );
    failures
}

fn metamorphic_runs(plan: SeedPlan, ops: usize) -> u64 {
    let started = Instant::now();
    let mut total = MetaTally::default();
    let mut failures = 0;
    for seed in plan.seeds() {
        match metamorphic::run_seed(seed, ops) {
            Ok(t) => {
                total.seeds += t.seeds;
                total.ops += t.ops;
                total.compared += t.compared;
            }
            Err(m) => {
                failures += 1;
                println!("MISMATCH {m}");
            }
        }
    }
    println!(
        "metamorphic: {} seeds passed, {failures} failed; {} configurations, {} operations run, {} results compared; {:.1} s",
        total.seeds,
        METAMORPHIC_CONFIGS.len(),
        total.ops,
        total.compared,
        started.elapsed().as_secs_f64()
    );
    failures
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let failures = if args.metamorphic {
        metamorphic_runs(args.plan, args.ops)
    } else {
        simulate(args.plan)
    };
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
