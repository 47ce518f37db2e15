//! The memtable: a concurrent skiplist of internal entries.
//!
//! `apply` inserts while views and iterators read the same memtable; a
//! reader filters out versions newer than its view's sequence, so it never
//! needs a lock. Once frozen (full, or taken by a flush) a memtable is only
//! read. Range tombstones are kept apart, in a short list behind a lock
//! (range deletes are rare; readers copy the ones they see when they
//! start).

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;
use tierdb_io::Result;

use crate::entry::{Entry, EntryKind, InternalIter, RangeTombstone, internal_cmp};

/// Bytes charged per entry on top of its key and value (skiplist node,
/// sequence, kind).
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 48;

/// An internal key: user key ascending, then sequence descending.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MemKey {
    key: Bytes,
    seq: u64,
}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        internal_cmp(&self.key, self.seq, &other.key, other.seq)
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One memtable.
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    map: SkipMap<MemKey, (EntryKind, Bytes)>,
    range_tombstones: RwLock<Vec<RangeTombstone>>,
    bytes: AtomicU64,
    max_seq: AtomicU64,
    /// The tier's applied sequence when this memtable was frozen: every
    /// write set up to it is in this memtable or an older one (0 while
    /// active).
    sealed_seq: AtomicU64,
}

impl Memtable {
    /// An empty memtable.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds one version.
    pub(crate) fn insert(&self, key: Bytes, seq: u64, kind: EntryKind, value: Bytes) {
        let charge = key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD_BYTES;
        self.map.insert(MemKey { key, seq }, (kind, value));
        self.bytes.fetch_add(charge, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// Adds a range tombstone.
    pub(crate) fn insert_range_tombstone(&self, tombstone: RangeTombstone) {
        let end_len = tombstone.end.as_ref().map_or(0, |e| e.len());
        let charge = (tombstone.start.len() + end_len) as u64 + ENTRY_OVERHEAD_BYTES;
        let seq = tombstone.seq;
        self.range_tombstones.write().push(tombstone);
        self.bytes.fetch_add(charge, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The range tombstones with sequence `<= seq`.
    pub(crate) fn range_tombstones(&self, seq: u64) -> Vec<RangeTombstone> {
        self.range_tombstones
            .read()
            .iter()
            .filter(|t| t.seq <= seq)
            .cloned()
            .collect()
    }

    /// Records that the memtable was frozen with the tier applied up to
    /// `seq`.
    pub(crate) fn seal(&self, seq: u64) {
        self.sealed_seq.store(seq, AtomicOrdering::Release);
    }

    /// The applied sequence when it was frozen (see `seal`).
    pub(crate) fn sealed_seq(&self) -> u64 {
        self.sealed_seq.load(AtomicOrdering::Acquire)
    }

    /// Approximate bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Versions held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// True if nothing was inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty() && self.range_tombstones.read().is_empty()
    }

    /// The newest version of `key` with sequence `<= seq`, if any; a
    /// tombstone if a range tombstone newer than it covers the key.
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Option<Entry> {
        let probe = MemKey {
            key: Bytes::copy_from_slice(key),
            seq,
        };
        let found = self
            .map
            .lower_bound(Bound::Included(&probe))
            .filter(|found| found.key().key.as_ref() == key)
            .map(|found| to_entry(found.key(), found.value()));
        let covering = self
            .range_tombstones
            .read()
            .iter()
            .filter(|t| t.seq <= seq && t.covers(key))
            .map(|t| t.seq)
            .max();
        crate::version::newest(key, found, covering)
    }
}

fn to_entry(key: &MemKey, value: &(EntryKind, Bytes)) -> Entry {
    Entry {
        key: key.key.clone(),
        seq: key.seq,
        kind: value.0,
        value: value.1.clone(),
    }
}

/// An owning iterator over one memtable. Each step is a skiplist search
/// from the current entry, so concurrent inserts never invalidate it.
pub(crate) struct MemIter {
    table: Arc<Memtable>,
    current: Option<Entry>,
}

impl MemIter {
    /// An unpositioned iterator over `table`.
    pub(crate) fn new(table: Arc<Memtable>) -> Self {
        MemIter {
            table,
            current: None,
        }
    }

    fn set_lower(&mut self, bound: Bound<&MemKey>) {
        self.current = self
            .table
            .map
            .lower_bound(bound)
            .map(|e| to_entry(e.key(), e.value()));
    }

    fn set_upper(&mut self, bound: Bound<&MemKey>) {
        self.current = self
            .table
            .map
            .upper_bound(bound)
            .map(|e| to_entry(e.key(), e.value()));
    }

    fn current_key(&self) -> Option<MemKey> {
        self.current.as_ref().map(|e| MemKey {
            key: e.key.clone(),
            seq: e.seq,
        })
    }
}

impl InternalIter for MemIter {
    fn seek_to_first(&mut self) -> Result<()> {
        self.current = self.table.map.front().map(|e| to_entry(e.key(), e.value()));
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.current = self.table.map.back().map(|e| to_entry(e.key(), e.value()));
        Ok(())
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        let probe = MemKey {
            key: Bytes::copy_from_slice(key),
            seq: u64::MAX,
        };
        self.set_lower(Bound::Included(&probe));
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        let probe = MemKey {
            key: Bytes::copy_from_slice(key),
            seq: 0,
        };
        self.set_upper(Bound::Included(&probe));
        Ok(())
    }

    fn valid(&self) -> bool {
        self.current.is_some()
    }

    #[allow(clippy::expect_used)]
    fn entry(&self) -> &Entry {
        self.current
            .as_ref()
            .expect("MemIter::entry called while not valid")
    }

    fn next(&mut self) -> Result<()> {
        if let Some(key) = self.current_key() {
            self.set_lower(Bound::Excluded(&key));
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(key) = self.current_key() {
            self.set_upper(Bound::Excluded(&key));
        }
        Ok(())
    }
}
