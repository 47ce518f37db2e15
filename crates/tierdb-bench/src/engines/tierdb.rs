//! tierdb itself, in the three layouts `--engines` names.

use std::path::Path;

use tierdb::{Db, Durability, Options, Tier, WriteBatch};

use crate::engine::{Breakdown, Engine, EngineConfig, EngineKind, Pair, Result};

/// Key that `sync` deletes durably: a Sync commit makes every earlier
/// (Buffered) commit durable too, and an empty batch commits nothing.
const SYNC_KEY: &[u8] = b"\0bench/sync";

struct Tierdb {
    db: Db,
}

fn options(kind: EngineKind, cfg: &EngineConfig) -> Options {
    let mut opts = match kind {
        EngineKind::TierdbLsm => Options::default().default_tier(Tier::Lsm),
        EngineKind::TierdbMixed => Options::default()
            .default_tier(Tier::BTree)
            .partition(b"stock/", Tier::Lsm),
        _ => Options::default().default_tier(Tier::BTree),
    };
    for (start, tier) in &cfg.splits {
        opts = opts.partition(start, *tier);
    }
    if let Some(bytes) = cfg.lsm_memtable_bytes {
        opts = opts.lsm_memtable_bytes(bytes);
    }
    if let Some(bytes) = cfg.checkpoint_wal_bytes {
        opts = opts.checkpoint_wal_bytes(bytes);
    }
    if let Some(bytes) = cfg.checkpoint_dirty_bytes {
        opts = opts.checkpoint_dirty_bytes(bytes);
    }
    opts.cache_bytes(cfg.cache_bytes)
        .durability(Durability::Sync)
}

pub fn open(kind: EngineKind, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let db = Db::open(dir, options(kind, cfg))?;
    Ok(Box::new(Tierdb { db }))
}

/// tierdb's configured memory budget under `cfg`: the cache plus the
/// bound on changed, unpersisted state (`Options::memory_budget`); the
/// same for every layout.
pub fn memory_budget(cfg: &EngineConfig) -> u64 {
    options(EngineKind::TierdbBtree, cfg).memory_budget()
}

pub fn settings(kind: EngineKind, cfg: &EngineConfig) -> String {
    let layout = match kind {
        EngineKind::TierdbLsm => "one LSM partition",
        EngineKind::TierdbMixed => "B+tree partition, LSM partition from stock/",
        _ => "one B+tree partition",
    };
    let splits: Vec<String> = cfg
        .splits
        .iter()
        .map(|(k, t)| format!("{}={t:?}", String::from_utf8_lossy(k)))
        .collect();
    format!(
        "{layout}{}{}{}; no compression; durable = Durability::Sync (group commit), else Durability::Buffered (WAL written to the OS, synced within 100 ms); page 4 KiB, checkpoint after {} of WAL logged or {} MiB of dirty memory",
        if splits.is_empty() { "" } else { ", splits " },
        splits.join(" "),
        cfg.lsm_memtable_bytes
            .map_or(String::new(), |b| format!(", LSM memtable {} MiB", b >> 20)),
        cfg.checkpoint_wal_bytes
            .map_or("16 MiB".to_string(), |b| format!("{} MiB", b >> 20)),
        (memory_budget(cfg) - cfg.cache_bytes as u64) >> 21,
    )
}

fn durability(durable: bool) -> Durability {
    if durable {
        Durability::Sync
    } else {
        Durability::Buffered
    }
}

impl Engine for Tierdb {
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.db.write_with(batch, durability(durable))?;
        Ok(())
    }

    fn write_batch(&self, pairs: &[Pair], durable: bool) -> Result<()> {
        let mut batch = WriteBatch::new();
        for (k, v) in pairs {
            batch.put(k, v);
        }
        self.db.write_with(batch, durability(durable))?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        let mut n = 0;
        for item in self.db.range(start..)?.take(limit) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    fn sync(&self) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(SYNC_KEY);
        self.db.write_with(batch, Durability::Sync)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.close()?;
        Ok(())
    }

    /// The WAL (records; `wal-framing` is the part of them that is record
    /// and segment headers; preallocation zeros apart),
    /// checkpoints (B+tree pages, LSM L0 flushes), compactions per output
    /// level, metadata; files: WAL, B+tree files or LSM levels.
    fn breakdown(&self) -> Breakdown {
        let stats = self.db.stats();
        let t = stats.totals();
        let mut written = vec![
            ("wal".to_string(), stats.wal_bytes_written),
            ("wal-framing".to_string(), stats.wal_frame_bytes_written),
            ("wal-zeros".to_string(), stats.wal_zero_bytes_written),
            ("checkpoint".to_string(), t.persist_bytes_written),
        ];
        let levels = t.compaction_bytes_written.iter().enumerate();
        written.extend(
            levels
                .filter(|(l, _)| *l > 0)
                .map(|(l, b)| (format!("L{l}"), *b)),
        );
        written.push(("meta".to_string(), t.metadata_bytes_written));
        let mut space = vec![("wal".to_string(), stats.wal_file_bytes)];
        let btree_sum = |field: fn(&tierdb::PartitionStats) -> u64| -> u64 {
            let btrees = stats.partitions.iter().filter(|p| p.tier == Tier::BTree);
            btrees.map(|p| field(&p.stats)).sum()
        };
        let lsm_sum = |field: fn(&tierdb::PartitionStats) -> u64| -> u64 {
            let lsms = stats.partitions.iter().filter(|p| p.tier == Tier::Lsm);
            lsms.map(|p| field(&p.stats)).sum()
        };
        let btree = btree_sum(|s| s.disk_bytes);
        if btree > 0 {
            space.push(("btree".to_string(), btree));
            let live = btree_sum(|s| s.live_bytes);
            space.push(("btree-free".to_string(), btree.saturating_sub(live)));
        }
        // Each level named with its table count: "L0[8]" (the shape
        // reads and scans pay for).
        let levels = t.level_disk_bytes.iter().enumerate();
        space.extend(levels.filter(|(_, b)| **b > 0).map(|(l, b)| {
            let tables = t.level_tables.get(l).copied().unwrap_or(0);
            (format!("L{l}[{tables}]"), *b)
        }));
        // The shared cache's own counters: they only grow. (An LSM tier's
        // counts cover the tables live now and fall when compaction
        // retires tables, so differences of them are not a phase's.)
        let cache = Some((stats.cache_hits, stats.cache_misses, stats.cache_used_bytes));
        // Commits held by the database's dirty-memory bound, and applies
        // held by the tiers (LSM: L0 slowdowns and stops, frozen
        // memtables waiting for the flusher).
        let stalled_micros = vec![
            ("db".to_string(), stats.write_stall_micros),
            ("tiers".to_string(), t.stall_micros),
        ];
        Breakdown {
            written,
            space,
            cache,
            stalled_micros,
            commits_syncs: Some((stats.commits, stats.wal_syncs)),
            lsm_reads: Some((
                lsm_sum(|s| s.gets),
                lsm_sum(|s| s.bloom_useful + s.bloom_ineffective),
            )),
        }
    }
}
