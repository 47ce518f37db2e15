//! `BTreeTier`: the B+tree behind the `Tier` trait.
//!
//! Locks, each held only briefly:
//! - `writer`: serialises `apply` and the post-checkpoint swizzle (the only
//!   two things that replace the current root).
//! - `tree`: the published root, its sequence, entry count and height.
//!   Readers and the checkpoint clone them under it.
//! - `overlay`: the recovery overlay (writes replayed at open, not yet
//!   folded into the tree; see `overlay`). Taken inside `tree`; changed only
//!   by replay and by the fold, both under `writer`.
//! - `space`: free space and the view registry. Taken inside `tree` when a
//!   view registers or a write set publishes its frees, so a page freed at
//!   `F` is never seen free by a checkpoint while a view older than `F` is
//!   unregistered.
//! - `checkpoint`: the persist mutex; holds the durable header.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tierdb_cache::PageCache;
use tierdb_io::{Error, Result, Vfs};
use tierdb_tier::{ReadView, Seq, Tier, TierStats, WriteOp};

use crate::checkpoint::{Committed, Snapshot, write_checkpoint};
use crate::header::Header;
use crate::mutate::Mutation;
use crate::node::{Child, Node};
use crate::open::open_file;
use crate::options::BTreeOptions;
use crate::overlay::Overlay;
use crate::space::{PageRun, Space};
use crate::store::Store;
use crate::swizzle::swizzle;
use crate::verify::VerifyReport;
use crate::view::{BTreeView, ViewPin};

/// The durable state and the persist mutex.
struct Durable {
    header: Header,
    poisoned: Option<String>,
}

/// What one write set freed and dirtied.
struct Changes {
    freed: Vec<PageRun>,
    dirty_bytes: u64,
}

/// A B+tree tier over one file. See the crate documentation.
pub struct BTreeTier {
    store: Arc<Store>,
    writer: Mutex<()>,
    tree: Mutex<Snapshot>,
    /// Writes replayed at open and not yet folded into `tree` (see
    /// `overlay`). Locked inside `tree`; set only while opening, cleared by
    /// the fold.
    overlay: Mutex<Option<Arc<Overlay>>>,
    space: Arc<Mutex<Space>>,
    checkpoint: Mutex<Durable>,
    dirty_bytes: AtomicU64,
    persists: AtomicU64,
    persisted_seq: AtomicU64,
}

