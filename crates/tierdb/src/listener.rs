//! `EventListener`: a hook the database calls when background work starts,
//! ends or fails, so that services can log it, export metrics, or react (as
//! RocksDB's `EventListener` does).

use std::sync::Arc;
use std::time::Duration;

use tierdb_tier::{CompactionEvent, StallEvent, TierEvents};

use crate::{Error, PartitionId, TierAdvice};

/// What a completed checkpoint reports to listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointEvent {
    /// Every commit up to this sequence is in the partitions' own files.
    pub seq: u64,
    /// How long the checkpoint took (B+tree page writes, LSM memtable
    /// flushes, WAL trimming).
    pub duration: Duration,
    /// True when the background worker ran it (the WAL or the dirty pages
    /// passed their bounds), false for `Db::checkpoint` and `Db::close`.
    pub background: bool,
    /// Bytes in live WAL segments after the checkpoint trimmed the log.
    pub wal_live_bytes: u64,
}

/// Receives events from a database. Every method has an empty default, so
/// an implementation overrides only what it needs. Methods are called on
/// the thread doing the work (a committer, the checkpointer): keep them
/// short and never call back into the same database from them.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tierdb::{CheckpointEvent, EventListener, Options};
///
/// #[derive(Default)]
/// struct Metrics { checkpoints: AtomicU64 }
///
/// impl EventListener for Metrics {
///     fn on_checkpoint_completed(&self, event: &CheckpointEvent) {
///         self.checkpoints.fetch_add(1, Ordering::Relaxed);
///         eprintln!("checkpoint at seq {} took {:?}", event.seq, event.duration);
///     }
/// }
///
/// let metrics = Arc::new(Metrics::default());
/// let opts = Options::default().listener(metrics.clone());
/// # let _ = opts;
/// ```
pub trait EventListener: Send + Sync {
    /// A checkpoint is about to start.
    fn on_checkpoint_begin(&self, _background: bool) {}
    /// A checkpoint completed.
    fn on_checkpoint_completed(&self, _event: &CheckpointEvent) {}
    /// Background work failed. After a failed checkpoint the database is
    /// read-only (`Error::Poisoned`) until reopened.
    fn on_background_error(&self, _error: &Error) {}
    /// The database moved a partition to another tier by itself
    /// (`Options::auto_tier`), on this advice.
    fn on_tier_changed(&self, _advice: &TierAdvice) {}
    /// An LSM partition is starting a compaction (one
    /// `on_compaction_completed` follows unless it fails).
    fn on_compaction_begin(&self, _partition: PartitionId) {}
    /// An LSM partition completed a compaction.
    fn on_compaction_completed(&self, _partition: PartitionId, _event: &CompactionEvent) {}
    /// An LSM partition is starting to flush its full (frozen) memtables
    /// to a table on its own flush thread, outside any checkpoint (one
    /// `on_flush_completed` follows unless it fails).
    fn on_flush_begin(&self, _partition: PartitionId) {}
    /// An LSM partition's background flush was installed: every commit up
    /// to `persisted_seq` is in the partition's own files.
    fn on_flush_completed(&self, _partition: PartitionId, _persisted_seq: u64) {}
    /// A write to a partition stalled because its compaction or its
    /// memtable flushes fell behind (reported when the stall ends).
    fn on_stall(&self, _partition: PartitionId, _event: &StallEvent) {}
}

/// Forwards one partition's tier events to the database's listeners.
pub(crate) struct PartitionEvents {
    pub partition: PartitionId,
    pub listeners: Vec<Arc<dyn EventListener>>,
}

impl TierEvents for PartitionEvents {
    fn on_compaction_begin(&self) {
        self.listeners
            .iter()
            .for_each(|l| l.on_compaction_begin(self.partition));
    }

    fn on_compaction_completed(&self, event: &CompactionEvent) {
        self.listeners
            .iter()
            .for_each(|l| l.on_compaction_completed(self.partition, event));
    }

    fn on_flush_begin(&self) {
        self.listeners
            .iter()
            .for_each(|l| l.on_flush_begin(self.partition));
    }

    fn on_flush_completed(&self, persisted_seq: u64) {
        self.listeners
            .iter()
            .for_each(|l| l.on_flush_completed(self.partition, persisted_seq));
    }

    fn on_stall(&self, event: &StallEvent) {
        self.listeners
            .iter()
            .for_each(|l| l.on_stall(self.partition, event));
    }

    fn on_background_error(&self, error: &Error) {
        self.listeners
            .iter()
            .for_each(|l| l.on_background_error(error));
    }
}
