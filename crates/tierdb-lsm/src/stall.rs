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

use tierdb_tier::{StallEvent, micros_since, sleep_micros};

use crate::inner::{Inner, bump};

/// The sleep of one slowed-down apply.
const SLOWDOWN: Duration = Duration::from_millis(1);

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
            bump(&self.counters.slowdown_count, 1);
            bump(&self.counters.slowdown_micros, sleep_micros(SLOWDOWN));
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
        let timed_out = self.progress.wait_while(
            start + self.opts.stall_timeout,
            || self.wakeup.wake(),
            || self.shape().0 >= self.opts.l0_stop_tables,
        );
        if timed_out {
            bump(&self.counters.stall_timeouts, 1);
        }
        bump(&self.counters.stall_count, 1);
        bump(&self.counters.stall_micros, micros_since(start));
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
