//! `LsmTier`: the LSM tree behind the `Tier` trait.
//!
//! The tier owns its shared state (`inner.rs`) and, unless
//! `LsmOptions::background_compaction` is off, the compaction and flush
//! threads (`background.rs`), which are stopped and joined when the tier
//! is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tierdb_cache::PageCache;
use tierdb_io::{Result, Vfs};
use tierdb_tier::{Progress, ReadView, Seq, Tier, TierStats, WalDurableTo, WriteOp};

use crate::background::{Job, Wakeup, Worker};
use crate::inner::{Counters, Current, Durable, Inner};
use crate::manifest_writer::ManifestWriter;
use crate::memtable::Memtable;
use crate::options::LsmOptions;
use crate::rate_limiter::RateLimiter;
use crate::recover::recover;
use crate::stats::LsmStats;
use crate::table::TableEnv;

/// An LSM tree in one directory: memtables, leveled SSTables and the
/// tier's own manifest log (`LSM-CURRENT` naming `LSM-MANIFEST-NNNNNN`, see
/// `docs/format/lsm-manifest.md`).
pub struct LsmTier {
    inner: Arc<Inner>,
    /// The compactor and the flusher (none without background work).
    workers: Vec<Worker>,
}

impl std::fmt::Debug for LsmTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmTier")
            .field("dir", &self.inner.env.dir)
            .finish_non_exhaustive()
    }
}

impl LsmTier {
    /// Opens (creating if needed) the tier in `dir`. Table `n` uses
    /// `file_id_base + n` as its key space in the shared cache. Files left
    /// by an interrupted flush or compaction are deleted (tables by the
    /// compaction thread's first round when there is one, see
    /// `recover.rs`). Starts the compaction and flush threads unless
    /// `opts.background_compaction` is false.
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
        let background = opts.background_compaction;
        let memtable_bytes = opts.memtable_bytes;
        let recovered = recover(&env, background)?;
        let seq = recovered.persisted_seq;
        let manifest = ManifestWriter::new(recovered.manifest_number, opts.manifest_roll_bytes);
        let inner = Arc::new(Inner {
            env,
            limiter: opts.compaction_bytes_per_sec.map(RateLimiter::new),
            opts,
            compacting: Mutex::new(()),
            durable: Mutex::new(Durable {
                persisted_seq: seq,
                poisoned: None,
                manifest,
                compacting: Vec::new(),
            }),
            writer: Mutex::new(()),
            state: Mutex::new(Current {
                applied_seq: seq,
                active: Arc::new(Memtable::new(memtable_bytes)),
                frozen: Vec::new(),
                version: Arc::new(recovered.version),
            }),
            counters: Counters::default(),
            persisted_seq: AtomicU64::new(seq),
            next_table: AtomicU64::new(recovered.next_table),
            cancel: AtomicBool::new(false),
            wakeup: Arc::new(Wakeup::default()),
            flush_wakeup: Arc::new(Wakeup::default()),
            wal_durable_to: OnceLock::new(),
            flusher_failed: AtomicBool::new(false),
            garbage_tables: Mutex::new(recovered.garbage_tables),
            progress: Progress::default(),
            reads: Arc::default(),
        });
        let mut workers = Vec::new();
        if background {
            workers.push(Worker::spawn(&inner, Job::Compact)?);
            workers.push(Worker::spawn(&inner, Job::Flush)?);
            inner.wakeup.wake();
        }
        Ok(LsmTier { inner, workers })
    }

    /// LSM-specific figures: write amplification, tables per level,
    /// compaction work and debt, write stalls and slowdowns.
    pub fn lsm_stats(&self) -> LsmStats {
        self.inner.lsm_stats()
    }

    /// Compacts synchronously: merges every table into the deepest
    /// non-empty level (at least L1), dropping shadowed versions and
    /// tombstones, then compacts until no level is over its target.
    /// Memtables are not flushed (that is `persist`'s job). Waits for a
    /// background compaction in progress, and excludes others meanwhile.
    pub fn compact_all(&self) -> Result<()> {
        self.inner.compact_all()
    }
}

impl Drop for LsmTier {
    fn drop(&mut self) {
        self.inner.cancel.store(true, Ordering::Release);
        for worker in self.workers.drain(..) {
            worker.stop();
        }
    }
}

impl Tier for LsmTier {
    /// May wait when L0 is over `l0_stop_tables` (at most `stall_timeout`)
    /// or sleep 1 ms when over `l0_slowdown_tables`; see `stall.rs`.
    fn apply(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        self.inner.apply_ops(seq, ops)
    }

    /// The sets become one sorted run, a frozen memtable the flusher
    /// writes out (`replay_apply.rs`); no throttling: the open must not
    /// wait on a compaction.
    fn apply_recovered(&self, sets: &[(Seq, Vec<WriteOp>)]) -> Result<()> {
        self.inner.apply_recovered_sets(sets)
    }

    /// A memtable's worth: each call makes one frozen memtable (one L0
    /// table once flushed); the decoded writes of a run are held twice
    /// (decoded and in the run) until it is applied.
    fn recovery_run_bytes(&self) -> usize {
        self.inner.opts.memtable_bytes
    }

    fn read_view(&self) -> Arc<dyn ReadView> {
        Arc::new(self.inner.view())
    }

    fn applied_seq(&self) -> Seq {
        self.inner.state.lock().applied_seq
    }

    /// Flushes and installs one L0 table, then wakes the compactor (or,
    /// without a background thread, compacts on this thread).
    fn persist(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        self.inner.persist_now(wal_durable_to)
    }

    /// Starts flushing frozen memtables on the flusher thread (if the
    /// tier has background threads); see `background_flush.rs`.
    fn persist_in_background(&self, wal_durable_to: WalDurableTo) {
        if self.inner.wal_durable_to.set(wal_durable_to).is_ok() {
            self.inner.flush_wakeup.wake();
        }
    }

    fn persisted_seq(&self) -> Seq {
        self.inner.persisted_seq.load(Ordering::Acquire)
    }

    /// `entries` is an estimate: versions (not keys) in memtables plus
    /// non-tombstone versions in tables, so overwritten keys count more
    /// than once until compaction merges them. `cache_hits` and
    /// `cache_misses` count the data-block lookups of the tables currently
    /// live (compaction reads included) served by the cache and by the file.
    /// `gets`/`get_blocks` count point reads and the data blocks (and index
    /// partitions read from the file before being pinned) they fetched; `live_bytes` is the file bytes of a set
    /// of tables with disjoint key ranges, taken greedily from the deepest
    /// level up, within L0 largest first (after RocksDB's
    /// `EstimateLiveDataSize`): exact once
    /// everything is compacted into one level, an undercount (so space
    /// amplification is overstated) while upper levels overlap.
    fn stats(&self) -> TierStats {
        self.inner.tier_stats()
    }

    fn dirty_bytes(&self) -> u64 {
        self.inner.memtable_bytes()
    }

    fn compact(&self) -> Result<()> {
        self.compact_all()
    }
}
