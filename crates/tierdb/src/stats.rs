//! `Stats`: figures about the whole database, from `Db::stats`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::db::DbInner;
use crate::{PartitionId, PartitionInfo, PartitionStats};

/// Figures about a database, per partition and in total.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Sequence of the last visible commit.
    pub seq: u64,
    /// Commits since open (each a WAL record).
    pub commits: u64,
    /// Commits refused with `Error::Conflict` since open.
    pub conflicts: u64,
    /// WAL records written (appended) since open.
    pub wal_records: u64,
    /// WAL group writes since open (one write call each).
    pub wal_group_writes: u64,
    /// WAL fdatasyncs since open. `commits / wal_syncs` is the average group
    /// size of `Sync` commits.
    pub wal_syncs: u64,
    /// Bytes written to the WAL since open: records (payload and framing)
    /// and segment headers.
    pub wal_bytes_written: u64,
    /// Of `wal_bytes_written`, the framing: 24 bytes per record, 32 per
    /// segment header. The payload is the commit records
    /// (`docs/format/commit-record.md`).
    pub wal_frame_bytes_written: u64,
    /// Zeros written to preallocate WAL segments ahead of records (only
    /// ahead of `Sync` commits), not part of `wal_bytes_written`: once
    /// synced they reach the disk, and the records overwrite them later.
    pub wal_zero_bytes_written: u64,
    /// Bytes in live WAL segments (what a reopen would read).
    pub wal_live_bytes: u64,
    /// Bytes of live WAL segment files on disk: `wal_live_bytes` plus the
    /// active segment's preallocated tail.
    pub wal_file_bytes: u64,
    /// Checkpoints completed since open.
    pub checkpoints: u64,
    /// Sequence of the last completed checkpoint.
    pub checkpoint_seq: u64,
    /// Background errors (e.g. a failed background checkpoint).
    pub background_errors: u64,
    /// Commits slowed down (1 ms each) because dirty memory passed 1.5x
    /// `Options::checkpoint_dirty_bytes`.
    pub write_slowdowns: u64,
    /// Commits that waited for a checkpoint because dirty memory passed 2x
    /// `Options::checkpoint_dirty_bytes`.
    pub write_stalls: u64,
    /// Time commits spent slowed down or stalled on dirty memory, in
    /// microseconds.
    pub write_stall_micros: u64,
    /// Stalled commits that gave up waiting (after 10 s) and proceeded.
    pub write_stall_timeouts: u64,
    /// How long the last `Db::open` took, recovery included.
    pub open_duration: Duration,
    /// WAL records replayed by the last open.
    pub open_replayed_records: u64,
    /// Page cache: lookups served from memory.
    pub cache_hits: u64,
    /// Page cache: lookups that went to disk.
    pub cache_misses: u64,
    /// Page cache: entries evicted.
    pub cache_evictions: u64,
    /// Page cache: bytes held.
    pub cache_used_bytes: u64,
    /// Page cache: budget.
    pub cache_capacity_bytes: u64,
    /// Every partition, in key order.
    pub partitions: Vec<PartitionInfo>,
}

impl Stats {
    /// Live entries across partitions.
    pub fn entries(&self) -> u64 {
        self.partitions.iter().map(|p| p.stats.entries).sum()
    }

