//! Online layout changes: split a partition at a key, merge two neighbours,
//! move a partition to the other tier.
//!
//! Each is one protocol: under the checkpoint lock (no persist runs) and the
//! commit lock (writers wait; readers go on with the versions they hold),
//! build each new partition — a new file, or LSM directory, named by a new
//! generation — from the current contents of its range, persist it at the
//! current sequence `S`, then switch the manifest (one atomic rename), then
//! publish a version with the new layout, then remove the replaced files.
//!
//! Crash safety, case by case:
//! - before the manifest switch: the manifest still names the old files,
//!   untouched; the new ones are unnamed and removed at the next open;
//! - after it: the new partitions hold everything up to `S` (persisted
//!   before the switch, after the WAL was made durable up to `S`), and WAL
//!   records above `S` are replayed into them by key; records at or below
//!   `S` that still name a replaced partition are skipped, because every
//!   rebuilt partition persisted past them; the old files are unnamed and
//!   removed at the next open if this change did not get to it.
//!
//! Writers wait for the copy: its cost grows with the size of the
//! partitions rebuilt (this version copies through one write set).

use std::ops::{Bound, Range};
use std::sync::Arc;

use tierdb_tier::WriteOp;

use crate::db::{Db, DbInner};
use crate::db_open::open_tier;
use crate::layout::{Layout, Partition};
use crate::manifest::{Manifest, PartitionEntry};
use crate::partition_files::remove_partition_file;
use crate::snapshot::read_range;
use crate::version::Version;
use crate::{Error, PartitionId, Result, Tier};

/// What a layout change replaces: a run of partitions (by index) and the
/// entries of the partitions that take their place, in key order, covering
/// exactly the same key range.
struct Plan {
    replaced: Range<usize>,
    entries: Vec<PartitionEntry>,
}

impl Db {
    /// Splits the partition holding `at` into two: the part below `at` keeps
    /// the partition's id, the part from `at` on becomes a new partition
    /// (same tier), whose id is returned. Crash-safe; reads go on during the
    /// split, writers wait for it.
    pub fn split_partition(&self, at: impl AsRef<[u8]>) -> Result<PartitionId> {
        self.check_open()?;
        let at = bytes::Bytes::copy_from_slice(at.as_ref());
        crate::limits::check_key(&at)?;
        let mut new_id = 0;
        self.inner.change_layout(|layout, manifest| {
            let i = layout.index(&at);
            let old = &layout.partitions[i].entry;
            if old.start == at {
                return Err(Error::InvalidArgument(format!(
                    "a partition already starts at {:?}",
                    String::from_utf8_lossy(&at)
                )));
            }
            new_id = manifest.next_partition_id;
            manifest.next_partition_id += 1;
            let left = PartitionEntry {
                generation: old.generation + 1,
                ..old.clone()
            };
            let right = PartitionEntry {
                id: new_id,
                start: at.clone(),
                generation: 0,
                ..old.clone()
            };
            Ok(Plan {
                replaced: i..i + 1,
                entries: vec![left, right],
            })
        })?;
        Ok(PartitionId(new_id))
    }

    /// Merges two neighbouring partitions into one, which keeps the id and
    /// the tier of the lower one; returns that id.
    pub fn merge_partitions(&self, a: PartitionId, b: PartitionId) -> Result<PartitionId> {
        self.check_open()?;
        let mut merged = a;
        self.inner.change_layout(|layout, _| {
            let (ia, ib) = (index_of(layout, a)?, index_of(layout, b)?);
            let lo = ia.min(ib);
            if ia.abs_diff(ib) != 1 {
                return Err(Error::InvalidArgument(format!(
                    "partitions {a} and {b} are not neighbours"
                )));
            }
            let first = &layout.partitions[lo].entry;
            merged = PartitionId(first.id);
            Ok(Plan {
                replaced: lo..lo + 2,
                entries: vec![PartitionEntry {
                    generation: first.generation + 1,
                    ..first.clone()
                }],
            })
        })?;
        Ok(merged)
    }

