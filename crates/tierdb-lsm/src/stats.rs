//! `LsmStats`: figures specific to the LSM tier, beyond `TierStats`, and
//! how both are gathered.

use std::sync::atomic::{AtomicU64, Ordering};

use tierdb_tier::{TierStats, ratio};

use crate::compaction;
use crate::inner::{Inner, bump};
use crate::sstable::GetCost;

/// LSM-specific counters and shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsmStats {
    /// Bytes of keys and values applied since open.
    pub bytes_applied: u64,
    /// Bytes written to table files (flushes and compactions) since open.
    pub table_bytes_written: u64,
    /// Bytes written to the manifest log and `LSM-CURRENT` since open: one
    /// edit per install, a snapshot per roll to a new log.
    pub manifest_bytes_written: u64,
    /// Flushes that wrote a table (by `persist` or the flusher thread),
    /// since open.
    pub flushes: u64,
    /// Compactions run since open.
    pub compactions: u64,
    /// Tables per level (L0 first).
    pub tables_per_level: Vec<usize>,
    /// Bytes per level (L0 first).
    pub bytes_per_level: Vec<u64>,
    /// Memtables held (the active one included).
    pub memtables: usize,
    /// Bytes of input tables read by compactions since open.
    pub compaction_bytes_read: u64,
    /// Bytes of output tables written by compactions since open.
    pub compaction_bytes_written: u64,
    /// Bytes over target, summed over levels: all of L0 once it reaches
    /// the compaction trigger, plus what each lower level holds beyond its
    /// target.
    pub compaction_debt_bytes: u64,
    /// Background compactions that failed (each poisons the tier's
    /// persists until reopened).
    pub background_errors: u64,
    /// Applies that stalled: waited for L0 to shrink, or found too many
    /// frozen memtables (waited for the flusher, or, without one, recorded
    /// without waiting).
    pub stall_count: u64,
    /// Microseconds applies spent waiting in stalls.
    pub stall_micros: u64,
    /// Stalls that ended at `stall_timeout` with L0 still too large.
    pub stall_timeouts: u64,
    /// Applies slowed down (1 ms sleep) because L0 reached the slowdown
    /// threshold.
    pub slowdown_count: u64,
    /// Microseconds applies spent in slowdowns.
    pub slowdown_micros: u64,
    /// Data blocks read from table files (cache misses) by point reads;
    /// `TierStats::get_blocks` counts every block they fetched.
    pub get_blocks_read: u64,
}

impl LsmStats {
    /// Write amplification: table bytes written (flushes and compactions)
    /// per byte of keys and values applied, `table_bytes_written /
    /// bytes_applied` (0 when nothing was applied).
    pub fn write_amplification(&self) -> f64 {
        ratio(self.table_bytes_written, self.bytes_applied).unwrap_or(0.0)
    }
}

/// Point-read counters of one tier, shared by its views.
#[derive(Debug, Default)]
pub(crate) struct ReadCounters {
    gets: AtomicU64,
    blocks: AtomicU64,
    blocks_read: AtomicU64,
    bloom_useful: AtomicU64,
    bloom_ineffective: AtomicU64,
}

impl ReadCounters {
    /// Counts one point read that cost `cost`.
    pub(crate) fn count_get(&self, cost: &GetCost) {
        bump(&self.gets, 1);
        bump(&self.blocks, cost.blocks);
        bump(&self.blocks_read, cost.blocks_read);
        bump(&self.bloom_useful, cost.bloom_useful);
        bump(&self.bloom_ineffective, cost.bloom_ineffective);
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Inner {
    /// The tier's `LsmStats`.
    pub(crate) fn lsm_stats(&self) -> LsmStats {
        let (version, memtables) = {
            let state = self.state.lock();
            (
                std::sync::Arc::clone(&state.version),
                state.frozen.len() + 1,
            )
        };
        let levels = &version.levels;
        let c = &self.counters;
        LsmStats {
            bytes_applied: load(&c.bytes_applied),
            table_bytes_written: load(&c.table_bytes_written),
            manifest_bytes_written: load(&c.manifest_bytes_written),
            flushes: load(&c.flushes),
            compactions: load(&c.compactions),
            tables_per_level: levels.iter().map(Vec::len).collect(),
            bytes_per_level: (0..levels.len()).map(|l| version.level_bytes(l)).collect(),
            memtables,
            compaction_bytes_read: load(&c.compaction_bytes_read),
            compaction_bytes_written: load(&c.compaction_bytes_written),
            compaction_debt_bytes: compaction::debt(&version, &self.opts),
            background_errors: load(&c.background_errors),
            stall_count: load(&c.stall_count),
            stall_micros: load(&c.stall_micros),
            stall_timeouts: load(&c.stall_timeouts),
            slowdown_count: load(&c.slowdown_count),
            slowdown_micros: load(&c.slowdown_micros),
            get_blocks_read: load(&self.reads.blocks_read),
        }
    }

    /// Bytes of the active and frozen memtables (`TierStats::dirty_bytes`).
    pub(crate) fn memtable_bytes(&self) -> u64 {
        self.state.lock().memtable_bytes()
    }

    /// The tier's `TierStats`.
    pub(crate) fn tier_stats(&self) -> TierStats {
        let state = self.state.lock();
        let (mut entries, mut misses, mut lookups) = (0u64, 0u64, 0u64);
        for t in state.version.all_tables() {
            entries += t.entries.saturating_sub(t.tombstones);
            let s = t.reader.stats();
            misses += s.blocks_read;
            lookups += s.block_lookups;
        }
        let memtables = state.frozen.iter().chain(std::iter::once(&state.active));
        let mem_entries: u64 = memtables.map(|m| m.len() as u64).sum();
        let dirty = state.memtable_bytes();
        let c = &self.counters;
        let debt = compaction::debt(&state.version, &self.opts);
        TierStats {
            entries: entries + mem_entries,
            disk_bytes: state.version.disk_bytes(),
            bytes_written: load(&self.counters.bytes_written),
            persist_bytes_written: load(&c.flush_bytes_written),
            compaction_bytes_written: c.level_bytes_written.iter().map(load).collect(),
            metadata_bytes_written: load(&c.manifest_bytes_written),
            level_disk_bytes: (0..state.version.levels.len())
                .map(|l| state.version.level_bytes(l))
                .collect(),
            level_tables: state
                .version
                .levels
                .iter()
                .map(|l| l.len() as u64)
                .collect(),
            dirty_bytes: dirty,
            cache_hits: lookups.saturating_sub(misses),
            cache_misses: misses,
            persists: load(&self.counters.persists),
            persisted_seq: self.persisted_seq.load(Ordering::Acquire),
            compactions: load(&c.compactions),
            compaction_debt_bytes: debt,
            stalls: load(&c.stall_count) + load(&c.slowdown_count),
            stall_micros: load(&c.stall_micros) + load(&c.slowdown_micros),
            background_errors: load(&c.background_errors),
            gets: load(&self.reads.gets),
            get_blocks: load(&self.reads.blocks),
            bloom_useful: load(&self.reads.bloom_useful),
            bloom_ineffective: load(&self.reads.bloom_ineffective),
            live_bytes: state.version.live_bytes_estimate(),
        }
    }
}
