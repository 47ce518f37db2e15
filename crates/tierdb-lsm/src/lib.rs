//! tierdb's LSM tier: memtables, SSTables, leveled compaction.
//!
//! [`LsmTier`] implements [`tierdb_tier::Tier`] over one directory:
//!
//! - **apply** inserts a write set into the active memtable (a concurrent
//!   skiplist, `memtable.rs`); a full memtable is frozen and a new one
//!   started.
//! - **read views** (`view.rs`) pin the memtables and the table `Version`
//!   current when made; gets go memtables → L0 (newest first) → L1.. ,
//!   hashing the key once for every filter they ask: each skiplist
//!   memtable's in-memory bloom filter (`mem_filter.rs`) and each table's;
//!   ranges merge everything (`merge_iter.rs`) and resolve versions
//!   (`user_iter.rs`).
//! - **background flush** (`background_flush.rs`): once the layer above
//!   hands over its write-ahead hook (`Tier::persist_in_background`), a
//!   flusher thread per tier (`tierdb-lsm-flush`) writes frozen memtables
//!   to an L0 table as soon as they freeze, and records the sequence they
//!   were sealed at as persisted; reads then search few memtables while
//!   the active one stays small.
//! - **persist** (`persist.rs`) flushes every memtable to one L0 table,
//!   commits the new version by appending one edit to the tier's manifest
//!   log (`manifest_writer.rs`; `manifest.rs`, `manifest_log.rs`,
//!   `current.rs`, `docs/format/lsm-manifest.md`), then wakes the
//!   compactor.
//! - **compaction** (`compaction.rs` chooses and merges, `compact.rs`
//!   installs) runs on one background thread per tier (`background.rs`,
//!   named `tierdb-lsm-compact`), leveled, until no level is over target;
//!   its output writes go through an optional token bucket
//!   (`rate_limiter.rs`, `LsmOptions::compaction_bytes_per_sec`). The merge
//!   holds no lock that apply, reads or flushes need; the install is one
//!   manifest edit under the same lock flushes install under.
//!   [`LsmTier::compact_all`] compacts synchronously, excluding the
//!   background thread. With `LsmOptions::background_compaction` off,
//!   `persist` compacts on the caller's thread instead (deterministic).
//! - **write throttling** (`stall.rs`): `apply` sleeps 1 ms when L0 holds
//!   `l0_slowdown_tables`, and waits for an install (at most
//!   `stall_timeout`, then proceeds) when it holds `l0_stop_tables`.
//!   With more than `max_frozen_memtables` frozen memtables it waits for
//!   the flusher (at most `stall_timeout`); without a flusher they are
//!   flushed by `persist` alone, which the layer above runs under no lock
//!   `apply` holds, so the stall is only *recorded*. Every slowdown and
//!   stall is counted in [`LsmStats`].
//! - **range deletes** (`range_del.rs`): a `WriteOp::DeleteRange` becomes a
//!   range tombstone at the write set's sequence, kept beside the memtable's
//!   skiplist and written to each SSTable's range-deletion block; reads hide
//!   versions a newer visible tombstone covers; flush and compaction drop
//!   what tombstones hide, cut tombstones at output-table boundaries and
//!   drop them at the bottom level.
//! - **open** (`recover.rs`) replays the manifest log `LSM-CURRENT` names
//!   and removes files it does not list.
//!
//! - **tiered compaction** (`tiered.rs`, `CompactionStyle::Tiered`):
//!   size-ratio merging of sorted runs instead of leveled targets.
//!
//! Not yet: more than one compaction thread.
#![forbid(unsafe_code)]

pub mod entry;
pub mod sstable;

mod background;
mod background_flush;
mod compact;
mod compaction;
mod current;
mod files;
mod flush;
#[doc(hidden)]
pub mod fuzz_api;
mod inner;
mod level_iter;
mod manifest;
mod manifest_log;
mod manifest_writer;
mod mem_filter;
mod memtable;
mod merge_iter;
mod options;
mod persist;
mod range_del;
mod rate_limiter;
mod recover;
mod replay_apply;
mod retain;
mod sorted_run;
mod stall;
mod stamp;
mod stats;
mod table;
mod table_builder;
mod tier;
mod tiered;
mod user_iter;
mod version;
mod view;

pub use options::{CompactionStyle, LsmOptions};
pub use stats::LsmStats;
pub use tier::LsmTier;
