//! tierdb: an embedded, transactional key-value store whose key space is split
//! into ranges (partitions), each stored in the index structure that suits it:
//! a B+tree for read-mostly ranges, an LSM tree for write-heavy ones. All
//! partitions share one write-ahead log, one page cache and one transaction
//! sequence, so a transaction may touch any of them and still commit
//! atomically.
//!
//! ```
//! use tierdb::{Db, Durability, Options, WriteBatch};
//!
//! # fn main() -> tierdb::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path().join("shop.tdb"), Options::default().durability(Durability::Sync))?;
//! db.put(b"p/0001", b"teapot")?;
//! assert_eq!(db.get(b"p/0001")?.as_deref(), Some(&b"teapot"[..]));
//!
//! let mut batch = WriteBatch::new();
//! batch.put(b"p/0002", b"kettle");
//! batch.delete(b"p/0001");
//! db.write(batch)?;
//!
//! let mut tx = db.begin();
//! let stock = tx.get(b"stock/2")?.unwrap_or_default();
//! tx.put(b"stock/2", [&stock[..], b"1"].concat())?;
//! tx.commit()?;
//!
//! for item in db.prefix(b"p/")? {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! db.close()?;
//! # Ok(()) }
//! ```
//!
//! See the crate README and `docs/design.md` for the architecture, and
//! `docs/format/` for every on-disk format.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod advisor;
mod auto_tier;
mod background;
mod checkpoint;
mod commit_pipeline;
mod commit_record;
mod conflict_tracker;
mod db;
mod db_open;
#[doc(hidden)]
pub mod fuzz_api;
mod iter;
mod layout;
mod layout_change;
mod limits;
mod listener;
mod manifest;
mod options;
mod partition;
mod partition_files;
mod range_delete;
mod snapshot;
mod stats;
mod txn;
mod version;
mod wal_replay;
mod write_batch;
mod write_capture;
mod write_stall;

pub use advisor::TierAdvice;
pub use auto_tier::AutoTier;
pub use bytes::Bytes;
pub use db::{CheckpointInfo, CommitInfo, Db};
pub use iter::Iter;
pub use limits::{MAX_COMMIT_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES};
pub use listener::{CheckpointEvent, EventListener};
pub use options::{Durability, Isolation, Options, RecoveryMode, Tier, TxnOptions};
pub use partition::{PartitionId, PartitionInfo, PartitionStats};
pub use snapshot::Snapshot;
pub use stats::Stats;
pub use tierdb_io::{
    Error, Fault, FaultKind, FaultOp, OsVfs, PendingKind, PendingOp, Result, SimVfs, Vfs, VfsFile,
};
pub use tierdb_lsm::CompactionStyle;
pub use tierdb_tier::{CompactionEvent, StallEvent};
pub use txn::Txn;
pub use write_batch::WriteBatch;

/// The README's quick start, compiled as a doctest so that it cannot drift
/// from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeQuickStart;

#[cfg(test)]
mod contract {
    //! The API contract's auto traits, checked at compile time.
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn copy_eq_debug<T: Copy + Eq + std::fmt::Debug>() {}

    #[test]
    fn handles_are_send_and_values_are_copy() {
        send_sync::<crate::Db>();
        send_sync::<crate::Snapshot>();
        send::<crate::Iter>();
        send::<crate::Txn>();
        copy_eq_debug::<crate::Tier>();
        copy_eq_debug::<crate::Durability>();
        copy_eq_debug::<crate::Isolation>();
        copy_eq_debug::<crate::PartitionId>();
        fn error_trait<E: std::error::Error + Send + Sync + 'static>() {}
        error_trait::<crate::Error>();
    }
}