impl std::fmt::Debug for BTreeTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BTreeTier")
            .field("path", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl BTreeTier {
    /// Opens the tier's single file at `path` (creating it if missing or
    /// empty). `file_id` is its key space in the shared cache. An existing
    /// file keeps its own page size; `opts.page_size` applies to new files
    /// (and must be valid either way: `Error::InvalidArgument`).
    pub fn open(
        vfs: Arc<dyn Vfs>,
        path: &Path,
        cache: Arc<PageCache>,
        file_id: u64,
        opts: BTreeOptions,
    ) -> Result<BTreeTier> {
        cache.remove_file(file_id);
        let opened = open_file(&*vfs, path, cache, file_id, &opts)?;
        let header = opened.header;
        let mut space = Space::new(
            header.total_pages,
            &opened.free_list.runs,
            header.checkpoint_seq,
            header.generation,
        );
        for page in &opened.free_list.list_pages {
            space.free_after_generation(
                PageRun {
                    start: *page,
                    count: 1,
                },
                header.generation + 1,
            );
        }
        let store = Arc::new(opened.store);
        let root = match header.root {
            Some(disk) => {
                store.load_node(disk)?;
                Child::Disk(disk)
            }
            None => Child::Mem(Arc::new(Node::empty_leaf())),
        };
        let snapshot = Snapshot {
            root,
            seq: header.checkpoint_seq,
            entries: header.entries,
            height: header.height,
        };
        Ok(BTreeTier {
            store,
            writer: Mutex::new(()),
            tree: Mutex::new(snapshot),
            overlay: Mutex::new(None),
            space: Arc::new(Mutex::new(space)),
            checkpoint: Mutex::new(Durable {
                header,
                poisoned: None,
            }),
            dirty_bytes: AtomicU64::new(0),
            persists: AtomicU64::new(0),
            persisted_seq: AtomicU64::new(header.checkpoint_seq),
        })
    }

    /// Bytes of modified pages (and of large values bound for overflow runs)
    /// held in memory since the last checkpoint. Estimated between
    /// checkpoints, recomputed exactly by each one.
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes.load(Ordering::Relaxed)
    }

    /// Checks the durable checkpoint on disk (see [`VerifyReport`]): every
    /// checksum, key order and separator, and that every page of the file is
    /// reachable or free exactly once. Waits for a running persist.
    pub fn verify(&self) -> Result<VerifyReport> {
        let durable = self.checkpoint.lock();
        crate::verify::verify(&self.store, &durable.header)
    }

    /// Pages free for reuse now and pages waiting for a checkpoint or a view
    /// (for tests and diagnostics).
    #[doc(hidden)]
    pub fn free_page_counts(&self) -> (u64, u64) {
        let space = self.space.lock();
        (space.free_pages(), space.pending_pages())
    }

    fn apply_ops(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        let _writer = self.writer.lock();
        self.fold_overlay()?;
        let mut next = self.tree.lock().clone();
        let changes = self.mutate(&mut next, seq, ops)?;
        let mut tree = self.tree.lock();
        *tree = next;
        self.publish(&mut tree, seq, changes);
        Ok(())
    }

    /// `apply` while the database opens: the write set goes into the
    /// overlay (no page read, no path copy).
    fn apply_recovered_to_overlay(&self, sets: &[(Seq, Vec<WriteOp>)]) -> Result<()> {
        let _writer = self.writer.lock();
        let tree = self.tree.lock();
        let mut overlay = self.overlay.lock();
        let mut applied = overlay.as_ref().map_or(tree.seq, |o| o.seq);
        for (seq, _) in sets {
            if *seq <= applied {
                return Err(Error::InvalidArgument(format!(
                    "apply at sequence {seq}, already applied {applied}"
                )));
            }
            applied = *seq;
        }
        if sets.is_empty() {
            return Ok(());
        }
        let overlay = Arc::make_mut(overlay.get_or_insert_default());
        let before = overlay.bytes;
        for (seq, ops) in sets {
            overlay.add(*seq, ops);
        }
        self.dirty_bytes
            .fetch_add(overlay.bytes - before, Ordering::Relaxed);
        Ok(())
    }

    /// Folds the recovery overlay, if any, into the tree: one mutation in
    /// key order (range deletes first: every write left in the overlay is
    /// newer than the ranges covering it), published at the overlay's
    /// sequence. Views taken before keep the old root and the overlay; they
    /// pinned the tree's older sequence, so the pages the fold frees stay
    /// readable for them. The caller holds `writer`.
    fn fold_overlay(&self) -> Result<()> {
        let Some(overlay) = self.overlay.lock().clone() else {
            return Ok(());
        };
        let mut ops: Vec<WriteOp> = overlay
            .range_deletes
            .iter()
            .map(|(start, end)| WriteOp::DeleteRange {
                start: start.clone(),
                end: end.clone(),
            })
            .collect();
        ops.extend(overlay.entries.iter().map(|(key, write)| match write {
            Some(value) => WriteOp::Put {
                key: key.clone(),
                value: value.clone(),
            },
            None => WriteOp::Delete { key: key.clone() },
        }));
        let mut next = self.tree.lock().clone();
        let changes = self.mutate(&mut next, overlay.seq, &ops)?;
        let mut tree = self.tree.lock();
        *tree = next;
        *self.overlay.lock() = None;
        self.dirty_bytes
            .fetch_sub(overlay.bytes.min(self.dirty_bytes()), Ordering::Relaxed);
        self.publish(&mut tree, overlay.seq, changes);
        Ok(())
    }

    /// Folds the recovery overlay into the tree now, if there is one
    /// (otherwise the next `apply` or `persist` does).
    pub fn fold_recovered(&self) -> Result<()> {
        let _writer = self.writer.lock();
        self.fold_overlay()
    }

    /// Applies `ops` at `seq` to `tree` (path copying whatever it shares
    /// with others) and returns what the write set freed and dirtied.
    fn mutate(&self, tree: &mut Snapshot, seq: Seq, ops: &[WriteOp]) -> Result<Changes> {
        if seq <= tree.seq {
            return Err(Error::InvalidArgument(format!(
                "apply at sequence {seq}, already applied {}",
                tree.seq
            )));
        }
        let mut mutation = Mutation::new(&self.store, tree.height);
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    mutation.put(&mut tree.root, key.clone(), value.clone())?
                }
                WriteOp::Delete { key } => mutation.delete(&mut tree.root, key)?,
                WriteOp::DeleteRange { start, end } => {
                    mutation.delete_range(&mut tree.root, start, end.as_deref())?
                }
            }
        }
        tree.seq = seq;
        tree.height = mutation.height;
        tree.entries = tree.entries.saturating_add_signed(mutation.entries_delta);
        Ok(Changes {
            freed: mutation.freed,
            dirty_bytes: mutation.dirty_bytes,
        })
    }

    /// Registers a published write set's frees (under the `tree` lock, see
    /// the module documentation) and its dirty bytes.
    fn publish(&self, _tree: &mut Snapshot, seq: Seq, changes: Changes) {
        let mut space = self.space.lock();
        for run in changes.freed {
            space.free_after_seq(run, seq);
        }
        drop(space);
        self.dirty_bytes
            .fetch_add(changes.dirty_bytes, Ordering::Relaxed);
    }

    fn persist_now(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        let mut durable = self.checkpoint.lock();
        if let Some(reason) = &durable.poisoned {
            return Err(Error::Poisoned {
                reason: reason.clone(),
            });
        }
        self.fold_recovered()?;
        let snapshot = self.tree.lock().clone();
        if matches!(snapshot.root, Child::Disk(_)) && snapshot.seq == durable.header.checkpoint_seq
        {
            return Ok(snapshot.seq);
        }
        wal_durable_to(snapshot.seq)?;
        let committed = match write_checkpoint(&self.store, &self.space, &durable.header, &snapshot)
        {
            Ok(committed) => committed,
            Err(e) => {
                durable.poisoned = Some(format!("checkpoint failed: {e}"));
                return Err(e);
            }
        };
        durable.header = committed.header;
        self.finish_checkpoint(committed);
        Ok(durable.header.checkpoint_seq)
    }

    /// Releases what the previous checkpoint held and swizzles the current
    /// tree.
    fn finish_checkpoint(&self, committed: Committed) {
        let header = committed.header;
        {
            let mut space = self.space.lock();
            space.set_durable(header.checkpoint_seq, header.generation);
            for page in &committed.list_pages {
                space.free_after_generation(
                    PageRun {
                        start: *page,
                        count: 1,
                    },
                    header.generation + 1,
                );
            }
        }
        let _writer = self.writer.lock();
        let mut root = self.tree.lock().root.clone();
        let swizzled = swizzle(&mut root, &committed.written);
        self.tree.lock().root = root;
        drop(committed);
        let mut space = self.space.lock();
        for run in swizzled.orphans {
            space.free_after_generation(run, header.generation + 1);
        }
        space.promote();
        drop(space);
        self.dirty_bytes
            .store(swizzled.dirty_bytes, Ordering::Relaxed);
        self.persists.fetch_add(1, Ordering::Relaxed);
        self.persisted_seq
            .store(header.checkpoint_seq, Ordering::Release);
    }
}

