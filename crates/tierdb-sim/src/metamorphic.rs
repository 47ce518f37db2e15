//! Metamorphic runs (after Pebble's metamorphic test): one operation stream,
//! generated from a seed, is run under every configuration of
//! [`METAMORPHIC_CONFIGS`] — all B+tree, all LSM, mixed partitions with
//! different split points, page sizes from 1 KiB to 64 KiB, small and large
//! caches, checkpoints by the workload or by the background worker. Every
//! operation's observable result (each read's entries, each commit's
//! sequence or conflict) must be the same under all of them; the first
//! difference is reported with the seed and the operation's index.
//!
//! Layout operations are expressed by key (split at a key, merge the
//! partition holding a key with the next one, move it to a tier) so that
//! they mean something under every layout; they never change what is read.
//! Power losses come right after a `Sync` commit, so that every
//! configuration must recover everything.

use std::fmt;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{
    Db, Durability, Error, Isolation, SimVfs, Snapshot, Tier, Txn, TxnOptions, WriteBatch,
};

use crate::config::{Config, METAMORPHIC_CONFIGS};
use crate::model::{Entries, KeyRange, Op, Scan, borrow, readable, value_for};
use crate::workload::{WORKLOADS, Workload, random_durability};

/// Transactions and snapshots a stream may hold open at once.
const SLOTS: usize = 4;

/// One operation of a stream.
#[derive(Clone, Debug)]
pub enum MetaOp {
    /// A write batch.
    Write(Vec<Op>, Durability),
    /// A point read.
    Get(Vec<u8>),
    /// A scan.
    Scan(Scan),
    /// Begin a transaction in a slot.
    Begin(usize, Isolation, Durability),
    /// Read in the slot's transaction.
    TxnGet(usize, Vec<u8>),
    /// Scan in the slot's transaction.
    TxnScan(usize, Scan),
    /// Write in the slot's transaction.
    TxnPut(usize, Vec<u8>, Vec<u8>),
    /// Delete in the slot's transaction.
    TxnDelete(usize, Vec<u8>),
    /// Range delete in the slot's transaction.
    TxnDeleteRange(usize, KeyRange),
    /// Commit the slot's transaction.
    Commit(usize),
    /// Roll the slot's transaction back.
    Rollback(usize),
    /// Take a snapshot into a slot.
    TakeSnapshot(usize),
    /// Read from the slot's snapshot.
    SnapshotGet(usize, Vec<u8>),
    /// Scan the slot's snapshot.
    SnapshotScan(usize, Scan),
    /// Release the slot's snapshot.
    DropSnapshot(usize),
    /// A checkpoint.
    Checkpoint,
    /// Compact a range.
    CompactRange(KeyRange),
    /// Split the partition holding the key at the key.
    Split(Vec<u8>),
    /// Merge the partition holding the key with the next one.
    MergeAt(Vec<u8>),
    /// Move the partition holding the key to a tier.
    SetTierAt(Vec<u8>, Tier),
    /// Close cleanly and reopen (open transactions and snapshots end).
    Reopen,
    /// Power loss and reopen (always right after a `Sync` commit).
    Crash,
}