    /// Bytes on disk across partition files (the WAL not included).
    pub fn disk_bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.stats.disk_bytes).sum()
    }

    /// Modified pages held in memory across partitions.
    pub fn dirty_bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.stats.dirty_bytes).sum()
    }

    /// The partitions' figures added up: every counter and byte count is
    /// the sum over partitions (`persisted_seq` is the lowest), so its
    /// ratio methods (`write_amplification`, `read_amplification`,
    /// `space_amplification`, `bloom_false_positive_rate`) give the
    /// database's figures.
    pub fn totals(&self) -> PartitionStats {
        let mut t = PartitionStats {
            persisted_seq: u64::MAX,
            ..PartitionStats::default()
        };
        for p in &self.partitions {
            let s = &p.stats;
            t.entries += s.entries;
            t.disk_bytes += s.disk_bytes;
            t.bytes_written += s.bytes_written;
            t.persist_bytes_written += s.persist_bytes_written;
            t.metadata_bytes_written += s.metadata_bytes_written;
            add_per_level(&mut t.compaction_bytes_written, &s.compaction_bytes_written);
            add_per_level(&mut t.level_disk_bytes, &s.level_disk_bytes);
            add_per_level(&mut t.level_tables, &s.level_tables);
            t.dirty_bytes += s.dirty_bytes;
            t.cache_hits += s.cache_hits;
            t.cache_misses += s.cache_misses;
            t.persists += s.persists;
            t.persisted_seq = t.persisted_seq.min(s.persisted_seq);
            t.reads += s.reads;
            t.writes += s.writes;
            t.scans += s.scans;
            t.bytes_applied += s.bytes_applied;
            t.compactions += s.compactions;
            t.compaction_debt_bytes += s.compaction_debt_bytes;
            t.stalls += s.stalls;
            t.stall_micros += s.stall_micros;
            t.background_errors += s.background_errors;
            t.gets += s.gets;
            t.get_blocks += s.get_blocks;
            t.bloom_useful += s.bloom_useful;
            t.bloom_ineffective += s.bloom_ineffective;
            t.live_bytes += s.live_bytes;
        }
        if self.partitions.is_empty() {
            t.persisted_seq = 0;
        }
        t
    }
}

/// Adds `from` to `into` level by level, growing `into` as needed.
fn add_per_level(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (sum, n) in into.iter_mut().zip(from) {
        *sum += n;
    }
}

impl DbInner {
    pub(crate) fn partition_infos(&self) -> Vec<PartitionInfo> {
        let layout = self.layout();
        layout
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let s = p.store.stats();
                PartitionInfo {
                    id: PartitionId(p.entry.id),
                    start: p.entry.start.clone(),
                    end: layout.end(i).cloned(),
                    tier: p.entry.tier,
                    stats: PartitionStats {
                        entries: s.entries,
                        disk_bytes: s.disk_bytes,
                        bytes_written: s.bytes_written,
                        persist_bytes_written: s.persist_bytes_written,
                        compaction_bytes_written: s.compaction_bytes_written,
                        metadata_bytes_written: s.metadata_bytes_written,
                        level_disk_bytes: s.level_disk_bytes,
                        level_tables: s.level_tables,
                        dirty_bytes: s.dirty_bytes,
                        cache_hits: s.cache_hits,
                        cache_misses: s.cache_misses,
                        persists: s.persists,
                        persisted_seq: s.persisted_seq,
                        reads: p.reads.get(),
                        writes: p.writes.load(Ordering::Relaxed),
                        scans: p.scans.get(),
                        bytes_applied: p.bytes_applied.load(Ordering::Relaxed),
                        compactions: s.compactions,
                        compaction_debt_bytes: s.compaction_debt_bytes,
                        stalls: s.stalls,
                        stall_micros: s.stall_micros,
                        background_errors: s.background_errors,
                        gets: s.gets,
                        get_blocks: s.get_blocks,
                        bloom_useful: s.bloom_useful,
                        bloom_ineffective: s.bloom_ineffective,
                        live_bytes: s.live_bytes,
                    },
                }
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> Stats {
        let wal = self.wal.stats();
        let cache = self.cache.stats();
        let c = &self.counters;
        Stats {
            seq: self.version.load().seq,
            commits: c.commits.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            wal_records: wal.records,
            wal_group_writes: wal.group_writes,
            wal_syncs: wal.syncs,
            wal_bytes_written: wal.bytes_written,
            wal_frame_bytes_written: wal.frame_bytes_written,
            wal_zero_bytes_written: wal.zero_bytes_written,
            wal_live_bytes: self.wal.live_bytes(),
            wal_file_bytes: wal.file_bytes,
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            checkpoint_seq: c.checkpoint_seq.load(Ordering::Relaxed),
            background_errors: c.background_errors.load(Ordering::Relaxed),
            write_slowdowns: c.stalls.slowdowns.load(Ordering::Relaxed),
            write_stalls: c.stalls.stalls.load(Ordering::Relaxed),
            write_stall_micros: c.stalls.micros.load(Ordering::Relaxed),
            write_stall_timeouts: c.stalls.timeouts.load(Ordering::Relaxed),
            open_duration: self.open_duration,
            open_replayed_records: self.open_replayed,
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_evictions: cache.evictions,
            cache_used_bytes: cache.used_bytes,
            cache_capacity_bytes: self.cache.capacity_bytes() as u64,
            partitions: self.partition_infos(),
        }
    }
}
