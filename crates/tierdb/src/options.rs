//! `Options` (per database) and `TxnOptions` (per transaction).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use tierdb_io::{OsVfs, Vfs};
use tierdb_lsm::CompactionStyle;
pub use tierdb_wal::RecoveryMode;

use crate::{AutoTier, Error, EventListener, Result};

/// The index structure a partition stores its data in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Tier {
    /// A copy-on-write B+tree: best for read-mostly ranges.
    #[default]
    BTree,
    /// A log-structured merge tree: best for write-heavy ranges. Writes
    /// go to a memtable; checkpoints flush it to SSTables, which leveled
    /// compaction merges.
    Lsm,
}

/// When a commit counts as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// The commit's WAL record is on stable storage (fdatasync) before
    /// `commit` returns. Survives power loss. Concurrent commits share one
    /// sync (group commit).
    #[default]
    Sync,
    /// The record is written to the OS before `commit` returns and synced by
    /// a background flusher within `Options::buffered_sync_interval`.
    /// Survives a process crash; a power loss may lose the last interval.
    Buffered,
    /// The record stays in memory and is written with the next group or
    /// checkpoint. A crash may lose it (never partially, never out of order).
    Volatile,
}

/// Isolation level of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Isolation {
    /// Reads come from the snapshot taken at `begin`; the commit fails with
    /// `Error::Conflict` if another transaction committed a write to a key
    /// this one writes after that snapshot (first committer wins).
    #[default]
    Snapshot,
    /// As `Snapshot`, and the commit also fails if anything this transaction
    /// read (keys and scanned ranges) was changed after its snapshot, so the
    /// committed history is serializable.
    Serializable,
}

/// Options of a database, set when it is opened. A plain builder; the
/// defaults suit a service with a few hundred MiB of hot data.
///
/// ```
/// use tierdb::{Durability, Options, Tier};
/// let opts = Options::default()
///     .cache_bytes(256 << 20)
///     .default_tier(Tier::BTree)
///     .durability(Durability::Sync);
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) cache_bytes: usize,
    pub(crate) default_tier: Tier,
    pub(crate) durability: Durability,
    pub(crate) page_size: usize,
    pub(crate) wal_segment_bytes: u64,
    pub(crate) checkpoint_wal_bytes: u64,
    pub(crate) checkpoint_dirty_bytes: u64,
    pub(crate) buffered_sync_interval: Duration,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) background_checkpoints: bool,
    pub(crate) compaction_style: CompactionStyle,
    pub(crate) lsm_memtable_bytes: usize,
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) listeners: Vec<Arc<dyn EventListener>>,
    pub(crate) splits: Vec<(Bytes, Tier)>,
    pub(crate) auto_tier: Option<AutoTier>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_bytes: 64 << 20,
            default_tier: Tier::BTree,
            durability: Durability::Sync,
            page_size: 4096,
            wal_segment_bytes: 4 << 20,
            checkpoint_wal_bytes: 16 << 20,
            checkpoint_dirty_bytes: 64 << 20,
            buffered_sync_interval: Duration::from_millis(100),
            recovery_mode: RecoveryMode::Strict,
            background_checkpoints: true,
            compaction_style: CompactionStyle::Leveled,
            lsm_memtable_bytes: 32 << 20,
            vfs: Arc::new(OsVfs::new()),
            listeners: Vec::new(),
            splits: Vec::new(),
            auto_tier: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("cache_bytes", &self.cache_bytes)
            .field("default_tier", &self.default_tier)
            .field("durability", &self.durability)
            .field("page_size", &self.page_size)
            .field("wal_segment_bytes", &self.wal_segment_bytes)
            .field("checkpoint_wal_bytes", &self.checkpoint_wal_bytes)
            .field("checkpoint_dirty_bytes", &self.checkpoint_dirty_bytes)
            .field("buffered_sync_interval", &self.buffered_sync_interval)
            .field("recovery_mode", &self.recovery_mode)
            .field("background_checkpoints", &self.background_checkpoints)
            .field("compaction_style", &self.compaction_style)
            .field("lsm_memtable_bytes", &self.lsm_memtable_bytes)
            .field("vfs", &self.vfs)
            .field("listeners", &self.listeners.len())
            .field("splits", &self.splits)
            .field("auto_tier", &self.auto_tier)
            .finish()
    }
}

