//! Power loss while the LSM tier's background threads work: the database
//! runs background checkpoints (each flushes the LSM partition: an SSTable
//! and a manifest-log edit), the tier's flush thread (2 KiB memtables,
//! each flushed to an SSTable as it fills, between checkpoints) and its
//! compaction thread, on a `SimVfs` session, while four committers commit;
//! the power is cut at a random mutating operation (or, if the workload
//! finished first, at once, with the threads still busy).
//!
//! After reopen at sequence `s`, per committer: its commits are a prefix
//! of what it did (every acknowledged commit at or below `s` in full, none
//! above it, every `Sync` acknowledgement at or below `s`; the commit that
//! failed in full or not at all), and the database holds exactly that
//! prefix's state — each commit overwrites a per-committer key and
//! deletes a key of two commits earlier, so a lost overwrite or delete (an
//! older version resurrected by a manifest replayed short, or by a
//! compaction) shows.
//!
//! Then a second power loss, soon after a reopen with the background
//! threads on: the open replays the WAL into sorted runs (frozen
//! memtables) and the flush thread writes them to L0 at once, so this
//! crash lands in the open or in the flush of what it replayed; the
//! reopen after it is checked the same way.
//!
//! Each case records whether the crash landed while a background
//! compaction (begun, not completed), a background memtable flush or a
//! checkpoint's flush was in progress; the run fails if no crash landed
//! inside a compaction, none inside a background flush, or none inside
//! the flush of a replayed run.
//! Threads make a case not bit-for-bit replayable; the seed reproduces the
//! setup. `TIERDB_BG_CRASH_CASES=N` runs N cases (default 150).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{
    CheckpointEvent, CompactionEvent, CompactionStyle, Db, Durability, EventListener, Options,
    PartitionId, SimVfs, Tier, WriteBatch,
};

const COMMITTERS: u64 = 4;
const COMMITS: u64 = 150;

/// Background work in progress when the power went: counts of work begun
/// before the crash and of work completed.
struct Progress {
    sim: Arc<SimVfs>,
    /// The power losses before this listener's run.
    crashes_before: u64,
    compactions_begun: AtomicU64,
    compactions_done: AtomicU64,
    checkpoints_begun: AtomicU64,
    checkpoints_done: AtomicU64,
    flushes_begun: AtomicU64,
    flushes_done: AtomicU64,
}

impl Progress {
    fn new(sim: &Arc<SimVfs>) -> Self {
        Progress {
            sim: sim.clone(),
            crashes_before: sim.crashes(),
            compactions_begun: AtomicU64::new(0),
            compactions_done: AtomicU64::new(0),
            checkpoints_begun: AtomicU64::new(0),
            checkpoints_done: AtomicU64::new(0),
            flushes_begun: AtomicU64::new(0),
            flushes_done: AtomicU64::new(0),
        }
    }

