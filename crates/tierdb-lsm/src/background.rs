//! The background threads of a tier: the compactor, `tierdb-lsm-compact`,
//! and the flusher, `tierdb-lsm-flush` (`background_flush.rs`), each with
//! its own wake-up signal so that a long compaction never delays a flush.
//!
//! A thread holds a `Weak` to the tier's state and an `Arc` of its
//! wake-up signal, nothing else. It loops: run one round (the compactor:
//! pick, merge, install, `compact.rs`; the flusher: frozen memtables to
//! one L0 table), and when there is nothing to do, wait on the signal —
//! woken by `persist` or a flush (compactor), by `apply` freezing a
//! memtable (flusher), or after `IDLE_WAIT`. An error is counted
//! (`LsmStats::background_errors`) and poisons the tier's persists (the
//! install path does that); the thread then idles. It never panics on an
//! error and stops when the tier is dropped: `Drop` sets the stop flag,
//! wakes it and joins it (a rate-limited merge in progress gives up
//! through the tier's cancel flag).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tierdb_io::{Error, Result};

use crate::inner::{Inner, bump};
use crate::recover::remove_tables;

/// How long an idle thread sleeps before looking again by itself.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// A background thread's wake-up signal.
#[derive(Default)]
pub(crate) struct Wakeup {
    flags: Mutex<Flags>,
    cv: Condvar,
}

#[derive(Default)]
struct Flags {
    pending: bool,
    stop: bool,
}

impl Wakeup {
    /// Asks the thread to look for work.
    pub(crate) fn wake(&self) {
        self.flags.lock().pending = true;
        self.cv.notify_all();
    }

    fn stop(&self) {
        self.flags.lock().stop = true;
        self.cv.notify_all();
    }

    fn stopped(&self) -> bool {
        self.flags.lock().stop
    }

    /// Waits until woken, stopped or `timeout`; clears the wake-up.
    fn wait(&self, timeout: Duration) {
        let mut flags = self.flags.lock();
        if !flags.pending && !flags.stop {
            self.cv.wait_for(&mut flags, timeout);
        }
        flags.pending = false;
    }
}

/// What a background thread does, one round at a time.
#[derive(Clone, Copy)]
pub(crate) enum Job {
    Compact,
    Flush,
}

/// One running background thread of a tier.
pub(crate) struct Worker {
    wakeup: Arc<Wakeup>,
    handle: JoinHandle<()>,
}

impl Worker {
    /// Starts the thread doing `job` for `inner`.
    pub(crate) fn spawn(inner: &Arc<Inner>, job: Job) -> Result<Worker> {
        let (wakeup, name) = match job {
            Job::Compact => (Arc::clone(&inner.wakeup), "tierdb-lsm-compact"),
            Job::Flush => (Arc::clone(&inner.flush_wakeup), "tierdb-lsm-flush"),
        };
        let (weak, signal) = (Arc::downgrade(inner), Arc::clone(&wakeup));
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&weak, &signal, job))
            .map_err(|e| Error::io(&inner.env.dir, e))?;
        Ok(Worker { wakeup, handle })
    }

    /// Stops the thread and waits for it (called from `Drop` of the tier,
    /// never from the thread itself).
    pub(crate) fn stop(self) {
        self.wakeup.stop();
        // The thread catches nothing that could panic; if it did, there is
        // nothing left to clean up here.
        let _ = self.handle.join();
    }
}

fn run(inner: &Weak<Inner>, wakeup: &Wakeup, job: Job) {
    while !wakeup.stopped() {
        let busy = match inner.upgrade() {
            Some(inner) => inner.background_round(job),
            None => return,
        };
        if !busy {
            wakeup.wait(IDLE_WAIT);
        }
    }
}

impl Inner {
    /// Removes the unlisted tables open left behind, if any.
    fn remove_garbage(&self) -> Result<()> {
        let garbage = std::mem::take(&mut *self.garbage_tables.lock());
        if garbage.is_empty() {
            return Ok(());
        }
        remove_tables(&self.env, &garbage)
    }

    /// After a failed or refused round: a flusher that cannot flush
    /// releases the writers waiting for it (they stop waiting on it).
    fn note_failure(&self, job: Job) {
        if let Job::Flush = job {
            self.flusher_failed.store(true, Ordering::Release);
            self.progress.notify();
        }
    }

    /// One compaction if the tree needs one, or one flush if memtables
    /// are frozen; true if it ran. Errors are counted, not returned (a
    /// failure past the write-ahead call already poisoned the tier).
    fn background_round(&self, job: Job) -> bool {
        if self.durable.lock().poisoned.is_some() {
            self.note_failure(job);
            return false;
        }
        let round = match job {
            Job::Compact => self.remove_garbage().and_then(|()| self.compact_needed()),
            Job::Flush => self.flush_frozen(),
        };
        match round {
            Ok(ran) => ran,
            Err(_) if self.cancel.load(Ordering::Acquire) => false,
            Err(e) => {
                self.note_failure(job);
                bump(&self.counters.background_errors, 1);
                if let Some(sink) = &self.opts.events {
                    sink.0.on_background_error(&e);
                }
                false
            }
        }
    }
}
