//! The `Engine` trait every benchmarked store implements, and the list of
//! engines this build knows (`--engines`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Errors from any engine, boxed: the tool only reports them.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// One key-value pair of a batch.
pub type Pair = (Vec<u8>, Vec<u8>);

/// What the workloads need from a store. Every call is one transaction of
/// that store; `durable` asks for the commit to be on stable storage
/// (fdatasync) before the call returns, otherwise it is written to the OS
/// (or the engine's nearest equivalent, stated in its settings).
pub trait Engine: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<()>;
    /// Writes all pairs atomically.
    fn write_batch(&self, pairs: &[Pair], durable: bool) -> Result<()>;
    /// The value's length, if the key is present (the value is read).
    fn get(&self, key: &[u8]) -> Result<Option<usize>>;
    /// Reads up to `limit` pairs from the first key >= `start`, in order;
    /// returns how many it read.
    fn scan(&self, start: &[u8], limit: usize) -> Result<usize>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<()>;
    /// Closes cleanly (flushing what the engine flushes on close).
    fn close(self: Box<Self>) -> Result<()>;
    /// Where the engine's writes and space go, as named byte counts, for
    /// the per-phase breakdown line (empty for engines that do not say).
    fn breakdown(&self) -> Breakdown {
        Breakdown::default()
    }
}

/// Bytes written since open per component (differences between two
/// snapshots give a phase's share) and bytes on disk now per component.
#[derive(Clone, Debug, Default)]
pub struct Breakdown {
    pub written: Vec<(String, u64)>,
    pub space: Vec<(String, u64)>,
    /// Page cache lookups (hits, misses) since open, which only grow, and
    /// bytes held now, for engines that report them.
    pub cache: Option<(u64, u64, u64)>,
    /// Microseconds writers spent stalled or slowed down since open, per
    /// cause (differences give a phase's share, printed in ms).
    pub stalled_micros: Vec<(String, u64)>,
    /// Commits and log syncs since open, for engines that count them: a
    /// phase's commits per sync is its average group-commit size.
    pub commits_syncs: Option<(u64, u64)>,
    /// Point reads that reached an LSM tier and the tables each passed
    /// without an answer (its filter said absent, or a false positive),
    /// since open: a phase's difference is the L0 and level tables a read
    /// consults beyond the one that answers.
    pub lsm_reads: Option<(u64, u64)>,
}

impl Breakdown {
    /// One line: the bytes written since `before` and the space now, in MiB.
    pub fn line_since(&self, before: &Breakdown) -> Option<String> {
        if self.written.is_empty() && self.space.is_empty() {
            return None;
        }
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let since = |now: &[(String, u64)], was: &[(String, u64)], unit: f64| -> Vec<String> {
            now.iter()
                .map(|(name, now)| {
                    let was = was.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
                    format!("{name} {:.1}", now.saturating_sub(was) as f64 / unit)
                })
                .collect()
        };
        let written = since(&self.written, &before.written, (1 << 20) as f64);
        let space: Vec<String> = self
            .space
            .iter()
            .map(|(name, b)| format!("{name} {:.1}", mib(*b)))
            .collect();
        let cache = match (self.cache, before.cache) {
            (Some((hits, misses, used)), Some((hits_was, misses_was, _))) => {
                let (hits, misses) = (
                    hits.saturating_sub(hits_was),
                    misses.saturating_sub(misses_was),
                );
                let ratio = hits as f64 / (hits + misses).max(1) as f64;
                format!(
                    "; cache hit ratio {ratio:.4} ({misses} misses), holds {:.1} MiB",
                    mib(used)
                )
            }
            _ => String::new(),
        };
        let mut line = format!(
            "   wrote MiB: {}; files MiB: {}{cache}",
            written.join(", "),
            space.join(", ")
        );
        if !self.stalled_micros.is_empty() {
            let stalled = since(&self.stalled_micros, &before.stalled_micros, 1000.0);
            line += &format!("; stalled ms: {}", stalled.join(", "));
        }
        if let (Some((commits, syncs)), Some((commits_was, syncs_was))) =
            (self.commits_syncs, before.commits_syncs)
        {
            let (commits, syncs) = (commits - commits_was, syncs - syncs_was);
            line += &format!(
                "; {commits} commits, {syncs} log syncs ({:.2} per sync)",
                commits as f64 / syncs.max(1) as f64
            );
        }
        if let (Some((gets, passed)), Some((gets_was, passed_was))) =
            (self.lsm_reads, before.lsm_reads)
        {
            let gets = gets.saturating_sub(gets_was);
            if gets > 0 {
                let passed = passed.saturating_sub(passed_was);
                line += &format!(
                    "; LSM tables passed per read {:.2}",
                    passed as f64 / gets as f64
                );
            }
        }
        Some(line)
    }
}

/// Settings that every engine gets alike.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Memory budget for the engine's own cache of pages or blocks.
    pub cache_bytes: usize,
    /// tierdb's LSM memtable size; `None` keeps the library's default.
    pub lsm_memtable_bytes: Option<usize>,
    /// tierdb's checkpoint trigger on the WAL logged since the last
    /// checkpoint; `None` keeps the library's default.
    pub checkpoint_wal_bytes: Option<u64>,
    /// tierdb's dirty-memory checkpoint trigger; `None` keeps the
    /// library's default.
    pub checkpoint_dirty_bytes: Option<u64>,
    /// Extra tierdb partitions: (start key, tier). Other engines ignore it.
    pub splits: Vec<(Vec<u8>, tierdb::Tier)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// tierdb, one B+tree partition (plus `--split`s).
    TierdbBtree,
    /// tierdb, one LSM partition (plus `--split`s).
    TierdbLsm,
    /// tierdb, B+tree by default and an LSM partition for `stock/` (the
    /// catalog's write-heavy inventory feed).
    TierdbMixed,
    Rocksdb,
    Lmdb,
    Redb,
    Fjall,
    Sqlite,
}

