//! What the durability rules allow a recovery to find.
//!
//! The workload tells the [`History`] about every commit: acknowledged (with
//! its sequence and durability) or failed (an I/O error or the crash hit it:
//! it may or may not have taken the next sequence). After a crash and
//! reopen, [`History::check_recovered`] demands that the database holds
//! exactly the effects of a prefix of the commit order (nothing partial,
//! nothing resurrected, nothing out of order) and that the prefix contains
//! every commit acknowledged as `Sync` (and everything acknowledged before a
//! clean close). `Buffered` and `Volatile` commits may be lost, but only as
//! a suffix.

use std::collections::BTreeMap;

use tierdb::{Db, Durability};

use crate::model::{Model, Op, apply, diff_keys, read_all};

/// The commit order as the workload saw it.
#[derive(Default, Debug, Clone)]
pub struct History {
    /// The state at `base_seq`, which a recovery has confirmed.
    base: Model,
    base_seq: u64,
    /// Acknowledged commits after `base_seq`, by sequence.
    acked: BTreeMap<u64, Vec<Op>>,
    /// Highest sequence that must survive a crash.
    durable: u64,
    /// The commit that failed last, if no commit was acknowledged since.
    failed: Option<Vec<Op>>,
}

impl History {
    /// An empty history (an empty database at sequence 0).
    pub fn new() -> Self {
        History::default()
    }

    /// Records an acknowledged commit.
    pub fn acked(&mut self, seq: u64, ops: Vec<Op>, durability: Durability) {
        self.acked.insert(seq, ops);
        if durability == Durability::Sync {
            self.durable = self.durable.max(seq);
        }
    }

    /// Records a commit that wrote nothing and so took no sequence of its
    /// own, reporting `seq` (the last commit's, or a read-only
    /// transaction's snapshot's). Not a commit of the history, but if it
    /// asked for `Sync`, everything up to `seq` must now survive a crash.
    pub fn acked_empty(&mut self, seq: u64, durability: Durability) {
        if durability == Durability::Sync {
            self.durable = self.durable.max(seq);
        }
    }

    /// Records a commit that returned an error other than a conflict: it
    /// may have taken the next sequence and reached the log.
    pub fn failed(&mut self, ops: Vec<Op>) {
        self.failed = Some(ops);
    }

    /// Everything acknowledged so far must survive (after a clean close).
    pub fn all_durable(&mut self) {
        self.durable = self.last_acked();
    }

    /// Sequence of the last acknowledged commit (or of the confirmed base).
    pub fn last_acked(&self) -> u64 {
        self.acked
            .keys()
            .next_back()
            .copied()
            .unwrap_or(self.base_seq)
    }

    /// The state after every acknowledged commit.
    pub fn current(&self) -> Model {
        self.state_at(self.last_acked())
            .expect("the last acknowledged commit is a valid prefix")
    }

    /// The model state after the prefix of commits up to `seq`, or why no
    /// recovery may end at `seq`.
    pub fn state_at(&self, seq: u64) -> Result<Model, String> {
        let last = self.last_acked();
        if seq < self.durable {
            return Err(format!(
                "recovered seq {seq} lost durable commit {} (Sync-acknowledged or closed cleanly)",
                self.durable
            ));
        }
        if seq < self.base_seq {
            return Err(format!(
                "recovered seq {seq} is below {} which an earlier recovery found",
                self.base_seq
            ));
        }
        if seq > last + u64::from(self.failed.is_some()) {
            return Err(format!(
                "recovered seq {seq} is beyond every commit made (last acknowledged {last})"
            ));
        }
        let mut model = self.base.clone();
        for ops in self.acked.range(..=seq).map(|(_, ops)| ops) {
            apply(&mut model, ops);
        }
        if seq > last {
            apply(&mut model, self.failed.as_deref().unwrap_or_default());
        }
        Ok(model)
    }

    /// Checks a freshly recovered database against the history and, if it
    /// passes, makes the recovered prefix the new confirmed base (commits
    /// after it are gone). Returns the recovered sequence.
    pub fn check_recovered(&mut self, db: &Db) -> Result<u64, String> {
        let seq = db.snapshot().seq();
        let expected = self.state_at(seq)?;
        let got = read_all(db)?;
        if got != expected {
            return Err(format!(
                "recovered state at seq {seq} is not that prefix of the commit order; differing keys {:?}",
                diff_keys(&expected, &got)
            ));
        }
        self.base = expected;
        self.base_seq = seq;
        self.durable = seq;
        self.acked.clear();
        self.failed = None;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Vec<Op> {
        vec![Op::Put(k.as_bytes().to_vec(), v.as_bytes().to_vec())]
    }

    #[test]
    fn prefixes_lost_syncs_empty_syncs_and_the_failed_commit() {
        let mut h = History::new();
        h.acked(1, put("a", "1"), Durability::Buffered);
        h.acked(2, put("a", "2"), Durability::Sync);
        h.acked(3, put("b", "3"), Durability::Buffered);
        assert!(h.state_at(1).unwrap_err().contains("lost durable"));
        assert_eq!(h.state_at(2).unwrap().len(), 1);
        // A Sync commit that wrote nothing and reported seq 3 makes 3
        // durable; a Buffered one promises nothing.
        h.acked_empty(3, Durability::Buffered);
        assert!(h.state_at(2).is_ok());
        h.acked_empty(3, Durability::Sync);
        assert!(h.state_at(2).unwrap_err().contains("lost durable commit 3"));
        assert_eq!(h.last_acked(), 3, "an empty commit is not a commit");
        h.failed(put("c", "4"));
        assert_eq!(h.state_at(4).unwrap().len(), 3);
        assert!(h.state_at(5).is_err());
    }
}
