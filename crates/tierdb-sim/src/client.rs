//! A logical client's open transaction, mirrored in the model: the snapshot
//! it reads from, its own writes, and what it read (for the conflicts the
//! isolation level demands).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tierdb::{Durability, Isolation, Txn};

use crate::model::{Footprint, KeyRange, Model, Op, borrow, range_contains, readable, short};
use crate::workload::{TxnStep, WriteSpec};

/// A transaction in progress.
pub struct OpenTxn {
    /// The engine's transaction.
    pub txn: Txn,
    /// Its isolation level.
    pub isolation: Isolation,
    /// Its durability.
    pub durability: Durability,
    /// The sequence of the snapshot it reads from.
    pub snapshot_seq: u64,
    /// The model state at that snapshot.
    pub view: Model,
    /// Its own writes, by key (those after its last range delete over
    /// them).
    pub own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Ranges it deleted; they apply before `own` at commit.
    pub own_ranges: Vec<KeyRange>,
    /// Keys it read from its snapshot (not from its own writes).
    pub read_keys: BTreeSet<Vec<u8>>,
    /// Ranges it scanned.
    pub read_ranges: Vec<KeyRange>,
    /// Steps still to run; then it commits.
    pub steps: VecDeque<TxnStep>,
}

impl OpenTxn {
    /// What the transaction should see: its snapshot with its own writes.
    fn visible(&self) -> Model {
        let mut m = self.view.clone();
        m.retain(|k, _| !self.deleted_by_self(k));
        for (k, v) in &self.own {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        m
    }

    fn deleted_by_self(&self, key: &[u8]) -> bool {
        self.own_ranges.iter().any(|r| range_contains(r, key))
    }

    fn expected_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.own.get(key) {
            Some(v) => v.clone(),
            None if self.deleted_by_self(key) => None,
            None => self.view.get(key).cloned(),
        }
    }

    /// A point read through the transaction, checked against the model.
    /// `Ok(Err(msg))` is a violation; `Err(e)` an engine error.
    fn get(&mut self, key: &[u8]) -> tierdb::Result<Result<Option<Vec<u8>>, String>> {
        let got = self.txn.get(key)?.map(|v| v.to_vec());
        let expected = self.expected_get(key);
        if !self.own.contains_key(key) && !self.deleted_by_self(key) {
            self.read_keys.insert(key.to_vec());
        }
        if got != expected {
            return Ok(Err(format!(
                "transaction get {} returned {:?}, expected {:?} (snapshot {})",
                String::from_utf8_lossy(key),
                got.as_deref().map(short),
                expected.as_deref().map(short),
                self.snapshot_seq
            )));
        }
        Ok(Ok(got))
    }

    /// Runs one step. `Ok(Some(msg))` is a violation.
    pub fn run_step(&mut self, step: &TxnStep) -> tierdb::Result<Option<String>> {
        match step {
            TxnStep::Get(k) => Ok(self.get(k)?.err()),
            TxnStep::Scan(scan) => {
                let got = scan.on_txn(&mut self.txn)?;
                self.read_ranges.push(scan.range.clone());
                let expected = scan.on_model(&self.visible());
                if got != expected {
                    return Ok(Some(format!(
                        "transaction scan {} returned {} entries, expected {} (snapshot {})",
                        readable(&format!("{scan:?}")),
                        got.len(),
                        expected.len(),
                        self.snapshot_seq
                    )));
                }
                Ok(None)
            }
            TxnStep::Write(spec) => self.write(spec),
            TxnStep::DeleteRange(r) => {
                self.txn.delete_range((borrow(&r.0), borrow(&r.1)))?;
                if !crate::model::range_is_empty(&r.0, &r.1) {
                    self.own.retain(|k, _| !range_contains(r, k));
                    self.own_ranges.push(r.clone());
                }
                Ok(None)
            }
        }
    }

    fn write(&mut self, spec: &WriteSpec) -> tierdb::Result<Option<String>> {
        let read = match spec.reads() {
            Some(k) => match self.get(k)? {
                Ok(v) => v,
                Err(violation) => return Ok(Some(violation)),
            },
            None => None,
        };
        for (k, v) in spec.resolve(read.as_deref()) {
            match &v {
                Some(v) => self.txn.put(&k, v)?,
                None => self.txn.delete(&k)?,
            }
            self.own.insert(k, v);
        }
        Ok(None)
    }

    /// The commit's writes as model operations: range deletes first.
    pub fn ops(&self) -> Vec<Op> {
        let ranges = self.own_ranges.iter().cloned().map(Op::DeleteRange);
        let points = self.own.iter().map(|(k, v)| match v {
            Some(v) => Op::Put(k.clone(), v.clone()),
            None => Op::Delete(k.clone()),
        });
        ranges.chain(points).collect()
    }

    /// Whether a commit that wrote `written` conflicts with this
    /// transaction: it wrote a key or a range this one writes (first
    /// committer wins), or, under serializable, a key this one read or a
    /// key in a range it scanned. A range delete writes every key in it.
    pub fn conflicts_with(&self, written: &Footprint) -> bool {
        if self.own.keys().any(|k| written.touches_key(k))
            || self.own_ranges.iter().any(|r| written.touches_range(r))
        {
            return true;
        }
        self.isolation == Isolation::Serializable
            && (self.read_keys.iter().any(|k| written.touches_key(k))
                || self.read_ranges.iter().any(|r| written.touches_range(r)))
    }
}
