//! `Snapshot`: a consistent read view across all partitions, and the read
//! paths shared by snapshots, transactions and the `Db` itself.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;
use tierdb_tier::TierIter;

use crate::Result;
use crate::db::Db;
use crate::iter::{ConcatIter, Inner, Iter, is_empty_range, owned_bounds, prefix_bounds};
use crate::limits::check_key;
use crate::version::Version;

/// A read view of the whole database as of one commit. Reads through it
/// never change, whatever is committed meanwhile; holding it never blocks
/// writers (it keeps the pages it may read alive).
pub struct Snapshot {
    db: Db,
    version: Arc<Version>,
}

impl Snapshot {
    pub(crate) fn new(db: Db, version: Arc<Version>) -> Self {
        Snapshot { db, version }
    }

    /// The sequence of the last commit this snapshot sees.
    pub fn seq(&self) -> u64 {
        self.version.seq
    }

    /// The value of `key` as of this snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.check_open()?;
        read_get(&self.version, key.as_ref())
    }

    /// The entries in `range` as of this snapshot, in key order.
    pub fn range<'k>(&self, range: impl RangeBounds<&'k [u8]>) -> Result<Iter> {
        let (lo, hi) = owned_bounds(&range);
        range_iter(&self.db, &self.version, lo, hi)
    }

    /// The entries whose keys start with `prefix`, as of this snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Iter> {
        let (lo, hi) = prefix_bounds(prefix.as_ref());
        range_iter(&self.db, &self.version, lo, hi)
    }
}

/// An iterator over `(lo, hi)` in `version`. It holds what it reads (the
/// partitions' iterators pin their pages), not `version` itself, so
/// `Db::range` lends it the current version without counting a reference
/// (a cache line every reader thread writes, twice per scan).
pub(crate) fn range_iter(
    db: &Db,
    version: &Version,
    lo: Bound<Bytes>,
    hi: Bound<Bytes>,
) -> Result<Iter> {
    db.check_open()?;
    let inner = read_range(version, lo, hi)?;
    Ok(Iter::new(db.clone(), Inner::Partitions(inner)))
}

/// A point read in `version`, routed to the partition holding `key`.
pub(crate) fn read_get(version: &Version, key: &[u8]) -> Result<Option<Bytes>> {
    check_key(key)?;
    let layout = &version.layout;
    let i = layout.index(key);
    layout.partitions[i].reads.add(1);
    version.views[i].get(key)
}

/// A range read in `version`, across every partition it overlaps.
pub(crate) fn read_range(
    version: &Version,
    lo: Bound<Bytes>,
    hi: Bound<Bytes>,
) -> Result<ConcatIter> {
    let mut parts: Vec<TierIter> = Vec::new();
    if !is_empty_range(&lo, &hi) {
        let layout = &version.layout;
        for (i, p) in layout.partitions.iter().enumerate() {
            let (start, end) = layout.bounds(i);
            let plo = max_lower(&lo, &start);
            let phi = min_upper(&hi, &end);
            if is_empty_range(&plo, &phi) {
                continue;
            }
            p.scans.add(1);
            parts.push(version.views[i].range(plo, phi)?);
        }
    }
    Ok(ConcatIter::new(parts))
}

/// The tighter of two lower bounds.
fn max_lower(a: &Bound<Bytes>, b: &Bound<Bytes>) -> Bound<Bytes> {
    match (a, b) {
        (Bound::Unbounded, x) | (x, Bound::Unbounded) => x.clone(),
        (Bound::Included(x), Bound::Included(y)) => Bound::Included(x.max(y).clone()),
        (Bound::Excluded(x), Bound::Excluded(y)) => Bound::Excluded(x.max(y).clone()),
        (Bound::Included(i), Bound::Excluded(e)) | (Bound::Excluded(e), Bound::Included(i)) => {
            if i > e {
                Bound::Included(i.clone())
            } else {
                Bound::Excluded(e.clone())
            }
        }
    }
}

/// The tighter of two upper bounds.
fn min_upper(a: &Bound<Bytes>, b: &Bound<Bytes>) -> Bound<Bytes> {
    match (a, b) {
        (Bound::Unbounded, x) | (x, Bound::Unbounded) => x.clone(),
        (Bound::Included(x), Bound::Included(y)) => Bound::Included(x.min(y).clone()),
        (Bound::Excluded(x), Bound::Excluded(y)) => Bound::Excluded(x.min(y).clone()),
        (Bound::Included(i), Bound::Excluded(e)) | (Bound::Excluded(e), Bound::Included(i)) => {
            if i < e {
                Bound::Included(i.clone())
            } else {
                Bound::Excluded(e.clone())
            }
        }
    }
}
