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

/// Write set `round` of a tree that shrinks: 3,000 keys, then all but one
/// deleted, then one key rewritten per round, so the checkpoints after the
/// deletes give the file's free tail back (cut the file).
fn shrink_ops(round: u64) -> Vec<WriteOp> {
    match round {
        1 => (0..3000u64)
            .map(|i| WriteOp::Put {
                key: key(i),
                value: value(i, round, 40),
            })
            .collect(),
        2 => (1..3000u64)
            .map(|i| WriteOp::Delete { key: key(i) })
            .collect(),
        _ => vec![WriteOp::Put {
            key: key(0),
            value: value(0, round, 40),
        }],
    }
}

/// Write sets by round number.
type Workload = fn(u64) -> Vec<WriteOp>;

/// Opens a tier on `sim` and applies `rounds` rounds of `ops`, persisting
/// after each one except the last. Returns the tier and the models after
/// each round.
fn prepare_with(sim: &SimVfs, rounds: u64, ops: Workload) -> (BTreeTier, Vec<Model>) {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(PATH), PAGE).unwrap();
    let mut models = vec![Model::new()];
    let mut model = Model::new();
    for round in 1..=rounds {
        apply(&tier, &mut model, round, ops(round));
        models.push(model.clone());
        if round < rounds {
            persist(&tier);
        }
    }
    (tier, models)
}

fn reopen_and_check(
    sim: &SimVfs,
    models: &[Model],
    allowed: &[u64],
    context: &str,
    ops: Workload,
) -> u64 {
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
    apply(&tier, &mut model, seq + 1, ops(seq + 1));
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
    crash_at_every_op_of_checkpoint_with(rounds, seed, round_ops);
}

fn crash_at_every_op_of_checkpoint_with(rounds: u64, seed: u64, workload: Workload) {
    let sim = SimVfs::new(seed);
    let (tier, _) = prepare_with(&sim, rounds, workload);
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
        let (tier, models) = prepare_with(&sim, rounds, workload);
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
        match reopen_and_check(&sim, &models, &[rounds - 1, rounds], &context, workload) {
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
fn crash_during_checkpoints_that_cut_the_file() {
    // Which checkpoints cut the file (their header counts fewer pages).
    let mut pages = Vec::new();
    for rounds in 1..=6 {
        let sim = SimVfs::new(seed(3000));
        let (tier, _) = prepare_with(&sim, rounds, shrink_ops);
        persist(&tier);
        pages.push(tier.verify().unwrap().total_pages);
    }
    let cuts: Vec<u64> = (2..=6u64)
        .filter(|&r| pages[r as usize - 1] < pages[r as usize - 2])
        .collect();
    assert!(!cuts.is_empty(), "no checkpoint cut the file: {pages:?}");
    assert!(
        pages[5] * 10 < pages[0],
        "the emptied tree's file stayed large: {pages:?}"
    );
    for rounds in cuts {
        crash_at_every_op_of_checkpoint_with(rounds, seed(3000) + rounds * 1000, shrink_ops);
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
