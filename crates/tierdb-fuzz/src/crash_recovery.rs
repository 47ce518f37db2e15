//! The crash-recovery target: the input is a program of operations on a
//! database over `SimVfs` — writes of every kind, transactions, snapshots,
//! checkpoints, compactions, splits, merges and tier changes — with crash
//! points and injected faults wherever the input puts them. After every
//! crash the database is reopened and checked against the commit history
//! (`tierdb_sim::History`, the model the simulation and the crash suite use
//! too): its contents must be exactly a prefix of the commit order that
//! holds every `Sync`-acknowledged commit.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use tierdb::{
    Db, Durability, Error, Fault, FaultKind, FaultOp, Options, SimVfs, Snapshot, Tier, TxnOptions,
    WriteBatch,
};
use tierdb_sim::model::{apply, diff_keys, read_all, value_for};
use tierdb_sim::{History, Model, Op};

use crate::Outcome;
use crate::input::{Input, split_mode};

/// Most operations one input runs (bounds the time per input).
const MAX_STEPS: usize = 96;
/// Keys are `acct/000` .. `acct/039`.
const KEYS: u32 = 40;

fn key(n: u32) -> Vec<u8> {
    format!("acct/{n:03}").into_bytes()
}

/// Options of the run: mode bit 0 picks the first partition's tier, bit 1
/// adds two more partitions of both tiers, so that transactions span them.
fn options(sim: &Arc<SimVfs>, mode: u8) -> Options {
    let first = if mode & 1 == 0 {
        Tier::BTree
    } else {
        Tier::Lsm
    };
    let opts = Options::default()
        .vfs(sim.clone())
        .default_tier(first)
        .page_size(1024)
        .wal_segment_bytes(8 * 1024)
        .cache_bytes(128 * 1024)
        .background_checkpoints(false)
        .buffered_sync_interval(Duration::from_secs(3600));
    if mode & 2 == 0 {
        opts
    } else {
        opts.partition("acct/013", Tier::Lsm)
            .partition("acct/026", Tier::BTree)
    }
}

/// The run's state: the database, the simulator, and what the model knows.
struct Run {
    sim: Arc<SimVfs>,
    mode: u8,
    /// `None` only while reopening.
    db: Option<Db>,
    history: History,
    /// Every acknowledged commit applied: what the database must show now.
    current: Model,
    /// Snapshots held, with the contents they must show.
    snapshots: Vec<(Snapshot, Model)>,
    /// A fault may fire: errors are expected until the next recovery.
    faults_armed: bool,
    crash_armed: bool,
    crashes_seen: u64,
    tick: u64,
}

/// Crash recovery under an arbitrary operation sequence (see the module
/// docs). Mode bits 0-1: layout (see [`options`]); the rest of the input
/// is the program. Every program is valid; items: the steps run.
pub fn crash_recovery(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut input = Input::new(body);
    let sim = Arc::new(SimVfs::new(u64::from(mode)));
    let db = Db::open("db", options(&sim, mode)).expect("creating a database on a clean fs");
    let mut run = Run {
        sim,
        mode,
        db: Some(db),
        history: History::default(),
        current: Model::new(),
        snapshots: Vec::new(),
        faults_armed: false,
        crash_armed: false,
        crashes_seen: 0,
        tick: 0,
    };
    let mut steps = 0;
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        steps += 1;
        run.tick += 1;
        let outcome = run.step(&mut input);
        let crashed = run.sim.crashes() > run.crashes_seen;
        if std::env::var_os("TIERDB_FUZZ_TRACE").is_some() {
            eprintln!("  -> {outcome:?}, crashed {crashed}");
        }
        match outcome {
            Ok(()) if !crashed => {}
            Ok(()) => run.recover(),
            Err(e) => {
                let benign = run.faults_armed || crashed;
                assert!(benign, "operation failed without a crash or fault: {e}");
                run.recover();
            }
        }
    }
    run.recover();
    Outcome::decoded(steps)
}