impl Options {
    /// Memory budget of the shared page cache, in bytes (default 64 MiB).
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Tier of the first partition of a new database (default B+tree).
    pub fn default_tier(mut self, tier: Tier) -> Self {
        self.default_tier = tier;
        self
    }

    /// Default durability of commits (default `Sync`).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// B+tree page size in bytes for new partitions: a power of two from
    /// 1 KiB to 64 KiB (default 4 KiB). Existing partitions keep theirs.
    pub fn page_size(mut self, bytes: usize) -> Self {
        self.page_size = bytes;
        self
    }

    /// Size at which the WAL starts a new segment (default 4 MiB). Whole
    /// segments are deleted once checkpointed, so smaller segments free
    /// space sooner.
    pub fn wal_segment_bytes(mut self, bytes: u64) -> Self {
        self.wal_segment_bytes = bytes;
        self
    }

    /// A checkpoint runs in the background once this many bytes were
    /// logged since the last one began (default 16 MiB), which bounds what
    /// a reopen after a crash replays, whatever the uptime, to about this
    /// plus what is logged while a checkpoint runs. The live WAL stays
    /// within about this plus one segment.
    pub fn checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_wal_bytes = bytes;
        self
    }

    /// A checkpoint runs in the background when state changed since the
    /// last one (B+tree nodes, LSM memtables) takes more than this many
    /// bytes of memory (default 64 MiB). Writers slow down past 1.5 times
    /// this and stall past twice this until a checkpoint catches up, so
    /// together with `cache_bytes` it bounds the engine's memory: see
    /// [`Options::memory_budget`].
    pub fn checkpoint_dirty_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_dirty_bytes = bytes;
        self
    }

    /// The memory these options let the engine's own structures hold:
    /// `cache_bytes` plus twice `checkpoint_dirty_bytes` (the nodes a
    /// checkpoint is writing plus those changed since, or the active and
    /// frozen LSM memtables). What it does not count: the allocator's
    /// overhead and fragmentation, per-thread buffers, and values the
    /// caller holds. A writer stalled at the bound proceeds after 10
    /// seconds (counted in `Stats::write_stall_timeouts`).
    ///
    /// ```
    /// let opts = tierdb::Options::default()
    ///     .cache_bytes(256 << 20)
    ///     .checkpoint_dirty_bytes(64 << 20);
    /// assert_eq!(opts.memory_budget(), 384 << 20);
    /// ```
    pub fn memory_budget(&self) -> u64 {
        (self.cache_bytes as u64).saturating_add(self.checkpoint_dirty_bytes.saturating_mul(2))
    }

    /// Longest time a `Buffered` commit waits to be synced (default 100 ms).
    pub fn buffered_sync_interval(mut self, interval: Duration) -> Self {
        self.buffered_sync_interval = interval;
        self
    }

    /// How recovery treats a damaged WAL (default: strict — a torn tail is
    /// cut, any other damage is `Error::Corruption`).
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// Whether background threads run checkpoints (when the WAL or the
    /// dirty pages pass their bounds) and LSM compactions (default true).
    /// When false, call `Db::checkpoint` yourself (deterministic tests do);
    /// LSM partitions then compact inside the checkpoint, and writers are
    /// never stalled waiting for a compactor.
    pub fn background_checkpoints(mut self, enabled: bool) -> Self {
        self.background_checkpoints = enabled;
        self
    }

    /// How LSM partitions compact (default `CompactionStyle::Leveled`):
    /// leveled keeps few sorted runs (fast reads, little space held by old
    /// versions); `CompactionStyle::Tiered` merges runs of similar size,
    /// writing less per byte committed (measured on 1,000,000 random
    /// overwrites: 2.45 against 4.69 bytes written per byte) at the price of
    /// more runs and space until they merge. Applies to every LSM
    /// partition each time the database is opened; switching between
    /// opens is safe.
    pub fn compaction_style(mut self, style: CompactionStyle) -> Self {
        self.compaction_style = style;
        self
    }

    /// Bytes an LSM partition's memtable takes before it is frozen and
    /// flushed to a table on the partition's flush thread (default 32 MiB).
    /// Smaller memtables load faster (a smaller skiplist to insert into)
    /// but flush more, smaller L0 tables that compaction then merges
    /// again; at N = 1M, 8 MiB loaded ~25 % faster than 32 MiB but wrote
    /// 1.5x the bytes and collapsed the 90/10 mix under compaction debt
    /// (docs/benchmarks.md, "LSM memtable size with background flushes").
    /// Memory is bounded at three memtables per LSM partition (the active
    /// one and two frozen), writers waiting for the flusher beyond that.
    pub fn lsm_memtable_bytes(mut self, bytes: usize) -> Self {
        self.lsm_memtable_bytes = bytes;
        self
    }

    /// The file system to use (default the real one, `OsVfs`). Tests pass a
    /// `SimVfs` to simulate power loss and I/O errors.
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// Declares a partition of a new database: the key range from `start`
    /// up to the next declared start (or the end of the key space) is stored
    /// in `tier`; keys below the first declared start stay in the first
    /// partition (`default_tier`). Used only when the database is created;
    /// an existing database keeps the layout in its manifest.
    ///
    /// ```
    /// use tierdb::{Options, Tier};
    /// // Products in a B+tree, the inventory feed in an LSM tree.
    /// let opts = Options::default()
    ///     .default_tier(Tier::BTree)
    ///     .partition(b"stock/", Tier::Lsm)
    ///     .partition(b"stock0", Tier::BTree);
    /// # let _ = opts;
    /// ```
    pub fn partition(mut self, start: impl AsRef<[u8]>, tier: Tier) -> Self {
        self.splits
            .push((Bytes::copy_from_slice(start.as_ref()), tier));
        self
    }

    /// Adds a listener for checkpoints and background errors (see
    /// [`EventListener`]); several may be added.
    pub fn listener(mut self, listener: Arc<dyn EventListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Lets the database move partitions between tiers by itself, on the
    /// advice of [`Db::advise`](crate::Db::advise), judged on each
    /// interval's operations and acted on only when it has held for several
    /// intervals in a row (default: off; moves are then up to
    /// `Db::set_tier`). Each move is told to
    /// [`EventListener::on_tier_changed`]. Needs `background_checkpoints`
    /// (the same worker runs it).
    pub fn auto_tier(mut self, auto: AutoTier) -> Self {
        self.auto_tier = Some(auto);
        self
    }

    /// Refuses option values that cannot work, before anything is touched.
    pub(crate) fn validate(&self) -> Result<()> {
        let ps = self.page_size;
        if !(1024..=65536).contains(&ps) || !ps.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "page_size {ps} must be a power of two from 1024 to 65536"
            )));
        }
        if self.wal_segment_bytes < 4096 {
            return Err(Error::InvalidArgument(
                "wal_segment_bytes must be at least 4096".into(),
            ));
        }
        if self.lsm_memtable_bytes == 0 {
            return Err(Error::InvalidArgument(
                "lsm_memtable_bytes must be positive".into(),
            ));
        }
        self.validate_splits()?;
        if self.auto_tier.is_some_and(|a| a.interval.is_zero()) {
            return Err(Error::InvalidArgument(
                "auto_tier interval must be positive".into(),
            ));
        }
        if self.auto_tier.is_some() && !self.background_checkpoints {
            return Err(Error::InvalidArgument(
                "auto_tier needs background_checkpoints (its worker runs it)".into(),
            ));
        }
        if self.buffered_sync_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "buffered_sync_interval must be positive".into(),
            ));
        }
        Ok(())
    }
}

