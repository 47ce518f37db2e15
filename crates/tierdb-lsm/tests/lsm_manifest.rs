//! The manifest log: an install appends one edit (bytes independent of
//! how many tables the tree holds), the log rolls over to a new one at
//! `manifest_roll_bytes`, and a reopen replays snapshot and edits to the
//! same tree.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

/// Every persist flushes one L0 table; nothing compacts.
fn flush_only(roll_bytes: u64) -> LsmOptions {
    LsmOptions {
        background_compaction: false,
        l0_compaction_trigger: 10_000,
        l0_slowdown_tables: 10_000,
        l0_stop_tables: 10_000,
        manifest_roll_bytes: roll_bytes,
        ..small_options()
    }
}

fn open_tier(sim: &SimVfs, opts: LsmOptions) -> LsmTier {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    open_with(&vfs, Path::new(DIR), cache, opts).unwrap()
}

/// Applies sequence `seq` (one key) and persists it; returns the manifest
/// bytes that install wrote.
fn flush_one(tier: &LsmTier, model: &mut Model, seq: u64) -> u64 {
    let before = tier.lsm_stats().manifest_bytes_written;
    let op = WriteOp::Put {
        key: key(seq),
        value: value(seq, seq, 20),
    };
    apply(tier, model, seq, vec![op]);
    persist(tier);
    tier.lsm_stats().manifest_bytes_written - before
}

fn manifest_logs(sim: &SimVfs) -> Vec<PathBuf> {
    sim.files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("LSM-MANIFEST-"))
        .collect()
}

#[test]
fn an_install_appends_bytes_independent_of_the_tree_size() {
    let sim = SimVfs::new(seed(61));
    let tier = open_tier(&sim, flush_only(4 << 20));
    let mut model = Model::new();
    let first = flush_one(&tier, &mut model, 1);
    let mut appends = Vec::new();
    for seq in 2..=400 {
        appends.push(flush_one(&tier, &mut model, seq));
    }
    assert_eq!(tier.lsm_stats().tables_per_level[0], 400);
    // The first install after open rolls (a snapshot of one table); each
    // later one appends the same fixed-size edit, whether the tree holds 2
    // tables or 400.
    assert!(first > 0);
    assert!(
        appends.iter().all(|&b| b == appends[0]),
        "{:?}",
        &appends[..10]
    );
    assert!(appends[0] < 100, "{} bytes per flush", appends[0]);
    let log = &manifest_logs(&sim)[0];
    let len = sim.file_contents(log).unwrap().len() as u64;
    assert_eq!(
        len + 20,
        first + appends.iter().sum::<u64>(),
        "20: LSM-CURRENT"
    );
    drop(tier);
    let tier = open_tier(&sim, flush_only(4 << 20));
    assert_equal(&*tier.read_view(), &model, "reopened");
    assert_eq!(tier.lsm_stats().tables_per_level[0], 400);
}

#[test]
fn the_log_rolls_over_at_its_bound_and_replays_across_reopens() {
    let sim = SimVfs::new(seed(62));
    let mut model = Model::new();
    let mut rolls = 0;
    let mut seq = 0;
    for reopen in 0..3 {
        let tier = open_tier(&sim, flush_only(1024));
        for _ in 0..60 {
            seq += 1;
            let before = manifest_logs(&sim);
            flush_one(&tier, &mut model, seq);
            let after = manifest_logs(&sim);
            assert_eq!(after.len(), 1, "old logs are removed: {after:?}");
            if before != after {
                rolls += 1;
            }
            let log = sim.file_contents(&after[0]).unwrap();
            // Stamp, snapshot record, edits: a roll happens at the first
            // install after the edits reach 1 KiB.
            let snapshot = 32 + u32::from_le_bytes(log[20..24].try_into().unwrap()) as usize;
            let edits = log.len() - snapshot;
            assert!(edits < 1024 + 100, "{edits} bytes of edits");
        }
        assert_equal(
            &*tier.read_view(),
            &model,
            &format!("before reopen {reopen}"),
        );
        if reopen == 1 {
            // Compact everything: one edit removing every L0 table (appended,
            // as the log had room; the roll comes at the next install).
            tier.compact_all().unwrap();
        }
    }
    let tier = open_tier(&sim, flush_only(1024));
    assert_equal(&*tier.read_view(), &model, "last reopen");
    let logs = manifest_logs(&sim);
    // Each open's first install rolls, and each bound crossing (an edit is
    // about 60 bytes: 60 flushes after a roll cross 1 KiB three times).
    assert!(rolls >= 6, "{rolls} rolls, log now {logs:?}");
    let number: u64 = logs[0].to_string_lossy()[..]
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(number, rolls, "{logs:?}");
}
