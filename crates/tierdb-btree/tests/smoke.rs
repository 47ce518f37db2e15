//! The basics: put, get, range, persist, reopen.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{ReadView, Tier, WriteOp};

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
            .map(|i| WriteOp::Put {
                key: key(round * 500 + i),
                value: value(i, seq, (i % 50) as usize),
            })
            .collect();
        apply(&tier, &mut model, seq, ops);
    }
    assert_equal(&*tier.read_view(), &model, "before persist");
    assert_eq!(tier.stats().entries, model.len() as u64);
    assert!(tier.dirty_bytes() > 0);
    assert_eq!(persist(&tier), seq);
    let stats = tier.stats();
    assert_eq!(
        (stats.persists, stats.persisted_seq, stats.dirty_bytes),
        (1, seq, 0)
    );
    assert!(stats.bytes_written > 0 && stats.disk_bytes >= stats.bytes_written / 2);
    assert_equal(&*tier.read_view(), &model, "after persist");
    drop(tier);
    let tier = open(&vfs, &path, 4096).unwrap();
    assert_eq!(tier.persisted_seq(), seq);
    assert_eq!(tier.applied_seq(), seq);
    assert_eq!(tier.stats().entries, model.len() as u64);
    let view = tier.read_view();
    assert_equal(&*view, &model, "after reopen");
    let before = tier.stats();
    assert!(
        before.cache_misses > 0,
        "the reopened tree was read from disk: {before:?}"
    );
    assert_equal(&*view, &model, "second scan");
    let after = tier.stats();
    assert!(
        after.cache_hits > before.cache_hits,
        "the second scan hits the cache: {after:?}"
    );
    assert_eq!(
        (after.persists, after.persisted_seq, after.dirty_bytes),
        (0, seq, 0)
    );
    assert!(after.disk_bytes >= 4096 * 3);
    let got = collect(
        &*view,
        Bound::Included(Bytes::from("key00000100")),
        Bound::Excluded(Bytes::from("key00000110")),
    );
    assert_eq!(got.len(), 10);
}

#[test]
fn bad_options_and_out_of_order_applies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("t.btree");
    for page_size in [0, 1000, 512, 1 << 17] {
        assert!(matches!(
            open(&vfs, &path, page_size),
            Err(tierdb_io::Error::InvalidArgument(_))
        ));
    }
    assert!(!path.exists(), "a refused open changes nothing on disk");
    let tier = open(&vfs, &path, 2048).unwrap();
    tier.apply(5, &[]).unwrap();
    assert!(matches!(
        tier.apply(5, &[]),
        Err(tierdb_io::Error::InvalidArgument(_))
    ));
    assert_eq!(tier.applied_seq(), 5);
    persist(&tier);
    drop(tier);
    // An existing file keeps its page size whatever the options say.
    let tier = open(&vfs, &path, 8192).unwrap();
    assert_eq!(tier.persisted_seq(), 5);
    tier.verify().unwrap();
}

#[test]
fn a_failing_wal_callback_aborts_the_persist_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("t.btree");
    let tier = open(&vfs, &path, 4096).unwrap();
    let mut model = Model::new();
    apply(
        &tier,
        &mut model,
        1,
        vec![WriteOp::Put {
            key: key(1),
            value: value(1, 1, 10),
        }],
    );
    let refuse = |_: u64| Err(tierdb_io::Error::InvalidArgument("wal not ready".into()));
    assert!(tier.persist(&refuse).is_err());
    assert_eq!(tier.persisted_seq(), 0);
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |s: u64| {
        seen.lock().unwrap().push(s);
        Ok(())
    };
    assert_eq!(tier.persist(&record).unwrap(), 1);
    assert_eq!(*seen.lock().unwrap(), vec![1]);
}

