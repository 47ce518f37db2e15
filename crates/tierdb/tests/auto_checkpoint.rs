//! Background checkpoints keep the WAL — and so reopen time — bounded
//! whatever the uptime.

use std::time::{Duration, Instant};

use tierdb::{Db, Durability, Options, WriteBatch};

#[test]
fn wal_stays_bounded_and_reopen_replays_little() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let bound = 256 * 1024;
    let opts = || {
        Options::default()
            .durability(Durability::Buffered)
            .wal_segment_bytes(64 * 1024)
            .checkpoint_wal_bytes(bound)
    };
    let db = Db::open(&path, opts()).unwrap();
    let value = vec![b'v'; 200];
    let mut written = 0u64;
    // About 8 MiB of log in all: 32 times the bound.
    for round in 0..400u64 {
        let mut batch = WriteBatch::new();
        for i in 0..100u64 {
            batch.put(format!("k/{:06}", (round * 100 + i) % 5000), &value);
        }
        db.write(batch).unwrap();
        written += 100;
        if round % 50 == 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.stats().wal_live_bytes > 4 * bound && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = db.stats();
    assert!(
        stats.checkpoints >= 2,
        "background checkpoints ran: {stats:?}"
    );
    assert!(
        stats.wal_live_bytes <= 4 * bound,
        "WAL bounded: {} bytes",
        stats.wal_live_bytes
    );
    // Not closed: the reopen must replay only what the last checkpoint left.
    drop(db);
    let db = Db::open(&path, opts()).unwrap();
    let reopened = db.stats();
    assert!(
        reopened.open_replayed_records < written / 100 / 2,
        "replayed {} of {} commits",
        reopened.open_replayed_records,
        written / 100
    );
    assert_eq!(db.range(..).unwrap().count(), 5000);
    db.close().unwrap();
}

/// The bound counts the WAL logged since the last checkpoint began, not
/// the live segments (the active one is never removed, and its start was
/// checkpointed): a bound well below the segment size neither checkpoints
/// on every commit nor lets a reopen replay much more than the bound.
#[test]
fn wal_bound_below_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let bound = 64 * 1024;
    let opts = || {
        Options::default()
            .durability(Durability::Buffered)
            .wal_segment_bytes(8 << 20)
            .checkpoint_wal_bytes(bound)
    };
    let db = Db::open(&path, opts()).unwrap();
    let value = vec![b'v'; 200];
    // ~2.2 KiB of log per commit: ~29 commits per bound.
    let commit = |db: &Db, round: u64| {
        let mut batch = WriteBatch::new();
        for i in 0..10u64 {
            batch.put(format!("k/{:06}", (round * 10 + i) % 2000), &value);
        }
        db.write(batch).unwrap();
    };
    // Spaced, so that the worker could keep up with one checkpoint per
    // commit if the bound asked for it.
    let commits = 300u64;
    for round in 0..commits {
        commit(&db, round);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = db.stats();
    assert!(stats.checkpoints >= 3, "checkpoints ran: {stats:?}");
    assert!(
        stats.checkpoints < commits / 5,
        "{} checkpoints for {commits} commits",
        stats.checkpoints
    );
    // Less than the bound after the last checkpoint: none is due.
    for round in commits..commits + 10 {
        commit(&db, round);
    }
    drop(db);
    let db = Db::open(&path, opts()).unwrap();
    let replayed = db.stats().open_replayed_records;
    assert!(
        replayed <= 10 + 2 * 29,
        "replayed {replayed} commits for a bound of ~29"
    );
    assert_eq!(db.range(..).unwrap().count(), 2000);
    db.close().unwrap();
}

/// Regression: the background worker used to keep the database (and its
/// lock) alive for the length of a checkpoint after the last handle was
/// dropped, so an immediate reopen failed with `Error::Locked`.
#[test]
fn dropping_the_last_handle_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = || {
        Options::default()
            .durability(Durability::Volatile)
            .checkpoint_wal_bytes(4096)
    };
    for round in 0..20u64 {
        let db = Db::open(&path, opts()).unwrap();
        for i in 0..300u64 {
            db.put(format!("k/{:04}", (round * 300 + i) % 1000), [7u8; 100])
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(round % 3 * 60));
        drop(db);
    }
    let db = Db::open(&path, opts()).unwrap();
    assert_eq!(db.range(..).unwrap().count(), 1000);
}

