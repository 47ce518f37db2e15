//! `Db`: the handle services hold. Cheap to clone; clones share one database.

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use tierdb_cache::PageCache;
use tierdb_io::VfsLock;
use tierdb_tier::Seq;
use tierdb_wal::Wal;

use crate::background::Background;
use crate::commit_pipeline::{CommitRequest, CommitState};
use crate::iter::{Iter, owned_bounds, prefix_bounds};
use crate::layout::Layout;
use crate::manifest::Manifest;
use crate::snapshot::{range_iter, read_get};
use crate::version::Version;
use crate::write_batch::BatchOp;
use crate::{
    Durability, Error, Options, PartitionInfo, Result, Snapshot, Stats, Txn, TxnOptions, WriteBatch,
};

/// A database handle. `Clone + Send + Sync`: clones share one database (an
/// `Arc` inside). See the crate docs for an example.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<DbHandle>,
}

/// What every `Db` clone (and every snapshot, transaction and iterator,
/// through theirs) shares. When the last one goes, the database shuts down
/// at once: the background worker stops (finishing a running checkpoint),
/// buffered WAL records are written, and the lock is released — so the
/// directory can be reopened right after the last handle is dropped.
pub(crate) struct DbHandle {
    inner: Arc<DbInner>,
}

impl DbHandle {
    pub(crate) fn new(inner: Arc<DbInner>) -> Self {
        DbHandle { inner }
    }
}

impl std::ops::Deref for DbHandle {
    type Target = DbInner;

    fn deref(&self) -> &DbInner {
        &self.inner
    }
}

impl Drop for DbHandle {
    fn drop(&mut self) {
        let db = &self.inner;
        db.background.stop();
        if !db.closed.swap(true, Ordering::AcqRel) {
            // Not closed: nothing is lost (the WAL holds every commit), but
            // write out buffered records so a clean exit keeps them. Errors
            // are ignored: after a simulated crash every handle fails.
            let _ = db.wal.sync_all();
        }
        db.lock.lock().take();
    }
}

/// What a successful commit reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitInfo {
    /// The commit's sequence number (its place in the global commit order).
    /// A commit with no writes reports the sequence it read from.
    pub seq: u64,
    /// The durability it was committed with.
    pub durability: Durability,
}

/// What a completed checkpoint reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// Every commit up to this sequence is in the partitions' own files.
    pub seq: u64,
}

/// Counters of the database as a whole.
#[derive(Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub conflicts: AtomicU64,
    pub checkpoints: AtomicU64,
    pub checkpoint_seq: AtomicU64,
    /// `Wal::bytes_written` when the last checkpoint began: what was
    /// logged after it is what a reopen may have to replay.
    pub checkpoint_wal_mark: AtomicU64,
    pub background_errors: AtomicU64,
    pub stalls: crate::write_stall::StallCounters,
}

pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub opts: Options,
    pub wal: Arc<Wal>,
    pub cache: Arc<PageCache>,
    /// The manifest as last written (layout changes edit it).
    pub manifest: Mutex<Manifest>,
    pub version: ArcSwap<Version>,
    pub commit: Mutex<CommitState>,
    /// Snapshot sequences of live transactions, with counts.
    pub active_txns: Mutex<BTreeMap<Seq, usize>>,
    pub closed: AtomicBool,
    pub poison: Mutex<Option<String>>,
    pub checkpoint_lock: Mutex<()>,
    pub background: Background,
    pub auto_tier: Mutex<crate::auto_tier::AutoTierState>,
    pub lock: Mutex<Option<Box<dyn VfsLock>>>,
    pub counters: Counters,
    pub open_duration: Duration,
    pub open_replayed: u64,
}

