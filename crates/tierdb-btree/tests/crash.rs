//! Power loss during a checkpoint: crash at every mutating operation of one
//! checkpoint; reopening gives exactly the previous or the new checkpoint's
//! contents, and the file's pages are all accounted for.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_btree::BTreeTier;
use tierdb_io::{Error, SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const PAGE: usize = 1024;
const PATH: &str = "/db/t.btree";

/// Write set `round` of the workload: overwrites, deletes, big values and
/// 16 KiB keys, so checkpoints write leaves, branches, tails and runs and
/// reuse pages freed by earlier rounds.
fn round_ops(round: u64) -> Vec<WriteOp> {
    (0..400u64)
        .filter(|i| !(i + round).is_multiple_of(3))
        .map(|i| {
            if (i + round).is_multiple_of(11) {
                WriteOp::Delete { key: key(i) }
            } else {
                let len = if i % 40 == round % 40 {
                    3000 + 100 * round as usize
                } else {
                    10 + (i + round) as usize % 40
                };
                WriteOp::Put {
                    key: key(i),
                    value: value(i, round, len),
                }
            }
        })
        .collect()
}

/// Opens a tier on `sim` and applies `rounds` rounds, persisting after each
/// one except the last. Returns the tier and the models after each round.
fn prepare(sim: &SimVfs, rounds: u64) -> (BTreeTier, Vec<Model>) {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(PATH), PAGE).unwrap();
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

fn reopen_and_check(sim: &SimVfs, models: &[Model], allowed: &[u64], context: &str) -> u64 {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(PATH), PAGE)
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let seq = tier.persisted_seq();
    assert!(
        allowed.contains(&seq),
        "{context}: recovered seq {seq}, allowed {allowed:?}"
    );
    assert_equal(
        &*tier.read_view(),
        &models[seq as usize],
        &format!("{context}: contents at seq {seq}"),
    );
    tier.verify()
        .unwrap_or_else(|e| panic!("{context}: verify: {e}"));
    // The recovered tier keeps working: apply, persist, reopen.
    let mut model = models[seq as usize].clone();
    apply(&tier, &mut model, seq + 1, round_ops(seq + 1));
    persist(&tier);
    drop(tier);
    let tier = open(&vfs, Path::new(PATH), PAGE).unwrap();
    assert_equal(
        &*tier.read_view(),
        &model,
        &format!("{context}: after recovery and one more checkpoint"),
    );
    tier.verify().unwrap();
    seq
}

/// Crashes at every operation of checkpoint number `rounds`.
fn crash_at_every_op_of_checkpoint(rounds: u64, seed: u64) {
    let sim = SimVfs::new(seed);
    let (tier, _) = prepare(&sim, rounds);
    let before = sim.mutating_ops();
    persist(&tier);
    let ops = sim.mutating_ops() - before;
    drop(tier);
    assert!(
        ops >= 4,
        "a checkpoint syncs twice and writes pages and a header"
    );
    let (mut old, mut new) = (0, 0);
    for n in 0..=ops {
        let sim = SimVfs::new(seed + n);
        let (tier, models) = prepare(&sim, rounds);
        sim.crash_after_ops(n);
        let result = tier.persist(&no_wal);
        if n < ops {
            assert!(
                matches!(result, Err(Error::Io { .. })),
                "op {n}: persist should fail at the crash: {result:?}"
            );
            // Later persists refuse: the tier no longer knows what is durable.
            assert!(matches!(tier.persist(&no_wal), Err(Error::Poisoned { .. })));
        } else {
            result.unwrap();
            sim.crash();
        }
        drop(tier);
        let context = format!("checkpoint {rounds}, crash after op {n} of {ops}, seed {seed}");
        match reopen_and_check(&sim, &models, &[rounds - 1, rounds], &context) {
            s if s == rounds => new += 1,
            _ => old += 1,
        }
    }
    eprintln!("checkpoint {rounds}: {ops} ops; recovered previous {old} times, new {new} times");
    assert!(old > 0 && new > 0);
}

#[test]
fn crash_during_first_checkpoint() {
    crash_at_every_op_of_checkpoint(1, seed(1000));
}

#[test]
fn crash_during_a_checkpoint_that_reuses_pages() {
    let seed = seed(2000);
    for rounds in [3, 4, 7] {
        crash_at_every_op_of_checkpoint(rounds, seed + rounds * 1000);
    }
}

#[test]
fn crash_during_creation() {
    for n in 0..4 {
        let sim = SimVfs::new(n);
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        sim.crash_after_ops(n);
        let _ = open(&vfs, Path::new(PATH), PAGE);
        sim.crash();
        let tier = open(&vfs, Path::new(PATH), PAGE)
            .unwrap_or_else(|e| panic!("crash after op {n} of creation: {e}"));
        assert_eq!(tier.persisted_seq(), 0);
        assert_equal(&*tier.read_view(), &Model::new(), "new tier");
    }
}
