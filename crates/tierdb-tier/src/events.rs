//! What a tier reports as background work happens, for the layer above to
//! pass on (the database forwards it to its `EventListener`s, naming the
//! partition).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tierdb_io::Error;

use crate::Seq;

/// A compaction that completed and was installed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionEvent {
    /// Tables merged.
    pub input_tables: usize,
    /// Tables written.
    pub output_tables: usize,
    /// Bytes of the input tables.
    pub bytes_read: u64,
    /// Bytes of the output tables.
    pub bytes_written: u64,
    /// How long the merge and its install took.
    pub duration: Duration,
}

impl CompactionEvent {
    /// A compaction's figures.
    pub fn new(
        input_tables: usize,
        output_tables: usize,
        bytes_read: u64,
        bytes_written: u64,
        duration: Duration,
    ) -> Self {
        CompactionEvent {
            input_tables,
            output_tables,
            bytes_read,
            bytes_written,
            duration,
        }
    }
}

/// A write that waited because background work fell behind.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StallEvent {
    /// How long the write waited.
    pub waited: Duration,
    /// True if it gave up waiting at the stall timeout and proceeded.
    pub timed_out: bool,
    /// What it waited on, e.g. "L0 tables at the stop threshold".
    pub cause: &'static str,
}

impl StallEvent {
    /// A stall's figures.
    pub fn new(waited: Duration, timed_out: bool, cause: &'static str) -> Self {
        StallEvent {
            waited,
            timed_out,
            cause,
        }
    }
}

/// Receives a tier's events. Every method defaults to nothing. Called on the
/// thread doing the work (a background compactor, a stalled writer): keep
/// it short.
pub trait TierEvents: Send + Sync {
    /// A compaction is about to merge its inputs (followed by
    /// `on_compaction_completed`, or by an error if it fails).
    fn on_compaction_begin(&self) {}
    /// A compaction completed.
    fn on_compaction_completed(&self, _event: &CompactionEvent) {}
    /// A background flush (frozen memtables to a table, without a
    /// `persist` asking for it) is starting: one `on_flush_completed`
    /// follows unless it fails.
    fn on_flush_begin(&self) {}
    /// A background flush was installed: every write set up to
    /// `persisted_seq` is now in the tier's files.
    fn on_flush_completed(&self, _persisted_seq: Seq) {}
    /// A write stalled (reported when the stall ends).
    fn on_stall(&self, _event: &StallEvent) {}
    /// Background work failed.
    fn on_background_error(&self, _error: &Error) {}
}

/// A shareable handle on a [`TierEvents`], so that tier options holding one
/// can stay `Clone + Debug`.
#[derive(Clone)]
pub struct EventSink(pub Arc<dyn TierEvents>);

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}
