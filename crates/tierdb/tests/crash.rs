//! Crash suite: random workloads on `SimVfs` with a power loss at a random
//! file-system operation (in the middle of a WAL group write, a checkpoint,
//! a segment rotation, the creation of the database...), then recovery.
//!
//! Checked after every recovery (DESIGN.md property 1): the database holds
//! exactly the effects of a prefix of the commit order, and that prefix
//! contains every commit acknowledged as `Sync`. No partial transaction.
//!
//! Runs on every layout of `common::LAYOUTS` (each tier alone, and mixed
//! partitions, so that transactions span tiers).
//!
//! `TIERDB_CRASH_CASES=N` runs N seeded cases per layout (default 2,000);
//! `TIERDB_CRASH_SEED=S` replays one seed. A failure prints its seed.

mod common;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{LAYOUTS, Layout, value_for};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{
    CompactionEvent, Db, Durability, EventListener, Fault, FaultKind, FaultOp, PartitionId, SimVfs,
    TxnOptions, WriteBatch,
};
use tierdb_sim::{History, Op};

/// A random split, merge or tier change; false if it failed (the crash or
/// an injected fault hit it). A refused split (the key already starts a
/// partition) counts as done.
fn change_layout(db: &Db, rng: &mut StdRng) -> bool {
    let parts = db.partitions();
    let result = match rng.random_range(0..3) {
        0 => match db.split_partition(random_key(rng)) {
            Err(tierdb::Error::InvalidArgument(_)) => Ok(()),
            r => r.map(|_| ()),
        },
        1 if parts.len() >= 2 => {
            let j = rng.random_range(0..parts.len() - 1);
            db.merge_partitions(parts[j].id, parts[j + 1].id)
                .map(|_| ())
        }
        _ => {
            let p = &parts[rng.random_range(0..parts.len())];
            let tier = if p.tier == tierdb::Tier::BTree {
                tierdb::Tier::Lsm
            } else {
                tierdb::Tier::BTree
            };
            db.set_tier(p.id, tier)
        }
    };
    result.is_ok()
}

fn random_fault(rng: &mut StdRng) -> Fault {
    let (op, kind) = match rng.random_range(0..5) {
        0 => (FaultOp::Write, FaultKind::Eio),
        1 => (FaultOp::Write, FaultKind::NoSpace),
        2 => (FaultOp::Write, FaultKind::ShortWrite),
        3 => (FaultOp::Sync, FaultKind::Eio),
        _ => (FaultOp::Create, FaultKind::NoSpace),
    };
    Fault::new(op, kind).skip(rng.random_range(0..60))
}

fn random_durability(rng: &mut StdRng) -> Durability {
    match rng.random_range(0..10) {
        0..=5 => Durability::Sync,
        6..=7 => Durability::Buffered,
        _ => Durability::Volatile,
    }
}

fn random_key(rng: &mut StdRng) -> Vec<u8> {
    format!("acct/{:03}", rng.random_range(0..60)).into_bytes()
}

/// One step of the workload. Returns false once the database failed (the
/// crash happened).
fn step(db: &Db, rng: &mut StdRng, h: &mut History, tick: u64, tally: &mut Tally) -> bool {
    let durability = random_durability(rng);
    let mut writes = Vec::new();
    let result = match rng.random_range(0..10) {
        0 if rng.random_bool(0.7) => {
            let ok = db.checkpoint().is_ok();
            tally.crashes_in_checkpoint += u64::from(!ok);
            return ok;
        }
        0 => {
            let ok = change_layout(db, rng);
            tally.layout_changes += u64::from(ok);
            tally.crashes_in_layout_change += u64::from(!ok);
            return ok;
        }
        1..=4 => {
            let k = random_key(rng);
            let len = if rng.random_bool(0.05) {
                3000
            } else {
                rng.random_range(1..120)
            };
            let v = value_for(&k, tick, len);
            writes.push(Op::Put(k.clone(), v.clone()));
            let mut b = WriteBatch::new();
            b.put(&k, &v);
            db.write_with(b, durability)
        }
        5 if rng.random_bool(0.3) => {
            // A range delete: one WAL op per partition it meets. Never
            // empty: an empty write set commits nothing (no sequence).
            let a = rng.random_range(0..60);
            let b = a + rng.random_range(1..12);
            let (lo, hi) = (format!("acct/{a:03}"), format!("acct/{b:03}"));
            writes.push(Op::DeleteRange((
                Bound::Included(lo.clone().into_bytes()),
                Bound::Excluded(hi.clone().into_bytes()),
            )));
            let mut batch = WriteBatch::new();
            batch.delete_range(lo.as_bytes()..hi.as_bytes());
            tally.range_deletes += 1;
            db.write_with(batch, durability)
        }
        5 => {
            let k = random_key(rng);
            writes.push(Op::Delete(k.clone()));
            let mut b = WriteBatch::new();
            b.delete(&k);
            db.write_with(b, durability)
        }
        _ => {
            // A multi-key transaction: all or nothing.
            let mut tx = db.begin_with(TxnOptions::default().durability(durability));
            for _ in 0..rng.random_range(2..6) {
                let k = random_key(rng);
                let v = value_for(&k, tick, rng.random_range(1..80));
                if tx.put(&k, &v).is_err() {
                    return false;
                }
                writes.push(Op::Put(k, v));
            }
            tx.commit()
        }
    };
    match result {
        Ok(info) => {
            tally.commits_acked += 1;
            h.acked(info.seq, writes, durability);
            true
        }
        Err(_) => {
            h.failed(writes);
            false
        }
    }
}

