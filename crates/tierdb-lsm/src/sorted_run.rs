//! A sorted run: the point writes of write sets replayed from the WAL at
//! open, gathered, sorted once and served read-only as a frozen memtable
//! (`Memtable::from_run`) until the flusher writes it to L0.
//!
//! Inserting the replay into the skiplist memtable was most of an LSM
//! open (~52 % of its instructions at N = 50k; each insert allocates a
//! node and walks the levels). Here each write costs its share of one
//! sort; a read is a binary search, an iterator an index. Keys and values
//! are not copied: replayed, they are slices of the WAL segments read at
//! open, which the run keeps alive until it is flushed (a value a reader
//! keeps keeps its segment's image alive too).
//!
//! Order and versions are the memtable's: user key ascending, sequence
//! descending; every version is kept (the flush drops the shadowed ones,
//! as it does for a skiplist memtable). Two writes of one key in one write
//! set share a sequence: the later one is kept, as the later insert
//! replaces the earlier in the skiplist.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::{Entry, EntryKind, InternalIter, internal_cmp};
use crate::memtable::head_of;

/// The versions of a run, in internal-key order, with `(key, seq)` unique.
#[derive(Debug, Default)]
pub(crate) struct SortedRun {
    entries: Vec<Entry>,
}

/// One version on its way into a run: where its entry is, and the key's
/// first 16 bytes (compared first, so most comparisons of the sort need
/// no `memcmp`).
struct SortKey {
    head: [u64; 2],
    seq: u64,
    at: u32,
}

/// Gathers versions in arrival order, then sorts them into a run.
#[derive(Default)]
pub(crate) struct RunBuilder {
    entries: Vec<Entry>,
    keys: Vec<SortKey>,
}

impl RunBuilder {
    /// Adds one version.
    /// Versions of one sequence must be added in their write set's order.
    pub(crate) fn push(&mut self, key: &Bytes, seq: u64, kind: EntryKind, value: &Bytes) {
        let at = self.entries.len() as u32;
        self.keys.push(SortKey {
            head: head_of(key),
            seq,
            at,
        });
        self.entries.push(Entry {
            key: key.clone(),
            seq,
            kind,
            value: value.clone(),
        });
    }

    /// The run: sorted, with the earlier of two writes of one key in one
    /// write set dropped.
    pub(crate) fn finish(self) -> SortedRun {
        let RunBuilder { mut keys, entries } = self;
        // Later arrivals first among equal (key, seq), so that the first
        // of each is the one kept; `at` is unique, so an unstable sort is
        // deterministic.
        keys.sort_unstable_by(|a, b| {
            a.head
                .cmp(&b.head)
                .then_with(|| {
                    let (x, y) = (&entries[a.at as usize], &entries[b.at as usize]);
                    internal_cmp(&x.key, a.seq, &y.key, b.seq)
                })
                .then(b.at.cmp(&a.at))
        });
        let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
        let mut sorted: Vec<Entry> = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(entry) = slots[k.at as usize].take() else {
                continue;
            };
            let repeat = sorted
                .last()
                .is_some_and(|last| last.seq == entry.seq && last.key == entry.key);
            if !repeat {
                sorted.push(entry);
            }
        }
        SortedRun { entries: sorted }
    }
}

impl SortedRun {
    /// Versions held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if it holds no version.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of the first entry at or after `(key, seq)` in internal
    /// order.
    fn lower_bound(&self, key: &[u8], seq: u64) -> usize {
        self.entries
            .partition_point(|e| internal_cmp(&e.key, e.seq, key, seq) == Ordering::Less)
    }

    /// The newest version of `key` with sequence `<= seq`, if any.
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Option<Entry> {
        self.entries
            .get(self.lower_bound(key, seq))
            .filter(|e| e.key.as_ref() == key)
            .cloned()
    }
}

/// An iterator over a run: an index into it. Owns the run, so that a
/// view's iterator is `'static`.
pub(crate) struct RunIter {
    run: Arc<SortedRun>,
    /// `None`: not positioned (or moved off either end).
    at: Option<usize>,
}

