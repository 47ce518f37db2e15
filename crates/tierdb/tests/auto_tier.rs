//! `Options::auto_tier`: the database follows a partition's workload to the
//! tier it favours, tells the listeners, and does not flap when the mix
//! sits between the advisor's thresholds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tierdb::{AutoTier, Db, Durability, Error, EventListener, Options, Tier, TierAdvice};

#[derive(Default)]
struct Moves(Mutex<Vec<(Tier, Tier)>>);

impl EventListener for Moves {
    fn on_tier_changed(&self, advice: &TierAdvice) {
        self.0.lock().push((advice.current, advice.recommended));
    }
}

fn open(dir: &tempfile::TempDir, moves: &Arc<Moves>) -> Db {
    Db::open(
        dir.path().join("db"),
        Options::default()
            .default_tier(Tier::BTree)
            .durability(Durability::Volatile)
            .auto_tier(AutoTier::every(Duration::from_millis(50)).confirmations(2))
            .listener(moves.clone()),
    )
    .unwrap()
}

/// Runs rounds of `reads` point reads and `writes` puts until `done` says
/// so or `limit` passes; returns whether `done` was reached.
fn drive(db: &Db, reads: u32, writes: u32, limit: Duration, done: impl Fn(&Db) -> bool) -> bool {
    let start = Instant::now();
    let mut i = 0u32;
    while start.elapsed() < limit {
        for _ in 0..writes {
            db.put(format!("k/{:05}", i % 5000), i.to_le_bytes())
                .unwrap();
            i += 1;
        }
        for r in 0..reads {
            db.get(format!("k/{:05}", r % 5000)).unwrap();
        }
        if done(db) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn tier(db: &Db) -> Tier {
    db.partitions()[0].tier
}

#[test]
fn follows_the_workload_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let moves = Arc::new(Moves::default());
    let db = open(&dir, &moves);
    let limit = Duration::from_secs(30);
    // The listener hears of a move just after it is published: wait for
    // both.
    let moved = |db: &Db, to: Tier, count: usize| tier(db) == to && moves.0.lock().len() == count;
    assert!(
        drive(&db, 20, 2000, limit, |db| moved(db, Tier::Lsm, 1)),
        "a write-only partition stayed a B+tree"
    );
    assert!(
        drive(&db, 3000, 10, limit, |db| moved(db, Tier::BTree, 2)),
        "a read-only partition stayed an LSM tree"
    );
    assert_eq!(
        *moves.0.lock(),
        vec![(Tier::BTree, Tier::Lsm), (Tier::Lsm, Tier::BTree)]
    );
    // Every write survived both moves.
    assert_eq!(db.prefix(b"k/").unwrap().count(), 5000);
    db.close().unwrap();
}

#[test]
fn a_mix_between_the_thresholds_never_moves() {
    let dir = tempfile::tempdir().unwrap();
    let moves = Arc::new(Moves::default());
    let db = open(&dir, &moves);
    // 40 % writes: inside the 25–60 % band, for about 30 judgements.
    let moved = drive(&db, 900, 600, Duration::from_millis(1500), |db| {
        tier(db) != Tier::BTree
    });
    assert!(!moved, "moved to {:?}", tier(&db));
    assert!(moves.0.lock().is_empty());
    db.close().unwrap();
}

#[test]
fn needs_the_background_worker() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = Db::open(
        dir.path().join("db"),
        Options::default()
            .background_checkpoints(false)
            .auto_tier(AutoTier::every(Duration::from_secs(1))),
    ) else {
        panic!("opened without the worker that auto_tier needs");
    };
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}