/// Whether an LSM partition is compacting: set by the compaction-begin
/// event, cleared when it completes (a crash inside leaves it set).
#[derive(Default)]
struct CompactionPhase(AtomicBool);

impl EventListener for CompactionPhase {
    fn on_compaction_begin(&self, _partition: PartitionId) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn on_compaction_completed(&self, _partition: PartitionId, _event: &CompactionEvent) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Counts where in the LSM tier a power loss landed, from the operation it
/// fired on: a write of the tier's manifest (an edit appended to the
/// `LSM-MANIFEST-NNNNNN` log, or a roll to a new log and the `LSM-CURRENT`
/// switch: the install of a flush or a compaction), or
/// the creation, a write or the sync of a table — inside a compaction if
/// one had begun and not completed, else inside a flush.
fn count_lsm_crash_point(sim: &SimVfs, phase: &CompactionPhase, tally: &mut Tally) {
    let Some((op, path)) = sim.last_crash_point() else {
        return;
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let writes_table =
        name.ends_with(".sst") && matches!(op, FaultOp::Create | FaultOp::Write | FaultOp::Sync);
    if name.starts_with("LSM-MANIFEST") || name.starts_with("LSM-CURRENT") {
        tally.crashes_in_manifest_install += 1;
    } else if writes_table && phase.0.load(Ordering::SeqCst) {
        tally.crashes_in_compaction += 1;
    } else if writes_table {
        tally.crashes_in_flush += 1;
    }
}

/// What the cases did, so the suite can show that the crashes landed.
#[derive(Default, Debug)]
struct Tally {
    commits_acked: u64,
    crashes_mid_workload: u64,
    crashes_in_checkpoint: u64,
    crashes_in_flush: u64,
    crashes_in_compaction: u64,
    crashes_in_manifest_install: u64,
    layout_changes: u64,
    crashes_in_layout_change: u64,
    faults_injected: u64,
    crashes_in_open: u64,
    recoveries: u64,
    recovered_below_acked: u64,
    range_deletes: u64,
}

fn crash_case(layout: Layout, seed: u64, tally: &mut Tally) -> Result<(), String> {
    let sim = Arc::new(SimVfs::new(seed));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = History::new();
    let mut tick = 0u64;
    for cycle in 0..3 {
        sim.crash_after_ops(rng.random_range(0..160));
        let fault_armed = rng.random_bool(0.25);
        if fault_armed {
            // An I/O error first: the engine must stop writing cleanly,
            // and the power loss that follows must still recover.
            sim.inject(random_fault(&mut rng));
            tally.faults_injected += 1;
        }
        let crashes_before = sim.crashes();
        let phase = Arc::new(CompactionPhase::default());
        let opts = layout.options(&sim).listener(phase.clone());
        if let Ok(db) = Db::open("db", opts) {
            for _ in 0..40 {
                tick += 1;
                if !step(&db, &mut rng, &mut h, tick, tally) {
                    break;
                }
            }
            if sim.crashes() == crashes_before {
                sim.crash();
            } else {
                tally.crashes_mid_workload += 1;
                count_lsm_crash_point(&sim, &phase, tally);
            }
            drop(db);
        } else if sim.crashes() > crashes_before {
            tally.crashes_in_open += 1;
        } else if fault_armed {
            sim.crash();
        } else {
            return Err(format!(
                "cycle {cycle}: open failed without a crash or a fault"
            ));
        }
        sim.crash_after_ops(u64::MAX);
        sim.clear_faults();
        let db = Db::open("db", layout.options(&sim))
            .map_err(|e| format!("cycle {cycle}: reopen after crash failed: {e}"))?;
        let last = h.last_acked();
        let seq = h
            .check_recovered(&db)
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        tally.recoveries += 1;
        tally.recovered_below_acked += u64::from(last > seq);
        db.close()
            .map_err(|e| format!("cycle {cycle}: close: {e}"))?;
    }
    Ok(())
}

fn run_cases(layout: Layout) {
    let seeds: Vec<u64> = match std::env::var("TIERDB_CRASH_SEED") {
        Ok(s) => vec![s.parse().expect("TIERDB_CRASH_SEED is a number")],
        Err(_) => {
            let n = std::env::var("TIERDB_CRASH_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(2000u64);
            (0..n).collect()
        }
    };
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    for &seed in &seeds {
        if let Err(e) = crash_case(layout, seed, &mut tally) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    println!("{}: {} cases: {tally:?}", layout.name, seeds.len());
    assert!(
        failures.is_empty(),
        "{} of {} crash cases failed on layout {} (replay with TIERDB_CRASH_SEED=<seed>):\n{}",
        failures.len(),
        seeds.len(),
        layout.name,
        failures.join("\n")
    );
    if seeds.len() >= 100 {
        // The suite must actually crash workloads and lose unsynced commits,
        // or it proves nothing.
        assert!(
            tally.crashes_mid_workload > seeds.len() as u64 / 4,
            "{tally:?}"
        );
        assert!(tally.crashes_in_open > 0, "{tally:?}");
        assert!(tally.crashes_in_checkpoint > 0, "{tally:?}");
        assert!(tally.crashes_in_layout_change > 0, "{tally:?}");
        assert!(tally.recovered_below_acked > 0, "{tally:?}");
        assert!(tally.range_deletes > 0, "{tally:?}");
        if layout.has_lsm() {
            // Power losses inside the LSM tier's flushes, compactions and
            // manifest switches (compaction runs inside the checkpoint:
            // no background threads in this suite).
            assert!(tally.crashes_in_flush > 0, "{tally:?}");
            assert!(tally.crashes_in_compaction > 0, "{tally:?}");
            assert!(tally.crashes_in_manifest_install > 0, "{tally:?}");
        }
    }
}

#[test]
fn crashes_at_random_points_recover_a_prefix_with_every_synced_commit() {
    for &layout in LAYOUTS {
        run_cases(layout);
    }
}

/// Found by the `crash_recovery` fuzz target: a `Sync` commit that wrote
/// nothing (then a range delete that matched nothing; since range
/// tombstones, an empty batch) returned at once, acknowledging as durable
/// a sequence whose commits were only `Buffered`. Here the key's `Buffered`
/// delete was lost in the power loss and the key came back although a
/// `Sync` commit at that sequence had been acknowledged.
#[test]
fn regression_empty_sync_commit_waits_for_durability() {
    for &layout in LAYOUTS {
        let sim = Arc::new(SimVfs::new(5));
        let db = Db::open("db", layout.options(&sim)).unwrap();
        db.put(b"acct/007", b"v").unwrap();
        let mut del = WriteBatch::new();
        del.delete(b"acct/007");
        db.write_with(del, Durability::Buffered).unwrap();
        let info = db.write_with(WriteBatch::new(), Durability::Sync).unwrap();
        sim.crash();
        drop(db);
        let db = Db::open("db", layout.options(&sim)).unwrap();
        assert!(db.snapshot().seq() >= info.seq, "{}", layout.name);
        assert_eq!(db.get(b"acct/007").unwrap(), None, "{}", layout.name);
    }
}

/// A read-only transaction committed with `Sync` returns only once what it
/// read is durable: a `Volatile` write it saw must survive a power loss.
#[test]
fn read_only_sync_commit_makes_what_it_read_durable() {
    for &tier in common::TIERS {
        let sim = Arc::new(SimVfs::new(7));
        let opts = || {
            tierdb::Options::default()
                .default_tier(tier)
                .vfs(sim.clone())
                .background_checkpoints(false)
        };
        let db = Db::open("db", opts()).unwrap();
        let mut batch = tierdb::WriteBatch::new();
        batch.put(b"k", b"v");
        db.write_with(batch, Durability::Volatile).unwrap();
        let mut tx = db.begin_with(tierdb::TxnOptions::default().durability(Durability::Sync));
        assert_eq!(tx.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        tx.commit().unwrap();
        sim.crash();
        drop(db);
        let db = Db::open("db", opts()).unwrap();
        assert_eq!(
            db.get(b"k").unwrap().as_deref(),
            Some(&b"v"[..]),
            "{tier:?}"
        );
    }
}
