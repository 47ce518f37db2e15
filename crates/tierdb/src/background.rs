//! The background worker: runs a checkpoint whenever the WAL or the dirty
//! pages pass their bounds, so reopen time and memory stay bounded whatever
//! the uptime; and moves partitions between tiers when `Options::auto_tier`
//! asks it to (`auto_tier.rs`).

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tierdb_tier::Progress;

use crate::db::DbInner;

/// How often the worker looks at the bounds when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Signal {
    stop: bool,
    wake: bool,
}

/// Handle on the worker thread.
#[derive(Default)]
pub(crate) struct Background {
    signal: std::sync::Arc<(Mutex<Signal>, Condvar)>,
    thread: Mutex<Option<(ThreadId, JoinHandle<()>)>>,
    /// Notified after every checkpoint and when the worker stops: writers
    /// stalled on dirty memory wait on it (`write_stall.rs`).
    pub progress: Progress,
}

impl Background {
    /// Starts the worker for `db`. It holds only a weak reference, so it
    /// never keeps a dropped database alive.
    pub fn start(&self, db: Weak<DbInner>) {
        let signal = self.signal.clone();
        let spawned = thread::Builder::new()
            .name("tierdb-checkpointer".into())
            .spawn(move || run(&db, &signal));
        // Without the worker the database still works; checkpoints then run
        // only when called.
        if let Ok(handle) = spawned {
            *self.thread.lock() = Some((handle.thread().id(), handle));
        }
    }

    /// Asks the worker to look at the bounds now.
    pub fn wake(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().wake = true;
        cv.notify_one();
    }

    /// Whether a writer on this thread can wait for the worker: it runs,
    /// and this is not its own thread.
    pub fn can_wait_for(&self) -> bool {
        self.thread
            .lock()
            .as_ref()
            .is_some_and(|(id, _)| *id != thread::current().id())
    }

    /// Stops the worker and waits for it (unless called from the worker).
    pub fn stop(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().stop = true;
        cv.notify_all();
        let taken = self.thread.lock().take();
        self.progress.notify();
        if let Some((id, handle)) = taken
            && id != thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

fn run(db: &Weak<DbInner>, signal: &(Mutex<Signal>, Condvar)) {
    loop {
        {
            let (lock, cv) = signal;
            let mut s = lock.lock();
            if !s.stop && !s.wake {
                cv.wait_for(&mut s, POLL_INTERVAL);
            }
            if s.stop {
                return;
            }
            s.wake = false;
        }
        let Some(db) = db.upgrade() else { return };
        if db.closed.load(Ordering::Acquire) {
            return;
        }
        if db.poison.lock().is_some() {
            continue;
        }
        if db.finish_recovery().is_err() {
            db.counters
                .background_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        if db.needs_checkpoint() && db.checkpoint(true).is_err() {
            db.counters
                .background_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        db.auto_tier_tick();
    }
}
