//! `LsmTier`: the LSM tree behind the `Tier` trait.
//!
//! Locks, each held briefly, always taken in this order:
//! - `durable`: the persist mutex (flush, compaction, `compact_all`); holds
//!   the durable manifest's sequence and the next table number.
//! - `writer`: serialises `apply` against a persist freezing the active
//!   memtable, so a frozen memtable never receives a half-applied write set.
//! - `state`: the published memtables, version and applied sequence.
//!   `read_view` clones them under it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tierdb_cache::PageCache;
use tierdb_io::{Error, Result, Vfs};
use tierdb_tier::{ReadView, Seq, Tier, TierStats, WriteOp};

use crate::entry::EntryKind;
use crate::memtable::Memtable;
use crate::options::LsmOptions;
use crate::recover::recover;
use crate::stats::LsmStats;
use crate::table::TableEnv;
use crate::user_iter::Sources;
use crate::version::Version;
use crate::view::LsmView;

/// What readers see: memtables, tables and the applied sequence.
pub(crate) struct Current {
    pub(crate) applied_seq: Seq,
    pub(crate) active: Arc<Memtable>,
    /// Full or flush-taken memtables, oldest first.
    pub(crate) frozen: Vec<Arc<Memtable>>,
    pub(crate) version: Arc<Version>,
}

/// The durable state, guarded by the persist mutex.
pub(crate) struct Durable {
    pub(crate) persisted_seq: Seq,
    pub(crate) next_table: u64,
    pub(crate) poisoned: Option<String>,
}

/// Counters since open.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) bytes_applied: AtomicU64,
    pub(crate) table_bytes_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) persists: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) compactions: AtomicU64,
}

/// An LSM tree in one directory: memtables, leveled SSTables and the
/// tier's own manifest (`LSM-MANIFEST`, see `docs/format/lsm-manifest.md`).
pub struct LsmTier {
    pub(crate) env: TableEnv,
    pub(crate) opts: LsmOptions,
    pub(crate) writer: Mutex<()>,
    pub(crate) state: Mutex<Current>,
    pub(crate) durable: Mutex<Durable>,
    pub(crate) counters: Counters,
    pub(crate) persisted_seq: AtomicU64,
}

impl std::fmt::Debug for LsmTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmTier")
            .field("dir", &self.env.dir)
            .finish_non_exhaustive()
    }
}

impl LsmTier {
    /// Opens (creating if needed) the tier in `dir`. Table `n` uses
    /// `file_id_base + n` as its key space in the shared cache. Files left
    /// by an interrupted flush or compaction are deleted.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        cache: Arc<PageCache>,
        file_id_base: u64,
        opts: LsmOptions,
    ) -> Result<LsmTier> {
        opts.validate()?;
        let env = TableEnv {
            vfs,
            dir: dir.to_path_buf(),
            cache,
            file_id_base,
        };
        let recovered = recover(&env)?;
        let seq = recovered.persisted_seq;
        Ok(LsmTier {
            env,
            opts,
            writer: Mutex::new(()),
            state: Mutex::new(Current {
                applied_seq: seq,
                active: Arc::new(Memtable::new()),
                frozen: Vec::new(),
                version: Arc::new(recovered.version),
            }),
            durable: Mutex::new(Durable {
                persisted_seq: seq,
                next_table: recovered.next_table,
                poisoned: None,
            }),
            counters: Counters::default(),
            persisted_seq: AtomicU64::new(seq),
        })
    }

    /// LSM-specific figures: write amplification, tables per level.
    pub fn lsm_stats(&self) -> LsmStats {
        let state = self.state.lock();
        let levels = &state.version.levels;
        let c = &self.counters;
        LsmStats {
            bytes_applied: c.bytes_applied.load(Ordering::Relaxed),
            table_bytes_written: c.table_bytes_written.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            tables_per_level: levels.iter().map(Vec::len).collect(),
            bytes_per_level: (0..levels.len())
                .map(|l| state.version.level_bytes(l))
                .collect(),
            memtables: state.frozen.len() + 1,
        }
    }

    fn apply_ops(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        let _writer = self.writer.lock();
        let (active, applied) = {
            let state = self.state.lock();
            (Arc::clone(&state.active), state.applied_seq)
        };
        if seq <= applied {
            return Err(Error::InvalidArgument(format!(
                "apply at sequence {seq}, already applied {applied}"
            )));
        }
        let mut bytes = 0u64;
        for op in ops {
            let (kind, value) = match op {
                WriteOp::Put { value, .. } => (EntryKind::Put, value.clone()),
                WriteOp::Delete { .. } => (EntryKind::Delete, bytes::Bytes::new()),
            };
            bytes += (op.key().len() + value.len()) as u64;
            active.insert(op.key().clone(), seq, kind, value);
        }
        self.counters
            .bytes_applied
            .fetch_add(bytes, Ordering::Relaxed);
        let mut state = self.state.lock();
        state.applied_seq = seq;
        if active.bytes() >= self.opts.memtable_bytes as u64 {
            freeze_active(&mut state);
        }
        Ok(())
    }

    fn view(&self) -> LsmView {
        let state = self.state.lock();
        let mut memtables = Vec::with_capacity(state.frozen.len() + 1);
        memtables.push(Arc::clone(&state.active));
        memtables.extend(state.frozen.iter().rev().cloned());
        LsmView {
            seq: state.applied_seq,
            sources: Sources {
                memtables: Arc::new(memtables),
                version: Arc::clone(&state.version),
            },
        }
    }

    fn tier_stats(&self) -> TierStats {
        let state = self.state.lock();
        let tables = state.version.all_tables();
        let (mut entries, mut misses) = (0u64, 0u64);
        for t in tables {
            entries += t.entries.saturating_sub(t.tombstones);
            misses += t.reader.stats().blocks_read;
        }
        let memtables = state.frozen.iter().chain(std::iter::once(&state.active));
        let (mut mem_entries, mut dirty) = (0u64, 0u64);
        for m in memtables {
            mem_entries += m.len() as u64;
            dirty += m.bytes();
        }
        TierStats {
            entries: entries + mem_entries,
            disk_bytes: state.version.disk_bytes(),
            bytes_written: self.counters.bytes_written.load(Ordering::Relaxed),
            dirty_bytes: dirty,
            cache_hits: 0,
            cache_misses: misses,
            persists: self.counters.persists.load(Ordering::Relaxed),
            persisted_seq: self.persisted_seq.load(Ordering::Acquire),
        }
    }
}

/// Moves the active memtable (if it holds anything) to the frozen list.
pub(crate) fn freeze_active(state: &mut Current) {
    if !state.active.is_empty() {
        let full = std::mem::replace(&mut state.active, Arc::new(Memtable::new()));
        state.frozen.push(full);
    }
}

impl Tier for LsmTier {
    fn apply(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        self.apply_ops(seq, ops)
    }

    fn read_view(&self) -> Arc<dyn ReadView> {
        Arc::new(self.view())
    }

    fn applied_seq(&self) -> Seq {
        self.state.lock().applied_seq
    }

    fn persist(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        self.persist_now(wal_durable_to)
    }

    fn persisted_seq(&self) -> Seq {
        self.persisted_seq.load(Ordering::Acquire)
    }

    /// `entries` is an estimate: versions (not keys) in memtables plus
    /// non-tombstone versions in tables, so overwritten keys count more
    /// than once until compaction merges them. `cache_hits` is not counted
    /// (the table reader reports only blocks read), `cache_misses` is the
    /// data blocks read by the tables currently live.
    fn stats(&self) -> TierStats {
        self.tier_stats()
    }
}
