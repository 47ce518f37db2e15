//! Background flush: frozen memtables → one L0 table, as soon as `apply`
//! freezes a full memtable, without waiting for the layer above to call
//! `persist` (RocksDB flushes its immutable memtables the same way). Point
//! reads then search the active memtable and at most the few frozen ones
//! whose flush is under way, while the active memtable stays small.
//!
//! Runs on the tier's flusher thread (`background.rs`) once the layer
//! above has handed over its write-ahead hook
//! (`Tier::persist_in_background`). One round, under the install lock:
//! 1. Take every frozen memtable; `S` = the sequence the newest of them
//!    was sealed at. Every write set up to `S` is in them or in tables
//!    already (a memtable is frozen between two applies), and the active
//!    memtable holds only sequences above `S`.
//! 2. `wal_durable_to(S)` (write-ahead rule; an error aborts the round,
//!    nothing done, counted as a background error).
//! 3. Write them to one L0 table and commit the version with persisted
//!    sequence `S` (`persist.rs`, the path `persist` takes); a failure
//!    poisons the tier. Then wake the compactor.
//!
//! Recovery is unchanged: the manifest records `S`, and the layer above
//! replays the WAL above it. The WAL is still trimmed only by the layer
//! above's checkpoints, below what every partition persisted.

use std::sync::Arc;

use tierdb_io::Result;

use crate::inner::Inner;
use crate::memtable::Memtable;
use crate::persist::{check_poisoned, poison_on_error};

impl Inner {
    /// Flushes every frozen memtable if there are any and the write-ahead
    /// hook was handed over; true if it did.
    pub(crate) fn flush_frozen(&self) -> Result<bool> {
        let Some(wal_durable_to) = self.wal_durable_to.get() else {
            return Ok(false);
        };
        let mut durable = self.durable.lock();
        check_poisoned(&durable)?;
        let to_flush: Vec<Arc<Memtable>> = self.state.lock().frozen.clone();
        let Some(seq) = to_flush.last().map(|m| m.sealed_seq()) else {
            return Ok(false);
        };
        if let Some(sink) = &self.opts.events {
            sink.0.on_flush_begin();
        }
        wal_durable_to(seq)?;
        let result = self.flush(&mut durable, seq, &to_flush);
        poison_on_error(&mut durable, result)?;
        drop(durable);
        self.wakeup.wake();
        if let Some(sink) = &self.opts.events {
            sink.0.on_flush_completed(seq);
        }
        Ok(true)
    }
}
