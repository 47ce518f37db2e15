//! tierdb's write-ahead log: one log for the whole database, in segments
//! (`000001.log`, `000002.log`, ...), of checksummed records with
//! consecutive lsns; group commit; crash recovery that tells a torn tail
//! from corruption.
//!
//! The WAL knows nothing of tiers or transactions: a record's payload is
//! opaque bytes, numbered by the caller with consecutive lsns.
//!
//! | module       | concept                                                |
//! |--------------|--------------------------------------------------------|
//! | `format`     | bytes of the segment header and of a record            |
//! | `segment`    | segment file names, listing, creation                  |
//! | `batch`      | the in-memory append buffer                            |
//! | `writer`     | the live segments; group write, sync, rotation, release|
//! | `scan`       | validating one segment; torn tail vs corruption        |
//! | `recovery`   | scanning the whole log at open and repairing it        |
//! | `flusher`    | background sync for Buffered durability                |
//! | `wal`        | the public `Wal`: append, group commit, poisoning      |
//!
//! Durability levels are the caller's choice: *Sync* = `append` +
//! `sync_to`; *Buffered* = `append` + `write_to` (the flusher syncs within
//! `WalOptions::sync_interval`); *Volatile* = `append` only (written with
//! the next group). The format and the recovery rules are in
//! `docs/format/wal.md`.
#![forbid(unsafe_code)]

mod batch;
mod flusher;
mod format;
#[doc(hidden)]
pub mod fuzz_api;
mod gather;
mod options;
mod recovery;
mod scan;
mod segment;
mod stats;
mod wal;
mod writer;

pub use format::{MAX_LSN, MAX_PAYLOAD_BYTES};
pub use options::{DEFAULT_SEGMENT_BYTES, DEFAULT_SYNC_INTERVAL, RecoveryMode, WalOptions};
pub use stats::WalStats;
pub use wal::{BUFFER_SOFT_LIMIT_BYTES, Recovered, Wal};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn wal_is_send_and_sync() {
        assert_send_sync::<super::Wal>();
    }
}
