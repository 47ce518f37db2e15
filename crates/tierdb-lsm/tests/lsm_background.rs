//! Background compaction, its rate limit, and write stalls: L0 shrinks
//! after persists without `compact_all`; a held view keeps its snapshot
//! through background compactions; a slow compactor stalls `apply`, which
//! then proceeds; the stall timeout bounds the wait.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tierdb_cache::PageCache;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

fn open_opts(opts: LsmOptions) -> (LsmTier, SimVfs) {
    let sim = SimVfs::new(seed(77));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let cache = Arc::new(PageCache::new(1 << 20));
    (open_with(&vfs, Path::new(DIR), cache, opts).unwrap(), sim)
}

/// Round `round`: 400 distinct keys of ~50 bytes (about 30 KB of table).
fn round_ops(round: u64) -> Vec<WriteOp> {
    (0..400u64)
        .map(|i| WriteOp::Put {
            key: key(round * 1000 + i),
            value: value(i, round, 40),
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn background_compaction_shrinks_l0_without_compact_all() {
    let (tier, _sim) = open_opts(small_options());
    let mut model = Model::new();
    for round in 1..=12 {
        apply(&tier, &mut model, round, round_ops(round));
        persist(&tier);
    }
    let trigger = small_options().l0_compaction_trigger;
    wait_until("L0 below the trigger", Duration::from_secs(10), || {
        let s = tier.lsm_stats();
        s.tables_per_level[0] < trigger && s.compactions > 0 && s.compaction_debt_bytes == 0
    });
    let stats = tier.lsm_stats();
    eprintln!("{stats:?}");
    assert!(stats.compaction_bytes_written > 0 && stats.compaction_bytes_read > 0);
    assert_eq!(stats.background_errors, 0);
    assert_equal(&*tier.read_view(), &model, "after background compactions");
}

#[test]
fn held_view_reads_its_snapshot_through_background_compactions() {
    let (tier, _sim) = open_opts(small_options());
    let mut model = Model::new();
    for round in 1..=4 {
        apply(&tier, &mut model, round, round_ops(round));
        persist(&tier);
    }
    let view = tier.read_view();
    let snapshot = model.clone();
    let before = tier.lsm_stats().compactions;
    for round in 5..=20 {
        let mut ops = round_ops(round);
        ops.push(WriteOp::Delete { key: key(1000) });
        ops.push(WriteOp::Put {
            key: key(2001),
            value: value(1, round, 10),
        });
        apply(&tier, &mut model, round, ops);
        persist(&tier);
    }
    // Until compactions have run and caught up: the first L0 compaction
    // after the view merges every L0 table it holds (how many compactions
    // that takes depends on how far flushes run ahead of the compactor).
    wait_until("background compactions", Duration::from_secs(10), || {
        let s = tier.lsm_stats();
        s.compactions > before && s.compaction_debt_bytes == 0
    });
    assert_equal(&*view, &snapshot, "held view");
    let mut rng = Rng::new(5);
    spot_check(&*view, &snapshot, &mut rng, 21_000, "held view spot");
    assert_equal(&*tier.read_view(), &model, "latest");
}

/// L0 stops at 3 tables; compaction output is limited to `rate` bytes/s.
fn stall_options(rate: u64, timeout: Duration) -> LsmOptions {
    LsmOptions {
        l0_compaction_trigger: 2,
        l0_slowdown_tables: 2,
        l0_stop_tables: 3,
        compaction_bytes_per_sec: Some(rate),
        stall_timeout: timeout,
        ..small_options()
    }
}

/// Three persisted rounds (L0 reaches the stop threshold while the first
/// compaction crawls), then one timed apply.
fn stalled_apply(tier: &LsmTier) -> Duration {
    let mut model = Model::new();
    for round in 1..=3 {
        apply(tier, &mut model, round, round_ops(round));
        persist(tier);
    }
    assert!(tier.lsm_stats().tables_per_level[0] >= 3, "L0 not full");
    let start = Instant::now();
    apply(tier, &mut model, 4, round_ops(4));
    start.elapsed()
}

#[test]
fn apply_stalls_on_l0_until_compaction_installs() {
    let (tier, _sim) = open_opts(stall_options(100_000, Duration::from_secs(8)));
    let took = stalled_apply(&tier);
    let stats = tier.lsm_stats();
    eprintln!("stalled apply took {took:?}; {stats:?}");
    assert!(stats.stall_count > 0 && stats.stall_micros > 0, "{stats:?}");
    assert_eq!(stats.stall_timeouts, 0, "{stats:?}");
    assert!(took >= Duration::from_millis(50), "apply did not block");
    assert!(
        took < Duration::from_secs(8),
        "apply waited out the timeout"
    );
    assert!(stats.tables_per_level[0] < 3, "{stats:?}");
}

#[test]
fn stall_timeout_bounds_the_wait() {
    // 1 byte/s: the compactor never finishes while the test runs.
    let (tier, _sim) = open_opts(stall_options(1, Duration::from_millis(200)));
    let took = stalled_apply(&tier);
    let stats = tier.lsm_stats();
    eprintln!("timed-out apply took {took:?}; {stats:?}");
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        stats.stall_timeouts >= 1 && stats.stall_count >= 1,
        "{stats:?}"
    );
    assert!(stats.stall_micros >= 190_000, "{stats:?}");
    let start = Instant::now();
    drop(tier);
    assert!(start.elapsed() < Duration::from_secs(1), "drop waited");
}

#[test]
fn rate_limited_compaction_takes_bytes_over_rate() {
    const RATE: u64 = 200_000;
    let opts = LsmOptions {
        background_compaction: false,
        l0_compaction_trigger: 100,
        l0_slowdown_tables: 100,
        l0_stop_tables: 100,
        compaction_bytes_per_sec: Some(RATE),
        ..small_options()
    };
    let (tier, _sim) = open_opts(opts);
    let mut model = Model::new();
    for round in 1..=5 {
        apply(&tier, &mut model, round, round_ops(round));
        persist(&tier);
    }
    let start = Instant::now();
    tier.compact_all().unwrap();
    let took = start.elapsed().as_secs_f64();
    let written = tier.lsm_stats().compaction_bytes_written;
    let burst = (RATE / 10).max(4096);
    let min = (written - burst) as f64 / RATE as f64;
    eprintln!("compacted {written} bytes in {took:.3} s (min {min:.3} s)");
    assert!(written > 4 * burst, "too little written: {written}");
    assert!(took >= min * 0.99, "took {took} s < {min} s");
    assert_equal(&*tier.read_view(), &model, "after limited compaction");
}

#[test]
fn cache_hits_are_counted() {
    let opts = LsmOptions {
        background_compaction: false,
        ..small_options()
    };
    let (tier, _sim) = open_opts(opts);
    let mut model = Model::new();
    apply(&tier, &mut model, 1, round_ops(1));
    persist(&tier);
    let view = tier.read_view();
    for _ in 0..10 {
        assert!(view.get(&key(1005)).unwrap().is_some());
    }
    let stats = tier.stats();
    assert!(stats.cache_misses >= 1, "{stats:?}");
    assert!(stats.cache_hits >= 9, "{stats:?}");
}
