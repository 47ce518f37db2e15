//! `crash_torture`: kill -9 torture of tierdb on real files.
//!
//! ```text
//! crash_torture [--rounds N] [--seconds S] [--seed S] [--dir D] [--max-run-ms M]
//! ```
//!
//! The parent starts itself as a child (`crash_torture child ...`) that
//! opens a database in `D` (a temp dir by default) with mixed B+tree and LSM
//! partitions and commits with `Durability::Sync` — transfers between
//! accounts, inserts of unique keys, deletes of single keys and range
//! deletes over them — while background checkpoints and compactions and
//! random splits, merges and tier changes run. The child
//! reports each commit on a pipe before attempting it and again after it was
//! acknowledged. The parent kills it with SIGKILL at a seeded random moment,
//! reopens the database and checks that every acknowledged commit is there,
//! that balances equal the initial ones plus exactly the transfers present
//! (so the sum is kept), that a range delete in flight at the kill is all
//! there or all gone, that nothing deleted came back and nothing never
//! written appears; then the next round runs on the same files. It stops
//! after N rounds (default 100) or S seconds, and exits 1 on the first
//! violation, keeping the files. The seed fixes the kill schedule and the
//! children's workloads; thread scheduling still varies from run to run.

mod child;
mod ledger;
mod parent;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("child") {
        run_child(&args[1..])
    } else {
        parse_parent(&args).and_then(|config| parent::run(&config))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash_torture: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs.
fn flags(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    args.chunks(2)
        .map(|pair| match pair {
            [name, value] if name.starts_with("--") => Ok((&name[2..], value.as_str())),
            _ => Err(format!("expected --flag value pairs, got {pair:?}")),
        })
        .collect()
}

fn number(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("--{name} wants a number, got {value:?}"))
}

fn parse_parent(args: &[String]) -> Result<parent::Config, String> {
    let mut config = parent::Config {
        rounds: 100,
        seconds: None,
        seed: 1,
        dir: None,
        max_run_ms: 1500,
    };
    for (name, value) in flags(args)? {
        match name {
            "rounds" => config.rounds = number(name, value)?,
            "seconds" => config.seconds = Some(number(name, value)?),
            "seed" => config.seed = number(name, value)?,
            "dir" => config.dir = Some(PathBuf::from(value)),
            "max-run-ms" => config.max_run_ms = number(name, value)?,
            _ => return Err(format!("unknown flag --{name}")),
        }
    }
    Ok(config)
}

fn run_child(args: &[String]) -> Result<(), String> {
    let (mut dir, mut round, mut seed) = (None, 0, 0);
    for (name, value) in flags(args)? {
        match name {
            "dir" => dir = Some(PathBuf::from(value)),
            "round" => round = number(name, value)?,
            "seed" => seed = number(name, value)?,
            _ => return Err(format!("unknown child flag --{name}")),
        }
    }
    let dir = dir.ok_or("the child needs --dir")?;
    child::run(&dir, round, seed)
}