impl Tier for BTreeTier {
    fn apply(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        self.apply_ops(seq, ops)
    }

    fn apply_recovered(&self, sets: &[(Seq, Vec<WriteOp>)]) -> Result<()> {
        self.apply_recovered_to_overlay(sets)
    }

    fn finish_recovery(&self) -> Result<()> {
        self.fold_recovered()
    }

    fn read_view(&self) -> Arc<dyn ReadView> {
        let tree = self.tree.lock();
        let overlay = self.overlay.lock().clone();
        // Pinned at the tree's own sequence, which is below the overlay's:
        // pages the fold frees stay readable for this view.
        let pin = ViewPin::register(&self.space, &mut self.space.lock(), tree.seq);
        Arc::new(BTreeView {
            seq: overlay.as_ref().map_or(tree.seq, |o| o.seq),
            root: tree.root.clone(),
            overlay,
            store: Arc::clone(&self.store),
            pin: Arc::new(pin),
            loaded_root: OnceLock::new(),
        })
    }

    fn applied_seq(&self) -> Seq {
        let tree = self.tree.lock();
        let overlay = self.overlay.lock();
        overlay.as_ref().map_or(tree.seq, |o| o.seq)
    }

    fn persist(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        self.persist_now(wal_durable_to)
    }

    fn persisted_seq(&self) -> Seq {
        self.persisted_seq.load(Ordering::Acquire)
    }

    fn dirty_bytes(&self) -> u64 {
        BTreeTier::dirty_bytes(self)
    }

    /// `gets`/`get_blocks`: point reads and the on-disk pages they loaded
    /// (the nodes on the root-to-leaf path read through the cache, plus one
    /// per overflow value); nodes changed since the last checkpoint live in
    /// memory and cost nothing. `live_bytes`: the file minus its free pages
    /// and the pages waiting to become free (freed by a checkpoint, still
    /// readable by an older view), so space amplification shows free space
    /// the file has not returned; how full pages are is not counted. The
    /// B+tree has no bloom filters and no compaction: those figures stay 0.
    fn stats(&self) -> TierStats {
        let (cache_hits, cache_misses, bytes_written) = self.store.counters();
        let meta_bytes_written = self.store.meta_bytes_written();
        let (gets, get_blocks) = self.store.get_counters();
        let disk_bytes = self.store.file_len().unwrap_or(0);
        let (free, pending) = self.free_page_counts();
        let page_bytes = self.store.layout().page_size as u64;
        let garbage = (free + pending).saturating_mul(page_bytes);
        TierStats {
            entries: self.tree.lock().entries,
            disk_bytes,
            bytes_written,
            persist_bytes_written: bytes_written.saturating_sub(meta_bytes_written),
            metadata_bytes_written: meta_bytes_written,
            dirty_bytes: self.dirty_bytes(),
            cache_hits,
            cache_misses,
            persists: self.persists.load(Ordering::Relaxed),
            persisted_seq: self.persisted_seq(),
            gets,
            get_blocks,
            live_bytes: disk_bytes.saturating_sub(garbage),
            ..TierStats::default()
        }
    }
}