impl RunIter {
    /// An unpositioned iterator over `run`.
    pub(crate) fn new(run: Arc<SortedRun>) -> Self {
        RunIter { run, at: None }
    }

    fn set(&mut self, at: usize) {
        self.at = (at < self.run.len()).then_some(at);
    }
}

impl InternalIter for RunIter {
    fn seek_to_first(&mut self) -> Result<()> {
        self.set(0);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.at = self.run.len().checked_sub(1);
        Ok(())
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        let at = self.run.lower_bound(key, u64::MAX);
        self.set(at);
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        // The last entry at or before (key, 0): one before the first after it.
        let after = self
            .run
            .entries
            .partition_point(|e| internal_cmp(&e.key, e.seq, key, 0) != Ordering::Greater);
        self.at = after.checked_sub(1);
        Ok(())
    }

    fn valid(&self) -> bool {
        self.at.is_some()
    }

    #[allow(clippy::expect_used)]
    fn entry(&self) -> &Entry {
        let at = self.at.expect("RunIter::entry called while not valid");
        &self.run.entries[at]
    }

    fn next(&mut self) -> Result<()> {
        if let Some(at) = self.at {
            self.set(at + 1);
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(at) = self.at {
            self.at = at.checked_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entry(key: &[u8], seq: u64, value: &[u8]) -> Entry {
        Entry {
            key: Bytes::copy_from_slice(key),
            seq,
            kind: if value.is_empty() {
                EntryKind::Delete
            } else {
                EntryKind::Put
            },
            value: Bytes::copy_from_slice(value),
        }
    }

    fn keys() -> impl Strategy<Value = Vec<u8>> {
        // Shared 16-byte heads, zero bytes and extensions of one another.
        prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a']), 0..20)
    }

    proptest! {
        /// A run holds, for each (key, seq), the last version pushed, in
        /// internal order; `get` and both iterator directions agree with
        /// a model.
        #[test]
        fn run_matches_model(
            writes in prop::collection::vec((keys(), 1u64..6, prop::collection::vec(any::<u8>(), 0..3)), 0..60),
            probes in prop::collection::vec((keys(), 0u64..7), 0..20),
        ) {
            let mut builder = RunBuilder::default();
            let mut model: BTreeMap<(Vec<u8>, std::cmp::Reverse<u64>), Vec<u8>> = BTreeMap::new();
            for (key, seq, value) in &writes {
                let e = entry(key, *seq, value);
                builder.push(&e.key, e.seq, e.kind, &e.value);
                model.insert((key.clone(), std::cmp::Reverse(*seq)), value.clone());
            }
            let run = Arc::new(builder.finish());
            let expected: Vec<Entry> = model
                .iter()
                .map(|((k, s), v)| entry(k, s.0, v))
                .collect();
            prop_assert_eq!(&run.entries, &expected);
            let mut it = RunIter::new(Arc::clone(&run));
            it.seek_to_last().unwrap();
            let mut back = Vec::new();
            while it.valid() {
                back.push(it.entry().clone());
                it.prev().unwrap();
            }
            back.reverse();
            prop_assert_eq!(&back, &expected);
            for (key, seq) in probes {
                let want = expected
                    .iter()
                    .find(|e| e.key.as_ref() == key.as_slice() && e.seq <= seq)
                    .cloned();
                prop_assert_eq!(run.get(&key, seq), want);
                it.seek(&key).unwrap();
                let first_at_or_after = expected.iter().find(|e| e.key.as_ref() >= key.as_slice());
                prop_assert_eq!(it.valid().then(|| it.entry()), first_at_or_after);
                it.seek_for_prev(&key).unwrap();
                let last_at_or_before = expected.iter().rev().find(|e| e.key.as_ref() <= key.as_slice());
                prop_assert_eq!(it.valid().then(|| it.entry()), last_at_or_before);
            }
        }
    }
}
