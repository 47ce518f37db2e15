//! Persist (flush + compaction) and `compact_all`, under the persist mutex.
//!
//! Persist:
//! 1. Freeze the active memtable; `S` = the applied sequence. Every frozen
//!    memtable holds only sequences `<= S`.
//! 2. `wal_durable_to(S)` (write-ahead rule; an error aborts, nothing done).
//! 3. Write the frozen memtables to one L0 table (synced).
//! 4. Commit: write the manifest (tables + `S`) atomically and durably,
//!    then publish the new version and drop the flushed memtables.
//! 5. Compact while the tree needs it (synchronously, at most
//!    `COMPACTIONS_PER_PERSIST_MAX` rounds), each round committed by one
//!    manifest write; only then are its input tables marked obsolete.
//!
//! A crash before the manifest rename is durable leaves the previous
//! manifest, whose tables are all still on disk (nothing is deleted before
//! a manifest no longer listing it is durable); the new tables are garbage
//! removed at open. Any error after step 2 poisons the tier: it no longer
//! knows what is durable, and refuses further persists until reopened.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tierdb_io::{Error, Result};
use tierdb_tier::Seq;

use crate::compaction::{self, Plan};
use crate::flush::write_l0;
use crate::manifest;
use crate::memtable::Memtable;
use crate::recover::manifest_of;
use crate::table::Table;
use crate::table_builder::WriteCtx;
use crate::tier::{Durable, LsmTier, freeze_active};
use crate::version::Version;

/// Bound on compaction rounds run by one persist.
const COMPACTIONS_PER_PERSIST_MAX: usize = 64;

/// A new version to make durable and publish.
struct Commit<'a> {
    version: Version,
    persisted_seq: Seq,
    obsolete: &'a [Arc<Table>],
    flushed: &'a [Arc<Memtable>],
}

impl LsmTier {
    /// Merges every table into the deepest non-empty level (at least L1),
    /// dropping shadowed versions and tombstones. Memtables are not
    /// flushed (that is `persist`'s job).
    pub fn compact_all(&self) -> Result<()> {
        let mut durable = self.durable.lock();
        check_poisoned(&durable)?;
        let version = Arc::clone(&self.state.lock().version);
        let Some(plan) = compaction::plan_all(&version) else {
            return Ok(());
        };
        let result = self.run_plan(&mut durable, &version, &plan);
        poison_on_error(&mut durable, result)
    }

    pub(crate) fn persist_now(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        let mut durable = self.durable.lock();
        check_poisoned(&durable)?;
        let (seq, to_flush) = self.freeze();
        if to_flush.is_empty() && seq == durable.persisted_seq {
            return Ok(seq);
        }
        wal_durable_to(seq)?;
        let result = self.flush(&mut durable, seq, &to_flush);
        let result = result.and_then(|()| self.compact_as_needed(&mut durable));
        poison_on_error(&mut durable, result)?;
        self.counters.persists.fetch_add(1, Ordering::Relaxed);
        Ok(seq)
    }

    /// Freezes the active memtable; returns the applied sequence and every
    /// frozen memtable.
    fn freeze(&self) -> (Seq, Vec<Arc<Memtable>>) {
        let _writer = self.writer.lock();
        let mut state = self.state.lock();
        freeze_active(&mut state);
        (state.applied_seq, state.frozen.clone())
    }

    fn horizon_and_version(&self) -> (Seq, Arc<Version>) {
        let state = self.state.lock();
        (state.applied_seq, Arc::clone(&state.version))
    }

    fn flush(&self, durable: &mut Durable, seq: Seq, to_flush: &[Arc<Memtable>]) -> Result<()> {
        let (horizon, version) = self.horizon_and_version();
        let table = write_l0(&mut self.ctx(durable), to_flush, horizon)?;
        let mut next = (*version).clone();
        if let Some(table) = table {
            self.count_table_bytes(table.file_bytes);
            self.counters.flushes.fetch_add(1, Ordering::Relaxed);
            next.levels[0].insert(0, table);
        }
        self.commit(
            durable,
            Commit {
                version: next,
                persisted_seq: seq,
                obsolete: &[],
                flushed: to_flush,
            },
        )
    }

    fn compact_as_needed(&self, durable: &mut Durable) -> Result<()> {
        for _ in 0..COMPACTIONS_PER_PERSIST_MAX {
            let version = Arc::clone(&self.state.lock().version);
            let Some(plan) = compaction::pick(&version, &self.opts) else {
                break;
            };
            self.run_plan(durable, &version, &plan)?;
        }
        Ok(())
    }

    fn run_plan(&self, durable: &mut Durable, version: &Version, plan: &Plan) -> Result<()> {
        let (horizon, _) = self.horizon_and_version();
        let (next, outputs) =
            compaction::run(plan, version, &mut self.ctx(durable), &self.opts, horizon)?;
        self.count_table_bytes(outputs.iter().map(|t| t.file_bytes).sum());
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        let persisted_seq = durable.persisted_seq;
        self.commit(
            durable,
            Commit {
                version: next,
                persisted_seq,
                obsolete: &plan.inputs,
                flushed: &[],
            },
        )
    }

    fn ctx<'a>(&'a self, durable: &'a mut Durable) -> WriteCtx<'a> {
        WriteCtx {
            env: &self.env,
            sst: &self.opts.sst,
            next_table: &mut durable.next_table,
        }
    }

    fn count_table_bytes(&self, bytes: u64) {
        let c = &self.counters;
        c.table_bytes_written.fetch_add(bytes, Ordering::Relaxed);
        c.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Makes `commit` durable (manifest), then publishes it.
    fn commit(&self, durable: &mut Durable, commit: Commit<'_>) -> Result<()> {
        let m = manifest_of(&commit.version, commit.persisted_seq, durable.next_table);
        let bytes = manifest::write(&*self.env.vfs, &self.env.dir, &m)?;
        self.counters
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        durable.persisted_seq = commit.persisted_seq;
        {
            let mut state = self.state.lock();
            state.version = Arc::new(commit.version);
            state
                .frozen
                .retain(|m| !commit.flushed.iter().any(|f| Arc::ptr_eq(f, m)));
        }
        for table in commit.obsolete {
            table.mark_obsolete();
        }
        self.persisted_seq
            .store(commit.persisted_seq, Ordering::Release);
        Ok(())
    }
}

fn check_poisoned(durable: &Durable) -> Result<()> {
    match &durable.poisoned {
        Some(reason) => Err(Error::Poisoned {
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}

fn poison_on_error<T>(durable: &mut Durable, result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        durable.poisoned = Some(format!("LSM persist failed: {e}"));
    }
    result
}
