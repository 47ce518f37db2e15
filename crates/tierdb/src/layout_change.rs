//! Online layout changes: split a partition at a key, merge two neighbours,
//! move a partition to the other tier.
//!
//! Each is one protocol, run under the checkpoint lock (no persist runs,
//! so no WAL segment is released, and no other layout change):
//! 1. under the commit lock, take the latest version `B` (sequence `S₀`),
//!    plan the change, and start capturing every write routed to a
//!    partition about to be replaced (`write_capture.rs`);
//! 2. without the commit lock — readers and writers go on, writes landing
//!    in the old partitions — build each new partition (a new file, or LSM
//!    directory, named by a new generation) from `B`'s contents of its
//!    range, and persist it at `S₀`;
//! 3. under the commit lock again (writers wait, for this step only):
//!    re-apply the captured writes (sequences above `S₀`) to the new
//!    partitions, switch the manifest (one atomic rename), publish a
//!    version with the new layout, then remove the replaced files.
//!
//! Writers wait only for step 3, whose cost is the writes made during the
//! copy, not the size of the partitions; the captured writes are held in
//! memory until then.
//!
//! Crash safety, case by case:
//! - before the manifest switch: the manifest still names the old files,
//!   untouched (nothing persists them during the change, and they already
//!   hold everything below their persisted sequences); the new ones are
//!   unnamed and removed at the next open;
//! - after it: the new partitions hold everything up to `S₀` (persisted
//!   before the switch, after the WAL was made durable up to `S₀`), and WAL
//!   records above `S₀` — still in the log, since no checkpoint released
//!   them — are replayed into them by key; records at or below `S₀` that
//!   still name a replaced partition are skipped, because every rebuilt
//!   partition persisted past them; the old files are unnamed and removed
//!   at the next open if this change did not get to it.

use std::ops::{Bound, Range};
use std::sync::Arc;

use tierdb_tier::{Seq, WriteOp};

use crate::commit_record::PartitionWrite;
use crate::db::{Db, DbInner};
use crate::db_open::{open_tier, wal_durable_to};
use crate::layout::{Layout, Partition};
use crate::manifest::{Manifest, PartitionEntry};
use crate::partition_files::remove_partition_file;
use crate::snapshot::read_range;
use crate::version::Version;
use crate::write_capture::WriteCapture;
use crate::{Error, PartitionId, Result, Tier};

/// Catch-up rounds run without the commit lock before the final one.
const CATCH_UP_ROUNDS: usize = 8;
/// A round that finds at most this many commits to catch up on ends the
/// lock-free rounds: the rest is caught up under the commit lock.
const FINAL_CATCH_UP_COMMITS: usize = 1024;

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
    /// (same tier), whose id is returned. Crash-safe; reads and writes go on
    /// during the split (writers wait only for its final switch).
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
        self.inner.set_tier(id, tier)
    }
}

