//! `LsmOptions::l0_merge_bytes`: a flush merges the newest small L0 tables
//! into its own table, so half-full flushes pair up. The tree must read
//! the same as without it — through the merges, across a reopen, and for a
//! view taken before a merge — and hold fewer L0 tables.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

/// Small tables, no compaction (L0 only grows), merges up to `merge` bytes.
fn options(merge: u64) -> LsmOptions {
    LsmOptions {
        l0_merge_bytes: merge,
        l0_compaction_trigger: 1000,
        l0_slowdown_tables: 1000,
        l0_stop_tables: 1000,
        background_compaction: false,
        ..small_options()
    }
}

/// 40 flushes of ~30 random writes each (puts over 200 keys, deletes, now
/// and then a range delete); returns the tier, its model, a view and
/// model copy taken after flush 20.
fn run(sim: &SimVfs, merge: u64) -> (LsmTier, Model, Arc<dyn tierdb_tier::ReadView>, Model) {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let tier = open_with(&vfs, Path::new(DIR), cache, options(merge)).unwrap();
    let mut rng = Rng::new(seed(31));
    let mut model = Model::new();
    let mut seq = 0;
    let mut middle = None;
    for flush in 1..=40u64 {
        for _ in 0..30 {
            seq += 1;
            let id = rng.below(200);
            let op = if rng.chance(5) {
                random_delete_range(&mut rng, 200, key)
            } else if rng.chance(15) {
                WriteOp::Delete { key: key(id) }
            } else {
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, 100),
                }
            };
            apply(&tier, &mut model, seq, vec![op]);
        }
        persist(&tier);
        if flush == 20 {
            middle = Some((tier.read_view(), model.clone()));
        }
    }
    let (view, snapshot) = middle.unwrap();
    (tier, model, view, snapshot)
}

#[test]
fn flushes_pair_up_small_tables_and_read_the_same() {
    let plain = SimVfs::new(seed(30));
    let (tier, model, view, snapshot) = run(&plain, 0);
    let unmerged = tier.lsm_stats().tables_per_level[0];
    let unmerged_written = tier.lsm_stats().table_bytes_written;
    assert_eq!(unmerged, 40, "without merging, one table per flush");
    assert_equal(&*tier.read_view(), &model, "unmerged");
    assert_equal(&*view, &snapshot, "unmerged, view after flush 20");

    // Each flush's table holds ~3-4 KiB: the newest is merged into the
    // next flush while within 6 KiB and no larger than the flush's
    // memtable, so pairs form: at most half as many tables.
    let sim = SimVfs::new(seed(30));
    let (tier, model, view, snapshot) = run(&sim, 6 * 1024);
    let stats = tier.lsm_stats();
    let merged = stats.tables_per_level[0];
    eprintln!("L0 tables: {unmerged} unmerged, {merged} merged; {stats:?}");
    assert!(
        (2..=20).contains(&merged),
        "at most half as many L0 tables: {merged}"
    );
    // A merged table is never larger than the flush that takes it, so
    // each byte is written at most once more.
    assert!(
        stats.table_bytes_written <= 2 * unmerged_written,
        "{} written merged against {unmerged_written}",
        stats.table_bytes_written
    );
    assert_equal(&*tier.read_view(), &model, "merged");
    let mut rng = Rng::new(2);
    spot_check(
        &*tier.read_view(),
        &model,
        &mut rng,
        300,
        "merged spot check",
    );
    // A view taken before later flushes merged its newest table away
    // still reads that table.
    assert_equal(&*view, &snapshot, "merged, view after flush 20");
    drop(view);

    // The manifest lists the merged tables where they stand.
    drop(tier);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let reopened = open_with(&vfs, Path::new(DIR), cache, options(6 * 1024)).unwrap();
    assert_eq!(reopened.lsm_stats().tables_per_level[0], merged);
    assert_equal(&*reopened.read_view(), &model, "merged, reopened");
}
