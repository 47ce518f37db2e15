//! The deterministic simulation: one seed gives one run of many logical
//! clients against one database on `SimVfs`, interleaved by a seeded
//! scheduler on one thread, through several crash (or clean shutdown) and
//! recovery cycles, with I/O errors injected. Every read is checked against
//! the model as it happens, every commit's sequence and conflict outcome
//! too, and every recovery against the durability rules ([`History`]).
//!
//! The same seed replays the same run exactly: the seed picks the workload
//! and configuration ([`describe`]), the clients, the operations, the crash
//! points and the faults, and `SimVfs` makes its own choices from it.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::ops::AddAssign;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{
    Db, Durability, Error, Fault, FaultKind, FaultOp, Snapshot, Tier, TxnOptions, WriteBatch,
};

use crate::client::OpenTxn;
use crate::config::{Config, SIM_CONFIGS};
use crate::history::History;
use crate::model::{Footprint, Model, Op, Scan, apply, borrow, readable, short};
use crate::workload::{Action, WORKLOADS, Workload};

/// What runs did, so a report can show that crashes, faults and conflicts
/// actually happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Seeds run.
    pub seeds: u64,
    /// Scheduler steps (client operations and transaction steps).
    pub ops: u64,
    /// Commits acknowledged.
    pub commits: u64,
    /// Transactions refused with the conflict the model expected.
    pub conflicts: u64,
    /// Reads (gets and scans) checked against the model.
    pub reads: u64,
    /// Checkpoints and compactions completed.
    pub checkpoints: u64,
    /// Splits, merges and tier changes completed.
    pub layout_changes: u64,
    /// Power losses (during the workload or during open).
    pub crashes: u64,
    /// Of which at a random file-system operation during the workload.
    pub crashes_mid_workload: u64,
    /// Of which during open and recovery.
    pub crashes_in_open: u64,
    /// I/O faults armed.
    pub faults: u64,
    /// Cycles an injected fault ended (an operation failed on it).
    pub fault_failures: u64,
    /// Clean shutdowns (close or drop of the last handle).
    pub clean_shutdowns: u64,
    /// Reopenings checked against the model.
    pub reopens: u64,
    /// Recoveries that legitimately lost unsynced acknowledged commits.
    pub lost_unsynced: u64,
    /// Mutating file-system operations (the same for every replay).
    pub fs_ops: u64,
}

impl AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, o: &Tally) {
        self.seeds += o.seeds;
        self.ops += o.ops;
        self.commits += o.commits;
        self.conflicts += o.conflicts;
        self.reads += o.reads;
        self.checkpoints += o.checkpoints;
        self.layout_changes += o.layout_changes;
        self.crashes += o.crashes;
        self.crashes_mid_workload += o.crashes_mid_workload;
        self.crashes_in_open += o.crashes_in_open;
        self.fs_ops += o.fs_ops;
        self.faults += o.faults;
        self.fault_failures += o.fault_failures;
        self.clean_shutdowns += o.clean_shutdowns;
        self.reopens += o.reopens;
        self.lost_unsynced += o.lost_unsynced;
    }
}

/// A violated rule, with what is needed to replay it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The seed that shows it.
    pub seed: u64,
    /// The workload and configuration the seed picked.
    pub workload: Workload,
    /// The configuration.
    pub config: &'static str,
    /// Crash/recovery cycle.
    pub cycle: u32,
    /// Scheduler step within the run.
    pub step: u64,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} ({} on {}), cycle {}, step {}: {}\n  replay: cargo run --release -p tierdb-sim -- --seed {}",
            self.seed,
            self.workload.name(),
            self.config,
            self.cycle,
            self.step,
            self.message,
            self.seed
        )
    }
}

/// The workload and configuration a seed runs.
pub fn describe(seed: u64) -> (Workload, Config) {
    let w = WORKLOADS[(seed % WORKLOADS.len() as u64) as usize];
    let c = SIM_CONFIGS[((seed / WORKLOADS.len() as u64) % SIM_CONFIGS.len() as u64) as usize];
    (w, c)
}

/// Runs one seed with the workload and configuration it picks.
pub fn run_seed(seed: u64) -> Result<Tally, Violation> {
    let (workload, config) = describe(seed);
    run(seed, workload, config)
}

