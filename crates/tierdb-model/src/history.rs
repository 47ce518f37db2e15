//! The commit history of a workload and the recovery rule (DESIGN.md
//! property 1): after a crash the database holds exactly the effects of a
//! prefix of the commit order, and that prefix contains every commit
//! acknowledged as `Sync`. No partial transaction.

use std::collections::BTreeMap;

use crate::Model;

/// A commit's effect: each key set to a value or removed (`None`).
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What a workload knows about the commit order.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Acknowledged commits by sequence.
    pub acked: BTreeMap<u64, Writes>,
    /// Highest sequence acknowledged as `Sync` (0: none).
    pub synced: u64,
    /// The commit that failed (a crash or a fault hit it): it may or may
    /// not have taken the next sequence.
    pub failed: Option<Writes>,
}

impl History {
    /// Records an acknowledged commit at `seq`; `sync` if it was
    /// acknowledged as durable.
    /// A commit that changed nothing may not take a sequence of its own
    /// (it reports the current one): it must not replace that commit.
    pub fn ack(&mut self, seq: u64, writes: Writes, sync: bool) {
        if !(writes.is_empty() && self.acked.contains_key(&seq)) {
            self.acked.insert(seq, writes);
        }
        if sync {
            self.synced = self.synced.max(seq);
        }
    }

    /// The sequence of the last acknowledged commit (0: none).
    pub fn last_acked(&self) -> u64 {
        self.acked.keys().next_back().copied().unwrap_or(0)
    }

    /// The model state after the prefix of commits up to `seq`, or why no
    /// such prefix can exist.
    pub fn state_at(&self, seq: u64) -> Result<Model, String> {
        let last_acked = self.last_acked();
        if seq < self.synced {
            return Err(format!(
                "recovered seq {seq} lost Sync-acknowledged commit {}",
                self.synced
            ));
        }
        if seq > last_acked + u64::from(self.failed.is_some()) {
            return Err(format!(
                "recovered seq {seq} is beyond every commit made (last acked {last_acked})"
            ));
        }
        let mut model = Model::new();
        let mut all: Vec<&Writes> = self.acked.range(..=seq).map(|(_, w)| w).collect();
        if seq > last_acked {
            all.extend(self.failed.as_ref());
        }
        for writes in all {
            apply(&mut model, writes);
        }
        Ok(model)
    }

    /// After a recovery at `seq`, the history is that prefix.
    pub fn truncate(&mut self, seq: u64) {
        let last_acked = self.last_acked();
        self.acked.retain(|&s, _| s <= seq);
        if seq > last_acked
            && let Some(w) = self.failed.take()
        {
            self.acked.insert(seq, w);
        }
        self.failed = None;
        self.synced = seq;
    }
}

/// Applies one commit's writes to `model`.
pub fn apply(model: &mut Model, writes: &Writes) {
    for (k, v) in writes {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Writes {
        Writes::from([(k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))])
    }

    #[test]
    fn prefixes_lost_syncs_and_the_failed_commit() {
        let mut h = History::default();
        h.ack(1, put("a", "1"), false);
        h.ack(2, put("a", "2"), true);
        h.ack(3, put("b", "3"), false);
        h.failed = Some(put("c", "4"));
        assert!(h.state_at(1).unwrap_err().contains("lost Sync"));
        assert_eq!(h.state_at(2).unwrap().len(), 1);
        assert_eq!(h.state_at(4).unwrap().len(), 3);
        assert!(h.state_at(5).is_err());
        h.truncate(4);
        assert_eq!(h.last_acked(), 4);
        assert!(h.failed.is_none());
    }
}
