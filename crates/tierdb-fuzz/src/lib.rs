//! tierdb's fuzz targets, as plain functions: `cargo test -p tierdb-fuzz`
//! runs each over the checked-in corpus (`fuzz/corpus/<target>/`) and over
//! seeded random and mutated inputs, and the cargo-fuzz crate in `fuzz/`
//! calls the same functions under libFuzzer. See `docs/testing.md`.
//!
//! Every target must never panic on any input. Where it can, it checks
//! properties too: a decoded value re-encodes to the same bytes (or at
//! least decodes again to the same value), decoded values satisfy the
//! format's invariants, and bad bytes give `Error::Corruption` naming the
//! file and an offset inside it, never wrong data.
//!
//! The first input byte is a *mode*. Bit 0 set means "re-seal": the target
//! recomputes the checksums of the bytes before decoding them, so that the
//! fuzzer explores the parser behind the checksum instead of stopping at
//! it. Other bits pick parameters (page size, last segment or not, ...),
//! as each target documents.
//!
//! The targets, by file: `wal` (record, segment scan), `btree` (node and
//! free-list pages, header), `sstable` (data block, index block, bloom
//! filter, footer, properties block, range-deletion block, whole table), `manifests` (LSM
//! manifest, database manifest), `commit_record`, and `crash_recovery`
//! (operation sequences with crashes and faults on `SimVfs`, checked
//! against `tierdb_sim::History`, the simulation's model). tierdb persists no options file: every option
//! is given to `Db::open` again; what must persist (page size, tiers,
//! partition bounds) is in the manifest.
#![forbid(unsafe_code)]

mod btree;
mod check;
mod commit_record;
mod crash_recovery;
mod input;
mod manifests;
mod outcome;
pub mod seeds;
mod sstable;
mod wal;

pub use btree::{btree_header, btree_page};
pub use commit_record::commit_record;
pub use crash_recovery::crash_recovery;
pub use manifests::{db_manifest, lsm_manifest};
pub use outcome::Outcome;
pub use sstable::{
    sst_bloom, sst_data_block, sst_footer, sst_index_block, sst_properties, sst_range_del,
    sst_table,
};
pub use wal::{wal_record, wal_segment};

/// A fuzz target: its name (the cargo-fuzz target and corpus directory)
/// and its function.
pub type Target = (&'static str, fn(&[u8]) -> Outcome);

/// Every target, in the order the docs list them.
pub const TARGETS: &[Target] = &[
    ("wal_record", wal_record),
    ("wal_segment", wal_segment),
    ("btree_page", btree_page),
    ("btree_header", btree_header),
    ("sst_data_block", sst_data_block),
    ("sst_index_block", sst_index_block),
    ("sst_bloom", sst_bloom),
    ("sst_footer", sst_footer),
    ("sst_properties", sst_properties),
    ("sst_range_del", sst_range_del),
    ("sst_table", sst_table),
    ("lsm_manifest", lsm_manifest),
    ("db_manifest", db_manifest),
    ("commit_record", commit_record),
    ("crash_recovery", crash_recovery),
];
