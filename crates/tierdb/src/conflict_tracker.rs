//! Optimistic conflict detection: remembers, for every key written since the
//! oldest live transaction began, the sequence of its last write, and every
//! range deleted since then with the sequence that deleted it.
//!
//! Snapshot isolation (first committer wins): a commit fails if a key it
//! writes was written after its snapshot. Serializable adds backward
//! validation of reads: it also fails if a key it read, or any key in a
//! range it scanned, was written after its snapshot. A range delete counts
//! as a write of every key in its range: it conflicts with a point or a
//! range another transaction wrote, read or scanned inside it. Since commits are
//! validated and ordered under one lock, every committed transaction's reads
//! are exactly the state at its commit point, so the history is serializable.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use tierdb_tier::{Seq, WriteOp, range_contains};

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
    /// Ranges deleted, `[start, end)` and the deleting commit's sequence.
    deleted_ranges: Vec<(Bytes, Option<Bytes>, Seq)>,
    len_after_trim: usize,
}

/// True if `[start, end)` and the bounds `(lo, hi)` share a key.
fn meets(start: &[u8], end: Option<&[u8]>, lo: &Bound<Bytes>, hi: &Bound<Bytes>) -> bool {
    let below_hi = match hi {
        Bound::Included(h) => start <= h.as_ref(),
        Bound::Excluded(h) => start < h.as_ref(),
        Bound::Unbounded => true,
    };
    let above_lo = match (lo, end) {
        (_, None) | (Bound::Unbounded, _) => true,
        (Bound::Included(l) | Bound::Excluded(l), Some(e)) => l.as_ref() < e,
    };
    below_hi && above_lo
}

/// Entries below which the tracker never bothers to trim.
const TRIM_FLOOR: usize = 4096;

