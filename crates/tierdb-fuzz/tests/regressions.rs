//! The inputs with which fuzzing found bugs, each replayed by name (they
//! are in `fuzz/corpus/<target>/regression-*`, which the corpus test runs
//! too). The engine-side regression test of each bug sits next to the fix:
//! `regression_sst_block_keys_out_of_order` and
//! `regression_sst_block_restart_inside_entry` (tierdb-lsm `block.rs`),
//! `regression_db_manifest_bad_page_size_or_shared_id` (tierdb
//! `manifest.rs`), `regression_empty_sync_commit_waits_for_durability`
//! (tierdb `tests/crash.rs`).

use std::path::PathBuf;

fn replay(target: &str, file: &str) {
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
    run(&input);
}

#[test]
fn regression_sst_block_keys_out_of_order() {
    replay("sst_data_block", "regression-sst-block-keys-out-of-order");
}

#[test]
fn regression_db_manifest_bad_page_size() {
    replay("db_manifest", "regression-db-manifest-bad-page-size");
}

#[test]
fn regression_sst_table_index_key_disagrees_with_block() {
    replay("sst_table", "regression-sst-index-key-disagrees-with-block");
}

#[test]
fn regression_empty_sync_commit_waits_for_durability() {
    replay("crash_recovery", "regression-empty-sync-commit");
}

/// Found by libFuzzer: a properties block of a table holding only range
/// tombstones (no entries, no data blocks) is valid since range deletes
/// landed; the target's own invariant still demanded entries > 0.
#[test]
fn regression_sst_properties_range_tombstone_only_table() {
    replay("sst_properties", "regression-range-tombstone-only-table");
}
