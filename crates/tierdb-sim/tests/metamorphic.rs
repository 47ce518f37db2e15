//! Metamorphic runs in the normal test run: a few seeded streams, each run
//! under every configuration, must read the same everywhere.
//!
//! `TIERDB_METAMORPHIC_SEEDS=N` (or `A..B`), `TIERDB_METAMORPHIC_SECONDS=T`,
//! `TIERDB_METAMORPHIC_SEED=S` as for the simulation.

use tierdb_sim::METAMORPHIC_CONFIGS;
use tierdb_sim::metamorphic::{MetaOp, execute, generate, run_seed};
use tierdb_sim::seeds::SeedPlan;

#[test]
fn every_configuration_reads_the_same() {
    let plan = SeedPlan::from_env("TIERDB_METAMORPHIC", 60);
    let failures: Vec<String> = plan
        .seeds()
        .filter_map(|seed| run_seed(seed, 300).err().map(|m| m.to_string()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn streams_cover_every_operation_and_results_are_not_all_errors() {
    let stream = generate(3, 2000);
    let has = |f: fn(&MetaOp) -> bool| stream.iter().any(f);
    assert!(has(|op| matches!(op, MetaOp::Crash)));
    assert!(has(|op| matches!(op, MetaOp::Reopen)));
    assert!(has(|op| matches!(op, MetaOp::Commit(_))));
    assert!(has(|op| matches!(op, MetaOp::TxnDeleteRange(..))));
    assert!(has(|op| matches!(op, MetaOp::SnapshotScan(..))));
    assert!(has(|op| matches!(op, MetaOp::MergeAt(_))));
    assert!(has(|op| matches!(op, MetaOp::SetTierAt(..))));
    assert!(has(|op| matches!(op, MetaOp::CompactRange(_))));
    let results = execute(&stream, METAMORPHIC_CONFIGS[0], 3);
    let errors = results.iter().filter(|r| r.starts_with("error")).count();
    assert_eq!(
        errors,
        0,
        "{:?}",
        results.iter().find(|r| r.starts_with("error"))
    );
    assert!(results.iter().any(|r| r.starts_with("conflict")));
    assert!(results.iter().any(|r| r.contains(" entries, first Some")));
}
