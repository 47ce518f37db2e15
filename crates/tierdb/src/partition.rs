//! Partitions: ranges of the key space, each stored in its own tier. The
//! public names of a partition and its figures; the layout itself is in
//! `layout.rs`, its changes in `layout_change.rs`.

use std::fmt;

use bytes::Bytes;

use crate::Tier;

/// Identifies a partition for as long as it exists. Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId(pub u32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// What one partition holds and how it is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition's id.
    pub id: PartitionId,
    /// First key of the range (inclusive).
    pub start: Bytes,
    /// End of the range (exclusive); `None` for the last partition.
    pub end: Option<Bytes>,
    /// The tier storing it.
    pub tier: Tier,
    /// Its figures.
    pub stats: PartitionStats,
}

/// Figures of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// Live entries.
    pub entries: u64,
    /// Bytes of its files on disk.
    pub disk_bytes: u64,
    /// Bytes written to its files since open.
    pub bytes_written: u64,
    /// Bytes of modified pages held in memory, not yet checkpointed.
    pub dirty_bytes: u64,
    /// Page reads served by the shared cache.
    pub cache_hits: u64,
    /// Page reads that went to disk.
    pub cache_misses: u64,
    /// Checkpoints (B+tree) or flushes (LSM) completed since open.
    pub persists: u64,
    /// Sequence number persisted in its own files.
    pub persisted_seq: u64,
    /// Point reads routed to it since open.
    pub reads: u64,
    /// Writes (puts and deletes) applied to it since open.
    pub writes: u64,
    /// Range scans started on it since open.
    pub scans: u64,
    /// Bytes of keys and values written to it by commits since open.
    pub bytes_applied: u64,
    /// Background merges (LSM compactions) completed since open.
    pub compactions: u64,
    /// Bytes compaction still has to move (LSM), 0 when caught up.
    pub compaction_debt_bytes: u64,
    /// Times a write waited or was slowed because compaction fell behind.
    pub stalls: u64,
    /// Total time writes spent stalled or slowed, in microseconds.
    pub stall_micros: u64,
    /// Background operations that failed since open.
    pub background_errors: u64,
}

impl PartitionStats {
    /// Bytes written to the partition's files per byte of user data
    /// committed to it since open (`None` before the first write). A
    /// B+tree rewrites whole pages at each checkpoint; an LSM tree writes
    /// each entry once per flush and once per compaction level.
    pub fn write_amplification(&self) -> Option<f64> {
        (self.bytes_applied > 0).then(|| self.bytes_written as f64 / self.bytes_applied as f64)
    }
}
