//! The background flusher: syncs data written by `Wal::write_to` (Buffered
//! durability) within `sync_interval`.
//!
//! The thread holds only a `Weak<Wal>`, so it never keeps the WAL alive; it
//! stops when told to (close, drop), when the WAL is gone, or after a failed
//! sync (the WAL is poisoned then and a retry would be wrong).

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tierdb_io::{Error, Result};

use crate::wal::Wal;

#[derive(Debug, Default)]
struct State {
    /// Data was written and may be unsynced.
    dirty: bool,
    /// The thread must exit.
    stop: bool,
}

/// The shared half: what the WAL uses to wake and stop the thread.
#[derive(Debug, Default)]
pub(crate) struct FlusherControl {
    state: Mutex<State>,
    wake: Condvar,
}

impl FlusherControl {
    /// Tells the thread that written data awaits a sync.
    pub(crate) fn mark_dirty(&self) {
        let mut state = self.state.lock();
        if !state.dirty {
            state.dirty = true;
            self.wake.notify_one();
        }
    }

    /// Tells the thread to exit.
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.wake.notify_one();
    }

    /// Waits until data is dirty, then for `interval` more (to gather more),
    /// then clears the flag. Returns false when the thread must stop.
    fn wait_for_work(&self, interval: Duration) -> bool {
        let mut state = self.state.lock();
        while !state.dirty && !state.stop {
            self.wake.wait(&mut state);
        }
        let deadline = Instant::now() + interval;
        while !state.stop && !self.wake.wait_until(&mut state, deadline).timed_out() {}
        state.dirty = false;
        !state.stop
    }
}

/// The flusher thread's handle, owned by the WAL.
#[derive(Debug, Default)]
pub(crate) struct Flusher {
    control: Arc<FlusherControl>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// The control shared with the thread.
    pub(crate) fn control(&self) -> &FlusherControl {
        &self.control
    }

    /// Starts the thread for `wal`.
    pub(crate) fn spawn(&self, wal: Weak<Wal>, interval: Duration) -> Result<()> {
        let control = Arc::clone(&self.control);
        let handle = std::thread::Builder::new()
            .name("tierdb-wal-flusher".into())
            .spawn(move || run(&control, &wal, interval))
            .map_err(|e| Error::io("tierdb-wal-flusher thread", e))?;
        *self.thread.lock() = Some(handle);
        Ok(())
    }

    /// Stops the thread and waits for it to exit.
    pub(crate) fn stop_and_join(&self) {
        self.control.stop();
        let handle = self.thread.lock().take();
        if let Some(handle) = handle
            && handle.thread().id() != std::thread::current().id()
        {
            // A panic in the flusher has already been reported; joining
            // only reaps the thread.
            let _ = handle.join();
        }
    }
}

fn run(control: &FlusherControl, wal: &Weak<Wal>, interval: Duration) {
    while control.wait_for_work(interval) {
        let Some(wal) = wal.upgrade() else {
            return;
        };
        if wal.sync_to_in_background(wal.written_lsn()).is_err() {
            return;
        }
    }
}