    /// Moves a partition to `tier` (B+tree ⇄ LSM), keeping its id and range.
    /// Nothing happens if it is already there.
    pub fn set_tier(&self, id: PartitionId, tier: Tier) -> Result<()> {
        self.check_open()?;
        let layout = self.inner.layout();
        if layout.partitions[index_of(&layout, id)?].entry.tier == tier {
            return Ok(());
        }
        self.inner.change_layout(|layout, _| {
            let i = index_of(layout, id)?;
            let old = &layout.partitions[i].entry;
            Ok(Plan {
                replaced: i..i + 1,
                entries: vec![PartitionEntry {
                    tier,
                    generation: old.generation + 1,
                    ..old.clone()
                }],
            })
        })
    }
}

fn index_of(layout: &Layout, id: PartitionId) -> Result<usize> {
    layout
        .index_of_id(id.0)
        .ok_or_else(|| Error::InvalidArgument(format!("no partition {id}")))
}

impl DbInner {
    /// Runs one layout change; see the module docs for the protocol.
    fn change_layout(
        &self,
        plan: impl FnOnce(&Layout, &mut Manifest) -> Result<Plan>,
    ) -> Result<()> {
        let _no_checkpoint = self.checkpoint_lock.lock();
        self.check_writable()?;
        let _no_commit = self.commit.lock();
        self.check_writable()?;
        let current = self.version.load_full();
        let mut manifest = self.manifest.lock().clone();
        let plan = plan(&current.layout, &mut manifest)?;
        let built = self.build_all(&plan, &current)?;
        manifest
            .partitions
            .splice(plan.replaced.clone(), plan.entries.iter().cloned());
        manifest
            .write(&*self.opts.vfs, &self.dir)
            .map_err(|e| self.poison(e))?;
        *self.manifest.lock() = manifest;
        self.publish_layout(&current, plan.replaced.clone(), &built);
        for old in &current.layout.partitions[plan.replaced] {
            let name = old.entry.file_name();
            // Best effort: an unnamed file is removed at the next open.
            let _ = remove_partition_file(&*self.opts.vfs, &self.dir.join(&name), &name);
        }
        Ok(())
    }

    /// Builds every new partition of `plan` from `current`.
    fn build_all(&self, plan: &Plan, current: &Version) -> Result<Vec<Arc<Partition>>> {
        let layout = &current.layout;
        let run_end = layout
            .end(plan.replaced.end - 1)
            .map_or(Bound::Unbounded, |e| Bound::Excluded(e.clone()));
        let mut built = Vec::with_capacity(plan.entries.len());
        for (k, entry) in plan.entries.iter().enumerate() {
            let hi = plan
                .entries
                .get(k + 1)
                .map_or(run_end.clone(), |n| Bound::Excluded(n.start.clone()));
            let lo = Bound::Included(entry.start.clone());
            built.push(self.build_partition(entry, current, lo, hi)?);
        }
        Ok(built)
    }

    /// A new partition holding `current`'s entries in `(lo, hi)`, persisted
    /// at `current.seq`.
    fn build_partition(
        &self,
        entry: &PartitionEntry,
        current: &Version,
        lo: Bound<bytes::Bytes>,
        hi: Bound<bytes::Bytes>,
    ) -> Result<Arc<Partition>> {
        let vfs = &self.opts.vfs;
        let name = entry.file_name();
        let path = self.dir.join(&name);
        if vfs.exists(&path)? {
            remove_partition_file(&**vfs, &path, &name)?;
        }
        let store = open_tier(&self.dir, entry, &self.cache, &self.opts)?;
        let mut ops = Vec::new();
        for item in read_range(current, lo, hi)? {
            let (key, value) = item?;
            ops.push(WriteOp::Put { key, value });
        }
        if current.seq > 0 {
            store.apply(current.seq, &ops)?;
            store.persist(&|s| self.wal.sync_to(s))?;
        }
        Ok(Arc::new(Partition::new(entry.clone(), store)))
    }

    /// Publishes a version whose layout has `built` in place of `replaced`.
    fn publish_layout(&self, current: &Version, replaced: Range<usize>, built: &[Arc<Partition>]) {
        let mut partitions = current.layout.partitions.clone();
        partitions.splice(replaced.clone(), built.iter().cloned());
        let mut views = current.views.clone();
        views.splice(replaced, built.iter().map(|p| p.store.read_view()));
        self.version.store(Arc::new(Version {
            seq: current.seq,
            layout: Arc::new(Layout { partitions }),
            views,
        }));
    }
}