/// A logical client.
enum Client {
    Idle,
    Txn(Box<OpenTxn>),
    Snapshot {
        snap: Snapshot,
        model: Model,
        reads_left: u32,
    },
}

/// How an operation ended.
enum Outcome {
    Ok,
    /// The engine returned an error: the database is done for this cycle
    /// (legitimately if a crash or a fault caused it).
    Failed(String),
}

struct Run {
    seed: u64,
    workload: Workload,
    config: Config,
    rng: StdRng,
    sim: Arc<tierdb::SimVfs>,
    history: History,
    /// State after every acknowledged commit.
    current: Model,
    /// What each commit since the oldest open transaction wrote.
    recent: Vec<(u64, Footprint)>,
    clients: Vec<Client>,
    tally: Tally,
    cycle: u32,
    step: u64,
}

/// Runs `seed` with the given workload and configuration.
pub fn run(seed: u64, workload: Workload, config: Config) -> Result<Tally, Violation> {
    let mut run = Run {
        seed,
        workload,
        config,
        rng: StdRng::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed),
        sim: Arc::new(tierdb::SimVfs::new(seed)),
        history: History::new(),
        current: Model::new(),
        recent: Vec::new(),
        clients: Vec::new(),
        tally: Tally {
            seeds: 1,
            ..Tally::default()
        },
        cycle: 0,
        step: 0,
    };
    let n = run.rng.random_range(2..=6);
    run.clients = (0..n).map(|_| Client::Idle).collect();
    let cycles = run.rng.random_range(2..=4);
    let mut db: Option<Db> = None;
    for cycle in 0..cycles {
        run.cycle = cycle;
        db = run.cycle(db).map_err(|m| run.violation(m))?;
    }
    if let Some(db) = db {
        db.close()
            .map_err(|e| run.violation(format!("final close: {e}")))?;
    }
    run.tally.fs_ops = run.sim.mutating_ops();
    Ok(run.tally)
}

impl Run {
    fn violation(&self, message: String) -> Violation {
        Violation {
            seed: self.seed,
            workload: self.workload,
            config: self.config.name,
            cycle: self.cycle,
            step: self.step,
            message,
        }
    }

    fn open(&self) -> tierdb::Result<Db> {
        Db::open("db", self.config.options(&self.sim))
    }

    /// Arms an I/O fault a quarter of the time. A corrupted read is armed
    /// only on an open database: during recovery it would be
    /// indistinguishable from a torn WAL tail, and cutting that is allowed.
    fn arm_fault(&mut self, open: bool) -> bool {
        if !self.rng.random_bool(0.25) {
            return false;
        }
        let (op, kind) = match self.rng.random_range(0..(if open { 9 } else { 8 })) {
            0 => (FaultOp::Write, FaultKind::Eio),
            1 => (FaultOp::Write, FaultKind::NoSpace),
            2 => (FaultOp::Write, FaultKind::ShortWrite),
            3 => (FaultOp::Sync, FaultKind::Eio),
            4 => (FaultOp::Rename, FaultKind::Eio),
            5 => (FaultOp::SyncDir, FaultKind::Eio),
            6 => (FaultOp::Remove, FaultKind::Eio),
            7 => (FaultOp::Create, FaultKind::NoSpace),
            _ => (FaultOp::Read, FaultKind::CorruptRead),
        };
        let skip = self.rng.random_range(0..40);
        self.sim.inject(Fault::new(op, kind).skip(skip));
        self.tally.faults += 1;
        true
    }