impl DbInner {
    /// `Db::set_tier`, for the auto-tiering worker too.
    pub(crate) fn set_tier(&self, id: PartitionId, tier: Tier) -> Result<()> {
        let layout = self.layout();
        if layout.partitions[index_of(&layout, id)?].entry.tier == tier {
            return Ok(());
        }
        self.change_layout(|layout, _| {
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
        // 1. Plan against the latest version and start capturing the writes
        //    that go to the partitions about to be replaced.
        let (base, mut manifest, plan) = {
            let mut state = self.commit.lock();
            self.check_writable()?;
            let base = self.version.load_full();
            let mut manifest = self.manifest.lock().clone();
            let plan = plan(&base.layout, &mut manifest)?;
            let ids = base.layout.partitions[plan.replaced.clone()]
                .iter()
                .map(|p| p.entry.id)
                .collect();
            state.capture = Some(WriteCapture::new(ids));
            (base, manifest, plan)
        };
        let _stop_capture = StopCapture(self);
        // 2. Copy, while commits go on into the old partitions, then catch
        //    up on their writes in rounds, still without the commit lock.
        //    (Only layout changes change the layout, and they are serialised
        //    by the checkpoint lock, so `base`'s layout is still current.)
        let built = self.build_all(&plan, &base)?;
        let layout = spliced(&base.layout, &plan, &built);
        for _ in 0..CATCH_UP_ROUNDS {
            let commits = self.take_captured();
            catch_up(&layout, &commits)?;
            if commits.len() <= FINAL_CATCH_UP_COMMITS {
                break;
            }
        }
        // 3. Catch up on the rest, switch and publish, writers held back.
        let state = &mut *self.commit.lock();
        self.check_writable()?;
        let commits = state.capture.take().map_or_else(Vec::new, |mut c| c.take());
        let current = self.version.load_full();
        catch_up(&layout, &commits)?;
        manifest
            .partitions
            .splice(plan.replaced.clone(), plan.entries.iter().cloned());
        manifest
            .write(&*self.opts.vfs, &self.dir)
            .map_err(|e| self.poison(e))?;
        *self.manifest.lock() = manifest;
        let mut views = current.views.clone();
        views.splice(
            plan.replaced.clone(),
            built.iter().map(|p| p.store.read_view()),
        );
        self.version.store(Arc::new(Version {
            seq: current.seq,
            layout,
            views,
        }));
        for old in &current.layout.partitions[plan.replaced] {
            let name = old.entry.file_name();
            // Best effort: an unnamed file is removed at the next open.
            let _ = remove_partition_file(&*self.opts.vfs, &self.dir.join(&name), &name);
        }
        Ok(())
    }

    /// The commits captured since the last call.
    fn take_captured(&self) -> Vec<(Seq, Vec<PartitionWrite>)> {
        let mut state = self.commit.lock();
        state.capture.as_mut().map_or_else(Vec::new, |c| c.take())
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
        store.persist_in_background(wal_durable_to(&self.wal));
        let mut ops = Vec::new();
        for item in read_range(current, lo, hi)? {
            let (key, value) = item?;
            ops.push(WriteOp::Put { key, value });
        }
        if current.seq > 0 {
            store.apply(current.seq, &ops)?;
            store.persist(&|s| self.wal.sync_to_in_background(s))?;
        }
        Ok(Arc::new(Partition::new(entry.clone(), store)))
    }
}

/// `layout` with `built` in place of the partitions `plan` replaces.
fn spliced(layout: &Layout, plan: &Plan, built: &[Arc<Partition>]) -> Arc<Layout> {
    let mut partitions = layout.partitions.clone();
    partitions.splice(plan.replaced.clone(), built.iter().cloned());
    Arc::new(Layout { partitions })
}

/// Applies captured commits to the partitions of `layout` their keys fall
/// in (all of them new partitions: the capture holds only writes to the
/// replaced ones, which covered the same key range). The commits' writes
/// go in as one apply per partition, in commit order, at the last commit's
/// sequence: the new partitions are read by no one before the switch, and
/// every version published after it is at or above that sequence, so the
/// intermediate sequences are never asked for — and one apply costs a
/// B+tree one path copy instead of one per commit.
fn catch_up(layout: &Layout, commits: &[(Seq, Vec<PartitionWrite>)]) -> Result<()> {
    let Some((last, _)) = commits.last() else {
        return Ok(());
    };
    let writes = commits
        .iter()
        .flat_map(|(_, writes)| writes.iter().map(|w| &w.op));
    for (i, ops) in layout.route(writes) {
        layout.partitions[i].store.apply(*last, &ops)?;
    }
    Ok(())
}

/// Ends a layout change's write capture however the change ends. Dropped
/// after the change releases the commit lock, so taking it here is safe.
struct StopCapture<'a>(&'a DbInner);

impl Drop for StopCapture<'_> {
    fn drop(&mut self) {
        self.0.commit.lock().capture = None;
    }
}