impl Db {
    /// Opens the database in directory `path`, creating it if the directory
    /// is missing or empty. A non-empty directory that is not a tierdb
    /// database, or one that another handle or process has open, is refused
    /// and left untouched.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        crate::db_open::open(path.as_ref(), opts)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.check_open()?;
        let version = self.inner.version.load();
        read_get(&version, key.as_ref())
    }

    /// Sets `key` to `value` (a transaction of its own, default durability).
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<CommitInfo> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch)
    }

    /// Removes `key` (a transaction of its own).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<CommitInfo> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch)
    }

    /// Removes every key in `range` atomically.
    pub fn delete_range<'k>(&self, range: impl RangeBounds<&'k [u8]>) -> Result<CommitInfo> {
        let mut batch = WriteBatch::new();
        batch.delete_range(range);
        self.write(batch)
    }

    /// Applies `batch` atomically with the database's default durability.
    pub fn write(&self, batch: WriteBatch) -> Result<CommitInfo> {
        self.write_with(batch, self.inner.opts.durability)
    }

    /// Applies `batch` atomically with the given durability.
    pub fn write_with(&self, batch: WriteBatch, durability: Durability) -> Result<CommitInfo> {
        self.check_open()?;
        let mut req = CommitRequest::new(durability);
        for op in batch.ops {
            match op {
                BatchOp::Put(k, v) => req.put(k, v)?,
                BatchOp::Delete(k) => req.delete(k)?,
                BatchOp::DeleteRange(lo, hi) => req.delete_range(lo, hi)?,
            }
        }
        self.inner.commit(req)
    }

    /// The entries with keys in `range`, in key order (double-ended), as of
    /// now. Accepts any `RangeBounds<&[u8]>`: `..`, `a..`, `..b`, `a..=b`,
    /// `(Bound, Bound)`.
    pub fn range<'k>(&self, range: impl RangeBounds<&'k [u8]>) -> Result<Iter> {
        let (lo, hi) = owned_bounds(&range);
        range_iter(self, &self.inner.version.load(), lo, hi)
    }

    /// The entries whose keys start with `prefix`, in key order.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Iter> {
        let (lo, hi) = prefix_bounds(prefix.as_ref());
        range_iter(self, &self.inner.version.load(), lo, hi)
    }

    /// Starts a transaction with snapshot isolation and the default
    /// durability.
    pub fn begin(&self) -> Txn {
        self.begin_with(TxnOptions::default())
    }

    /// Starts a transaction with the given options.
    pub fn begin_with(&self, opts: TxnOptions) -> Txn {
        Txn::new(self.clone(), opts)
    }

    /// A consistent read view of the whole database as of now. Holding it
    /// keeps what it sees alive; it never blocks writers.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.clone(), self.inner.version.load_full())
    }

    /// Makes everything committed so far durable in the partitions' own
    /// files and trims the WAL. Runs alongside readers and writers.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        self.check_open()?;
        self.inner.checkpoint(false)
    }

    /// Compacts every partition overlapping `range` now, on this thread,
    /// after a checkpoint (so memtables are flushed first): an LSM partition
    /// merges its levels until none is over its target; a B+tree partition
    /// has nothing to compact. Reads and writes go on meanwhile.
    pub fn compact_range<'k>(&self, range: impl RangeBounds<&'k [u8]>) -> Result<()> {
        self.check_open()?;
        let (lo, hi) = owned_bounds(&range);
        self.inner.checkpoint(false)?;
        let layout = self.inner.layout();
        for i in layout.overlapping(&lo, &hi) {
            let p = &layout.partitions[i];
            p.store.compact().map_err(|e| self.inner.poison(e))?;
        }
        Ok(())
    }

    /// The partitions, in key order.
    pub fn partitions(&self) -> Vec<PartitionInfo> {
        self.inner.partition_infos()
    }

    /// Figures about the database.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Checkpoints, syncs and closes the database and releases its lock.
    /// Every later call on this handle, its clones, snapshots, transactions
    /// and iterators gives `Error::Closed`.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        self.inner.check_open()
    }
}

impl DbInner {
    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Refuses writes after an unrecoverable failure.
    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        match &*self.poison.lock() {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records an unrecoverable failure; returns the error to report.
    pub fn poison(&self, err: Error) -> Error {
        let mut poison = self.poison.lock();
        if poison.is_none() {
            *poison = Some(err.to_string());
        }
        err
    }

    /// The current partition layout.
    pub fn layout(&self) -> Arc<Layout> {
        self.version.load().layout.clone()
    }

    /// The oldest snapshot a live transaction reads from.
    pub fn oldest_live_txn(&self) -> Option<Seq> {
        self.active_txns.lock().keys().next().copied()
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::Closed);
        }
        self.background.stop();
        // Let a commit that passed its open check finish applying.
        drop(self.commit.lock());
        let result = if self.poison.lock().is_some() {
            Ok(())
        } else {
            self.checkpoint(false).map(|_| ())
        };
        let closed = self.wal.close();
        self.lock.lock().take();
        result.and(closed)
    }
}
