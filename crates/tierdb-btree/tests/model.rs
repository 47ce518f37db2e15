//! Random operation sequences against a `BTreeMap` model: puts and deletes
//! of random keys (some 16 KiB long) and values (some spanning overflow
//! pages), gets and ranges both ways, interleaved persists and reopens. A
//! reopened tier must equal the model as of the persisted sequence; views
//! held across many applies and persists must stay exact.

mod common;

use std::sync::Arc;

use common::*;
use tierdb_btree::BTreeTier;
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::testing::apply_to_model;
use tierdb_tier::{ReadView, Seq, Tier, WriteOp};

struct HeldView {
    view: Arc<dyn ReadView>,
    model: Model,
}

fn random_batch(rng: &mut Rng, seq: Seq, key_space: u64) -> Vec<WriteOp> {
    let size = if rng.chance(5) {
        200 + rng.below(800)
    } else {
        1 + rng.below(20)
    };
    (0..size)
        .map(|_| {
            let id = rng.below(key_space);
            if rng.chance(1) {
                random_delete_range(rng, key_space, key)
            } else if rng.chance(30) {
                WriteOp::Delete { key: key(id) }
            } else {
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, value_len(rng)),
                }
            }
        })
        .collect()
}

fn run_model(seed: u64, page_size: usize, steps: usize, key_space: u64) {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("model.btree");
    // A small cache, so pages are evicted and reloaded from disk.
    let cache = Arc::new(PageCache::new(256 * 1024));
    let mut tier = open_with_cache(&vfs, &path, page_size, Arc::clone(&cache)).unwrap();
    let (mut model, mut durable) = (Model::new(), Model::new());
    let mut seq: Seq = 0;
    let mut held: Vec<HeldView> = Vec::new();
    for step in 0..steps {
        let context = format!("seed {seed} page {page_size} step {step}");
        match rng.below(100) {
            0..=69 => {
                seq += 1;
                let ops = random_batch(&mut rng, seq, key_space);
                apply(&tier, &mut model, seq, ops);
            }
            70..=79 => spot_check(&*tier.read_view(), &model, &mut rng, key_space, &context),
            80..=86 => {
                assert_eq!(persist(&tier), seq, "{context}");
                durable = model.clone();
                let report = tier
                    .verify()
                    .unwrap_or_else(|e| panic!("{context}: verify: {e}"));
                assert_eq!(report.entries, model.len() as u64, "{context}");
            }
            87..=91 => {
                if held.len() > 4 {
                    let old = held.remove(rng.below(held.len() as u64) as usize);
                    assert_equal(&*old.view, &old.model, &format!("{context}: held view"));
                }
                held.push(HeldView {
                    view: tier.read_view(),
                    model: model.clone(),
                });
            }
            92..=95 => {
                for h in &held {
                    spot_check(
                        &*h.view,
                        &h.model,
                        &mut rng,
                        key_space,
                        &format!("{context}: held view"),
                    );
                }
            }
            _ => {
                held.clear();
                drop(tier);
                tier = open_with_cache(&vfs, &path, page_size, Arc::clone(&cache)).unwrap();
                seq = tier.persisted_seq();
                model = durable.clone();
                assert_eq!(tier.applied_seq(), seq);
                assert_equal(&*tier.read_view(), &model, &format!("{context}: reopened"));
                assert_eq!(
                    tier.stats().entries,
                    model.len() as u64,
                    "{context}: entry count"
                );
                tier.verify()
                    .unwrap_or_else(|e| panic!("{context}: verify after reopen: {e}"));
                replay_into_overlay(&tier, &mut rng, &mut model, &mut seq, key_space, &context);
                held.push(HeldView {
                    view: tier.read_view(),
                    model: model.clone(),
                });
                if rng.chance(30) {
                    tier.finish_recovery().unwrap();
                    assert_equal(&*tier.read_view(), &model, &format!("{context}: folded"));
                }
            }
        }
    }
    assert_equal(&*tier.read_view(), &model, "final");
    for h in &held {
        assert_equal(&*h.view, &h.model, "final held view");
    }
    persist(&tier);
    drop(held);
    drop(tier);
    let tier = open(&vfs, &path, page_size).unwrap();
    assert_equal(&*tier.read_view(), &model, "final reopen");
}

/// Write sets replayed as at a database open (`apply_recovered`: held in
/// the overlay until the next apply, persist or `finish_recovery`), read
/// over the tree.
fn replay_into_overlay(
    tier: &BTreeTier,
    rng: &mut Rng,
    model: &mut Model,
    seq: &mut Seq,
    key_space: u64,
    context: &str,
) {
    let mut sets = Vec::new();
    for _ in 0..rng.below(8) {
        *seq += 1;
        let ops = random_batch(rng, *seq, key_space);
        sets.push((*seq, ops.clone()));
        apply_to_model(model, ops);
    }
    // In one call or in two, as replay hands them over in chunks.
    let (first, second) = sets.split_at(rng.below(sets.len() as u64 + 1) as usize);
    for chunk in [first, second] {
        tier.apply_recovered(chunk).expect("apply_recovered");
    }
    assert_eq!(tier.applied_seq(), *seq, "{context}: replayed");
    spot_check(&*tier.read_view(), model, rng, key_space, context);
}

#[test]
fn random_ops_4k_pages() {
    let seed = seed(1);
    for i in 0..3 {
        run_model(seed + i, 4096, 400, 3000);
    }
}

#[test]
fn random_ops_1k_pages() {
    let seed = seed(100);
    for i in 0..3 {
        run_model(seed + i, 1024, 400, 600);
    }
}

#[test]
fn random_ops_small_key_space_many_deletes() {
    let seed = seed(200);
    run_model(seed, 1024, 600, 60);
}

/// A tall tree (1 KiB pages) shrunk by deletes in random order down to
/// nothing: exercises leaf and branch merges, borrows and root collapse.
#[test]
fn grow_then_shrink_in_random_order() {
    let mut rng = Rng::new(seed(300));
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("shrink.btree");
    let tier = open(&vfs, &path, 1024).unwrap();
    let mut model = Model::new();
    let mut ids: Vec<u64> = (0..18_000).collect();
    // Random order: ascending inserts would fill every page and give a
    // shorter tree.
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let ops = ids
        .iter()
        .map(|&i| WriteOp::Put {
            key: key(i),
            value: value(i, 1, (i % 90) as usize),
        })
        .collect();
    apply(&tier, &mut model, 1, ops);
    persist(&tier);
    let tall = tier.verify().unwrap();
    assert!(tall.height >= 4, "{tall:?}");
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut seq = 1;
    for chunk in ids.chunks(400) {
        seq += 1;
        let ops = chunk
            .iter()
            .map(|&i| WriteOp::Delete { key: key(i) })
            .collect();
        apply(&tier, &mut model, seq, ops);
        spot_check(
            &*tier.read_view(),
            &model,
            &mut rng,
            18_000,
            &format!("seq {seq}"),
        );
        if seq % 5 == 0 {
            persist(&tier);
            assert_eq!(tier.verify().unwrap().entries, model.len() as u64);
        }
    }
    assert_equal(&*tier.read_view(), &model, "emptied");
    persist(&tier);
    let report = tier.verify().unwrap();
    assert_eq!(
        (report.entries, report.height, report.node_pages),
        (0, 1, 1),
        "{report:?}"
    );
}