pub const ALL: [EngineKind; 8] = [
    EngineKind::TierdbBtree,
    EngineKind::TierdbLsm,
    EngineKind::TierdbMixed,
    EngineKind::Rocksdb,
    EngineKind::Lmdb,
    EngineKind::Redb,
    EngineKind::Fjall,
    EngineKind::Sqlite,
];

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::TierdbBtree => "tierdb-btree",
            EngineKind::TierdbLsm => "tierdb-lsm",
            EngineKind::TierdbMixed => "tierdb-mixed",
            EngineKind::Rocksdb => "rocksdb",
            EngineKind::Lmdb => "lmdb",
            EngineKind::Redb => "redb",
            EngineKind::Fjall => "fjall",
            EngineKind::Sqlite => "sqlite",
        }
    }

    pub fn is_tierdb(self) -> bool {
        matches!(
            self,
            EngineKind::TierdbBtree | EngineKind::TierdbLsm | EngineKind::TierdbMixed
        )
    }

    /// Whether this build has the engine (its cargo feature is on).
    pub fn available(self) -> bool {
        match self {
            EngineKind::TierdbBtree | EngineKind::TierdbLsm | EngineKind::TierdbMixed => true,
            EngineKind::Rocksdb => cfg!(feature = "rocksdb"),
            EngineKind::Lmdb => cfg!(feature = "lmdb"),
            EngineKind::Redb => cfg!(feature = "redb"),
            EngineKind::Fjall => cfg!(feature = "fjall"),
            EngineKind::Sqlite => cfg!(feature = "sqlite"),
        }
    }

    /// Opens (creating if missing) the engine's store in `dir`.
    pub fn open(self, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
        // Refused before anything is created on disk.
        if !self.available() {
            return Err(self.not_in_build());
        }
        std::fs::create_dir_all(dir)?;
        match self {
            EngineKind::TierdbBtree | EngineKind::TierdbLsm | EngineKind::TierdbMixed => {
                crate::engines::tierdb::open(self, dir, cfg)
            }
            #[cfg(feature = "rocksdb")]
            EngineKind::Rocksdb => crate::engines::rocksdb::open(dir, cfg),
            #[cfg(feature = "lmdb")]
            EngineKind::Lmdb => crate::engines::lmdb::open(dir, cfg),
            #[cfg(feature = "redb")]
            EngineKind::Redb => crate::engines::redb::open(dir, cfg),
            #[cfg(feature = "fjall")]
            EngineKind::Fjall => crate::engines::fjall::open(dir, cfg),
            #[cfg(feature = "sqlite")]
            EngineKind::Sqlite => crate::engines::sqlite::open(dir, cfg),
            #[allow(unreachable_patterns)]
            other => Err(other.not_in_build()),
        }
    }

    fn not_in_build(self) -> Error {
        format!(
            "engine {self} is not in this build: build with --features {}",
            self.feature()
        )
        .into()
    }

    /// The engine's settings, printed and recorded with its results.
    pub fn settings(self, cfg: &EngineConfig) -> String {
        let cache = format!("cache {} MiB", cfg.cache_bytes >> 20);
        let s = match self {
            EngineKind::TierdbBtree | EngineKind::TierdbLsm | EngineKind::TierdbMixed => {
                crate::engines::tierdb::settings(self, cfg)
            }
            EngineKind::Rocksdb => "block cache (LRU) = budget, no compression, WAL on; durable = WriteOptions::sync (group commit), else WAL written without sync".into(),
            EngineKind::Lmdb => "NO_SYNC env, durable = commit + mdb_env_sync; page cache is the OS's (mmap), no own cache, so the budget does not apply; map 64 GiB".into(),
            EngineKind::Redb => "cache = budget; durable = Durability::Immediate, else Durability::None (not written until a later durable commit)".into(),
            EngineKind::Fjall => "block cache = budget, no compression (lz4 feature off); durable = persist(SyncData), else persist(Buffer) (journal written to the OS)".into(),
            EngineKind::Sqlite => "bundled SQLite, WAL mode, table (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID; durable = synchronous=FULL, else NORMAL; page cache = budget per connection (one writer, readers pooled)".into(),
        };
        format!("{cache}; {s}")
    }

    fn feature(self) -> &'static str {
        match self {
            EngineKind::Lmdb => "lmdb",
            EngineKind::Sqlite => "sqlite",
            _ => self.name(),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<_> = ALL.iter().map(|k| k.name()).collect();
            format!("unknown engine {s:?}; known: {}", names.join(", "))
        })
    }
}

/// Parses `a,b,c` (or `all`: every engine in this build).
pub fn parse_list(s: &str) -> std::result::Result<Vec<EngineKind>, String> {
    if s == "all" {
        return Ok(ALL.into_iter().filter(|k| k.available()).collect());
    }
    s.split(',').map(|n| n.trim().parse()).collect()
}
