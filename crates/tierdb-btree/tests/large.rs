//! Large cells with 4 KiB pages: 16 KiB keys (spilled to node tails, in
//! leaves and as branch separators) and a 64 MiB value (an overflow run).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

fn long_key(i: u64) -> Bytes {
    // A 16 KiB common prefix: separators between these keys are long too.
    let mut k = vec![b'p'; 16 * 1024 - 8];
    k.extend_from_slice(&i.to_be_bytes());
    Bytes::from(k)
}

#[test]
fn sixteen_kib_keys_and_a_64_mib_value() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("large.btree");
    let tier = open(&vfs, &path, 4096).unwrap();
    let mut model = Model::new();
    let big: Bytes = value(1, 1, 64 << 20);
    let mut ops = vec![WriteOp::Put {
        key: long_key(u64::MAX),
        value: big.clone(),
    }];
    ops.extend((0..300u64).map(|i| WriteOp::Put {
        key: long_key(i),
        value: value(i, 1, (i % 7 * 700) as usize),
    }));
    apply(&tier, &mut model, 1, ops);
    assert!(
        tier.dirty_bytes() >= 64 << 20,
        "the big value counts as dirty"
    );
    persist(&tier);
    assert!(tier.dirty_bytes() < 64 << 20);
    let report = tier.verify().unwrap();
    assert!(report.height >= 2, "{report:?}");
    assert!(report.overflow_pages >= (64 << 20) / 4096, "{report:?}");
    drop(tier);

    let tier = open(&vfs, &path, 4096).unwrap();
    let view = tier.read_view();
    assert!(view.get(&long_key(u64::MAX)).unwrap().unwrap() == big);
    assert_equal(&*view, &model, "reopened");
    drop(view);
    // Replacing the big value frees its run for reuse.
    apply(
        &tier,
        &mut model,
        2,
        vec![WriteOp::Put {
            key: long_key(u64::MAX),
            value: Bytes::from_static(b"small"),
        }],
    );
    persist(&tier);
    apply(
        &tier,
        &mut model,
        3,
        vec![WriteOp::Delete { key: long_key(3) }],
    );
    persist(&tier);
    let report = tier.verify().unwrap();
    assert!(report.free_pages >= (64 << 20) / 4096, "{report:?}");
    assert_equal(&*tier.read_view(), &model, "after overwrite");
}
