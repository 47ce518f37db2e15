//! Replaying the WAL at open: every commit record above what a partition
//! persisted goes back into that partition's tier.
//!
//! Records are decoded and their writes routed by key; keys and values are
//! slices of the WAL segments read into memory, not copies. Each partition
//! gathers write sets up to its tier's `Tier::recovery_run_bytes` before
//! handing them over (`Tier::apply_recovered`): the LSM makes a memtable's
//! worth into one sorted, frozen run; the B+tree takes each set at once,
//! while its keys are still in cache (a sorted run merged into its
//! overlay gained nothing measurable).
//!
//! On this thread: an applier thread fed by this one (tried) made B+tree
//! opens slower (a set's keys, decoded on one core, were compared on the
//! other) and gained little for the LSM.

use std::path::Path;
use std::sync::Arc;

use tierdb_io::Vfs;
use tierdb_tier::{Seq, WriteOp};
use tierdb_wal::{Wal, WalOptions};

use crate::Result;
use crate::layout::Partition;

/// Opens the WAL and replays every record above what each partition
/// persisted. Returns the WAL and the number of records replayed.
pub(crate) fn replay_wal(
    vfs: &Arc<dyn Vfs>,
    wal_opts: WalOptions,
    partitions: &[Partition],
) -> Result<(Arc<Wal>, u64)> {
    let replay_after: Seq = partitions
        .iter()
        .map(|p| p.store.persisted_seq())
        .min()
        .unwrap_or(0);
    let wal_dir = wal_opts.dir.clone();
    let mut router = Router {
        runs: partitions.iter().map(Run::new).collect(),
        partitions,
        wal_dir: &wal_dir,
        replayed: 0,
    };
    let mut replay = |lsn: u64, payload: &bytes::Bytes| router.route(lsn, payload);
    let (wal, _recovered) = Wal::open(vfs.clone(), wal_opts, replay_after, &mut replay)?;
    for (run, partition) in router.runs.iter_mut().zip(partitions) {
        run.hand_over(partition)?;
    }
    Ok((wal, router.replayed))
}

/// One partition's write sets not yet handed to its tier.
struct Run {
    /// The partition takes the records above its own applied sequence.
    applied: Seq,
    /// `Tier::recovery_run_bytes`.
    limit: usize,
    sets: Vec<(Seq, Vec<WriteOp>)>,
    bytes: usize,
}

impl Run {
    fn new(partition: &Partition) -> Run {
        Run {
            applied: partition.store.applied_seq(),
            limit: partition.store.recovery_run_bytes(),
            sets: Vec::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, partition: &Partition, lsn: Seq, ops: Vec<WriteOp>) -> Result<()> {
        if lsn <= self.applied {
            return Ok(());
        }
        self.bytes += ops.iter().map(WriteOp::data_bytes).sum::<usize>();
        self.sets.push((lsn, ops));
        if self.bytes >= self.limit {
            self.hand_over(partition)?;
        }
        Ok(())
    }

    fn hand_over(&mut self, partition: &Partition) -> Result<()> {
        if !self.sets.is_empty() {
            partition.store.apply_recovered(&self.sets)?;
        }
        self.sets.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// Decodes commit records and routes their writes to the partitions' runs.
struct Router<'a> {
    partitions: &'a [Partition],
    runs: Vec<Run>,
    wal_dir: &'a Path,
    replayed: u64,
}

impl Router<'_> {
    fn route(&mut self, lsn: u64, payload: &bytes::Bytes) -> Result<()> {
        let writes = crate::commit_record::decode(payload, self.wal_dir, lsn)?;
        // Routed by key with the layout of the manifest. A record written
        // before a layout change may name a partition id that no longer
        // exists, or whose range changed; every partition rebuilt by that
        // change persisted past the record, so it is skipped there.
        // A range delete is cut again at today's partition boundaries.
        let mut ops: Vec<Vec<WriteOp>> = vec![Vec::new(); self.partitions.len()];
        for w in writes {
            if let WriteOp::DeleteRange { start, end } = &w.op {
                let starts: Vec<&bytes::Bytes> =
                    self.partitions.iter().map(|p| &p.entry.start).collect();
                for (i, op) in crate::range_delete::clip(&starts, start, end.as_ref()) {
                    ops[i].push(op);
                }
                continue;
            }
            let i = self
                .partitions
                .partition_point(|p| p.entry.start[..] <= w.op.key()[..])
                .saturating_sub(1);
            ops[i].push(w.op);
        }
        for ((ops, run), partition) in ops.into_iter().zip(&mut self.runs).zip(self.partitions) {
            if !ops.is_empty() {
                run.push(partition, lsn, ops)?;
            }
        }
        self.replayed += 1;
        Ok(())
    }
}