impl ConflictTracker {
    /// Fails with `Error::Conflict` if the check does not pass against the
    /// writes recorded so far; `writes` are the commit's own.
    pub fn check<'a>(
        &self,
        check: &ConflictCheck,
        writes: impl Iterator<Item = &'a WriteOp>,
    ) -> Result<()> {
        let recent_ranges = || {
            self.deleted_ranges
                .iter()
                .filter(|(_, _, s)| *s > check.snapshot)
        };
        let newer = |key: &Bytes| {
            self.last_write
                .get(key)
                .is_some_and(|&s| s > check.snapshot)
                || recent_ranges().any(|(start, end, _)| range_contains(start, end.as_deref(), key))
        };
        const WRITTEN: &str = "written by a transaction that committed after this one began";
        for op in writes {
            if let WriteOp::DeleteRange { start, end } = op {
                let bounds = (
                    Bound::Included(start.clone()),
                    end.clone().map_or(Bound::Unbounded, Bound::Excluded),
                );
                self.check_range(check.snapshot, &bounds.0, &bounds.1, WRITTEN)?;
            } else if newer(op.key()) {
                return Err(conflict(op.key(), WRITTEN));
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
            self.check_range(
                check.snapshot,
                lo,
                hi,
                "in a range scanned by this transaction and changed since (serializable)",
            )?;
        }
        Ok(())
    }

    /// Fails if a key in `(lo, hi)` was written, or a range meeting it
    /// deleted, after `snapshot`.
    fn check_range(
        &self,
        snapshot: Seq,
        lo: &Bound<Bytes>,
        hi: &Bound<Bytes>,
        why: &str,
    ) -> Result<()> {
        if is_empty_range(lo, hi) {
            return Ok(());
        }
        let range = (lo.as_ref().map(|b| &b[..]), hi.as_ref().map(|b| &b[..]));
        let hit = self
            .last_write
            .range::<[u8], _>(range)
            .find(|(_, s)| **s > snapshot);
        if let Some((key, _)) = hit {
            return Err(conflict(key, why));
        }
        let deleted = self
            .deleted_ranges
            .iter()
            .find(|(start, end, s)| *s > snapshot && meets(start, end.as_deref(), lo, hi));
        if let Some((start, _, _)) = deleted {
            return Err(conflict(start, why));
        }
        Ok(())
    }

    /// Records the writes of the commit at `seq`.
    pub fn record<'a>(&mut self, seq: Seq, writes: impl Iterator<Item = &'a WriteOp>) {
        for op in writes {
            match op {
                WriteOp::DeleteRange { start, end } => {
                    self.deleted_ranges.push((start.clone(), end.clone(), seq));
                }
                _ => {
                    self.last_write.insert(op.key().clone(), seq);
                }
            }
        }
    }

    /// Whether enough has accumulated that a trim is worth its scan.
    pub fn wants_trim(&self) -> bool {
        self.last_write.len() + self.deleted_ranges.len() > TRIM_FLOOR.max(2 * self.len_after_trim)
    }

    /// Forgets writes no live transaction can conflict with: those at or
    /// below the oldest live snapshot (all of them when none is live).
    pub fn trim(&mut self, oldest_live_snapshot: Option<Seq>) {
        match oldest_live_snapshot {
            None => {
                self.last_write.clear();
                self.deleted_ranges.clear();
            }
            Some(oldest) => {
                self.last_write.retain(|_, s| *s > oldest);
                self.deleted_ranges.retain(|(_, _, s)| *s > oldest);
            }
        }
        self.len_after_trim = self.last_write.len() + self.deleted_ranges.len();
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

    fn w(s: &str) -> WriteOp {
        WriteOp::Delete { key: b(s) }
    }

    fn dr(start: &str, end: Option<&str>) -> WriteOp {
        WriteOp::DeleteRange {
            start: b(start),
            end: end.map(b),
        }
    }

    #[test]
    fn write_write_conflict_only_after_snapshot() {
        let mut t = ConflictTracker::default();
        t.record(5, [w("a")].iter());
        assert!(t.check(&check(5), [w("a")].iter()).is_ok());
        assert!(matches!(
            t.check(&check(4), [w("a")].iter()),
            Err(Error::Conflict { .. })
        ));
        assert!(t.check(&check(4), [w("b")].iter()).is_ok());
    }

    #[test]
    fn range_deletes_conflict_with_points_and_ranges_inside() {
        let mut t = ConflictTracker::default();
        t.record(8, [dr("k/", Some("k0"))].iter());
        // A write inside the deleted range, by a transaction older than it.
        assert!(t.check(&check(7), [w("k/1")].iter()).is_err());
        assert!(t.check(&check(8), [w("k/1")].iter()).is_ok());
        assert!(t.check(&check(7), [w("k0")].iter()).is_ok());
        // Serializable reads and scans meeting it.
        let mut c = check(7);
        c.read_keys = vec![b("k/5")];
        assert!(t.check(&c, std::iter::empty()).is_err());
        let mut c = check(7);
        c.read_ranges = vec![(Bound::Excluded(b("a")), Bound::Included(b("k/")))];
        assert!(t.check(&c, std::iter::empty()).is_err());
        c.read_ranges = vec![(Bound::Included(b("k0")), Bound::Unbounded)];
        assert!(t.check(&c, std::iter::empty()).is_ok());
        // A range delete of its own over keys written since.
        t.record(9, [w("z")].iter());
        assert!(t.check(&check(7), [dr("y", None)].iter()).is_err());
        assert!(t.check(&check(7), [dr("l", Some("y"))].iter()).is_ok());
        assert!(t.check(&check(7), [dr("a", Some("k/0"))].iter()).is_err());
        t.trim(Some(8));
        assert!(t.check(&check(7), [w("k/1")].iter()).is_ok());
    }

    #[test]
    fn serializable_reads_and_ranges() {
        let mut t = ConflictTracker::default();
        t.record(7, [w("k/5")].iter());
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
            t.record(s, [w(&format!("{s}"))].iter());
        }
        t.trim(Some(6));
        assert_eq!(t.len(), 4);
        assert!(t.check(&check(6), [w("7")].iter()).is_err());
        t.trim(None);
        assert_eq!(t.len(), 0);
    }
}
