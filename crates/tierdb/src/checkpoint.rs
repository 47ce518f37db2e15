//! Checkpoints: every partition persisted (after the WAL is durable up to
//! what it persists), then the WAL trimmed; and when the background worker
//! should run one.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tierdb_tier::Seq;

use crate::db::{CheckpointInfo, DbInner};
use crate::{CheckpointEvent, Error, Result};

impl DbInner {
    /// Persists every partition and trims the WAL, telling the listeners.
    /// Callers check that the database is open (`close` itself checkpoints
    /// after marking it closed).
    pub fn checkpoint(&self, background: bool) -> Result<CheckpointInfo> {
        let _one_at_a_time = self.checkpoint_lock.lock();
        if let Some(reason) = &*self.poison.lock() {
            return Err(Error::Poisoned {
                reason: reason.clone(),
            });
        }
        let started = Instant::now();
        self.opts
            .listeners
            .iter()
            .for_each(|l| l.on_checkpoint_begin(background));
        let result = self.persist_all();
        self.background.progress.notify();
        match &result {
            Ok(info) => {
                let event = CheckpointEvent {
                    seq: info.seq,
                    duration: started.elapsed(),
                    background,
                    wal_live_bytes: self.wal.live_bytes(),
                };
                self.opts
                    .listeners
                    .iter()
                    .for_each(|l| l.on_checkpoint_completed(&event));
            }
            Err(e) if background => {
                self.opts
                    .listeners
                    .iter()
                    .for_each(|l| l.on_background_error(e));
            }
            Err(_) => {}
        }
        result
    }

    fn persist_all(&self) -> Result<CheckpointInfo> {
        let logged = self.wal.bytes_written();
        self.advance_idle_partitions()?;
        let mut persisted = Seq::MAX;
        let wal = &self.wal;
        for p in &self.layout().partitions {
            let seq = p
                .store
                .persist(&|seq| wal.sync_to_in_background(seq))
                .map_err(|e| self.poison(e))?;
            persisted = persisted.min(seq);
        }
        if persisted == Seq::MAX {
            persisted = 0;
        }
        wal.release_upto(persisted).map_err(|e| self.poison(e))?;
        self.counters
            .checkpoint_wal_mark
            .store(logged, Ordering::Relaxed);
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.counters
            .checkpoint_seq
            .store(persisted, Ordering::Relaxed);
        Ok(CheckpointInfo { seq: persisted })
    }

    /// Brings every partition's applied sequence up to the last commit by
    /// applying an empty write set to those no recent commit touched, so
    /// that the checkpoint persists them there too. Otherwise an idle
    /// partition would keep its old persisted sequence, and with it every
    /// WAL record after it, alive forever. Safe: no commit between its
    /// applied sequence and the last one touched it.
    fn advance_idle_partitions(&self) -> Result<()> {
        let _serial = self.commit.lock();
        let current = self.version.load();
        for p in &current.layout.partitions {
            if p.store.applied_seq() < current.seq {
                p.store
                    .apply(current.seq, &[])
                    .map_err(|e| self.poison(e))?;
            }
        }
        Ok(())
    }

    /// Lets every partition merge what it held aside while the WAL was
    /// replayed (`Tier::finish_recovery`; a no-op once done). A failure
    /// poisons the database, as a failed apply does.
    pub fn finish_recovery(&self) -> Result<()> {
        for p in &self.layout().partitions {
            p.store.finish_recovery().map_err(|e| self.poison(e))?;
        }
        Ok(())
    }

    /// Whether the WAL or the dirty pages have passed their bounds.
    pub fn needs_checkpoint(&self) -> bool {
        let checkpointed = self.counters.checkpoint_seq.load(Ordering::Relaxed);
        if self.version.load().seq <= checkpointed {
            return false;
        }
        if self.wal_over_bound() {
            return true;
        }
        self.dirty_bytes() > self.opts.checkpoint_dirty_bytes
    }

    /// Whether more than `checkpoint_wal_bytes` were logged since the last
    /// checkpoint began: a reopen after a crash would replay about that
    /// much. (Not the live WAL: its oldest segment also holds records the
    /// checkpoint covered, and the active segment is never removed, so a
    /// bound below a segment would checkpoint on every commit.)
    pub fn wal_over_bound(&self) -> bool {
        let mark = self.counters.checkpoint_wal_mark.load(Ordering::Relaxed);
        self.wal.bytes_written().saturating_sub(mark) > self.opts.checkpoint_wal_bytes
    }
}
