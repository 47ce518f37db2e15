//! Automatic tiering: the background worker acts on the advisor
//! (`advisor.rs`) when `Options::auto_tier` asks it to.
//!
//! Every `interval` the worker judges each partition on the operations of
//! that interval alone (not since open, so a workload that changes is
//! followed), with the advisor's rule. A partition moves only when the
//! advice to move has held for `confirmations` intervals in a row; an
//! interval with another advice — staying, because the write share is in
//! the 25–60 % band or traffic was too thin — starts the count again. With
//! the band (a partition must cross to the far threshold to move back) this
//! is the hysteresis that keeps a partition from flapping between tiers.
//! After a move the partition starts from nothing: its new tier must earn
//! its own run of confirmations before it could move again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::advisor::{TierAdvice, advise_one};
use crate::db::DbInner;
use crate::{PartitionId, Tier};

/// When the database moves partitions between tiers by itself
/// (`Options::auto_tier`).
///
/// ```
/// use std::time::Duration;
/// use tierdb::{AutoTier, Options};
/// // Judge every 5 minutes; move after 3 agreeing judgements in a row.
/// let opts = Options::default().auto_tier(AutoTier::every(Duration::from_secs(300)).confirmations(3));
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoTier {
    pub(crate) interval: Duration,
    pub(crate) confirmations: u32,
}

impl AutoTier {
    /// Judges every `interval`, moving a partition after 3 agreeing
    /// judgements in a row.
    pub fn every(interval: Duration) -> Self {
        AutoTier {
            interval,
            confirmations: 3,
        }
    }

    /// Agreeing judgements in a row needed before a move (at least 1).
    pub fn confirmations(mut self, n: u32) -> Self {
        self.confirmations = n.max(1);
        self
    }
}

/// What the worker remembers of a partition between judgements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// Generation the counters below belong to (a rebuilt partition starts
    /// its counters from zero).
    generation: u32,
    reads: u64,
    scans: u64,
    writes: u64,
    /// The move the last judgements advised, and how many in a row.
    streak: Option<(Tier, u32)>,
}

/// The worker's memory, by partition id.
#[derive(Default)]
pub(crate) struct AutoTierState {
    seen: HashMap<u32, Seen>,
    next: Option<Instant>,
}

/// One partition's judgement: the advice on the interval's operations,
/// and whether it has now held long enough to act on.
fn judge(seen: &mut Seen, advice: &TierAdvice, confirmations: u32) -> bool {
    if advice.recommended == advice.current {
        seen.streak = None;
        return false;
    }
    let count = match seen.streak {
        Some((tier, n)) if tier == advice.recommended => n + 1,
        _ => 1,
    };
    seen.streak = Some((advice.recommended, count));
    count >= confirmations
}

impl DbInner {
    /// Judges the partitions if an interval has passed, and moves those
    /// whose advice has held long enough. Run by the background worker.
    pub(crate) fn auto_tier_tick(&self) {
        let Some(auto) = self.opts.auto_tier else {
            return;
        };
        let now = Instant::now();
        let mut state = self.auto_tier.lock();
        match state.next {
            None => {
                // The first call only starts the first interval.
                state.next = Some(now + auto.interval);
                self.remember_counters(&mut state);
                return;
            }
            Some(due) if now < due => return,
            Some(_) => state.next = Some(now + auto.interval),
        }
        let mut moves = Vec::new();
        let layout = self.layout();
        for p in &layout.partitions {
            let (reads, scans, writes) = (
                p.reads.get(),
                p.scans.get(),
                p.writes.load(Ordering::Relaxed),
            );
            let seen = state.seen.entry(p.entry.id).or_default();
            if seen.generation != p.entry.generation {
                *seen = Seen {
                    generation: p.entry.generation,
                    ..Seen::default()
                };
            }
            let advice = advise_one(
                PartitionId(p.entry.id),
                p.entry.tier,
                reads.saturating_sub(seen.reads),
                scans.saturating_sub(seen.scans),
                writes.saturating_sub(seen.writes),
            );
            (seen.reads, seen.scans, seen.writes) = (reads, scans, writes);
            if judge(seen, &advice, auto.confirmations) {
                seen.streak = None;
                moves.push(advice);
            }
        }
        drop(state);
        for advice in moves {
            match self.set_tier(advice.partition, advice.recommended) {
                Ok(()) => self
                    .opts
                    .listeners
                    .iter()
                    .for_each(|l| l.on_tier_changed(&advice)),
                Err(e) => {
                    self.counters
                        .background_errors
                        .fetch_add(1, Ordering::Relaxed);
                    self.opts
                        .listeners
                        .iter()
                        .for_each(|l| l.on_background_error(&e));
                }
            }
        }
    }

    fn remember_counters(&self, state: &mut AutoTierState) {
        for p in &self.layout().partitions {
            state.seen.insert(
                p.entry.id,
                Seen {
                    generation: p.entry.generation,
                    reads: p.reads.get(),
                    scans: p.scans.get(),
                    writes: p.writes.load(Ordering::Relaxed),
                    streak: None,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advice(current: Tier, reads: u64, writes: u64) -> TierAdvice {
        advise_one(PartitionId(1), current, reads, 0, writes)
    }

    #[test]
    fn moves_only_after_enough_agreeing_judgements_in_a_row() {
        let mut seen = Seen::default();
        let write_heavy = advice(Tier::BTree, 100, 5000);
        let in_band = advice(Tier::BTree, 1000, 600);
        assert!(!judge(&mut seen, &write_heavy, 3));
        assert!(!judge(&mut seen, &write_heavy, 3));
        // An interval in the band starts the count again.
        assert!(!judge(&mut seen, &in_band, 3));
        assert!(!judge(&mut seen, &write_heavy, 3));
        assert!(!judge(&mut seen, &write_heavy, 3));
        assert!(judge(&mut seen, &write_heavy, 3));
        // One confirmation: the first advice to move acts.
        let mut seen = Seen::default();
        assert!(judge(&mut seen, &write_heavy, 1));
        // Advice to stay never acts.
        let mut seen = Seen::default();
        for _ in 0..10 {
            assert!(!judge(&mut seen, &in_band, 1));
        }
    }
}