    /// One cycle: arm a crash (and maybe a fault), run the clients until the
    /// database fails or the cycle's steps are done, shut down by a crash or
    /// cleanly, reopen with no fault armed and check the recovery. Returns
    /// the recovered database (or none, closed) for the next cycle.
    fn cycle(&mut self, db: Option<Db>) -> Result<Option<Db>, String> {
        // Mostly short cycles (many crashes); some long ones, so that
        // B+trees grow several levels and LSM partitions several runs.
        let steps = if self.rng.random_bool(0.85) {
            self.rng.random_range(40..200)
        } else {
            self.rng.random_range(200..1500)
        };
        let crash_at = match self.rng.random_range(0..10) {
            // Early: lands in open and recovery, or the first commits.
            0..=1 => self.rng.random_range(0..80),
            2..=7 => self.rng.random_range(0..steps * 3 / 2),
            _ => u64::MAX,
        };
        let crashes_before = self.sim.crashes();
        // Arming before the open lands some crashes in recovery itself.
        let db = match db {
            Some(db) if self.rng.random_bool(0.7) => Some(db),
            other => {
                if let Some(db) = other {
                    db.close().map_err(|e| format!("close: {e}"))?;
                    self.history.all_durable();
                }
                None
            }
        };
        self.sim.crash_after_ops(crash_at);
        let fault = self.arm_fault(db.is_some());
        let db = match db {
            Some(db) => Ok(db),
            None => self.open(),
        };
        match db {
            Ok(db) => {
                let failure = self.run_clients(&db, steps)?;
                self.clients.iter_mut().for_each(|c| *c = Client::Idle);
                let crashed = self.sim.crashes() > crashes_before;
                if let Some(e) = &failure
                    && !crashed
                    && !fault
                {
                    return Err(format!("operation failed without a crash or a fault: {e}"));
                }
                if failure.is_some() && !crashed {
                    self.tally.fault_failures += 1;
                }
                if crashed {
                    self.tally.crashes += 1;
                    self.tally.crashes_mid_workload += 1;
                } else if failure.is_some() || self.rng.random_bool(0.6) {
                    self.sim.crash();
                    self.tally.crashes += 1;
                } else if self.rng.random_bool(0.5) {
                    // A clean close keeps every acknowledged commit, unless
                    // a fault made it fail.
                    match db.close() {
                        Ok(()) => {
                            self.history.all_durable();
                            self.tally.clean_shutdowns += 1;
                        }
                        Err(_) if fault || self.sim.crashes() > crashes_before => {
                            self.sim.crash();
                            self.tally.crashes += 1;
                        }
                        Err(e) => return Err(format!("close failed: {e}")),
                    }
                } else if !fault {
                    // Dropping the last handle writes what is buffered.
                    self.sim.crash_after_ops(u64::MAX);
                    self.history.all_durable();
                    self.tally.clean_shutdowns += 1;
                }
                drop(db);
            }
            Err(e) => {
                if self.sim.crashes() > crashes_before {
                    self.tally.crashes += 1;
                    self.tally.crashes_in_open += 1;
                } else if fault {
                    self.sim.crash();
                    self.tally.crashes += 1;
                } else {
                    return Err(format!("open failed without a crash or a fault: {e}"));
                }
            }
        }
        self.sim.crash_after_ops(u64::MAX);
        self.sim.clear_faults();
        let db = self.open().map_err(|e| format!("reopen failed: {e}"))?;
        let last = self.history.last_acked();
        let seq = self.history.check_recovered(&db)?;
        self.tally.reopens += 1;
        self.tally.lost_unsynced += u64::from(seq < last);
        self.current = self.history.current();
        self.workload.check_invariant(&self.current)?;
        self.recent.clear();
        Ok(Some(db))
    }

    /// Runs scheduler steps until the cycle's budget is spent or an
    /// operation fails; returns the failure (`Err` is a violation).
    fn run_clients(&mut self, db: &Db, steps: u64) -> Result<Option<String>, String> {
        for _ in 0..steps {
            self.step += 1;
            self.tally.ops += 1;
            let c = self.rng.random_range(0..self.clients.len());
            match self.client_step(db, c) {
                Ok(Outcome::Ok) => {}
                Ok(Outcome::Failed(e)) => return Ok(Some(e)),
                Err(violation) => return Err(violation),
            }
        }
        Ok(None)
    }