    /// Work begun after the crash never reaches the disk: not counted.
    fn begin(&self, counter: &AtomicU64) {
        if self.sim.crashes() == self.crashes_before {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn compacting(&self) -> bool {
        self.compactions_begun.load(Ordering::SeqCst) > self.compactions_done.load(Ordering::SeqCst)
    }

    fn checkpointing(&self) -> bool {
        self.checkpoints_begun.load(Ordering::SeqCst) > self.checkpoints_done.load(Ordering::SeqCst)
    }

    fn flushing(&self) -> bool {
        self.flushes_begun.load(Ordering::SeqCst) > self.flushes_done.load(Ordering::SeqCst)
    }
}

impl EventListener for Progress {
    fn on_compaction_begin(&self, _partition: PartitionId) {
        self.begin(&self.compactions_begun);
    }
    fn on_compaction_completed(&self, _partition: PartitionId, _event: &CompactionEvent) {
        self.compactions_done.fetch_add(1, Ordering::SeqCst);
    }
    fn on_checkpoint_begin(&self, _background: bool) {
        self.begin(&self.checkpoints_begun);
    }
    fn on_checkpoint_completed(&self, _event: &CheckpointEvent) {
        self.checkpoints_done.fetch_add(1, Ordering::SeqCst);
    }
    fn on_flush_begin(&self, _partition: PartitionId) {
        self.begin(&self.flushes_begun);
    }
    fn on_flush_completed(&self, _partition: PartitionId, _persisted_seq: u64) {
        self.flushes_done.fetch_add(1, Ordering::SeqCst);
    }
}

/// What one committer did.
#[derive(Default)]
struct Outcome {
    /// Sequence and durability of acknowledged commits, by commit index.
    acked: Vec<(u64, Durability)>,
    /// Whether the commit after the acknowledged ones failed (the crash).
    failed: bool,
}

fn data_key(t: u64, i: u64) -> String {
    format!("c{t}/data/{i:05}")
}

fn gone_key(t: u64, i: u64) -> String {
    format!("c{t}/gone/{i:05}")
}

fn last_key(t: u64) -> String {
    format!("c{t}/last")
}

fn value(t: u64, i: u64, len: usize) -> String {
    format!("{t}/{i}/{}", "v".repeat(len))
}

/// Commit `i` of committer `t`: a new data key, a key deleted two commits
/// later, and the committer's `last` key overwritten.
fn commit_ops(t: u64, i: u64) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(data_key(t, i), value(t, i, 40 + (i as usize * 7) % 160));
    batch.put(gone_key(t, i), value(t, i, 20));
    batch.put(last_key(t), value(t, i, 10));
    if i >= 2 {
        batch.delete(gone_key(t, i - 2));
    }
    batch
}

/// The state committer `t` leaves after its first `n` commits.
fn expected(t: u64, n: u64, model: &mut BTreeMap<String, String>) {
    for i in 0..n {
        model.insert(data_key(t, i), value(t, i, 40 + (i as usize * 7) % 160));
        if i + 2 >= n {
            model.insert(gone_key(t, i), value(t, i, 20));
        }
    }
    if n > 0 {
        model.insert(last_key(t), value(t, n - 1, 10));
    }
}

fn committer(db: Db, t: u64, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed * 131 + t);
    let mut out = Outcome::default();
    for i in 0..COMMITS {
        let durability = match rng.random_range(0..4) {
            0 => Durability::Buffered,
            1 => Durability::Volatile,
            _ => Durability::Sync,
        };
        match db.write_with(commit_ops(t, i), durability) {
            Ok(info) => out.acked.push((info.seq, durability)),
            Err(_) => {
                out.failed = true;
                return out;
            }
        }
    }
    out
}

fn options(sim: &SimVfs, style: CompactionStyle, background: bool) -> Options {
    Options::default()
        .vfs(Arc::new(sim.session()))
        .default_tier(Tier::Lsm)
        .page_size(1024)
        .wal_segment_bytes(16 * 1024)
        .cache_bytes(256 * 1024)
        .compaction_style(style)
        .lsm_memtable_bytes(2 * 1024)
        .background_checkpoints(background)
        .checkpoint_wal_bytes(6 * 1024)
        .buffered_sync_interval(Duration::from_secs(3600))
}

