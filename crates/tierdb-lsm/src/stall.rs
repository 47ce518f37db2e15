//! Write slowdowns and stalls (RocksDB's model), checked at the start of
//! every `apply`, before it takes any lock:
//!
//! - L0 holds `>= l0_stop_tables` tables: wait until an install (flush or
//!   compaction) brings it below, at most `stall_timeout`, then proceed
//!   anyway. Counted in `stall_count` / `stall_micros`, and a wait that
//!   ran out in `stall_timeouts`.
//! - Otherwise L0 holds `>= l0_slowdown_tables`: sleep 1 ms, once per
//!   apply (`slowdown_count` / `slowdown_micros`).
//! - More than `max_frozen_memtables` frozen memtables: counted as a stall
//!   (no wait) — only `persist`, which the caller runs, flushes them.
//!
//! Without a background compactor L0 is compacted by `persist` itself, so
//! there is nobody to wait for: the L0 checks are skipped.

use std::time::{Duration, Instant};
use tierdb_tier::StallEvent;

use parking_lot::{Condvar, Mutex};

use crate::inner::{Inner, bump};

/// The sleep of one slowed-down apply.
const SLOWDOWN: Duration = Duration::from_millis(1);

/// Signalled after every install; stalled writers wait on it.
#[derive(Default)]
pub(crate) struct Progress {
    installs: Mutex<u64>,
    cv: Condvar,
}

impl Progress {
    /// Wakes every stalled writer (called after an install).
    pub(crate) fn notify(&self) {
        *self.installs.lock() += 1;
        self.cv.notify_all();
    }
}

impl Inner {
    /// Slows down or stalls the caller as the module doc says.
    pub(crate) fn throttle(&self) {
        let (l0, frozen) = self.shape();
        if frozen > self.opts.max_frozen_memtables {
            bump(&self.counters.stall_count, 1);
        }
        if !self.opts.background_compaction {
            return;
        }
        if l0 >= self.opts.l0_stop_tables {
            self.stall_on_l0();
        } else if l0 >= self.opts.l0_slowdown_tables {
            let start = Instant::now();
            std::thread::sleep(SLOWDOWN);
            bump(&self.counters.slowdown_count, 1);
            bump(&self.counters.slowdown_micros, micros(start));
        }
    }

    /// L0 tables and frozen memtables now.
    fn shape(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.version.levels[0].len(), state.frozen.len())
    }

    /// Waits until L0 is below the stop threshold, or `stall_timeout`.
    fn stall_on_l0(&self) {
        let start = Instant::now();
        let deadline = start + self.opts.stall_timeout;
        let mut installs = self.progress.installs.lock();
        self.wakeup.wake();
        let mut timed_out = false;
        while self.shape().0 >= self.opts.l0_stop_tables {
            if self
                .progress
                .cv
                .wait_until(&mut installs, deadline)
                .timed_out()
            {
                if self.shape().0 >= self.opts.l0_stop_tables {
                    bump(&self.counters.stall_timeouts, 1);
                    timed_out = true;
                }
                break;
            }
        }
        drop(installs);
        bump(&self.counters.stall_count, 1);
        bump(&self.counters.stall_micros, micros(start).max(1));
        if let Some(sink) = &self.opts.events {
            let event = StallEvent::new(
                start.elapsed(),
                timed_out,
                "L0 tables at the stop threshold",
            );
            sink.0.on_stall(&event);
        }
    }
}

fn micros(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}