#[derive(Default)]
struct Counting {
    begun: std::sync::atomic::AtomicU64,
    background_done: std::sync::atomic::AtomicU64,
    foreground_done: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

impl tierdb::EventListener for Counting {
    fn on_checkpoint_begin(&self, _background: bool) {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_checkpoint_completed(&self, event: &tierdb::CheckpointEvent) {
        let counter = if event.background {
            &self.background_done
        } else {
            &self.foreground_done
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_background_error(&self, _error: &tierdb::Error) {
        self.errors
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Listeners hear background and explicit checkpoints, and a background
/// checkpoint that fails (an injected write error) is reported to them and
/// leaves the database refusing writes.
#[test]
fn listeners_hear_checkpoints_and_background_errors() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;
    use tierdb::{Fault, FaultKind, FaultOp, SimVfs};

    let sim = Arc::new(SimVfs::new(7));
    let counting = Arc::new(Counting::default());
    let opts = Options::default()
        .vfs(sim.clone())
        .durability(Durability::Buffered)
        .checkpoint_wal_bytes(16 * 1024)
        .listener(counting.clone());
    let db = Db::open("db", opts).unwrap();
    let wait_for = |what: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !what() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        what()
    };
    let mut i = 0u64;
    let mut write_some = || {
        for _ in 0..200 {
            i += 1;
            let _ = db.put(format!("k/{:05}", i % 3000), [1u8; 100]);
        }
    };
    write_some();
    assert!(
        wait_for(&|| counting.background_done.load(SeqCst) > 0),
        "no background checkpoint"
    );
    db.checkpoint().unwrap();
    assert_eq!(counting.foreground_done.load(SeqCst), 1);
    sim.inject(
        Fault::new(FaultOp::Write, FaultKind::Eio)
            .on_path("p000000")
            .times(u64::MAX),
    );
    write_some();
    assert!(
        wait_for(&|| counting.errors.load(SeqCst) > 0),
        "background error not reported"
    );
    assert!(matches!(
        db.put(b"after", b"x"),
        Err(tierdb::Error::Poisoned { .. })
    ));
    assert!(db.stats().background_errors > 0);
    let begun = counting.begun.load(SeqCst);
    let ended = counting.background_done.load(SeqCst)
        + counting.foreground_done.load(SeqCst)
        + counting.errors.load(SeqCst);
    assert_eq!(begun, ended, "every begun checkpoint ended or failed");
}

/// An idle partition must not keep the WAL alive: after a checkpoint, a
/// reopen replays nothing even though one partition saw no write for
/// thousands of commits.
#[test]
fn an_idle_partition_does_not_pin_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = || {
        Options::default()
            .durability(Durability::Buffered)
            .background_checkpoints(false)
            .wal_segment_bytes(16 * 1024)
            .partition(b"busy/", tierdb::Tier::Lsm)
    };
    let db = Db::open(&path, opts()).unwrap();
    db.put(b"idle/1", b"x").unwrap();
    for i in 0..3000u64 {
        db.put(format!("busy/{:04}", i % 500), [3u8; 100]).unwrap();
    }
    db.checkpoint().unwrap();
    let live = db.stats().wal_live_bytes;
    assert!(
        live < 64 * 1024,
        "WAL kept {live} bytes after the checkpoint"
    );
    drop(db);
    let db = Db::open(&path, opts()).unwrap();
    assert_eq!(db.stats().open_replayed_records, 0);
    assert_eq!(db.get(b"idle/1").unwrap().as_deref(), Some(&b"x"[..]));
    db.close().unwrap();
}

#[derive(Default)]
struct Compactions {
    begun: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU64,
    partitions: parking_lot_free::Partitions,
}

mod parking_lot_free {
    /// The partitions events named (std Mutex: tests keep dependencies few).
    #[derive(Default)]
    pub struct Partitions(pub std::sync::Mutex<Vec<tierdb::PartitionId>>);
}

impl tierdb::EventListener for Compactions {
    fn on_compaction_begin(&self, _partition: tierdb::PartitionId) {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn on_compaction_completed(
        &self,
        partition: tierdb::PartitionId,
        event: &tierdb::CompactionEvent,
    ) {
        assert!(event.input_tables > 0 && event.bytes_read > 0);
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut p) = self.partitions.0.lock() {
            p.push(partition);
        }
    }
}

/// An LSM partition's compactions reach the database's listeners, named by
/// partition, whether the background compactor or `compact_range` ran them.
#[test]
fn listeners_hear_lsm_compactions() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;

    let dir = tempfile::tempdir().unwrap();
    let heard = Arc::new(Compactions::default());
    let opts = Options::default()
        .durability(Durability::Buffered)
        .default_tier(tierdb::Tier::BTree)
        .partition(b"feed/", tierdb::Tier::Lsm)
        .listener(heard.clone());
    let db = Db::open(dir.path().join("db"), opts).unwrap();
    // Each checkpoint flushes one L0 table, merged with the one before
    // when that one is no larger (pairs); eight tables trigger a
    // compaction.
    for round in 0..20u64 {
        for i in 0..200u64 {
            db.put(format!("feed/{:05}", (round * 200 + i) % 700), [5u8; 64])
                .unwrap();
        }
        db.checkpoint().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while heard.count.load(SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(heard.count.load(SeqCst) > 0, "no compaction event");
    let before = heard.count.load(SeqCst);
    for i in 0..200u64 {
        db.put(format!("feed/{i:05}"), [6u8; 64]).unwrap();
    }
    db.compact_range(b"feed/".as_slice()..b"feed0".as_slice())
        .unwrap();
    assert!(
        heard.count.load(SeqCst) > before,
        "compact_range ran no compaction"
    );
    let feed = db.partitions()[1].id;
    assert!(
        heard
            .partitions
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|p| *p == feed)
    );
    assert!(db.partitions()[1].stats.compactions > 0);
    db.close().unwrap();
    assert_eq!(heard.begun.load(SeqCst), heard.count.load(SeqCst));
}

/// Slows every checkpoint down, as a large tree on a slow disk would.
struct SlowCheckpoints(Duration);

impl tierdb::EventListener for SlowCheckpoints {
    fn on_checkpoint_begin(&self, _background: bool) {
        std::thread::sleep(self.0);
    }
}

/// Writers must not push dirty memory far past `checkpoint_dirty_bytes`
/// while a checkpoint runs: commits past twice the budget wait for it.
/// Each checkpoint is slowed by 500 ms, during which an unthrottled writer
/// would dirty many times the budget (even one slowed by 1 ms a commit).
#[test]
fn writers_cannot_push_dirty_memory_far_past_the_budget() {
    for tier in [tierdb::Tier::BTree, tierdb::Tier::Lsm] {
        let dir = tempfile::tempdir().unwrap();
        let budget = 1 << 20;
        let opts = Options::default()
            .default_tier(tier)
            .durability(Durability::Buffered)
            .checkpoint_wal_bytes(1 << 40)
            .checkpoint_dirty_bytes(budget)
            .listener(std::sync::Arc::new(SlowCheckpoints(Duration::from_millis(
                500,
            ))));
        let db = Db::open(dir.path().join("db"), opts).unwrap();
        let value = [7u8; 1000];
        let (mut max_dirty, mut max_step) = (0u64, 0u64);
        let mut state = 1u64;
        let start = Instant::now();
        while db.stats().checkpoints < 3 && start.elapsed() < Duration::from_secs(60) {
            let before = db.stats().dirty_bytes();
            let mut batch = WriteBatch::new();
            for _ in 0..32 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                batch.put(format!("k/{:06}", (state >> 33) % 20_000), value);
            }
            db.write(batch).unwrap();
            let after = db.stats().dirty_bytes();
            max_dirty = max_dirty.max(after);
            max_step = max_step.max(after.saturating_sub(before));
        }
        let stats = db.stats();
        assert!(
            stats.checkpoints >= 3,
            "{tier:?}: checkpoints ran: {stats:?}"
        );
        assert!(
            max_dirty <= 2 * budget + 2 * max_step,
            "{tier:?}: dirty reached {max_dirty} bytes, budget {budget}, largest commit {max_step}"
        );
        assert!(stats.write_stalls > 0, "{tier:?}: no stall counted");
        assert_eq!(stats.write_stall_timeouts, 0, "{tier:?}");
        db.close().unwrap();
    }
}

/// Without a background checkpointer nobody frees dirty memory but the
/// caller: commits go on, never wait.
#[test]
fn without_background_checkpoints_writers_never_stall() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 64 << 10;
    let opts = Options::default()
        .durability(Durability::Volatile)
        .background_checkpoints(false)
        .checkpoint_dirty_bytes(budget);
    let db = Db::open(dir.path().join("db"), opts).unwrap();
    for i in 0..2000u64 {
        db.put(format!("k/{:06}", i * 7919 % 20_000), [1u8; 100])
            .unwrap();
    }
    let stats = db.stats();
    assert!(stats.dirty_bytes() > 2 * budget, "{stats:?}");
    assert_eq!((stats.write_stalls, stats.write_slowdowns), (0, 0));
    db.checkpoint().unwrap();
    assert_eq!(db.range(..).unwrap().count(), 2000);
    db.close().unwrap();
}