/// The per-committer prefix check against a database recovered at
/// sequence `s`, which also holds the keys of `extra` (written since).
fn check(db: &Db, s: u64, outcomes: &[Outcome], extra: &[(&str, &str)]) -> Result<(), String> {
    let got: BTreeMap<String, String> = db
        .range(..)
        .map_err(|e| e.to_string())?
        .map(|r| {
            r.map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut want: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (t, out) in outcomes.iter().enumerate() {
        let t = t as u64;
        let mut n = out.acked.iter().take_while(|(seq, _)| *seq <= s).count() as u64;
        if let Some((seq, _)) = out.acked.iter().find(|(seq, _)| *seq > s) {
            if out
                .acked
                .iter()
                .any(|&(q, d)| q > s && d == Durability::Sync)
            {
                return Err(format!(
                    "committer {t}: a Sync commit above recovered {s} lost (first above: {seq})"
                ));
            }
        } else if out.failed && got.contains_key(&data_key(t, n)) {
            n += 1; // the failed commit made it
        }
        expected(t, n, &mut want);
    }
    if got != want {
        let differ: Vec<&String> = want
            .keys()
            .chain(got.keys())
            .filter(|k| want.get(*k) != got.get(*k))
            .take(4)
            .collect();
        return Err(format!(
            "recovered {s}: {} keys, {} expected; differing e.g. {differ:?}",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    crashes_at_an_operation: u64,
    crashes_during_compaction: u64,
    crashes_during_checkpoint: u64,
    crashes_during_background_flush: u64,
    compactions_completed: u64,
    background_flushes_completed: u64,
    crashes_during_replayed_flush: u64,
}

fn case(seed: u64, tally: &mut Tally) -> Result<(), String> {
    let sim = Arc::new(SimVfs::new(seed));
    let mut rng = StdRng::seed_from_u64(seed);
    let style = if seed % 3 == 2 {
        CompactionStyle::Tiered
    } else {
        CompactionStyle::Leveled
    };
    let progress = Arc::new(Progress::new(&sim));
    let db = Db::open("db", options(&sim, style, true).listener(progress.clone()))
        .map_err(|e| format!("open: {e}"))?;
    sim.crash_after_ops(rng.random_range(20..2500));
    let handles: Vec<_> = (0..COMMITTERS)
        .map(|t| {
            let db = db.clone();
            thread::spawn(move || committer(db, t, seed))
        })
        .collect();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("committer"))
        .collect();
    if sim.crashes() == 0 {
        sim.crash();
    } else {
        tally.crashes_at_an_operation += 1;
    }
    tally.cases += 1;
    tally.crashes_during_compaction += u64::from(progress.compacting());
    tally.crashes_during_checkpoint += u64::from(progress.checkpointing());
    tally.crashes_during_background_flush += u64::from(progress.flushing());
    tally.compactions_completed += progress.compactions_done.load(Ordering::SeqCst);
    tally.background_flushes_completed += progress.flushes_done.load(Ordering::SeqCst);
    drop(db);
    crash_soon_after_reopen(&sim, style, rng.random_range(0..40), tally)?;
    sim.crash_after_ops(u64::MAX);
    let db = Db::open("db", options(&sim, style, false)).map_err(|e| format!("reopen: {e}"))?;
    let s = db.snapshot().seq();
    check(&db, s, &outcomes, &[])?;
    // The recovered database goes on: a commit, a flush, a compaction of
    // everything, a reopen.
    db.put("after", "v").map_err(|e| e.to_string())?;
    db.checkpoint().map_err(|e| e.to_string())?;
    db.compact_range(..).map_err(|e| e.to_string())?;
    db.close().map_err(|e| e.to_string())?;
    let db = Db::open("db", options(&sim, style, false)).map_err(|e| format!("reopen 2: {e}"))?;
    check(&db, s, &outcomes, &[("after", "v")]).map_err(|e| format!("after a second reopen: {e}"))
}

/// Reopens with the background threads on and cuts the power after
/// `ops` more mutating operations: in the open, or while the flush thread
/// writes out the runs the open replayed.
fn crash_soon_after_reopen(
    sim: &Arc<SimVfs>,
    style: CompactionStyle,
    ops: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let crashes = sim.crashes();
    let progress = Arc::new(Progress::new(sim));
    sim.crash_after_ops(ops);
    let opened = Db::open("db", options(sim, style, true).listener(progress.clone()));
    let db = match opened {
        Ok(db) => db,
        Err(_) if sim.crashes() > crashes => return Ok(()),
        Err(e) => return Err(format!("reopen with background threads: {e}")),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while sim.crashes() == crashes
        && progress.flushes_done.load(Ordering::SeqCst) == 0
        && std::time::Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(1));
    }
    if sim.crashes() == crashes {
        sim.crash();
    }
    tally.crashes_during_replayed_flush += u64::from(progress.flushing());
    drop(db);
    Ok(())
}

#[test]
fn power_loss_during_background_flush_and_compaction() {
    let n = std::env::var("TIERDB_BG_CRASH_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150u64);
    let mut tally = Tally::default();
    let failures: Vec<String> = (0..n)
        .filter_map(|seed| {
            case(seed, &mut tally)
                .err()
                .map(|e| format!("seed {seed}: {e}"))
        })
        .collect();
    eprintln!("{tally:?}, {} failures", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tally.compactions_completed > 0, "{tally:?}");
    assert!(
        tally.crashes_during_compaction > 0,
        "no crash landed inside a background compaction: {tally:?}"
    );
    assert!(tally.background_flushes_completed > 0, "{tally:?}");
    assert!(
        tally.crashes_during_background_flush > 0,
        "no crash landed inside a background flush: {tally:?}"
    );
    assert!(
        tally.crashes_during_replayed_flush > 0,
        "no crash landed inside the flush of a replayed run: {tally:?}"
    );
}
