//! tierdb's LSM tier: memtables, SSTables, leveled compaction.
//!
//! [`LsmTier`] implements [`tierdb_tier::Tier`] over one directory:
//!
//! - **apply** inserts a write set into the active memtable (a concurrent
//!   skiplist, `memtable.rs`); a full memtable is frozen and a new one
//!   started.
//! - **read views** (`view.rs`) pin the memtables and the table `Version`
//!   current when made; gets go memtables → L0 (newest first) → L1.. ;
//!   ranges merge everything (`merge_iter.rs`) and resolve versions
//!   (`user_iter.rs`).
//! - **persist** (`persist.rs`) flushes every memtable to one L0 table,
//!   commits the tier's manifest (`manifest.rs`,
//!   `docs/format/lsm-manifest.md`), then compacts (`compaction.rs`)
//!   synchronously while L0 or a level is over its target.
//! - **open** (`recover.rs`) reads the manifest and removes files it does
//!   not list.
//!
//! Compaction runs inside `persist` (or [`LsmTier::compact_all`]) on the
//! caller's thread for now; a background thread, write stalls and tiered
//! compaction are later steps.
#![forbid(unsafe_code)]

pub mod entry;
pub mod sstable;

mod compaction;
mod files;
mod flush;
mod manifest;
mod memtable;
mod merge_iter;
mod options;
mod persist;
mod recover;
mod retain;
mod stats;
mod table;
mod table_builder;
mod tier;
mod user_iter;
mod version;
mod view;

pub use options::LsmOptions;
pub use stats::LsmStats;
pub use tier::LsmTier;
