//! The partition layout: which partition holds which key range, and the
//! tier store of each. Part of every published `Version`, so a snapshot
//! routes with the layout it was taken under, whatever splits, merges or
//! re-tierings happen later.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use tierdb_tier::{Counter, Tier as TierStore, WriteOp};

use crate::manifest::PartitionEntry;

/// One partition of an open database.
pub(crate) struct Partition {
    pub entry: PartitionEntry,
    pub store: Arc<dyn TierStore>,
    /// Point reads and scans, counted by every reader thread (striped).
    pub reads: Counter,
    pub writes: AtomicU64,
    pub scans: Counter,
    pub bytes_applied: AtomicU64,
}

impl Partition {
    pub fn new(entry: PartitionEntry, store: Arc<dyn TierStore>) -> Self {
        Partition {
            entry,
            store,
            reads: Counter::new(),
            writes: AtomicU64::new(0),
            scans: Counter::new(),
            bytes_applied: AtomicU64::new(0),
        }
    }
}

/// The partitions, in key order of their start keys; the first starts at
/// the empty key.
pub(crate) struct Layout {
    pub partitions: Vec<Arc<Partition>>,
}

impl Layout {
    /// Index of the partition holding `key`. The first partition starts
    /// at the empty key, so only the later starts are compared (a
    /// one-partition layout compares none: two per op of every commit).
    pub fn index(&self, key: &[u8]) -> usize {
        self.partitions.get(1..).map_or(0, |later| {
            later.partition_point(|p| &p.entry.start[..] <= key)
        })
    }

    /// `ops` grouped by the index of the partition each goes to; a range
    /// delete is cut into one piece per partition it meets.
    pub fn route<'a>(
        &self,
        ops: impl IntoIterator<Item = &'a WriteOp>,
    ) -> BTreeMap<usize, Vec<WriteOp>> {
        let mut routed: BTreeMap<usize, Vec<WriteOp>> = BTreeMap::new();
        for op in ops {
            if let WriteOp::DeleteRange { start, end } = op {
                // Cut at this layout's boundaries (a captured write may
                // have been routed under another layout).
                let starts: Vec<&Bytes> = self.partitions.iter().map(|p| &p.entry.start).collect();
                for (i, piece) in crate::range_delete::clip(&starts, start, end.as_ref()) {
                    routed.entry(i).or_default().push(piece);
                }
                continue;
            }
            routed
                .entry(self.index(op.key()))
                .or_default()
                .push(op.clone());
        }
        routed
    }

    /// Index of the partition with id `id`.
    pub fn index_of_id(&self, id: u32) -> Option<usize> {
        self.partitions.iter().position(|p| p.entry.id == id)
    }

    /// The exclusive end of partition `i`'s range (`None`: unbounded).
    pub fn end(&self, i: usize) -> Option<&Bytes> {
        self.partitions.get(i + 1).map(|n| &n.entry.start)
    }

    /// Partition `i`'s range as bounds.
    pub fn bounds(&self, i: usize) -> (Bound<Bytes>, Bound<Bytes>) {
        let start = Bound::Included(self.partitions[i].entry.start.clone());
        let end = self
            .end(i)
            .map_or(Bound::Unbounded, |e| Bound::Excluded(e.clone()));
        (start, end)
    }

    /// Indexes of the partitions whose ranges overlap `(lo, hi)`.
    pub fn overlapping(&self, lo: &Bound<Bytes>, hi: &Bound<Bytes>) -> Vec<usize> {
        (0..self.partitions.len())
            .filter(|&i| {
                let start = &self.partitions[i].entry.start;
                let below_end = match (lo, self.end(i)) {
                    (_, None) | (Bound::Unbounded, _) => true,
                    (Bound::Included(k) | Bound::Excluded(k), Some(e)) => k < e,
                };
                let above_start = match hi {
                    Bound::Unbounded => true,
                    Bound::Included(k) => k >= start,
                    Bound::Excluded(k) => k > start,
                };
                below_end && above_start
            })
            .collect()
    }
}
