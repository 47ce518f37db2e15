//! Range deletes drop whole subtrees: after deleting most of a large tree
//! the checkpoint reaches far fewer pages and the freed ones are free in
//! the file; only the two boundary paths were copied (the dirty bytes stay
//! a few pages, however many keys went); a view taken before the delete
//! still reads everything, through checkpoints; overflow values inside the
//! range are freed too.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

fn puts(ids: std::ops::Range<u64>, seq: u64, len: usize) -> Vec<WriteOp> {
    ids.map(|i| WriteOp::Put {
        key: key(i),
        value: value(i, seq, len),
    })
    .collect()
}

#[test]
fn large_range_drops_subtrees_and_frees_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("range.btree");
    let tier = open(&vfs, &path, 4096).unwrap();
    let mut model = Model::new();
    let n = 100_000u64;
    // Every 1000th value spills to an overflow run.
    let mut ops = puts(0..n, 1, 40);
    for i in (0..n).step_by(1000) {
        ops[i as usize] = WriteOp::Put {
            key: key(i),
            value: value(i, 1, 9000),
        };
    }
    apply(&tier, &mut model, 1, ops);
    persist(&tier);
    let before = tier.verify().unwrap();
    let held = tier.read_view();
    let held_model = model.clone();

    let (lo, hi) = (n / 20, n - n / 20);
    apply(
        &tier,
        &mut model,
        2,
        vec![WriteOp::DeleteRange {
            start: key(lo),
            end: Some(key(hi)),
        }],
    );
    let dirty = tier.dirty_bytes();
    eprintln!(
        "deleted {} keys; dirty bytes {dirty}; tree height {}",
        hi - lo,
        before.height
    );
    // Dirty bytes are the copied nodes' memory (`Node::heap_bytes`): a node
    // of small entries holds up to ~6 pages' worth; copying the ~1,500
    // leaves in the range would hold megabytes.
    assert!(
        dirty <= 4 * u64::from(before.height) * 6 * 4096,
        "more than the two boundary paths were copied: {dirty} dirty bytes"
    );
    assert_eq!(tier.stats().entries, model.len() as u64);
    assert_equal(&*tier.read_view(), &model, "after the range delete");
    assert_equal(&*held, &held_model, "view taken before the range delete");

    persist(&tier);
    assert_equal(&*held, &held_model, "held view after a checkpoint");
    drop(held);
    // A second checkpoint makes the pages freed at seq 2 reusable.
    apply(&tier, &mut model, 3, puts(0..1, 3, 10));
    persist(&tier);
    let after = tier.verify().unwrap();
    eprintln!("before: {before:?}\nafter:  {after:?}");
    assert_eq!(after.entries, model.len() as u64);
    assert!(
        after.node_pages * 5 < before.node_pages,
        "node pages {} -> {}",
        before.node_pages,
        after.node_pages
    );
    assert!(
        after.overflow_pages * 5 < before.overflow_pages,
        "overflow pages {} -> {}",
        before.overflow_pages,
        after.overflow_pages
    );
    assert!(
        after.free_pages >= (before.node_pages - after.node_pages) / 2,
        "freed pages are not free: {after:?}"
    );
    // Reinserting reuses the freed pages instead of growing the file.
    apply(&tier, &mut model, 4, puts(lo..hi, 4, 40));
    persist(&tier);
    assert!(tier.verify().unwrap().total_pages <= before.total_pages * 11 / 10);
    assert_equal(&*tier.read_view(), &model, "after reinsert");
}

#[test]
fn ranges_of_every_shape_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let tier = open(&vfs, &dir.path().join("shapes.btree"), 1024).unwrap();
    let mut model = Model::new();
    let mut rng = Rng::new(seed(7));
    let mut seq = 0;
    for round in 0..60u64 {
        seq += 1;
        apply(&tier, &mut model, seq, puts(0..3000, seq, 20));
        if round % 3 == 0 {
            persist(&tier);
        }
        seq += 1;
        let op = random_delete_range(&mut rng, 3000, key);
        apply(&tier, &mut model, seq, vec![op]);
        assert_eq!(tier.stats().entries, model.len() as u64, "round {round}");
        spot_check(&*tier.read_view(), &model, &mut rng, 3000, "range shapes");
        if round % 5 == 0 {
            persist(&tier);
            assert_eq!(tier.verify().unwrap().entries, model.len() as u64);
        }
    }
    // Everything, and an empty range.
    seq += 1;
    apply(
        &tier,
        &mut model,
        seq,
        vec![
            WriteOp::DeleteRange {
                start: key(10),
                end: Some(key(5)),
            },
            WriteOp::DeleteRange {
                start: Bytes::new(),
                end: None,
            },
        ],
    );
    assert!(model.is_empty());
    assert!(collect(&*tier.read_view(), Bound::Unbounded, Bound::Unbounded).is_empty());
    persist(&tier);
    let report = tier.verify().unwrap();
    assert_eq!((report.entries, report.height), (0, 1));
}
