//! The simulation in the normal test run: a few hundred seeds per workload
//! (each on every configuration), with checks that crashes, faults,
//! conflicts and losses of unsynced commits actually happened.
//!
//! `TIERDB_SIM_SEEDS=N` (or `A..B`) runs more seeds, `TIERDB_SIM_SECONDS=T`
//! runs for a time, `TIERDB_SIM_SEED=S` replays one; the release binary
//! (`cargo run --release -p tierdb-sim -- --seeds 0..100000`) is faster.

use tierdb_sim::seeds::SeedPlan;
use tierdb_sim::{Tally, Workload, describe, run_seed};

fn run_workload(workload: Workload) {
    let plan = SeedPlan::from_env("TIERDB_SIM", 3000);
    let mut total = Tally::default();
    let mut failures = Vec::new();
    for seed in plan.seeds().filter(|&s| describe(s).0 == workload) {
        match run_seed(seed) {
            Ok(t) => total += &t,
            Err(v) => failures.push(v.to_string()),
        }
    }
    println!("{}: {total:?}", workload.name());
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if plan.single().is_none() && total.seeds >= 150 {
        // The run must actually crash, fault, conflict and lose unsynced
        // commits, or it proves nothing.
        assert!(total.crashes_mid_workload > total.seeds / 2, "{total:?}");
        assert!(total.crashes_in_open > 0, "{total:?}");
        assert!(total.faults > total.seeds / 4, "{total:?}");
        assert!(total.conflicts > 0, "{total:?}");
        assert!(total.lost_unsynced > 0, "{total:?}");
        assert!(total.clean_shutdowns > 0, "{total:?}");
        assert!(total.layout_changes > 0, "{total:?}");
        assert!(total.reads > total.seeds * 20, "{total:?}");
    }
}

#[test]
fn random_kv_seeds_keep_every_rule() {
    run_workload(Workload::RandomKv);
}

#[test]
fn bank_seeds_keep_every_rule() {
    run_workload(Workload::Bank);
}

#[test]
fn catalog_seeds_keep_every_rule() {
    run_workload(Workload::Catalog);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [7, 1234, 99_001] {
        let first = run_seed(seed).expect("seed passes");
        let again = run_seed(seed).expect("seed passes");
        assert_eq!(first, again, "seed {seed} did not replay identically");
        assert!(first.fs_ops > 0);
    }
}
