//! Optimistic conflict detection: remembers, for every key written since the
//! oldest live transaction began, the sequence of its last write.
//!
//! Snapshot isolation (first committer wins): a commit fails if a key it
//! writes was written after its snapshot. Serializable adds backward
//! validation of reads: it also fails if a key it read, or any key in a
//! range it scanned, was written after its snapshot. Since commits are
//! validated and ordered under one lock, every committed transaction's reads
//! are exactly the state at its commit point, so the history is serializable.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use tierdb_tier::Seq;

use crate::iter::is_empty_range;
use crate::{Error, Result};

/// What a committing transaction asks to be validated.
pub(crate) struct ConflictCheck {
    /// The sequence its reads came from.
    pub snapshot: Seq,
    /// Keys it read (serializable only; empty otherwise).
    pub read_keys: Vec<Bytes>,
    /// Ranges it scanned (serializable only; empty otherwise).
    pub read_ranges: Vec<(Bound<Bytes>, Bound<Bytes>)>,
}

/// Last-write sequence per recently written key.
#[derive(Default)]
pub(crate) struct ConflictTracker {
    last_write: BTreeMap<Bytes, Seq>,
    len_after_trim: usize,
}

/// Entries below which the tracker never bothers to trim.
const TRIM_FLOOR: usize = 4096;

impl ConflictTracker {
    /// Fails with `Error::Conflict` if the check does not pass against the
    /// writes recorded so far; `write_keys` are the keys the commit writes.
    pub fn check<'a>(
        &self,
        check: &ConflictCheck,
        write_keys: impl Iterator<Item = &'a Bytes>,
    ) -> Result<()> {
        let newer = |key: &Bytes| {
            self.last_write
                .get(key)
                .is_some_and(|&s| s > check.snapshot)
        };
        for key in write_keys {
            if newer(key) {
                return Err(conflict(
                    key,
                    "written by a transaction that committed after this one began",
                ));
            }
        }
        for key in &check.read_keys {
            if newer(key) {
                return Err(conflict(
                    key,
                    "read by this transaction and changed since (serializable)",
                ));
            }
        }
        for (lo, hi) in &check.read_ranges {
            if is_empty_range(lo, hi) {
                continue;
            }
            let range = (lo.as_ref().map(|b| &b[..]), hi.as_ref().map(|b| &b[..]));
            let hit = self
                .last_write
                .range::<[u8], _>(range)
                .find(|(_, s)| **s > check.snapshot);
            if let Some((key, _)) = hit {
                return Err(conflict(
                    key,
                    "in a range scanned by this transaction and changed since (serializable)",
                ));
            }
        }
        Ok(())
    }

    /// Records that `keys` were written by the commit at `seq`.
    pub fn record<'a>(&mut self, seq: Seq, keys: impl Iterator<Item = &'a Bytes>) {
        for key in keys {
            self.last_write.insert(key.clone(), seq);
        }
    }

    /// Whether enough has accumulated that a trim is worth its scan.
    pub fn wants_trim(&self) -> bool {
        self.last_write.len() > TRIM_FLOOR.max(2 * self.len_after_trim)
    }

    /// Forgets writes no live transaction can conflict with: those at or
    /// below the oldest live snapshot (all of them when none is live).
    pub fn trim(&mut self, oldest_live_snapshot: Option<Seq>) {
        match oldest_live_snapshot {
            None => self.last_write.clear(),
            Some(oldest) => self.last_write.retain(|_, s| *s > oldest),
        }
        self.len_after_trim = self.last_write.len();
    }

    /// Keys currently remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.last_write.len()
    }
}

fn conflict(key: &[u8], reason: &str) -> Error {
    Error::Conflict {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn check(snapshot: Seq) -> ConflictCheck {
        ConflictCheck {
            snapshot,
            read_keys: vec![],
            read_ranges: vec![],
        }
    }

    #[test]
    fn write_write_conflict_only_after_snapshot() {
        let mut t = ConflictTracker::default();
        t.record(5, [b("a")].iter());
        assert!(t.check(&check(5), [b("a")].iter()).is_ok());
        assert!(matches!(
            t.check(&check(4), [b("a")].iter()),
            Err(Error::Conflict { .. })
        ));
        assert!(t.check(&check(4), [b("b")].iter()).is_ok());
    }

    #[test]
    fn serializable_reads_and_ranges() {
        let mut t = ConflictTracker::default();
        t.record(7, [b("k/5")].iter());
        let mut c = check(6);
        c.read_keys = vec![b("k/5")];
        assert!(t.check(&c, std::iter::empty()).is_err());
        let mut c = check(6);
        c.read_ranges = vec![(Bound::Included(b("k/")), Bound::Excluded(b("k0")))];
        assert!(t.check(&c, std::iter::empty()).is_err());
        c.read_ranges = vec![(Bound::Included(b("l/")), Bound::Unbounded)];
        assert!(t.check(&c, std::iter::empty()).is_ok());
        c.read_ranges = vec![(Bound::Included(b("z")), Bound::Excluded(b("a")))];
        assert!(t.check(&c, std::iter::empty()).is_ok());
    }

    #[test]
    fn trim_keeps_what_live_snapshots_need() {
        let mut t = ConflictTracker::default();
        for s in 1..=10u64 {
            t.record(s, [b(&format!("{s}"))].iter());
        }
        t.trim(Some(6));
        assert_eq!(t.len(), 4);
        assert!(t.check(&check(6), [b("7")].iter()).is_err());
        t.trim(None);
        assert_eq!(t.len(), 0);
    }
}
