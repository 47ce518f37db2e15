//! Writers slowed down and stalled on dirty memory, so that writes cannot
//! outrun the checkpoints that free it. Checked at the start of every
//! commit, before the commit lock is taken: a stalled writer holds no lock,
//! so the checkpoint it waits for (which takes the commit lock to advance
//! idle partitions) always runs. With `B = Options::checkpoint_dirty_bytes`
//! and `dirty` the partitions' dirty bytes (`Tier::dirty_bytes`: the B+tree's
//! nodes changed since its last checkpoint, the LSM's memtables):
//!
//! - `dirty > B`: wake the background worker, which checkpoints (it would
//!   otherwise look only every 100 ms).
//! - `dirty > 1.5 B`: sleep 1 ms, once per commit (a checkpoint is running
//!   or due; writers give it time).
//! - `dirty > 2 B`: wait until a checkpoint brings it back to `2 B` or
//!   below, at most `STALL_TIMEOUT`, then proceed anyway.
//!
//! While a B+tree checkpoint runs, the nodes it writes stay in memory until
//! it ends and writers copy the paths they change, so dirty memory is what
//! the checkpoint started with (about `B`) plus everything written since;
//! the stall bounds that sum at `2 B`.
//!
//! Nobody to wait for, no wait: without a background worker
//! (`Options::background_checkpoints(false)`, or a worker that failed to
//! start), on the worker's own thread (a listener that commits), once the
//! database is closed or poisoned. Counted in `Stats::write_slowdowns`,
//! `write_stalls`, `write_stall_micros` and `write_stall_timeouts`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tierdb_tier::{micros_since, sleep_micros};

use crate::db::DbInner;

/// The sleep of one slowed-down commit.
const SLOWDOWN: Duration = Duration::from_millis(1);

/// The longest a stalled commit waits before it proceeds anyway.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of the throttle (`Stats::write_*`).
#[derive(Default)]
pub(crate) struct StallCounters {
    pub slowdowns: AtomicU64,
    pub stalls: AtomicU64,
    pub micros: AtomicU64,
    pub timeouts: AtomicU64,
}

impl DbInner {
    /// Bytes of applied state the partitions hold in memory, not yet
    /// persisted.
    pub fn dirty_bytes(&self) -> u64 {
        self.version
            .load()
            .layout
            .partitions
            .iter()
            .map(|p| p.store.dirty_bytes())
            .sum()
    }

    /// Wakes the checkpointer, slows down or stalls the caller as the module
    /// documentation says.
    pub fn throttle_writes(&self) {
        let budget = self.opts.checkpoint_dirty_bytes;
        let dirty = self.dirty_bytes();
        if dirty <= budget {
            return;
        }
        self.background.wake();
        if dirty <= budget + budget / 2 || !self.background.can_wait_for() {
            return;
        }
        let c = &self.counters.stalls;
        if dirty <= budget.saturating_mul(2) {
            c.slowdowns.fetch_add(1, Ordering::Relaxed);
            c.micros
                .fetch_add(sleep_micros(SLOWDOWN), Ordering::Relaxed);
            return;
        }
        let start = Instant::now();
        let timed_out = self.background.progress.wait_while(
            start + STALL_TIMEOUT,
            || self.background.wake(),
            || {
                self.dirty_bytes() > budget.saturating_mul(2)
                    && self.background.can_wait_for()
                    && self.check_writable().is_ok()
            },
        );
        c.stalls.fetch_add(1, Ordering::Relaxed);
        c.micros.fetch_add(micros_since(start), Ordering::Relaxed);
        if timed_out {
            c.timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }
}
