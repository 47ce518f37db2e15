//! The commit pipeline. Under one short lock: validate (conflict check),
//! take the next sequence, append the WAL record (to memory), apply the write
//! set to the tiers (in memory) and publish the new version. Then, outside
//! the lock, wait for the durability asked for — concurrent `Sync` commits
//! share one write and one fdatasync (group commit, in the WAL).
//!
//! Readers see a commit as soon as it is published, possibly before its
//! record is durable. That never breaks the prefix property: records reach
//! the log in sequence order, so a durable commit implies every earlier one
//! is durable too.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tierdb_tier::{Seq, WriteOp};

use crate::commit_record::{self, PartitionWrite};
use crate::conflict_tracker::{ConflictCheck, ConflictTracker};
use crate::db::{CommitInfo, DbInner};
use crate::limits::{check_commit_bytes, check_key, check_value};
use crate::range_delete;
use crate::version::Version;
use crate::write_capture::WriteCapture;
use crate::{Durability, Result};

/// Volatile records buffered beyond this many bytes are written out, so the
/// WAL's memory stays bounded.
const VOLATILE_BUFFER_BYTES: u64 = 16 << 20;

/// State owned by the commit lock.
pub(crate) struct CommitState {
    /// Sequence the next commit gets.
    pub next_seq: Seq,
    pub conflicts: ConflictTracker,
    /// Set while a layout change copies partitions: the writes it must
    /// catch up on.
    pub capture: Option<WriteCapture>,
}

/// One step of a write set, in order. Routed to partitions only under the
/// commit lock, with the layout current then.
enum Step {
    Write(WriteOp),
    /// `[start, end)`, not yet cut at partition boundaries.
    DeleteRange(Bytes, Option<Bytes>),
}

/// A write set on its way to commit.
pub(crate) struct CommitRequest {
    steps: Vec<Step>,
    bytes: usize,
    pub check: Option<ConflictCheck>,
    pub durability: Durability,
}

impl CommitRequest {
    pub fn new(durability: Durability) -> Self {
        CommitRequest {
            steps: Vec::new(),
            bytes: 0,
            check: None,
            durability,
        }
    }

    pub fn put(&mut self, key: Bytes, value: Bytes) -> Result<()> {
        check_key(&key)?;
        check_value(&value)?;
        self.bytes += key.len() + value.len();
        check_commit_bytes(self.bytes)?;
        self.steps.push(Step::Write(WriteOp::Put { key, value }));
        Ok(())
    }

    pub fn delete(&mut self, key: Bytes) -> Result<()> {
        check_key(&key)?;
        self.bytes += key.len();
        check_commit_bytes(self.bytes)?;
        self.steps.push(Step::Write(WriteOp::Delete { key }));
        Ok(())
    }

    /// Deletes every key in `(lo, hi)`: one op per partition the range
    /// meets, whatever the number of keys in it.
    pub fn delete_range(&mut self, lo: Bound<Bytes>, hi: Bound<Bytes>) -> Result<()> {
        let Some((start, end)) = range_delete::half_open(&lo, &hi) else {
            return Ok(());
        };
        self.bytes += start.len() + end.as_ref().map_or(0, |e| e.len());
        check_commit_bytes(self.bytes)?;
        self.steps.push(Step::DeleteRange(start, end));
        Ok(())
    }
}

impl DbInner {
    /// Commits `req`; see the module docs for the steps.
    pub fn commit(&self, req: CommitRequest) -> Result<CommitInfo> {
        self.check_writable()?;
        self.throttle_writes();
        let durability = req.durability;
        let seq = {
            let mut state = self.commit.lock();
            self.check_writable()?;
            let current = self.version.load_full();
            let writes = route(req.steps, &current);
            if writes.is_empty() {
                // Nothing to write (an empty batch), but the state it saw
                // must be as durable as asked: a Sync commit after a
                // Buffered delete must not let the key come back after a
                // crash.
                drop(state);
                self.wait_durable(current.seq, durability)?;
                return Ok(CommitInfo {
                    seq: current.seq,
                    durability,
                });
            }
            if let Some(check) = &req.check {
                state.conflicts.check(check, writes.iter().map(|w| &w.op))?;
            }
            let seq = state.next_seq;
            let writes = self.log_and_apply(seq, writes, &current)?;
            state.next_seq = seq + 1;
            self.track_conflicts(&mut state.conflicts, seq, &writes);
            if let Some(capture) = &mut state.capture {
                capture.record(seq, &writes);
            }
            seq
        };
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.wait_durable(seq, durability)?;
        if self.wal_over_bound() {
            self.background.wake();
        }
        Ok(CommitInfo { seq, durability })
    }