    fn client_step(&mut self, db: &Db, c: usize) -> Result<Outcome, String> {
        match std::mem::replace(&mut self.clients[c], Client::Idle) {
            Client::Idle => self.idle_step(db, c),
            Client::Txn(mut tx) => match tx.steps.pop_front() {
                Some(step) => match tx.run_step(&step) {
                    Ok(Some(violation)) => Err(violation),
                    Ok(None) => {
                        self.tally.reads += 1;
                        self.clients[c] = Client::Txn(tx);
                        Ok(Outcome::Ok)
                    }
                    Err(e) => Ok(Outcome::Failed(e.to_string())),
                },
                None => self.commit_txn(*tx),
            },
            Client::Snapshot {
                snap,
                model,
                reads_left,
            } => {
                let scan = self.workload.random_scan(&mut self.rng);
                let got = match scan.on_snapshot(&snap) {
                    Ok(got) => got,
                    Err(e) => return Ok(Outcome::Failed(e.to_string())),
                };
                self.tally.reads += 1;
                if got != scan.on_model(&model) {
                    return Err(format!(
                        "snapshot at seq {} scan {} differs from the model",
                        snap.seq(),
                        readable(&format!("{scan:?}"))
                    ));
                }
                if reads_left > 1 {
                    self.clients[c] = Client::Snapshot {
                        snap,
                        model,
                        reads_left: reads_left - 1,
                    };
                }
                Ok(Outcome::Ok)
            }
        }
    }

    fn idle_step(&mut self, db: &Db, c: usize) -> Result<Outcome, String> {
        let rng = &mut self.rng;
        let result = match rng.random_range(0..100) {
            0..=2 => db.checkpoint().map(|_| self.tally.checkpoints += 1),
            3 => {
                let r = self.workload.random_range(rng);
                db.compact_range((borrow(&r.0), borrow(&r.1)))
                    .map(|_| self.tally.checkpoints += 1)
            }
            4..=5 => self.change_layout(db),
            6..=11 => {
                let snap = db.snapshot();
                if snap.seq() != self.history.last_acked() {
                    return Err(format!(
                        "snapshot taken at seq {}, last commit is {}",
                        snap.seq(),
                        self.history.last_acked()
                    ));
                }
                let reads_left = self.rng.random_range(1..6);
                self.clients[c] = Client::Snapshot {
                    snap,
                    model: self.current.clone(),
                    reads_left,
                };
                Ok(())
            }
            _ => {
                let action = self.workload.next_action(rng, self.step);
                return self.action(db, c, action);
            }
        };
        Ok(match result {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed(e.to_string()),
        })
    }

    fn change_layout(&mut self, db: &Db) -> tierdb::Result<()> {
        let parts = db.partitions();
        let result = match self.rng.random_range(0..3) {
            0 => match db.split_partition(self.workload.random_key(&mut self.rng)) {
                Err(Error::InvalidArgument(_)) => return Ok(()),
                r => r.map(|_| ()),
            },
            1 if parts.len() >= 2 => {
                let j = self.rng.random_range(0..parts.len() - 1);
                db.merge_partitions(parts[j].id, parts[j + 1].id)
                    .map(|_| ())
            }
            _ => {
                let p = &parts[self.rng.random_range(0..parts.len())];
                let tier = match p.tier {
                    Tier::BTree => Tier::Lsm,
                    _ => Tier::BTree,
                };
                db.set_tier(p.id, tier)
            }
        };
        if result.is_ok() {
            self.tally.layout_changes += 1;
        }
        result
    }

