//! Running a compaction against the live tier: pick, merge, install.
//!
//! One compaction at a time (the `compacting` lock, held from pick to
//! install). The merge runs without the install lock, so flushes, applies
//! and reads go on meanwhile; output table numbers come from an atomic.
//! The install takes the install lock (`durable`) and applies the plan to
//! the version current *then*: a flush may have added L0 tables since the
//! pick, which are newer than every input and stay where they are. Only
//! compactions change L1 and below, so the plan still fits. One manifest
//! edit commits it; only then are the inputs marked obsolete (deleted
//! when no view holds them). Any error poisons the tier's persists.

use std::time::Instant;

use std::sync::Arc;
use tierdb_tier::CompactionEvent;

use tierdb_io::Result;

use crate::compaction::{self, Plan};
use crate::inner::{Inner, bump};
use crate::persist::{Commit, check_poisoned, poison_on_error};
use crate::table::Table;
use crate::table_builder::{Limit, WriteCtx};
use crate::version::Version;

/// Bound on the rounds of one synchronous compaction pass.
const ROUNDS_MAX: usize = 64;

impl Inner {
    /// Runs the compaction the tree needs next, if any; true if one ran.
    pub(crate) fn compact_needed(&self) -> Result<bool> {
        let _one = self.compacting.lock();
        self.compact_locked(|v| compaction::pick(v, &self.opts))
    }

    /// Compacts until nothing is over target (at most `ROUNDS_MAX` rounds).
    pub(crate) fn compact_as_needed(&self) -> Result<()> {
        let _one = self.compacting.lock();
        self.compact_rounds()
    }

    /// Everything into the deepest level, then as needed.
    pub(crate) fn compact_all(&self) -> Result<()> {
        let _one = self.compacting.lock();
        self.compact_locked(compaction::plan_all)?;
        self.compact_rounds()
    }

    fn compact_rounds(&self) -> Result<()> {
        for _ in 0..ROUNDS_MAX {
            if !self.compact_locked(|v| compaction::pick(v, &self.opts))? {
                break;
            }
        }
        Ok(())
    }

    /// One compaction chosen by `choose`; the caller holds `compacting`.
    fn compact_locked(&self, choose: impl Fn(&Version) -> Option<Plan>) -> Result<bool> {
        // Picked under the install lock, and its inputs marked there, so
        // that no flush merges one of them into its L0 table meanwhile.
        let (horizon, version, plan) = {
            let mut durable = self.durable.lock();
            check_poisoned(&durable)?;
            let (horizon, version) = {
                let state = self.state.lock();
                (state.applied_seq, Arc::clone(&state.version))
            };
            let Some(plan) = choose(&version) else {
                return Ok(false);
            };
            durable.compacting = plan.inputs.iter().map(|t| t.number).collect();
            (horizon, version, plan)
        };
        if let Some(sink) = &self.opts.events {
            sink.0.on_compaction_begin();
        }
        let started = Instant::now();
        let result = self.merge(&plan, &version, horizon).and_then(|outputs| {
            self.install(&plan, &outputs)?;
            Ok(outputs)
        });
        let outputs = {
            let mut durable = self.durable.lock();
            durable.compacting.clear();
            poison_on_error(&mut durable, result)?
        };
        if let Some(sink) = &self.opts.events {
            let read: u64 = plan.inputs.iter().map(|t| t.file_bytes).sum();
            let written: u64 = outputs.iter().map(|t| t.file_bytes).sum();
            let event = CompactionEvent::new(
                plan.inputs.len(),
                outputs.len(),
                read,
                written,
                started.elapsed(),
            );
            sink.0.on_compaction_completed(&event);
        }
        Ok(true)
    }

    /// Writes the output tables of `plan` (no lock held but `compacting`).
    fn merge(&self, plan: &Plan, version: &Version, horizon: u64) -> Result<Vec<Arc<Table>>> {
        let mut ctx = WriteCtx {
            env: &self.env,
            sst: &self.opts.sst,
            next_table: &self.next_table,
            limit: self.limiter.as_ref().map(|limiter| Limit {
                limiter,
                cancel: &self.cancel,
            }),
        };
        let outputs = compaction::run(plan, version, &mut ctx, &self.opts, horizon)?;
        let read: u64 = plan.inputs.iter().map(|t| t.file_bytes).sum();
        let written: u64 = outputs.iter().map(|t| t.file_bytes).sum();
        let c = &self.counters;
        bump(&c.compaction_bytes_read, read);
        bump(&c.compaction_bytes_written, written);
        if let Some(level) = c.level_bytes_written.get(plan.output_level) {
            bump(level, written);
        }
        self.count_table_bytes(written);
        Ok(outputs)
    }

    /// Installs `outputs` in place of the inputs, under the install lock.
    fn install(&self, plan: &Plan, outputs: &[Arc<Table>]) -> Result<()> {
        let mut durable = self.durable.lock();
        check_poisoned(&durable)?;
        let current = Arc::clone(&self.state.lock().version);
        let persisted_seq = durable.persisted_seq;
        self.commit(
            &mut durable,
            Commit {
                version: compaction::replace(&current, plan, outputs),
                persisted_seq,
                obsolete: &plan.inputs,
                flushed: &[],
            },
        )?;
        bump(&self.counters.compactions, 1);
        Ok(())
    }
}