impl Options {
    fn validate_splits(&self) -> Result<()> {
        let mut sorted: Vec<&Bytes> = self.splits.iter().map(|(k, _)| k).collect();
        sorted.sort();
        if sorted.first().is_some_and(|k| k.is_empty()) {
            return Err(Error::InvalidArgument(
                "a declared partition cannot start at the empty key: that is the first partition (default_tier)".into(),
            ));
        }
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::InvalidArgument(
                "two declared partitions start at the same key".into(),
            ));
        }
        if let Some((k, _)) = self
            .splits
            .iter()
            .find(|(k, _)| k.len() > crate::MAX_KEY_BYTES)
        {
            return Err(Error::InvalidArgument(format!(
                "partition start of {} bytes exceeds the key limit",
                k.len()
            )));
        }
        Ok(())
    }

    /// The declared partitions in key order.
    pub(crate) fn sorted_splits(&self) -> Vec<(Bytes, Tier)> {
        let mut splits = self.splits.clone();
        splits.sort_by(|a, b| a.0.cmp(&b.0));
        splits
    }
}

/// Options of one transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxnOptions {
    pub(crate) isolation: Isolation,
    pub(crate) durability: Option<Durability>,
}

impl TxnOptions {
    /// Isolation level (default snapshot isolation).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Durability of this transaction's commit (default: the database's).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }
}
