//! The inputs with which fuzzing found bugs, each replayed by name (they
//! are in `fuzz/corpus/<target>/regression-*`, which the corpus test runs
//! too), each checked to still reach the check that catches its bug: a
//! decoder input refused for the reason the bug is about (not, say, by
//! version after a format change), a valid input decoded. The engine-side
//! regression test of each bug sits next to the fix:
//! `regression_sst_block_keys_out_of_order` and
//! `regression_sst_block_restart_inside_entry` (tierdb-lsm `block.rs`),
//! `regression_db_manifest_bad_page_size_or_shared_id` (tierdb
//! `manifest.rs`), `regression_empty_sync_commit_waits_for_durability`
//! (tierdb `tests/crash.rs`).

use std::path::PathBuf;

use tierdb_fuzz::Outcome;

fn replay(target: &str, file: &str) -> Outcome {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
        .join(file);
    let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let run = tierdb_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("target")
        .1;
    run(&input)
}

/// `outcome` is a refusal whose reason contains `why`.
fn assert_refused_for(outcome: Outcome, why: &str) {
    match outcome {
        Outcome::Refused(reason) => assert!(reason.contains(why), "refused for {reason:?}"),
        Outcome::Decoded { items } => panic!("decoded ({items} items), not refused for {why:?}"),
    }
}

#[test]
fn regression_sst_block_keys_out_of_order() {
    let outcome = replay("sst_data_block", "regression-sst-block-keys-out-of-order");
    assert_refused_for(outcome, "block keys out of order");
}

#[test]
fn regression_db_manifest_bad_page_size() {
    let outcome = replay("db_manifest", "regression-db-manifest-bad-page-size");
    assert_refused_for(outcome, "page size");
}

/// The input libFuzzer found was a format-1 table, refused by version once
/// the format moved on; the corpus now holds a current table built by
/// `seeds::regressions_for_target` with the same defect, which opens and is
/// refused only when the bad block is loaded.
#[test]
fn regression_sst_table_index_key_disagrees_with_block() {
    let outcome = replay("sst_table", "regression-sst-index-key-disagrees-with-block");
    assert_refused_for(outcome, "data block keys disagree with the index");
}

/// The program libFuzzer found stopped reaching the bug when the target
/// was changed to leave commits that wrote nothing out of the history; the
/// shared model now records what a `Sync` one promises
/// (`History::acked_empty`), and this input (found by `cargo test`'s
/// mutations with the fix reverted: "recovered seq 8 lost durable commit
/// 9") fails again without the fix.
#[test]
fn regression_empty_sync_commit_waits_for_durability() {
    let outcome = replay("crash_recovery", "regression-empty-sync-commit");
    assert!(matches!(outcome, Outcome::Decoded { items } if items > 0));
}

#[test]
fn regression_dropped_wal_joins_its_flusher() {
    let outcome = replay("crash_recovery", "regression-dropped-wal-joins-flusher");
    assert!(matches!(outcome, Outcome::Decoded { items } if items > 0));
}

/// Found by libFuzzer: a properties block of a table holding only range
/// tombstones (no entries, no data blocks) is valid since range deletes
/// landed; the target's own invariant still demanded entries > 0.
#[test]
fn regression_sst_properties_range_tombstone_only_table() {
    let outcome = replay("sst_properties", "regression-range-tombstone-only-table");
    assert_eq!(outcome, Outcome::Decoded { items: 0 });
}