impl Run {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("database open")
    }

    fn durability(input: &mut Input<'_>) -> Durability {
        match input.u8() % 4 {
            0 | 1 => Durability::Sync,
            2 => Durability::Buffered,
            _ => Durability::Volatile,
        }
    }

    fn value(&self, input: &mut Input<'_>, key: &[u8]) -> Vec<u8> {
        let len = match input.u8() {
            255 => 3000,
            n => usize::from(n % 100) + 1,
        };
        value_for(key, self.tick, len)
    }

    /// Records the outcome of a commit of `ops`.
    fn commit(
        &mut self,
        ops: Vec<Op>,
        durability: Durability,
        result: tierdb::Result<tierdb::CommitInfo>,
    ) -> tierdb::Result<()> {
        match result {
            // A commit that wrote nothing took no sequence of its own (a
            // read-only transaction reports its snapshot's): not part of
            // the history; but a `Sync` one still promises that what it
            // reports is durable.
            Ok(info) if info.seq <= self.history.last_acked() => {
                let mut unchanged = self.current.clone();
                assert!(
                    apply(&mut unchanged, &ops).is_empty(),
                    "a commit that wrote something reported seq {}, not a new one",
                    info.seq
                );
                self.history.acked_empty(info.seq, durability);
                Ok(())
            }
            Ok(info) => {
                apply(&mut self.current, &ops);
                self.history.acked(info.seq, ops, durability);
                Ok(())
            }
            Err(e) => {
                self.history.failed(ops);
                Err(e)
            }
        }
    }

    fn step(&mut self, input: &mut Input<'_>) -> tierdb::Result<()> {
        let op = input.u8() % 18;
        if std::env::var_os("TIERDB_FUZZ_TRACE").is_some() {
            eprintln!(
                "step {}: op {op}, history at {}",
                self.tick,
                self.history.last_acked()
            );
        }
        match op {
            0..=2 => {
                let k = key(input.below(KEYS));
                let v = self.value(input, &k);
                let durability = Self::durability(input);
                let mut batch = WriteBatch::new();
                batch.put(&k, &v);
                let result = self.db().write_with(batch, durability);
                self.commit(vec![Op::Put(k, v)], durability, result)
            }
            3 => {
                let k = key(input.below(KEYS));
                let durability = Self::durability(input);
                let mut batch = WriteBatch::new();
                batch.delete(&k);
                let result = self.db().write_with(batch, durability);
                self.commit(vec![Op::Delete(k)], durability, result)
            }
            4 => {
                let lo = input.below(KEYS);
                let hi = lo + input.below(12);
                let (lo, hi) = (key(lo), key(hi));
                let durability = Self::durability(input);
                let mut batch = WriteBatch::new();
                batch.delete_range(lo.as_slice()..hi.as_slice());
                let result = self.db().write_with(batch, durability);
                let range = (Bound::Included(lo), Bound::Excluded(hi));
                self.commit(vec![Op::DeleteRange(range)], durability, result)
            }
            5 | 6 => self.transaction(input),
            7 => {
                let durability = Self::durability(input);
                let mut batch = WriteBatch::new();
                let mut ops = Vec::new();
                for _ in 0..=input.below(6) {
                    let k = key(input.below(KEYS));
                    if input.bool() {
                        let v = self.value(input, &k);
                        batch.put(&k, &v);
                        ops.push(Op::Put(k, v));
                    } else {
                        batch.delete(&k);
                        ops.push(Op::Delete(k));
                    }
                }
                let result = self.db().write_with(batch, durability);
                self.commit(ops, durability, result)
            }
            8 => {
                if self.snapshots.len() >= 4 {
                    self.snapshots.remove(0);
                }
                self.snapshots
                    .push((self.db().snapshot(), self.current.clone()));
                Ok(())
            }
            9 => self.check_snapshot(input),
            10 => self.db().checkpoint().map(|_| ()),
            11 => self.db().compact_range(..),
            12 => self.change_layout(input),
            13 => {
                self.sim.crash_after_ops(u64::from(input.u8()));
                self.crash_armed = true;
                Ok(())
            }
            14 => {
                self.inject(input);
                Ok(())
            }
            15 => {
                self.sim.crash();
                Ok(())
            }
            16 => self.reopen_cleanly(),
            _ => {
                let k = key(input.below(KEYS));
                let got = self.db().get(&k)?;
                if !self.faults_armed {
                    assert_eq!(got.as_deref(), self.current.get(&k).map(|v| &v[..]));
                }
                Ok(())
            }
        }
    }

    fn transaction(&mut self, input: &mut Input<'_>) -> tierdb::Result<()> {
        let durability = Self::durability(input);
        let mut tx = self
            .db()
            .begin_with(TxnOptions::default().durability(durability));
        // What the transaction sees: its snapshot plus its own writes.
        let mut view = self.current.clone();
        let mut ops = Vec::new();
        for _ in 0..=input.below(5) {
            let k = key(input.below(KEYS));
            let op = match input.u8() % 3 {
                0 => {
                    tx.delete(&k)?;
                    Op::Delete(k)
                }
                1 => {
                    let seen = tx.get(&k)?;
                    assert_eq!(seen.map(|v| v.to_vec()).as_ref(), view.get(&k), "txn read");
                    continue;
                }
                _ => {
                    let v = self.value(input, &k);
                    tx.put(&k, &v)?;
                    Op::Put(k, v)
                }
            };
            apply(&mut view, std::slice::from_ref(&op));
            ops.push(op);
        }
        if input.u8().is_multiple_of(8) {
            tx.rollback();
            return Ok(());
        }
        let result = tx.commit();
        self.commit(ops, durability, result)
    }

    fn check_snapshot(&mut self, input: &mut Input<'_>) -> tierdb::Result<()> {
        if self.snapshots.is_empty() {
            return Ok(());
        }
        let i = input.below(self.snapshots.len() as u32) as usize;
        let (snapshot, expected) = &self.snapshots[i];
        let mut got = Model::new();
        for item in snapshot.range(..)? {
            let (k, v) = item?;
            got.insert(k.to_vec(), v.to_vec());
        }
        assert!(
            got == *expected,
            "snapshot at seq {} differs on {:?}",
            snapshot.seq(),
            diff_keys(expected, &got)
        );
        Ok(())
    }

    fn change_layout(&mut self, input: &mut Input<'_>) -> tierdb::Result<()> {
        let parts = self.db().partitions();
        match input.u8() % 3 {
            0 => match self.db().split_partition(key(input.below(KEYS))) {
                Err(Error::InvalidArgument(_)) => Ok(()),
                r => r.map(|_| ()),
            },
            1 if parts.len() >= 2 => {
                let j = input.below(parts.len() as u32 - 1) as usize;
                self.db()
                    .merge_partitions(parts[j].id, parts[j + 1].id)
                    .map(|_| ())
            }
            _ => {
                let p = &parts[input.below(parts.len() as u32) as usize];
                let tier = match p.tier {
                    Tier::BTree => Tier::Lsm,
                    Tier::Lsm => Tier::BTree,
                };
                self.db().set_tier(p.id, tier)
            }
        }
    }

    fn inject(&mut self, input: &mut Input<'_>) {
        let (op, kind) = match input.u8() % 9 {
            0 => (FaultOp::Write, FaultKind::Eio),
            1 => (FaultOp::Write, FaultKind::NoSpace),
            2 => (FaultOp::Write, FaultKind::ShortWrite),
            3 => (FaultOp::Sync, FaultKind::Eio),
            4 => (FaultOp::SyncDir, FaultKind::Eio),
            5 => (FaultOp::Create, FaultKind::NoSpace),
            6 => (FaultOp::Rename, FaultKind::Eio),
            7 => (FaultOp::Remove, FaultKind::Eio),
            _ => (FaultOp::Read, FaultKind::CorruptRead),
        };
        let skip = u64::from(input.u8() % 32);
        self.sim.inject(Fault::new(op, kind).skip(skip));
        self.faults_armed = true;
    }

    /// Closes and reopens without a crash: everything acknowledged is there.
    /// (Skipped while a crash or fault is armed: they would hit the
    /// reopen, which the recovery path covers.)
    fn reopen_cleanly(&mut self) -> tierdb::Result<()> {
        if self.faults_armed || self.crash_armed {
            return Ok(());
        }
        self.snapshots.clear();
        self.db().close()?;
        self.db = None;
        self.db = Some(Db::open("db", options(&self.sim, self.mode)).expect("reopen after close"));
        let got = read_all(self.db()).unwrap_or_else(|e| panic!("after a clean close: {e}"));
        assert!(
            got == self.current,
            "after a clean close, keys differ: {:?}",
            diff_keys(&self.current, &got)
        );
        Ok(())
    }

    /// Power loss (unless one happened already), reopen with faults
    /// cleared, and check the recovered state against the history.
    fn recover(&mut self) {
        self.snapshots.clear();
        if self.sim.crashes() == self.crashes_seen {
            self.sim.crash();
        }
        self.sim.crash_after_ops(u64::MAX);
        self.sim.clear_faults();
        self.faults_armed = false;
        self.crash_armed = false;
        self.crashes_seen = self.sim.crashes();
        self.db = None;
        self.db = Some(match Db::open("db", options(&self.sim, self.mode)) {
            Ok(db) => db,
            Err(e) => panic!("reopen after a crash failed: {e}"),
        });
        // The recovered contents must be a prefix holding every `Sync`
        // commit, read the same both ways; it becomes the history's base.
        let db = self.db.as_ref().expect("reopened");
        if let Err(e) = self.history.check_recovered(db) {
            panic!("after a crash: {e}");
        }
        self.current = self.history.current();
    }
}
