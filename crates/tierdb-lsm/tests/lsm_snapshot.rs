//! A view held through many flushes and compactions reads exactly what it
//! saw when made; the files it pins are deleted only once it is dropped.

mod common;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

fn table_files(sim: &SimVfs) -> usize {
    sim.files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count()
}

fn round(seq: u64) -> Vec<WriteOp> {
    (0..300u64)
        .map(|i| {
            let id = (i * 7 + seq * 13) % 500;
            if (i + seq).is_multiple_of(5) {
                WriteOp::Delete { key: key(id) }
            } else {
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, 20 + (i % 50) as usize),
                }
            }
        })
        .collect()
}

#[test]
fn snapshot_survives_flushes_and_compactions() {
    let sim = SimVfs::new(seed(7));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let mut model = Model::new();
    let mut seq = 0;
    for _ in 0..10 {
        seq += 1;
        apply(&tier, &mut model, seq, round(seq));
        if seq.is_multiple_of(3) {
            persist(&tier);
        }
    }
    let view = tier.read_view();
    let snapshot = model.clone();
    let mut middle = None;
    for _ in 0..60 {
        seq += 1;
        apply(&tier, &mut model, seq, round(seq));
        persist(&tier);
        if seq == 40 {
            tier.compact_all().unwrap();
            middle = Some((tier.read_view(), model.clone()));
        }
    }
    tier.compact_all().unwrap();
    let stats = tier.lsm_stats();
    assert!(stats.compactions >= 5, "{stats:?}");
    assert_equal(&*view, &snapshot, "snapshot after 60 persists");
    let mut rng = Rng::new(1);
    spot_check(&*view, &snapshot, &mut rng, 500, "snapshot spot check");
    let (middle_view, middle_model) = middle.unwrap();
    assert_equal(&*middle_view, &middle_model, "middle snapshot");
    assert_equal(&*tier.read_view(), &model, "current");

    // An iterator alone (its view dropped) keeps its tables alive too.
    let mut iter = view.range(Bound::Unbounded, Bound::Unbounded).unwrap();
    drop(view);
    drop(middle_view);
    let pinned = table_files(&sim);
    let live: usize = tier.lsm_stats().tables_per_level.iter().sum();
    assert!(
        pinned > live,
        "the iterator pins old tables: {pinned} > {live}"
    );
    let first = iter.next().unwrap().unwrap();
    assert_eq!(Some(&first.1), snapshot.get(&first.0));
    assert_eq!(iter.count() + 1, snapshot.len());
    assert_eq!(
        table_files(&sim),
        live,
        "obsolete tables deleted after drop"
    );
}

#[test]
fn views_see_exactly_their_sequence() {
    let sim = SimVfs::new(seed(8));
    let vfs: Arc<dyn Vfs> = Arc::new(sim);
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let k = key(1);
    let mut views = Vec::new();
    for seq in 1..=200u64 {
        let op = if seq.is_multiple_of(10) {
            WriteOp::Delete { key: k.clone() }
        } else {
            WriteOp::Put {
                key: k.clone(),
                value: value(1, seq, 3000),
            }
        };
        tier.apply(seq, &[op]).unwrap();
        if seq.is_multiple_of(7) {
            persist(&tier);
        }
        if seq.is_multiple_of(13) {
            tier.compact_all().unwrap();
        }
        views.push(tier.read_view());
    }
    for (i, view) in views.iter().enumerate() {
        let seq = i as u64 + 1;
        let expected = (!seq.is_multiple_of(10)).then(|| value(1, seq, 3000));
        assert_eq!(view.get(&k).unwrap(), expected, "view at {seq}");
        let all: Vec<_> = view
            .range(Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .rev()
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(
            all,
            expected.into_iter().collect::<Vec<_>>(),
            "range at {seq}"
        );
    }
}
