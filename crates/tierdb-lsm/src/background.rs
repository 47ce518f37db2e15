//! The background compactor: one thread per tier, `tierdb-lsm-compact`.
//!
//! The thread holds a `Weak` to the tier's state and an `Arc` of the
//! wake-up signal, nothing else. It loops: run one compaction (pick, merge,
//! install; `compact.rs`), and when there is nothing to do, wait on the
//! signal — woken by `persist` after a flush, or after `IDLE_WAIT`. An
//! error is counted (`LsmStats::background_errors`) and poisons the tier's
//! persists (the compaction path does that); the thread then idles. It
//! never panics on an error and stops when the tier is dropped: `Drop`
//! sets the stop flag, wakes it and joins it (a rate-limited merge in
//! progress gives up through the tier's cancel flag).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tierdb_io::{Error, Result};

use crate::inner::{Inner, bump};

/// How long an idle compactor sleeps before looking again by itself.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The compactor's wake-up signal.
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
    /// Asks the compactor to look for work.
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

/// The running compaction thread of one tier.
pub(crate) struct Compactor {
    wakeup: Arc<Wakeup>,
    handle: JoinHandle<()>,
}

impl Compactor {
    /// Starts the thread for `inner`.
    pub(crate) fn spawn(inner: &Arc<Inner>) -> Result<Compactor> {
        let wakeup = Arc::clone(&inner.wakeup);
        let (weak, signal) = (Arc::downgrade(inner), Arc::clone(&wakeup));
        let handle = std::thread::Builder::new()
            .name("tierdb-lsm-compact".into())
            .spawn(move || run(&weak, &signal))
            .map_err(|e| Error::io(&inner.env.dir, e))?;
        Ok(Compactor { wakeup, handle })
    }

    /// Asks the thread to look for work.
    pub(crate) fn wake(&self) {
        self.wakeup.wake();
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

fn run(inner: &Weak<Inner>, wakeup: &Wakeup) {
    while !wakeup.stopped() {
        let busy = match inner.upgrade() {
            Some(inner) => inner.background_round(),
            None => return,
        };
        if !busy {
            wakeup.wait(IDLE_WAIT);
        }
    }
}

impl Inner {
    /// One compaction if the tree needs one; true if it ran. Errors are
    /// counted, not returned (the failure already poisoned the tier).
    fn background_round(&self) -> bool {
        if self.durable.lock().poisoned.is_some() {
            return false;
        }
        match self.compact_needed() {
            Ok(ran) => ran,
            Err(_) if self.cancel.load(Ordering::Acquire) => false,
            Err(e) => {
                bump(&self.counters.background_errors, 1);
                if let Some(sink) = &self.opts.events {
                    sink.0.on_background_error(&e);
                }
                false
            }
        }
    }
}
