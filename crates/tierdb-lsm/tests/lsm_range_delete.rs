//! Range tombstones in the LSM tier: random range deletes mixed with puts
//! and deletes, flushes and compactions match the model at every step
//! (gets and scans); a view taken before a range delete reads everything
//! through flushes and compactions; the space of deleted keys is reclaimed
//! once compaction reaches the bottom level; a range tombstone alone makes
//! a table of its own that survives a reopen.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use common::*;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

#[test]
fn random_range_deletes_match_the_model_through_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let tier = open(&vfs, dir.path()).unwrap();
    let mut model = Model::new();
    let mut rng = Rng::new(seed(5));
    for seq in 1..1500u64 {
        let id = rng.below(60);
        let op = if rng.chance(5) {
            random_delete_range(&mut rng, 60, key)
        } else if rng.chance(30) {
            WriteOp::Delete { key: key(id) }
        } else {
            WriteOp::Put {
                key: key(id),
                value: value(id, seq, value_len(&mut rng)),
            }
        };
        apply(&tier, &mut model, seq, vec![op]);
        if rng.chance(10) {
            persist(&tier);
        }
        if rng.chance(2) {
            tier.compact_all().unwrap();
        }
        let view = tier.read_view();
        for id in 0..60 {
            assert_eq!(
                view.get(&key(id)).unwrap(),
                model.get(&key(id)).cloned(),
                "seq {seq} key {id}"
            );
        }
        assert_equal(&*view, &model, &format!("seq {seq}"));
    }
}

#[test]
fn held_view_survives_and_space_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let tier = open(&vfs, dir.path()).unwrap();
    let mut model = Model::new();
    let n = 5000u64;
    let mut seq = 0;
    for chunk in 0..n / 500 {
        seq += 1;
        let ops = (chunk * 500..(chunk + 1) * 500)
            .map(|i| WriteOp::Put {
                key: key(i),
                value: value(i, seq, 60),
            })
            .collect();
        apply(&tier, &mut model, seq, ops);
        persist(&tier);
    }
    tier.compact_all().unwrap();
    let full_bytes = tier.stats().disk_bytes;
    let held = tier.read_view();
    let held_model = model.clone();
    seq += 1;
    apply(
        &tier,
        &mut model,
        seq,
        vec![WriteOp::DeleteRange {
            start: key(10),
            end: Some(key(n - 10)),
        }],
    );
    // The tombstone alone is flushed into a table of its own.
    persist(&tier);
    assert_eq!(model.len(), 20);
    assert_equal(&*tier.read_view(), &model, "after flush");
    assert_equal(&*held, &held_model, "held view after the flush");
    for _ in 0..3 {
        seq += 1;
        let ops = vec![WriteOp::Put {
            key: key(n + seq),
            value: value(n + seq, seq, 10),
        }];
        apply(&tier, &mut model, seq, ops);
        persist(&tier);
        tier.compact_all().unwrap();
        assert_equal(&*held, &held_model, "held view after compactions");
        assert_equal(&*tier.read_view(), &model, "current after compactions");
    }
    drop(held);
    tier.compact_all().unwrap();
    let after = tier.stats().disk_bytes;
    eprintln!("disk bytes: {full_bytes} before the range delete, {after} after compaction");
    assert!(after * 10 < full_bytes, "{full_bytes} -> {after}");
    // Reopen: what is on disk still hides the range.
    drop(tier);
    let tier = open(&vfs, dir.path()).unwrap();
    assert_equal(&*tier.read_view(), &model, "reopened");
    assert!(
        collect(
            &*tier.read_view(),
            Bound::Included(key(10)),
            Bound::Excluded(key(n - 10))
        )
        .is_empty()
    );
}