/// Generates a stream of `len` operations from `seed`.
pub fn generate(seed: u64, len: usize) -> Vec<MetaOp> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x3e7a_3e7a);
    let mut txns = [false; SLOTS];
    let mut snaps = [false; SLOTS];
    let mut ops = Vec::with_capacity(len + 8);
    let key = |rng: &mut StdRng| {
        if rng.random_bool(0.3) {
            // A few hot keys, so that transactions conflict.
            return format!("key/00{}", rng.random_range(0..6)).into_bytes();
        }
        let w = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
        w.random_key(rng)
    };
    let scan = |rng: &mut StdRng| {
        let w = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
        w.random_scan(rng)
    };
    let value = |k: &[u8], rng: &mut StdRng, i: usize| {
        let len = if rng.random_bool(0.05) {
            rng.random_range(1500..9000)
        } else {
            rng.random_range(0..150)
        };
        value_for(k, i as u64, len)
    };
    while ops.len() < len {
        let i = ops.len();
        let slot = rng.random_range(0..SLOTS);
        let op = match rng.random_range(0..100) {
            0..=24 => {
                let ops = (0..rng.random_range(1..6))
                    .map(|_| {
                        let k = key(&mut rng);
                        match rng.random_range(0..12) {
                            0..=7 => {
                                let v = value(&k, &mut rng, i);
                                Op::Put(k, v)
                            }
                            8..=10 => Op::Delete(k),
                            _ => {
                                let w = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
                                Op::DeleteRange(w.random_range(&mut rng))
                            }
                        }
                    })
                    .collect();
                MetaOp::Write(ops, random_durability(&mut rng))
            }
            25..=32 => MetaOp::Get(key(&mut rng)),
            33..=40 => MetaOp::Scan(scan(&mut rng)),
            41..=60 if !txns[slot] => {
                txns[slot] = true;
                let isolation = if rng.random_bool(0.5) {
                    Isolation::Snapshot
                } else {
                    Isolation::Serializable
                };
                MetaOp::Begin(slot, isolation, random_durability(&mut rng))
            }
            41..=60 => match rng.random_range(0..10) {
                0..=1 => MetaOp::TxnGet(slot, key(&mut rng)),
                2 => MetaOp::TxnScan(slot, scan(&mut rng)),
                3..=5 => {
                    let k = key(&mut rng);
                    let v = value(&k, &mut rng, i);
                    MetaOp::TxnPut(slot, k, v)
                }
                6 if rng.random_bool(0.3) => {
                    let w = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
                    MetaOp::TxnDeleteRange(slot, w.random_range(&mut rng))
                }
                6 => MetaOp::TxnDelete(slot, key(&mut rng)),
                7 => {
                    txns[slot] = false;
                    MetaOp::Rollback(slot)
                }
                _ => {
                    txns[slot] = false;
                    MetaOp::Commit(slot)
                }
            },
            61..=72 if !snaps[slot] => {
                snaps[slot] = true;
                MetaOp::TakeSnapshot(slot)
            }
            61..=72 => match rng.random_range(0..6) {
                0..=1 => MetaOp::SnapshotGet(slot, key(&mut rng)),
                2..=4 => MetaOp::SnapshotScan(slot, scan(&mut rng)),
                _ => {
                    snaps[slot] = false;
                    MetaOp::DropSnapshot(slot)
                }
            },
            73..=77 => MetaOp::Checkpoint,
            78 => {
                let w = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
                MetaOp::CompactRange(w.random_range(&mut rng))
            }
            79..=81 => MetaOp::Split(key(&mut rng)),
            82..=83 => MetaOp::MergeAt(key(&mut rng)),
            84..=85 => {
                let tier = if rng.random_bool(0.5) {
                    Tier::BTree
                } else {
                    Tier::Lsm
                };
                MetaOp::SetTierAt(key(&mut rng), tier)
            }
            86 | 87 => {
                txns = [false; SLOTS];
                snaps = [false; SLOTS];
                if rng.random_bool(0.5) {
                    MetaOp::Reopen
                } else {
                    let k = Workload::RandomKv.random_key(&mut rng);
                    let v = value(&k, &mut rng, i);
                    ops.push(MetaOp::Write(vec![Op::Put(k, v)], Durability::Sync));
                    MetaOp::Crash
                }
            }
            _ => MetaOp::Get(key(&mut rng)),
        };
        ops.push(op);
    }
    ops
}

/// A difference between two configurations.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The stream's seed.
    pub seed: u64,
    /// Index of the first operation whose result differs.
    pub op_index: usize,
    /// That operation.
    pub op: String,
    /// The reference configuration and its result.
    pub reference: (&'static str, String),
    /// The other configuration and its result.
    pub other: (&'static str, String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op: String = self.op.chars().take(300).collect();
        write!(
            f,
            "seed {} op {} {op}: {} gave {} but {} gave {}\n  replay: cargo run --release -p tierdb-sim -- --metamorphic --seed {}",
            self.seed,
            self.op_index,
            self.reference.0,
            self.reference.1,
            self.other.0,
            self.other.1,
            self.seed
        )
    }
}

/// What a metamorphic seed did.
#[derive(Clone, Debug, Default)]
pub struct MetaTally {
    /// Seeds run.
    pub seeds: u64,
    /// Operations run, summed over configurations.
    pub ops: u64,
    /// Operations whose results were compared.
    pub compared: u64,
}

/// Runs the stream of `seed` (of `len` operations) under every
/// configuration and compares the results.
pub fn run_seed(seed: u64, len: usize) -> Result<MetaTally, Mismatch> {
    run_configs(seed, len, METAMORPHIC_CONFIGS)
}