    fn action(&mut self, db: &Db, c: usize, action: Action) -> Result<Outcome, String> {
        match action {
            Action::Write(ops, durability) => {
                let mut batch = WriteBatch::new();
                for op in &ops {
                    match op {
                        Op::Put(k, v) => batch.put(k, v),
                        Op::Delete(k) => batch.delete(k),
                        Op::DeleteRange(r) => batch.delete_range((borrow(&r.0), borrow(&r.1))),
                    };
                }
                let result = db.write_with(batch, durability);
                self.record_commit(result, ops, durability)
            }
            Action::Get(k) => {
                let got = match db.get(&k) {
                    Ok(v) => v.map(|v| v.to_vec()),
                    Err(e) => return Ok(Outcome::Failed(e.to_string())),
                };
                self.tally.reads += 1;
                let expected = self.current.get(&k);
                if got.as_ref() != expected {
                    return Err(format!(
                        "get {} returned {:?}, expected {:?} (seq {})",
                        String::from_utf8_lossy(&k),
                        got.as_deref().map(short),
                        expected.map(|v| short(v)),
                        self.history.last_acked()
                    ));
                }
                Ok(Outcome::Ok)
            }
            Action::Scan(scan) => self.check_scan(db, &scan),
            Action::Txn {
                isolation,
                durability,
                steps,
            } => {
                let txn = db.begin_with(
                    TxnOptions::default()
                        .isolation(isolation)
                        .durability(durability),
                );
                let snapshot_seq = txn.snapshot_seq();
                if snapshot_seq != self.history.last_acked() {
                    return Err(format!(
                        "transaction began at seq {snapshot_seq}, last commit is {}",
                        self.history.last_acked()
                    ));
                }
                self.clients[c] = Client::Txn(Box::new(OpenTxn {
                    txn,
                    isolation,
                    durability,
                    snapshot_seq,
                    view: self.current.clone(),
                    own: Default::default(),
                    own_ranges: Vec::new(),
                    read_keys: BTreeSet::new(),
                    read_ranges: Vec::new(),
                    steps: VecDeque::from(steps),
                }));
                Ok(Outcome::Ok)
            }
        }
    }

    fn check_scan(&mut self, db: &Db, scan: &Scan) -> Result<Outcome, String> {
        let got = match scan.on_db(db) {
            Ok(got) => got,
            Err(e) => return Ok(Outcome::Failed(e.to_string())),
        };
        self.tally.reads += 1;
        let expected = scan.on_model(&self.current);
        if got != expected {
            return Err(format!(
                "scan {} returned {} entries, expected {} (seq {})",
                readable(&format!("{scan:?}")),
                got.len(),
                expected.len(),
                self.history.last_acked()
            ));
        }
        Ok(Outcome::Ok)
    }

    /// Checks a commit's result against the model and records it.
    fn record_commit(
        &mut self,
        result: tierdb::Result<tierdb::CommitInfo>,
        ops: Vec<Op>,
        durability: Durability,
    ) -> Result<Outcome, String> {
        let last = self.history.last_acked();
        let info = match result {
            Ok(info) => info,
            Err(e) => {
                self.history.failed(ops);
                return Ok(Outcome::Failed(e.to_string()));
            }
        };
        let mut next = self.current.clone();
        let written = apply(&mut next, &ops);
        let expected_seq = if written.is_empty() { last } else { last + 1 };
        if info.seq != expected_seq {
            return Err(format!(
                "commit got seq {}, expected {expected_seq}",
                info.seq
            ));
        }
        if info.seq > last {
            self.history.acked(info.seq, ops, durability);
            self.current = next;
            self.tally.commits += 1;
            if self.clients.iter().any(|c| matches!(c, Client::Txn(_))) {
                self.recent.push((info.seq, written));
            } else {
                self.recent.clear();
            }
        } else {
            self.history.acked_empty(info.seq, durability);
        }
        Ok(Outcome::Ok)
    }

    fn commit_txn(&mut self, tx: OpenTxn) -> Result<Outcome, String> {
        let expect_conflict = !(tx.own.is_empty() && tx.own_ranges.is_empty())
            && self
                .recent
                .iter()
                .any(|(seq, written)| *seq > tx.snapshot_seq && tx.conflicts_with(written));
        let ops = tx.ops();
        let (durability, snapshot_seq) = (tx.durability, tx.snapshot_seq);
        let result = tx.txn.commit();
        match result {
            Err(Error::Conflict { key, .. }) => {
                if !expect_conflict {
                    return Err(format!(
                        "transaction (snapshot {snapshot_seq}) refused with a conflict on {key} the model does not expect"
                    ));
                }
                self.tally.conflicts += 1;
                Ok(Outcome::Ok)
            }
            Ok(info) if expect_conflict => Err(format!(
                "transaction (snapshot {snapshot_seq}) committed at {} despite a conflicting commit after its snapshot",
                info.seq
            )),
            Ok(info) if ops.is_empty() => {
                if info.seq != snapshot_seq {
                    return Err(format!(
                        "read-only commit reported seq {}, not its snapshot {snapshot_seq}",
                        info.seq
                    ));
                }
                Ok(Outcome::Ok)
            }
            result => self.record_commit(result, ops, durability),
        }
    }
}
