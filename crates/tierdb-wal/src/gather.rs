//! How long a group-sync leader waits for followers to append before it
//! syncs: the group size it waits for and the time it gives them.
//!
//! Each committer has one commit in flight; the ones the previous group
//! released append their next record microseconds after the new leader took
//! over. Without waiting, committers split into cohorts that alternate
//! between groups, and a group holds only part of them. So the leader waits
//! until as many records are buffered as the recent groups held at most, or
//! half the last group's write and sync time (at most [`GATHER_MAX`]) has
//! passed — PostgreSQL's `commit_delay`, made adaptive. (A quarter was too
//! short for B+tree commits on a loaded two-core machine: a third of the
//! leaders gave up on the last follower, groups averaged 3.7 of 4.)
//!
//! The size waited for is the peak of the recent groups, not the last
//! group's size: once a committer missed a group (it was still being woken
//! when the budget ran out), waiting for the last size only would settle at
//! the smaller groups for good, with the committer that missed it syncing in
//! a cohort of its own. The peak is forgotten after [`PEAK_MEMORY`] groups
//! in a row fell short of it (committers left), so a lone committer is back
//! to never waiting after a few syncs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest a leader waits for followers to gather before it syncs.
pub(crate) const GATHER_MAX: Duration = Duration::from_micros(200);

/// The longest a follower spins on a running sync before it sleeps.
pub(crate) const SPIN_MAX: Duration = Duration::from_micros(500);

/// Groups in a row smaller than the peak after which the peak is dropped
/// to the last group's size.
pub(crate) const PEAK_MEMORY: u64 = 8;

/// The recent groups' sizes and sync time. Updated by the leader only (so
/// the relaxed atomics never race with one another), read by the next one.
#[derive(Debug, Default)]
pub(crate) struct Gather {
    /// The largest group since the peak was last reset.
    peak_records: AtomicU64,
    /// Groups in a row smaller than `peak_records`.
    short_groups: AtomicU64,
    /// How long the last group's write and sync took.
    last_sync_nanos: AtomicU64,
}

impl Gather {
    /// The records a leader waits to see buffered, and for how long at most.
    pub(crate) fn target(&self) -> (usize, Duration) {
        let want = self.peak_records.load(Ordering::Relaxed) as usize;
        let half = Duration::from_nanos(self.last_sync_nanos.load(Ordering::Relaxed) / 2);
        (want, half.min(GATHER_MAX))
    }

    /// How long a follower spins waiting for a running sync before it
    /// sleeps: about one sync time, at most [`SPIN_MAX`].
    pub(crate) fn spin_budget(&self) -> Duration {
        Duration::from_nanos(self.last_sync_nanos.load(Ordering::Relaxed)).min(SPIN_MAX)
    }

    /// Records a synced group of `records` whose write and sync took `took`.
    pub(crate) fn synced(&self, records: u64, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_sync_nanos.store(nanos, Ordering::Relaxed);
        let peak = self.peak_records.load(Ordering::Relaxed);
        let short = self.short_groups.load(Ordering::Relaxed) + 1;
        if records >= peak || short >= PEAK_MEMORY {
            self.peak_records.store(records, Ordering::Relaxed);
            self.short_groups.store(0, Ordering::Relaxed);
        } else {
            self.short_groups.store(short, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC: Duration = Duration::from_micros(100);

    #[test]
    fn waits_for_the_recent_peak_not_the_last_group() {
        let g = Gather::default();
        assert_eq!(g.target(), (0, Duration::ZERO), "no group yet: no wait");
        g.synced(4, SYNC);
        g.synced(3, SYNC);
        assert_eq!(g.target(), (4, SYNC / 2));
        g.synced(5, SYNC);
        assert_eq!(g.target().0, 5);
    }

    #[test]
    fn forgets_the_peak_after_enough_short_groups() {
        let g = Gather::default();
        g.synced(4, SYNC);
        for _ in 1..PEAK_MEMORY {
            g.synced(1, SYNC);
            assert_eq!(g.target().0, 4);
        }
        g.synced(1, SYNC);
        assert_eq!(g.target().0, 1, "a lone committer no longer waits");
        // A group reaching the peak restarts the count.
        g.synced(2, SYNC);
        for _ in 1..PEAK_MEMORY {
            g.synced(1, SYNC);
        }
        g.synced(2, SYNC);
        assert_eq!(g.target().0, 2);
    }

    #[test]
    fn the_wait_is_half_the_last_sync_at_most_gather_max() {
        let g = Gather::default();
        g.synced(2, Duration::from_millis(10));
        assert_eq!(g.target().1, GATHER_MAX);
        g.synced(2, Duration::from_micros(40));
        assert_eq!(g.target().1, Duration::from_micros(20));
    }
}
