//! Partitions: ranges of the key space, each stored in its own tier. The
//! public names of a partition and its figures; the layout itself is in
//! `layout.rs`, its changes in `layout_change.rs`.

use std::fmt;

use bytes::Bytes;
use tierdb_tier::ratio;

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
    /// Bytes written to its files since open: the sum of the three below.
    pub bytes_written: u64,
    /// Of `bytes_written`, data written by checkpoints: B+tree node and
    /// value pages; LSM L0 tables (memtable flushes).
    pub persist_bytes_written: u64,
    /// Of `bytes_written`, LSM tables written by compactions, per output
    /// level (index = level; empty for B+tree partitions).
    pub compaction_bytes_written: Vec<u64>,
    /// Of `bytes_written`, metadata: B+tree headers and free-list pages;
    /// the LSM manifest log and `LSM-CURRENT`.
    pub metadata_bytes_written: u64,
    /// LSM: bytes of its tables per level, L0 first (empty for B+tree
    /// partitions).
    pub level_disk_bytes: Vec<u64>,
    /// LSM: tables per level, L0 first (empty for B+tree partitions).
    pub level_tables: Vec<u64>,
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
    /// Point reads its tier served since open (reads of a transaction's own
    /// writes never reach the tier).
    pub gets: u64,
    /// Blocks (LSM data blocks) or pages (B+tree nodes and overflow values)
    /// those point reads fetched from the cache or the file; memtables and
    /// B+tree nodes changed since the last checkpoint are in memory and cost
    /// none. See [`PartitionStats::read_amplification`].
    pub get_blocks: u64,
    /// LSM: table probes a bloom filter answered "absent" (a block read
    /// saved). 0 for B+tree partitions.
    pub bloom_useful: u64,
    /// LSM: table probes a bloom filter let through that found no version
    /// of the key visible to the read (false positives). 0 for B+tree
    /// partitions.
    pub bloom_ineffective: u64,
    /// Estimated bytes its live data takes on disk. LSM: the file bytes of
    /// a set of tables with disjoint key ranges, picked greedily from the
    /// deepest level up, within L0 largest first (after RocksDB's
    /// estimate; exact once fully compacted, an undercount while
    /// overlapping L0 tables hold different keys).
    /// B+tree: the file minus free pages and pages waiting to be freed.
    pub live_bytes: u64,
}

impl PartitionStats {
    /// Bytes written to the partition's files per byte of user data
    /// committed to it since open (`None` before the first write). A
    /// B+tree rewrites whole pages at each checkpoint; an LSM tree writes
    /// each entry once per flush and once per compaction level.
    pub fn write_amplification(&self) -> Option<f64> {
        ratio(self.bytes_written, self.bytes_applied)
    }

    /// Read amplification: blocks or pages fetched per point read,
    /// `get_blocks / gets` (`None` before the first read).
    pub fn read_amplification(&self) -> Option<f64> {
        ratio(self.get_blocks, self.gets)
    }

    /// Space amplification: `disk_bytes / live_bytes` (`None` while
    /// nothing live is on disk). An LSM partition holding overwritten or
    /// deleted data not yet compacted away, or a B+tree file with free
    /// pages, is above 1.
    pub fn space_amplification(&self) -> Option<f64> {
        ratio(self.disk_bytes, self.live_bytes)
    }

    /// Observed bloom false-positive rate: `bloom_ineffective /
    /// (bloom_useful + bloom_ineffective)` (`None` before any probe of a
    /// table lacking the key; always `None` for B+tree partitions).
    pub fn bloom_false_positive_rate(&self) -> Option<f64> {
        ratio(
            self.bloom_ineffective,
            self.bloom_useful + self.bloom_ineffective,
        )
    }
}