/// As [`run_seed`], on the given configurations (the first is the
/// reference).
pub fn run_configs(seed: u64, len: usize, configs: &[Config]) -> Result<MetaTally, Mismatch> {
    let stream = generate(seed, len);
    let reference = execute(&stream, configs[0], seed);
    let mut tally = MetaTally {
        seeds: 1,
        ops: stream.len() as u64,
        compared: 0,
    };
    for config in &configs[1..] {
        let results = execute(&stream, *config, seed);
        tally.ops += stream.len() as u64;
        tally.compared += stream.len() as u64;
        if let Some(i) = (0..stream.len()).find(|&i| reference[i] != results[i]) {
            return Err(Mismatch {
                seed,
                op_index: i,
                op: readable(&format!("{:?}", stream[i])),
                reference: (configs[0].name, reference[i].clone()),
                other: (config.name, results[i].clone()),
            });
        }
    }
    Ok(tally)
}

/// A compact, comparable description of a scan's result.
fn describe_entries(entries: &Entries) -> String {
    // FNV-1a over keys and values, with lengths, so any difference shows.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in entries {
        for b in (k.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(k)
            .chain(&(v.len() as u64).to_le_bytes())
            .chain(v)
        {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let first = entries
        .first()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned());
    format!("{} entries, first {first:?}, hash {h:016x}", entries.len())
}

fn describe_value(v: tierdb::Result<Option<tierdb::Bytes>>) -> String {
    match v {
        Ok(None) => "absent".into(),
        Ok(Some(v)) => describe_entries(&vec![(Vec::new(), v.to_vec())]),
        Err(e) => format!("error: {e}"),
    }
}

fn describe_scan(r: tierdb::Result<Entries>) -> String {
    match r {
        Ok(entries) => describe_entries(&entries),
        Err(e) => format!("error: {e}"),
    }
}

fn describe_done(r: tierdb::Result<()>) -> String {
    match r {
        Ok(()) | Err(Error::InvalidArgument(_)) => "done".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn describe_commit(r: tierdb::Result<tierdb::CommitInfo>) -> String {
    match r {
        Ok(info) => format!("committed at {}", info.seq),
        // Not the key it names: a range delete is cut at partition
        // boundaries, so the piece reported depends on the layout.
        Err(Error::Conflict { .. }) => "conflict".into(),
        Err(e) => format!("error: {e}"),
    }
}

struct Executor {
    sim: Arc<SimVfs>,
    config: Config,
    db: Option<Db>,
    txns: Vec<Option<Txn>>,
    snaps: Vec<Option<Snapshot>>,
}

impl Executor {
    fn db(&self) -> &Db {
        self.db
            .as_ref()
            .expect("the executor always holds a database")
    }

    fn reopen(&mut self, crash: bool) -> String {
        self.txns.iter_mut().for_each(|t| *t = None);
        self.snaps.iter_mut().for_each(|s| *s = None);
        let Some(db) = self.db.take() else {
            return "error: the database did not reopen".into();
        };
        let closed = if crash {
            self.sim.crash();
            Ok(())
        } else {
            db.close()
        };
        drop(db);
        let opened = Db::open("db", self.config.options(&self.sim));
        let result = match (closed, opened) {
            (Ok(()), Ok(db)) => {
                let seq = db.snapshot().seq();
                self.db = Some(db);
                return format!("reopened at {seq}");
            }
            (Err(e), _) => format!("error closing: {e}"),
            (_, Err(e)) => format!("error reopening: {e}"),
        };
        // Every later operation reports that there is no database, so the
        // comparison shows this one as the first difference.
        result
    }

    fn run(&mut self, op: &MetaOp) -> String {
        if self.db.is_none() {
            return "error: the database did not reopen".into();
        }
        match op {
            MetaOp::Write(ops, durability) => {
                let mut batch = WriteBatch::new();
                for op in ops {
                    match op {
                        Op::Put(k, v) => batch.put(k, v),
                        Op::Delete(k) => batch.delete(k),
                        Op::DeleteRange(r) => batch.delete_range((borrow(&r.0), borrow(&r.1))),
                    };
                }
                describe_commit(self.db().write_with(batch, *durability))
            }
            MetaOp::Get(k) => describe_value(self.db().get(k)),
            MetaOp::Scan(s) => describe_scan(s.on_db(self.db())),
            MetaOp::Begin(slot, isolation, durability) => {
                let txn = self.db().begin_with(
                    TxnOptions::default()
                        .isolation(*isolation)
                        .durability(*durability),
                );
                let seq = txn.snapshot_seq();
                self.txns[*slot] = Some(txn);
                format!("began at {seq}")
            }
            MetaOp::TxnGet(slot, k) => describe_value(self.txn(*slot).get(k)),
            MetaOp::TxnScan(slot, s) => describe_scan(s.on_txn(self.txn(*slot))),
            MetaOp::TxnPut(slot, k, v) => describe_done(self.txn(*slot).put(k, v)),
            MetaOp::TxnDelete(slot, k) => describe_done(self.txn(*slot).delete(k)),
            MetaOp::TxnDeleteRange(slot, r) => {
                describe_done(self.txn(*slot).delete_range((borrow(&r.0), borrow(&r.1))))
            }
            MetaOp::Commit(slot) => match self.txns[*slot].take() {
                Some(txn) => describe_commit(txn.commit()),
                None => "no transaction".into(),
            },
            MetaOp::Rollback(slot) => {
                self.txns[*slot] = None;
                "rolled back".into()
            }
            MetaOp::TakeSnapshot(slot) => {
                let snap = self.db().snapshot();
                let seq = snap.seq();
                self.snaps[*slot] = Some(snap);
                format!("snapshot at {seq}")
            }
            MetaOp::SnapshotGet(slot, k) => match &self.snaps[*slot] {
                Some(s) => describe_value(s.get(k)),
                None => "no snapshot".into(),
            },
            MetaOp::SnapshotScan(slot, scan) => match &self.snaps[*slot] {
                Some(s) => describe_scan(scan.on_snapshot(s)),
                None => "no snapshot".into(),
            },
            MetaOp::DropSnapshot(slot) => {
                self.snaps[*slot] = None;
                "dropped".into()
            }
            MetaOp::Checkpoint => describe_done(self.db().checkpoint().map(|_| ())),
            MetaOp::CompactRange(r) => {
                describe_done(self.db().compact_range((borrow(&r.0), borrow(&r.1))))
            }
            MetaOp::Split(k) => describe_done(self.db().split_partition(k).map(|_| ())),
            MetaOp::MergeAt(k) => {
                let parts = self.db().partitions();
                let i = parts
                    .iter()
                    .rposition(|p| p.start.as_ref() <= k.as_slice())
                    .unwrap_or(0);
                match parts.get(i + 1) {
                    Some(next) => {
                        describe_done(self.db().merge_partitions(parts[i].id, next.id).map(|_| ()))
                    }
                    None => "done".into(),
                }
            }
            MetaOp::SetTierAt(k, tier) => {
                let parts = self.db().partitions();
                let i = parts
                    .iter()
                    .rposition(|p| p.start.as_ref() <= k.as_slice())
                    .unwrap_or(0);
                describe_done(self.db().set_tier(parts[i].id, *tier))
            }
            MetaOp::Reopen => self.reopen(false),
            MetaOp::Crash => self.reopen(true),
        }
    }

    fn txn(&mut self, slot: usize) -> &mut Txn {
        self.txns[slot]
            .as_mut()
            .expect("the generator only uses open transaction slots")
    }
}

/// Runs a stream under one configuration; one result per operation.
pub fn execute(stream: &[MetaOp], config: Config, seed: u64) -> Vec<String> {
    let sim = Arc::new(SimVfs::new(seed));
    let db = match Db::open("db", config.options(&sim)) {
        Ok(db) => db,
        Err(e) => return vec![format!("error opening: {e}"); stream.len()],
    };
    let mut ex = Executor {
        sim,
        config,
        db: Some(db),
        txns: (0..SLOTS).map(|_| None).collect(),
        snaps: (0..SLOTS).map(|_| None).collect(),
    };
    let results = stream.iter().map(|op| ex.run(op)).collect();
    ex.txns.clear();
    ex.snaps.clear();
    if let Some(db) = ex.db.take() {
        let _ = db.close();
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_show_keys_as_text() {
        let op = MetaOp::Get(b"key/051".to_vec());
        assert_eq!(readable(&format!("{op:?}")), "Get(\"key/051\")");
        let op = MetaOp::Write(vec![Op::Put(b"k".to_vec(), vec![0, 1])], Durability::Sync);
        assert_eq!(
            readable(&format!("{op:?}")),
            "Write([Put(\"k\", [0, 1])], Sync)"
        );
    }
}