    /// Remembers the commit's keys for the conflict checks of transactions
    /// that began before it. With no transaction live there is nothing to
    /// remember: one that begins later reads a version containing this
    /// commit (it was published above, and a transaction takes its snapshot
    /// and registers under one lock), so it can never conflict with it.
    fn track_conflicts(&self, tracker: &mut ConflictTracker, seq: Seq, writes: &[PartitionWrite]) {
        let oldest = self.oldest_live_txn();
        if oldest.is_none() {
            tracker.trim(None);
            return;
        }
        tracker.record(seq, writes.iter().map(|w| &w.op));
        if tracker.wants_trim() {
            tracker.trim(oldest);
        }
    }

    /// Appends the record, applies it to the tiers and publishes the new
    /// version. Any failure past the append poisons the database: memory
    /// and log might disagree, so no further write is allowed. The ops are
    /// moved into one group per partition for the tiers and handed back
    /// (grouped by partition, each group in commit order) for the conflict
    /// tracker and a layout change's capture: cloning them cost every key
    /// and value of a write set a shared-buffer allocation and its free.
    fn log_and_apply(
        &self,
        seq: Seq,
        writes: Vec<PartitionWrite>,
        current: &Version,
    ) -> Result<Vec<PartitionWrite>> {
        let payload = commit_record::encode(&writes);
        self.wal.append(seq, &payload).map_err(|e| self.poison(e))?;
        let layout = &current.layout;
        let mut views = current.views.clone();
        // `route` cut every op to one partition of this same layout.
        let mut groups: BTreeMap<usize, Vec<WriteOp>> = BTreeMap::new();
        let count = writes.len();
        for w in writes {
            groups
                .entry(layout.index(w.op.key()))
                .or_default()
                .push(w.op);
        }
        for (&i, ops) in &groups {
            let p = &layout.partitions[i];
            p.store.apply(seq, ops).map_err(|e| self.poison(e))?;
            p.writes.fetch_add(ops.len() as u64, Ordering::Relaxed);
            let bytes: usize = ops.iter().map(WriteOp::data_bytes).sum();
            p.bytes_applied.fetch_add(bytes as u64, Ordering::Relaxed);
            views[i] = p.store.read_view();
        }
        self.version.store(Arc::new(Version {
            seq,
            layout: layout.clone(),
            views,
        }));
        let mut writes = Vec::with_capacity(count);
        for (i, ops) in groups {
            let partition = layout.partitions[i].entry.id;
            writes.extend(ops.into_iter().map(|op| PartitionWrite { partition, op }));
        }
        Ok(writes)
    }

    pub(crate) fn wait_durable(&self, seq: Seq, durability: Durability) -> Result<()> {
        let done = match durability {
            Durability::Sync => self.wal.sync_to(seq),
            Durability::Buffered => self.wal.write_to(seq),
            Durability::Volatile if self.wal.buffered_bytes() > VOLATILE_BUFFER_BYTES => {
                self.wal.write_to(seq)
            }
            Durability::Volatile => Ok(()),
        };
        done.map_err(|e| self.poison(e))
    }
}

/// Routes the steps to partitions with the layout of `current` (the commit
/// lock is held, so it is the layout the commit applies under). A range
/// delete becomes one op per partition it meets, clipped to it.
fn route(steps: Vec<Step>, current: &Version) -> Vec<PartitionWrite> {
    let layout = &current.layout;
    let mut writes: Vec<PartitionWrite> = Vec::with_capacity(steps.len());
    for step in steps {
        match step {
            Step::Write(op) => writes.push(PartitionWrite {
                partition: layout.partitions[layout.index(op.key())].entry.id,
                op,
            }),
            Step::DeleteRange(start, end) => {
                let starts: Vec<&Bytes> =
                    layout.partitions.iter().map(|p| &p.entry.start).collect();
                for (i, op) in range_delete::clip(&starts, &start, end.as_ref()) {
                    writes.push(PartitionWrite {
                        partition: layout.partitions[i].entry.id,
                        op,
                    });
                }
            }
        }
    }
    writes
}
