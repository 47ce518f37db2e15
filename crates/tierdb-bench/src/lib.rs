//! `tierdb-bench`: workloads, engines and reports (see docs/benchmarks.md).

pub mod catalog;
pub mod chart;
pub mod cli;
pub mod engine;
pub mod engines;
pub mod generic;
pub mod keys;
pub mod measure;
pub mod phase;
pub mod report;
pub mod runner;
pub mod targets;

use cli::{Cli, Workload};
use engine::Result;
use report::Output;

/// Runs what the command line asks for.
pub fn run(cli: &Cli) -> Result<()> {
    if cli.workload == Workload::KillChild {
        return catalog::kill_child(cli);
    }
    if let Some(from) = &cli.from {
        // Report on an earlier run: summary, targets and charts again.
        let out = Output::load(from)?;
        return finish(cli, &out);
    }
    for kind in &cli.engines {
        if !kind.available() {
            return Err(kind
                .open(&cli.base_dir(), &cli.engine_config())
                .err()
                .unwrap_or_else(|| "unavailable".into()));
        }
    }
    // Each store removes its own directory; the base directory goes only
    // if this run created it, so `--dir` may name a directory holding
    // other files (the results, a log) without losing them.
    let base = cli.base_dir();
    let created_base = !base.exists();
    let mut out = Output::create(&cli.out)?;
    let result = run_workload(cli, &mut out);
    if created_base && !cli.keep && !cli.reuse {
        let _ = std::fs::remove_dir(&base);
    }
    result?;
    finish(cli, &out)
}

fn finish(cli: &Cli, out: &Output) -> Result<()> {
    out.print_summary();
    if cli.workload == Workload::Catalog || cli.workload == Workload::Growth {
        println!();
        for line in targets::check(
            &out.results,
            engines::tierdb::memory_budget(&cli.engine_config()),
        ) {
            println!("{line}");
        }
    }
    let charts = out.write_charts(cli.workload == Workload::Growth)?;
    println!("\nresults: {}", out.path().display());
    for c in charts {
        println!("chart:   {}", c.display());
    }
    Ok(())
}

fn run_workload(cli: &Cli, out: &mut Output) -> Result<()> {
    match cli.workload {
        Workload::Catalog | Workload::Growth => {
            if !cli.reuse {
                catalog::fsync_baseline(cli, out)?;
            }
            let sizes = if cli.workload == Workload::Growth {
                cli.sizes.clone()
            } else {
                vec![cli.n]
            };
            for n in sizes {
                for &kind in &cli.engines {
                    catalog::run(cli, kind, n, out)?;
                }
            }
        }
        w => {
            for &kind in &cli.engines {
                generic::run(cli, w, kind, out)?;
            }
        }
    }
    Ok(())
}
