//! The basics: put, get, range, persist, reopen.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

#[test]
fn put_get_range_persist_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("t.btree");
    let tier = open(&vfs, &path, 4096).unwrap();
    let mut model = Model::new();
    let mut seq = 0;
    for round in 0..20u64 {
        seq += 1;
        let ops = (0..500u64)
            .map(|i| WriteOp::Put { key: key(round * 500 + i), value: value(i, seq, (i % 50) as usize) })
            .collect();
        apply(&tier, &mut model, seq, ops);
    }
    assert_equal(&*tier.read_view(), &model, "before persist");
    assert_eq!(tier.stats().entries, model.len() as u64);
    assert_eq!(persist(&tier), seq);
    assert_equal(&*tier.read_view(), &model, "after persist");
    drop(tier);
    let tier = open(&vfs, &path, 4096).unwrap();
    assert_eq!(tier.persisted_seq(), seq);
    assert_eq!(tier.applied_seq(), seq);
    assert_eq!(tier.stats().entries, model.len() as u64);
    let view = tier.read_view();
    assert_equal(&*view, &model, "after reopen");
    let got = collect(&*view, Bound::Included(Bytes::from("key00000100")), Bound::Excluded(Bytes::from("key00000110")));
    assert_eq!(got.len(), 10);
}