/// Reads keep the branches they load under their parents (`resident.rs`):
/// gets and scans through those kept branches stay exact for the view that
/// kept them and for later versions, after the tree above them changed.
#[test]
fn kept_branches_serve_old_and_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("t.btree");
    // Small pages: 20,000 keys make a tree of at least three levels.
    let tier = open(&vfs, &path, 1024).unwrap();
    let mut model = Model::new();
    let ids = 0..20_000u64;
    let ops = ids
        .clone()
        .map(|i| WriteOp::Put {
            key: key(i),
            value: value(i, 1, 20),
        })
        .collect();
    apply(&tier, &mut model, 1, ops);
    persist(&tier);
    let old = tier.read_view();
    let old_model = model.clone();
    let gets_match = |view: &dyn ReadView, model: &Model, context: &str| {
        for i in ids.clone() {
            assert_eq!(
                view.get(&key(i)).unwrap().as_ref(),
                model.get(&key(i)),
                "{context}: key {i}"
            );
        }
    };
    // Twice: the first pass loads and keeps the branches, the second reads
    // through them.
    for pass in 0..2 {
        gets_match(&*old, &old_model, &format!("old view, pass {pass}"));
        assert_equal(&*old, &old_model, &format!("old view, pass {pass}"));
    }
    // Grow every 7th value in the first half (leaves split there: the
    // branches above are path-copied and split, and the unchanged children
    // after them move to other indices), then checkpoint the new version.
    let ops = (0..ids.end / 2)
        .step_by(7)
        .map(|i| WriteOp::Put {
            key: key(i),
            value: value(i, 2, 300),
        })
        .collect();
    apply(&tier, &mut model, 2, ops);
    for round in 0..2 {
        let new = tier.read_view();
        gets_match(&*new, &model, &format!("new view, round {round}"));
        assert_equal(&*new, &model, &format!("new view, round {round}"));
        gets_match(&*old, &old_model, &format!("old view, round {round}"));
        persist(&tier);
    }
}

/// A write set that replaces on-disk nodes drops their cached pages at
/// once: the current tree no longer reaches them, and kept until their
/// pages are reused they would crowd live pages out of the cache.
#[test]
fn replaced_pages_leave_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("t.btree");
    let cache = Arc::new(tierdb_cache::PageCache::new(64 << 20));
    let tier = open_with_cache(&vfs, &path, 4096, Arc::clone(&cache)).unwrap();
    let mut model = Model::new();
    let puts = |seq: u64| -> Vec<WriteOp> {
        (0..4000u64)
            .map(|i| WriteOp::Put {
                key: Bytes::from(format!("key{i:08}")),
                value: value(i, seq, 40),
            })
            .collect()
    };
    apply(&tier, &mut model, 1, puts(1));
    persist(&tier);
    // Read every leaf into the cache.
    assert_equal(&*tier.read_view(), &model, "after persist");
    let cached = cache.stats().entries;
    assert!(cached > 20, "the tree's pages are cached: {cached}");
    // Rewrite every key: every leaf and branch is replaced.
    apply(&tier, &mut model, 2, puts(2));
    let left = cache.stats().entries;
    assert!(
        left * 10 < cached,
        "replaced pages stay cached: {left} of {cached}"
    );
    assert_equal(&*tier.read_view(), &model, "after the rewrite");
}

/// Scanned items share their leaf's bytes; they are not views of the page
/// buffer a cache miss reads into (one per thread, overwritten by the next
/// miss) nor invalidated when their page leaves the cache: items held
/// across scans of a tree many times the cache's size read back as written,
/// both ways, after every page was evicted and read again.
#[test]
fn scanned_items_outlive_their_pages_and_the_read_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let cache = Arc::new(tierdb_cache::PageCache::new(64 << 10));
    let tier =
        open_with_cache(&vfs, &dir.path().join("t.btree"), 4096, Arc::clone(&cache)).unwrap();
    let mut model = Model::new();
    let ops = (0..4000u64)
        .map(|i| WriteOp::Put {
            key: Bytes::from(format!("k{i:06}")),
            value: value(i, 1, 20 + (i % 90) as usize),
        })
        .collect();
    apply(&tier, &mut model, 1, ops);
    persist(&tier);
    let view = tier.read_view();
    let expected: Vec<(Bytes, Bytes)> = model.into_iter().collect();
    let forward = collect(&*view, Bound::Unbounded, Bound::Unbounded);
    let mut backward = collect_rev(&*view, Bound::Unbounded, Bound::Unbounded);
    backward.reverse();
    let evictions = cache.stats().evictions;
    // Every leaf read again (through the same buffer) after the items above
    // were taken from it.
    let again = collect(&*view, Bound::Unbounded, Bound::Unbounded);
    assert!(
        cache.stats().evictions > evictions + 20,
        "the tree must not fit the cache: {:?}",
        cache.stats()
    );
    assert_eq!(forward, expected);
    assert_eq!(backward, expected);
    assert_eq!(again, expected);
}
