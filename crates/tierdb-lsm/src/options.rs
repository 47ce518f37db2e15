//! `LsmOptions`: sizes and ratios that shape the tree, background work and
//! write throttling.

use std::time::Duration;
use tierdb_tier::EventSink;

use tierdb_io::{Error, Result};

use crate::sstable::SstOptions;

/// How compaction shapes the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompactionStyle {
    /// Each level below L0 is one sorted run about `level_size_ratio` times
    /// the one above; a level over its target merges into the next. Fewer
    /// runs to read and less space held by old versions; every byte is
    /// rewritten about `level_size_ratio` times per level it descends.
    #[default]
    Leveled,
    /// Size-tiered: L0 tables and levels are sorted runs ordered by age
    /// (newer runs in lower levels); once L0 holds
    /// `l0_compaction_trigger` tables, the newest runs are merged while the
    /// next older run is no larger than what is merged so far, so runs of
    /// similar size merge and each byte is rewritten about once per
    /// doubling of the data. Less write amplification, more runs per read
    /// and more space until runs merge. See `tiered.rs`.
    Tiered,
}

/// Options of an LSM tier.
#[derive(Clone, Debug)]
pub struct LsmOptions {
    /// Leveled (default) or size-tiered compaction. A tier may be reopened
    /// with the other style: both keep the same invariants (disjoint
    /// tables within a level, newer data in lower levels).
    pub compaction_style: CompactionStyle,
    /// Bytes (keys + values + per-entry overhead) after which the active
    /// memtable is frozen and a new one started. Default 32 MiB (the
    /// trade-off against 8 and 16 MiB: docs/benchmarks.md, "LSM memtable
    /// size with background flushes"). A read
    /// probes every memtable not yet flushed; frozen ones are flushed by
    /// the flusher thread as soon as they freeze (once the layer above
    /// has called `Tier::persist_in_background`; before that, and without
    /// background threads, only by `persist`).
    pub memtable_bytes: usize,
    /// Leveled: a flush also merges the newest L0 tables into its table
    /// while their bytes together stay within this and within the flushed
    /// memtables' bytes (`flush.rs`), so the
    /// tables of the half-full memtables checkpoints flush pair up into
    /// fewer, larger L0 tables. 0 merges nothing. Default 0; the database
    /// sets half the memtable size (the table of a full memtable is then
    /// never merged again).
    pub l0_merge_bytes: u64,
    /// Number of L0 tables that triggers an L0 → L1 compaction. Default 8:
    /// 4 made every L0 → L1 compaction rewrite L1 for half as much new
    /// data. With the default 32 MiB memtables 8 tables (~200 MiB) are
    /// larger than `l1_target_bytes`, so they merge straight into the
    /// first level whose target fits them.
    pub l0_compaction_trigger: usize,
    /// Leveled: each level below L1 may hold this many times the bytes of
    /// the level above. Default 10. (Tiered compaction has no targets.)
    pub level_size_ratio: u64,
    /// Target bytes of L1. Default 64 MiB.
    pub l1_target_bytes: u64,
    /// Compaction output tables are cut after about this many bytes
    /// (always at a user-key boundary). Default 8 MiB.
    pub target_file_bytes: u64,
    /// Options of every table written.
    pub sst: SstOptions,
    /// Run compaction on a background thread (`tierdb-lsm-compact`). When
    /// false, `persist` compacts synchronously after its flush (the
    /// deterministic mode tests use) and writers never wait on L0. Default
    /// true.
    pub background_compaction: bool,
    /// Bytes per second compaction may write (token bucket); `None` is
    /// unlimited. Flushes are never limited. Default `None`.
    pub compaction_bytes_per_sec: Option<u64>,
    /// L0 tables at which each `apply` is slowed by 1 ms. Default 20 (as
    /// RocksDB's).
    pub l0_slowdown_tables: usize,
    /// L0 tables at which `apply` waits for the compactor (at most
    /// `stall_timeout`). Default 36 (as RocksDB's).
    pub l0_stop_tables: usize,
    /// Frozen memtables above which `apply` waits for the flusher (at most
    /// `stall_timeout`); without a flusher it only records a stall, as
    /// then only `persist` flushes them. Default 2.
    pub max_frozen_memtables: usize,
    /// The longest one `apply` waits in a stall before proceeding anyway.
    /// Default 10 s.
    pub stall_timeout: Duration,
    /// Where compaction, stall and background-error events go (default
    /// none).
    pub events: Option<EventSink>,
    /// The manifest log is rolled over (a new log starting with a snapshot
    /// of the tree, `LSM-CURRENT` switched to it) at the first install
    /// after the edits appended since its snapshot reach this many bytes;
    /// until then each install appends one edit. 0 rolls at every install.
    /// Default 4 MiB.
    pub manifest_roll_bytes: u64,
}

impl Default for LsmOptions {
    fn default() -> Self {
        LsmOptions {
            compaction_style: CompactionStyle::Leveled,
            memtable_bytes: 32 << 20,
            l0_merge_bytes: 0,
            l0_compaction_trigger: 8,
            level_size_ratio: 10,
            l1_target_bytes: 64 << 20,
            target_file_bytes: 8 << 20,
            sst: SstOptions::default(),
            background_compaction: true,
            compaction_bytes_per_sec: None,
            l0_slowdown_tables: 20,
            l0_stop_tables: 36,
            max_frozen_memtables: 2,
            stall_timeout: Duration::from_secs(10),
            events: None,
            manifest_roll_bytes: 4 << 20,
        }
    }
}

impl LsmOptions {
    /// Refuses options the tier cannot work with.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(format!("LsmOptions: {what}")));
        if self.memtable_bytes == 0 {
            return bad("memtable_bytes must be > 0");
        }
        if self.l0_compaction_trigger == 0 {
            return bad("l0_compaction_trigger must be >= 1");
        }
        if self.level_size_ratio < 2 {
            return bad("level_size_ratio must be >= 2");
        }
        if self.l1_target_bytes == 0 || self.target_file_bytes == 0 {
            return bad("l1_target_bytes and target_file_bytes must be > 0");
        }
        if self.l0_slowdown_tables == 0 || self.l0_slowdown_tables > self.l0_stop_tables {
            return bad("need 1 <= l0_slowdown_tables <= l0_stop_tables");
        }
        if self.compaction_bytes_per_sec == Some(0) {
            return bad("compaction_bytes_per_sec must be > 0 (or None)");
        }
        Ok(())
    }

    /// Target bytes of `level` (>= 1): `l1_target * ratio^(level-1)`.
    pub(crate) fn level_target_bytes(&self, level: usize) -> u64 {
        let mut target = self.l1_target_bytes;
        for _ in 1..level {
            target = target.saturating_mul(self.level_size_ratio);
        }
        target
    }
}
