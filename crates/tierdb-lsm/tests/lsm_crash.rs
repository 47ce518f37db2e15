//! Power loss during a persist (flush, then compactions): crash at every
//! mutating operation of one persist; reopening gives exactly the
//! previous or the new persisted state, leaves no unlisted table behind,
//! and the recovered tier keeps working. The tier runs without a
//! background compactor, so `persist` compacts inline, deterministically.
//! Each install appends one edit to the manifest log, or (the first after
//! open, or every one with `manifest_roll_bytes` 0) rolls to a new log.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{Error, SimVfs, Vfs};
use tierdb_lsm::LsmTier;
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

fn round_ops(round: u64) -> Vec<WriteOp> {
    (0..500u64)
        .filter(|i| !(i + round).is_multiple_of(3))
        .map(|i| {
            if (i + round).is_multiple_of(11) {
                WriteOp::Delete { key: key(i) }
            } else {
                WriteOp::Put {
                    key: key(i),
                    value: value(i, round, 20 + ((i + round) % 60) as usize),
                }
            }
        })
        .collect()
}

/// Opens with compaction inside `persist` (no background thread), rolling
/// the manifest log at `roll_bytes`. A flush merges the newest L0 table
/// (one round's ~35 KiB) into its own while within 64 KiB, so every other
/// persist also replaces an L0 table (`LsmOptions::l0_merge_bytes`).
fn open_sync(vfs: &Arc<dyn Vfs>, roll_bytes: u64) -> tierdb_io::Result<LsmTier> {
    let opts = tierdb_lsm::LsmOptions {
        background_compaction: false,
        manifest_roll_bytes: roll_bytes,
        l0_merge_bytes: 64 * 1024,
        ..small_options()
    };
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    open_with(vfs, Path::new(DIR), cache, opts)
}

/// Applies `rounds` rounds, persisting after each but the last.
fn prepare(sim: &SimVfs, rounds: u64, roll_bytes: u64) -> (LsmTier, Vec<Model>) {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open_sync(&vfs, roll_bytes).unwrap();
    let mut models = vec![Model::new()];
    let mut model = Model::new();
    for round in 1..=rounds {
        apply(&tier, &mut model, round, round_ops(round));
        models.push(model.clone());
        if round < rounds {
            persist(&tier);
        }
    }
    (tier, models)
}

/// Table files on disk are exactly those the reopened tier uses.
fn assert_no_garbage(sim: &SimVfs, tier: &LsmTier, context: &str) {
    let on_disk = sim
        .files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count();
    let live: usize = tier.lsm_stats().tables_per_level.iter().sum();
    assert_eq!(on_disk, live, "{context}: unlisted tables left");
}

fn reopen_and_check(
    sim: &SimVfs,
    models: &[Model],
    rounds: u64,
    roll_bytes: u64,
    context: &str,
) -> u64 {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open_sync(&vfs, roll_bytes).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let seq = tier.persisted_seq();
    assert!(
        seq == rounds || seq == rounds - 1,
        "{context}: recovered seq {seq}"
    );
    assert_equal(&*tier.read_view(), &models[seq as usize], context);
    assert_no_garbage(sim, &tier, context);
    let mut model = models[seq as usize].clone();
    apply(&tier, &mut model, seq + 1, round_ops(seq + 1));
    persist(&tier);
    tier.compact_all().unwrap();
    drop(tier);
    let tier = open_sync(&vfs, roll_bytes).unwrap();
    assert_equal(&*tier.read_view(), &model, &format!("{context}: continued"));
    let logs = sim
        .files()
        .iter()
        .filter(|p| p.to_string_lossy().contains("LSM-MANIFEST-"))
        .count();
    assert_eq!(logs, 1, "{context}: manifest logs left behind");
    seq
}

fn crash_at_every_op_of_persist(rounds: u64, roll_bytes: u64, seed: u64) {
    let sim = SimVfs::new(seed);
    let (tier, _) = prepare(&sim, rounds, roll_bytes);
    let compactions = tier.lsm_stats().compactions;
    let before = sim.mutating_ops();
    persist(&tier);
    let ops = sim.mutating_ops() - before;
    let compacted = tier.lsm_stats().compactions > compactions;
    drop(tier);
    let (mut old, mut new) = (0, 0);
    for n in 0..=ops {
        let sim = SimVfs::new(seed + n);
        let (tier, models) = prepare(&sim, rounds, roll_bytes);
        sim.crash_after_ops(n);
        let result = tier.persist(&no_wal);
        let persisted = match result {
            // A crash in a best-effort delete of an obsolete table does not
            // fail the persist: the manifest was already durable.
            Ok(_) => true,
            Err(Error::Io { .. }) if n < ops => {
                assert!(matches!(tier.persist(&no_wal), Err(Error::Poisoned { .. })));
                false
            }
            Err(e) => panic!("op {n} of {ops}: unexpected {e}"),
        };
        if n == ops {
            sim.crash();
        }
        drop(tier);
        let context = format!(
            "persist {rounds} (roll at {roll_bytes}), crash after op {n} of {ops}, seed {seed}"
        );
        match reopen_and_check(&sim, &models, rounds, roll_bytes, &context) {
            s if s == rounds => new += 1,
            _ => {
                assert!(!persisted, "{context}: an acknowledged persist was lost");
                old += 1;
            }
        }
    }
    eprintln!(
        "persist {rounds} (roll at {roll_bytes}): {ops} ops (compacted: {compacted}); old {old}, new {new}"
    );
    assert!(old > 0 && new > 0);
}

const ROLL_DEFAULT: u64 = 4 << 20;

#[test]
fn crash_during_first_flush() {
    crash_at_every_op_of_persist(1, ROLL_DEFAULT, seed(1000));
}

#[test]
fn crash_during_flush_and_compactions() {
    let seed = seed(2000);
    for rounds in [3, 6] {
        crash_at_every_op_of_persist(rounds, ROLL_DEFAULT, seed + rounds * 1000);
    }
}

/// Every install rolls to a new manifest log: snapshot, `LSM-CURRENT`
/// switch, removal of the old log — crashed at each step.
#[test]
fn crash_during_manifest_rolls() {
    let seed = seed(3000);
    for rounds in [2, 5] {
        crash_at_every_op_of_persist(rounds, 0, seed + rounds * 1000);
    }
}
