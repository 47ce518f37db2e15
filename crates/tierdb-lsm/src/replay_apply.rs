//! Write sets replayed from the WAL at open (`Tier::apply_recovered`):
//! each call's sets become one sorted run (`sorted_run.rs`), published as
//! a frozen memtable sealed at the last set's sequence, which the flusher
//! writes to L0 after the open.
//!
//! Inserting them into the skiplist memtable, even in key order, cost
//! about half of an LSM open's instructions (node allocation and a walk
//! down the levels per write); a copy into an arena and one sort cost a
//! fraction of that. The active memtable, if it holds anything, is
//! frozen first, so the frozen memtables stay in sequence order.

use std::sync::Arc;

use tierdb_io::{Error, Result};
use tierdb_tier::{Seq, WriteOp};

use crate::inner::{Inner, bump, freeze_active, split_write_set};
use crate::memtable::{Memtable, range_charge};
use crate::sorted_run::RunBuilder;

impl Inner {
    /// `Tier::apply_recovered`: `sets` in ascending sequence, each above
    /// the applied one (checked before anything is applied).
    pub(crate) fn apply_recovered_sets(&self, sets: &[(Seq, Vec<WriteOp>)]) -> Result<()> {
        let _writer = self.writer.lock();
        let mut applied = self.state.lock().applied_seq;
        for (seq, _) in sets {
            if *seq <= applied {
                return Err(Error::InvalidArgument(format!(
                    "apply at sequence {seq}, already applied {applied}"
                )));
            }
            applied = *seq;
        }
        let mut run = RunBuilder::default();
        let mut ranges = Vec::new();
        let (mut bytes, mut charge) = (0u64, 0u64);
        let mut points = Vec::new();
        for (seq, ops) in sets {
            bytes += split_write_set(*seq, ops, &mut points, &mut ranges);
            for point in points.drain(..) {
                charge += point.charge();
                point.add_to(&mut run);
            }
        }
        charge += ranges.iter().map(range_charge).sum::<u64>();
        bump(&self.counters.bytes_applied, bytes);
        let run = run.finish();
        let mut state = self.state.lock();
        freeze_active(&mut state, self.opts.memtable_bytes);
        if !run.is_empty() || !ranges.is_empty() {
            let memtable = Memtable::from_run(run, ranges, charge, applied);
            state.frozen.push(Arc::new(memtable));
        }
        state.applied_seq = applied;
        drop(state);
        self.flush_wakeup.wake();
        Ok(())
    }
}
