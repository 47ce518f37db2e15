//! `Version`: which tables make up the tree, level by level.
//!
//! L0 holds whole flushes, newest first; their key ranges may overlap. Every
//! level below holds tables with disjoint key ranges sorted by key. For any
//! key, every version in a newer place (L0 before L1, L1 before L2, a newer
//! L0 table before an older one) has a higher sequence than every version in
//! an older place, so a point read stops at the first place holding the key.
//! Versions are immutable; flush and compaction install a new one.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::{Entry, EntryKind, InternalIter, RangeTombstone};
use crate::level_iter::LevelIter;
use crate::sstable::GetCost;
use crate::table::{Table, upper_below};

/// Number of levels (L0 .. L6).
pub(crate) const LEVELS: usize = 7;

/// The tables of every level.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    /// `levels[0]` newest first; the others sorted by smallest key.
    pub(crate) levels: Vec<Vec<Arc<Table>>>,
}

impl Version {
    /// No tables.
    pub(crate) fn empty() -> Self {
        Version {
            levels: vec![Vec::new(); LEVELS],
        }
    }

    /// Every table, level by level.
    pub(crate) fn all_tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.levels.iter().flatten()
    }

    /// Sum of the file sizes of `level`.
    pub(crate) fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.file_bytes).sum()
    }

    /// Sum of the file sizes of every table.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.all_tables().map(|t| t.file_bytes).sum()
    }

    /// Estimated bytes of live data: the file bytes of a set of tables no
    /// two of which overlap in key range, chosen greedily from the deepest
    /// level up, as RocksDB's `EstimateLiveDataSize` does (within L0,
    /// whose tables overlap, largest first: a flush holds each key at most
    /// once, so the largest overlapping table is the best lower bound). A
    /// table is counted unless its range meets a table already counted, so
    /// each stretch of the key space is counted once. Exact once everything
    /// is compacted into one level; with overlapping upper levels it
    /// undercounts (new keys sitting only in an overlapping upper table are
    /// left out), so `disk_bytes / live_bytes_estimate` overstates space
    /// amplification rather than hide it. Tombstones count as live until a
    /// compaction drops them.
    pub(crate) fn live_bytes_estimate(&self) -> u64 {
        // Counted spans, disjoint, keyed by start: (smallest -> upper end).
        let mut counted: BTreeMap<&[u8], &Bound<Bytes>> = BTreeMap::new();
        let mut bytes = 0;
        for level in self.levels.iter().rev() {
            let mut tables: Vec<&Arc<Table>> = level.iter().collect();
            tables.sort_by_key(|t| std::cmp::Reverse(t.file_bytes));
            for t in tables {
                // The counted span starting last before the table's upper
                // end is the only one that can reach into the table.
                let before_end = match &t.upper {
                    Bound::Included(u) => counted
                        .range::<[u8], _>((Bound::Unbounded, Bound::Included(u.as_ref())))
                        .next_back(),
                    Bound::Excluded(u) => counted
                        .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(u.as_ref())))
                        .next_back(),
                    Bound::Unbounded => counted.iter().next_back(),
                };
                let meets = before_end.is_some_and(|(_, up)| !upper_below(up, &t.smallest));
                if !meets {
                    counted.insert(t.smallest.as_ref(), &t.upper);
                    bytes += t.file_bytes;
                }
            }
        }
        bytes
    }

    /// What the tables say about `key` as of `seq`: the newest version
    /// with sequence `<= seq`, or a tombstone if a range tombstone newer
    /// than that version covers it; `None` if no table knows the key.
    /// Tables are asked newest place first and the first that knows the
    /// key answers: every version or range tombstone touching `key` in a
    /// newer place is newer than everything touching it in an older one
    /// (compaction merges a table with every table of the next level its
    /// span meets, range tombstones included). What the table probes cost
    /// is added to `cost`.
    /// `hash` is `sstable::bloom::key_hash(key)`.
    pub(crate) fn get(
        &self,
        key: &[u8],
        hash: u64,
        seq: u64,
        cost: &mut GetCost,
    ) -> Result<Option<Entry>> {
        for table in &self.levels[0] {
            if let Some(entry) = get_from(table, key, hash, seq, cost)? {
                return Ok(Some(entry));
            }
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.ends_before(key));
            if let Some(table) = level.get(i)
                && let Some(entry) = get_from(table, key, hash, seq, cost)?
            {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// The range tombstones of every table whose span meets the keys from
    /// `lo` to `hi`.
    pub(crate) fn range_tombstones(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
    ) -> impl Iterator<Item = &RangeTombstone> {
        self.all_tables()
            .filter(move |t| in_bounds(t, lower, upper))
            .flat_map(|t| t.reader.range_tombstones())
    }

    /// The tables of `level` whose span meets the keys from `lo` to `hi`.
    pub(crate) fn overlapping(
        &self,
        level: usize,
        lo: &[u8],
        hi: &Bound<Bytes>,
    ) -> Vec<Arc<Table>> {
        self.levels[level]
            .iter()
            .filter(|t| t.overlaps(lo, hi))
            .cloned()
            .collect()
    }

    /// Iterators over the tables that may hold keys within the bounds: one
    /// per L0 table (their spans overlap), one per deeper level (a
    /// [`LevelIter`] opening its tables one at a time).
    pub(crate) fn iters(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
    ) -> Vec<Box<dyn InternalIter>> {
        let wanted = |t: &&Arc<Table>| t.has_entries() && in_bounds(t, lower, upper);
        let mut iters: Vec<Box<dyn InternalIter>> = self.levels[0]
            .iter()
            .filter(wanted)
            .map(|t| Box::new(t.reader.iter()) as Box<dyn InternalIter>)
            .collect();
        for level in &self.levels[1..] {
            let tables: Vec<Arc<Table>> = level.iter().filter(wanted).cloned().collect();
            if !tables.is_empty() {
                iters.push(Box::new(LevelIter::new(tables)));
            }
        }
        iters
    }
}

/// The newest version of `key` at or below `seq` in `table`, turned into a
/// tombstone if one of the table's range tombstones hides it.
fn get_from(
    table: &Table,
    key: &[u8],
    hash: u64,
    seq: u64,
    cost: &mut GetCost,
) -> Result<Option<Entry>> {
    if !table.covers(key) {
        return Ok(None);
    }
    let covering = table
        .reader
        .range_tombstones()
        .iter()
        .filter(|t| t.seq <= seq && t.covers(key))
        .map(|t| t.seq)
        .max();
    let found = if table.has_entries() {
        table.reader.get_hashed(key, hash, seq, cost)?
    } else {
        None
    };
    Ok(newest(key, found, covering))
}

/// What one place (memtable or table) says about `key`: its newest
/// version `found`, unless the newest range tombstone covering the key
/// there (`covering`, its sequence) is newer, in which case a tombstone
/// entry at that sequence.
pub(crate) fn newest(key: &[u8], found: Option<Entry>, covering: Option<u64>) -> Option<Entry> {
    match (found, covering) {
        (Some(entry), Some(t)) if t > entry.seq => Some(hidden(key, t)),
        (Some(entry), _) => Some(entry),
        (None, Some(t)) => Some(hidden(key, t)),
        (None, None) => None,
    }
}

fn hidden(key: &[u8], seq: u64) -> Entry {
    Entry {
        key: Bytes::copy_from_slice(key),
        seq,
        kind: EntryKind::Delete,
        value: Bytes::new(),
    }
}

fn in_bounds(table: &Table, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> bool {
    let lo: &[u8] = match lower {
        Bound::Included(l) | Bound::Excluded(l) => l,
        Bound::Unbounded => &[],
    };
    let hi = match upper {
        Bound::Included(u) | Bound::Excluded(u) => Bound::Included(u.clone()),
        Bound::Unbounded => Bound::Unbounded,
    };
    table.overlaps(lo, &hi)
}
