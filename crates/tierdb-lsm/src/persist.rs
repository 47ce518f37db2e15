//! Persist (flush, then compaction or a wake-up of the compactor) and the
//! commit of a new version, under the install mutex.
//!
//! Persist:
//! 1. Freeze the active memtable; `S` = the applied sequence. Every frozen
//!    memtable holds only sequences `<= S`.
//! 2. `wal_durable_to(S)` (write-ahead rule; an error aborts, nothing done).
//! 3. Write the frozen memtables to one L0 table (synced).
//! 4. Commit: make the new version (tables + `S`) durable — one edit
//!    appended to the manifest log, or a roll to a new log
//!    (`manifest_writer.rs`) — then publish it and drop the flushed
//!    memtables.
//! 5. Wake the background compactor; without one, compact here
//!    (`compact.rs`, at most 64 rounds, each committed by one manifest
//!    install; only then are its input tables marked obsolete).
//!
//! A crash before the install is durable leaves the previous version,
//! whose tables are all still on disk (nothing is deleted before a
//! manifest record no longer listing it is durable); the new tables are
//! garbage removed at open. Any error after step 2 (or in any compaction) poisons
//! the tier: it no longer knows what is durable, and refuses further
//! persists until reopened.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tierdb_io::{Error, Result};
use tierdb_tier::Seq;

use crate::flush::{l0_to_merge, write_l0};
use crate::inner::{Durable, Inner, bump, freeze_active};
use crate::memtable::Memtable;
use crate::recover::manifest_of;
use crate::table::Table;
use crate::table_builder::WriteCtx;
use crate::version::Version;

/// A new version to make durable and publish.
pub(crate) struct Commit<'a> {
    pub(crate) version: Version,
    pub(crate) persisted_seq: Seq,
    pub(crate) obsolete: &'a [Arc<Table>],
    pub(crate) flushed: &'a [Arc<Memtable>],
}

impl Inner {
    /// Flushes, installs, then compacts or wakes the compactor.
    pub(crate) fn persist_now(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq> {
        let mut durable = self.durable.lock();
        check_poisoned(&durable)?;
        let (seq, to_flush) = self.freeze();
        if to_flush.is_empty() && seq == durable.persisted_seq {
            return Ok(seq);
        }
        wal_durable_to(seq)?;
        let result = self.flush(&mut durable, seq, &to_flush);
        poison_on_error(&mut durable, result)?;
        drop(durable);
        if self.opts.background_compaction {
            self.wakeup.wake();
        } else {
            self.compact_as_needed()?;
        }
        bump(&self.counters.persists, 1);
        Ok(seq)
    }

    /// Freezes the active memtable; returns the applied sequence and every
    /// frozen memtable.
    fn freeze(&self) -> (Seq, Vec<Arc<Memtable>>) {
        let _writer = self.writer.lock();
        let mut state = self.state.lock();
        freeze_active(&mut state, self.opts.memtable_bytes);
        (state.applied_seq, state.frozen.clone())
    }

    fn horizon_and_version(&self) -> (Seq, Arc<Version>) {
        let state = self.state.lock();
        (state.applied_seq, Arc::clone(&state.version))
    }

    pub(crate) fn flush(
        &self,
        durable: &mut Durable,
        seq: Seq,
        to_flush: &[Arc<Memtable>],
    ) -> Result<()> {
        let (horizon, version) = self.horizon_and_version();
        let mut ctx = WriteCtx {
            env: &self.env,
            sst: &self.opts.sst,
            next_table: &self.next_table,
            limit: None,
        };
        let merged = l0_to_merge(&version, durable, to_flush, &self.opts);
        let table = write_l0(&mut ctx, to_flush, &merged, horizon)?;
        let mut next = (*version).clone();
        // The merged tables are the newest of L0; the new table takes
        // their place at its head.
        next.levels[0].drain(..merged.len());
        if let Some(table) = table {
            self.count_table_bytes(table.file_bytes);
            bump(&self.counters.flush_bytes_written, table.file_bytes);
            self.counters.flushes.fetch_add(1, Ordering::Relaxed);
            next.levels[0].insert(0, table);
        }
        self.commit(
            durable,
            Commit {
                version: next,
                persisted_seq: seq,
                obsolete: &merged,
                flushed: to_flush,
            },
        )
    }

    pub(crate) fn count_table_bytes(&self, bytes: u64) {
        let c = &self.counters;
        c.table_bytes_written.fetch_add(bytes, Ordering::Relaxed);
        c.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Makes `commit` durable (manifest install), then publishes it.
    pub(crate) fn commit(&self, durable: &mut Durable, commit: Commit<'_>) -> Result<()> {
        let next_table = self.next_table.load(Ordering::Relaxed);
        let m = manifest_of(&commit.version, commit.persisted_seq, next_table);
        let bytes = durable
            .manifest
            .install(&*self.env.vfs, &self.env.dir, &m)?;
        bump(&self.counters.bytes_written, bytes);
        bump(&self.counters.manifest_bytes_written, bytes);
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
        self.progress.notify();
        Ok(())
    }
}

pub(crate) fn check_poisoned(durable: &Durable) -> Result<()> {
    match &durable.poisoned {
        Some(reason) => Err(Error::Poisoned {
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}

pub(crate) fn poison_on_error<T>(durable: &mut Durable, result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        durable.poisoned = Some(format!("LSM persist failed: {e}"));
    }
    result
}
