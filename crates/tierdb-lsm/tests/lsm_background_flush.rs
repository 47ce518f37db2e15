//! Background flushes (`background_flush.rs`): once the write-ahead hook
//! is handed over, frozen memtables reach L0 tables without any `persist`,
//! the hook is called (write-ahead rule) for at least what is recorded as
//! persisted, a reopen recovers that sequence, and writers wait for a
//! flusher that falls behind instead of piling up memtables.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tierdb_cache::PageCache;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WalDurableTo, WriteOp};

const DIR: &str = "/db/lsm";

/// Round `round`: 400 distinct keys of ~50 bytes, more than one 16 KiB
/// memtable, so every round's apply freezes the active memtable.
fn round_ops(round: u64) -> Vec<WriteOp> {
    (0..400u64)
        .map(|i| WriteOp::Put {
            key: key(round * 1000 + i % 300),
            value: value(i, round, 40),
        })
        .collect()
}

fn open_tier(vfs: &Arc<dyn Vfs>, opts: LsmOptions) -> LsmTier {
    open_with(vfs, Path::new(DIR), Arc::new(PageCache::new(1 << 20)), opts).unwrap()
}

/// A hook that records the highest sequence it was asked to make durable,
/// after sleeping `delay`.
fn recording_hook(asked: &Arc<AtomicU64>, delay: Duration) -> WalDurableTo {
    let asked = Arc::clone(asked);
    Arc::new(move |seq| {
        std::thread::sleep(delay);
        asked.fetch_max(seq, Ordering::SeqCst);
        Ok(())
    })
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn frozen_memtables_are_flushed_without_persist() {
    let sim = SimVfs::new(seed(41));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open_tier(&vfs, small_options());
    let asked = Arc::new(AtomicU64::new(0));
    tier.persist_in_background(recording_hook(&asked, Duration::ZERO));
    let mut model = Model::new();
    for round in 1..=12 {
        apply(&tier, &mut model, round, round_ops(round));
    }
    wait_until("every frozen memtable flushed", || {
        tier.persisted_seq() == 12
    });
    let (stats, lsm) = (tier.stats(), tier.lsm_stats());
    eprintln!("{stats:?}\n{lsm:?}");
    assert_eq!(stats.persists, 0, "no persist was asked for");
    assert!(lsm.flushes >= 1, "{lsm:?}");
    assert_eq!(lsm.memtables, 1, "only the (empty) active memtable is left");
    assert!(
        asked.load(Ordering::SeqCst) >= 12,
        "the WAL was not made durable up to the persisted sequence"
    );
    assert_eq!(lsm.background_errors, 0);
    assert_equal(&*tier.read_view(), &model, "after background flushes");
    // What was recorded as persisted is in the files: a reopen (nothing
    // replayed, as no WAL is involved here) finds it all.
    drop(tier);
    let tier = open_tier(&vfs, small_options());
    assert_eq!(tier.persisted_seq(), 12);
    assert_equal(&*tier.read_view(), &model, "reopened");
}

#[test]
fn without_the_hook_frozen_memtables_wait_for_persist() {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed(42)));
    let tier = open_tier(&vfs, small_options());
    let mut model = Model::new();
    for round in 1..=3 {
        apply(&tier, &mut model, round, round_ops(round));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(tier.persisted_seq(), 0);
    assert_eq!(tier.lsm_stats().memtables, 4);
    assert_eq!(persist(&tier), 3);
    assert_equal(&*tier.read_view(), &model, "after persist");
}

#[test]
fn writers_wait_for_a_flusher_that_falls_behind() {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed(43)));
    let opts = LsmOptions {
        max_frozen_memtables: 2,
        ..small_options()
    };
    let tier = open_tier(&vfs, opts);
    let asked = Arc::new(AtomicU64::new(0));
    // Every flush takes at least 100 ms: far slower than the applies.
    tier.persist_in_background(recording_hook(&asked, Duration::from_millis(100)));
    let mut model = Model::new();
    for round in 1..=10 {
        apply(&tier, &mut model, round, round_ops(round));
        let memtables = tier.lsm_stats().memtables;
        assert!(
            memtables <= 2 + 2,
            "round {round}: {memtables} memtables, frozen ones beyond the limit"
        );
    }
    let lsm = tier.lsm_stats();
    eprintln!("{lsm:?}");
    assert!(lsm.stall_count >= 1 && lsm.stall_micros > 0, "{lsm:?}");
    assert_eq!(lsm.stall_timeouts, 0, "{lsm:?}");
    wait_until("the flusher to catch up", || tier.persisted_seq() == 10);
    assert_equal(&*tier.read_view(), &model, "after the stalls");
}
