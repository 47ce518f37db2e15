//! Write slowdowns and stalls (RocksDB's model), checked at the start of
//! every `apply`, before it takes any lock:
//!
//! - L0 holds `>= l0_stop_tables` tables: wait until an install (flush or
//!   compaction) brings it below, at most `stall_timeout`, then proceed
//!   anyway. Counted in `stall_count` / `stall_micros`, and a wait that
//!   ran out in `stall_timeouts`.
//! - Otherwise L0 holds `>= l0_slowdown_tables`: sleep 1 ms, once per
//!   apply (`slowdown_count` / `slowdown_micros`).
//! - More than `max_frozen_memtables` frozen memtables: when the flusher
//!   thread flushes them (`background_flush.rs`), wait until a flush
//!   brings them back to the limit, at most `stall_timeout`, so memory
//!   stays bounded when flushes fall behind (a failed flush ends the wait:
//!   the tier is poisoned, and the next `persist` says so). Otherwise (no flusher, or the
//!   layer above has not handed over its write-ahead hook yet) only
//!   `persist`, which the caller runs, flushes them: counted as a stall,
//!   without a wait.
//!
//! Without a background compactor L0 is compacted by `persist` itself, so
//! there is nobody to wait for: the L0 checks are skipped.

use std::time::{Duration, Instant};

use tierdb_tier::{StallEvent, micros_since, sleep_micros};

use crate::background::Wakeup;
use crate::inner::{Inner, bump};

/// The sleep of one slowed-down apply.
const SLOWDOWN: Duration = Duration::from_millis(1);

impl Inner {
    /// Slows down or stalls the caller as the module doc says.
    pub(crate) fn throttle(&self) {
        let max_frozen = self.opts.max_frozen_memtables;
        if self.shape().1 > max_frozen {
            if self.flushes_in_background() {
                self.stall(
                    |inner| inner.flushes_in_background() && inner.shape().1 > max_frozen,
                    &self.flush_wakeup,
                    "frozen memtables over the limit",
                );
            } else {
                bump(&self.counters.stall_count, 1);
            }
        }
        if !self.opts.background_compaction {
            return;
        }
        let stop = self.opts.l0_stop_tables;
        let l0 = self.shape().0;
        if l0 >= stop {
            self.stall(
                |inner| inner.shape().0 >= stop,
                &self.wakeup,
                "L0 tables at the stop threshold",
            );
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

    /// Wakes the thread that can help (`wakeup`) and waits until an
    /// install leaves the tier no longer `blocked`, or `stall_timeout`.
    fn stall(&self, blocked: impl Fn(&Inner) -> bool, wakeup: &Wakeup, cause: &'static str) {
        let start = Instant::now();
        let timed_out = self.progress.wait_while(
            start + self.opts.stall_timeout,
            || wakeup.wake(),
            || blocked(self),
        );
        if timed_out {
            bump(&self.counters.stall_timeouts, 1);
        }
        bump(&self.counters.stall_count, 1);
        bump(&self.counters.stall_micros, micros_since(start));
        if let Some(sink) = &self.opts.events {
            sink.0
                .on_stall(&StallEvent::new(start.elapsed(), timed_out, cause));
        }
    }
}
