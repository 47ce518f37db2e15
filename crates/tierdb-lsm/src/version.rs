//! `Version`: which tables make up the tree, level by level.
//!
//! L0 holds whole flushes, newest first; their key ranges may overlap. Every
//! level below holds tables with disjoint key ranges sorted by key. For any
//! key, every version in a newer place (L0 before L1, L1 before L2, a newer
//! L0 table before an older one) has a higher sequence than every version in
//! an older place, so a point read stops at the first place holding the key.
//! Versions are immutable; flush and compaction install a new one.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::{Entry, EntryKind, InternalIter, RangeTombstone};
use crate::table::Table;

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

    /// What the tables say about `key` as of `seq`: the newest version
    /// with sequence `<= seq`, or a tombstone if a range tombstone newer
    /// than that version covers it; `None` if no table knows the key.
    /// Tables are asked newest place first and the first that knows the
    /// key answers: every version or range tombstone touching `key` in a
    /// newer place is newer than everything touching it in an older one
    /// (compaction merges a table with every table of the next level its
    /// span meets, range tombstones included).
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Result<Option<Entry>> {
        for table in &self.levels[0] {
            if let Some(entry) = get_from(table, key, seq)? {
                return Ok(Some(entry));
            }
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.ends_before(key));
            if let Some(table) = level.get(i)
                && let Some(entry) = get_from(table, key, seq)?
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

    /// Iterators over every table that may hold keys within the bounds.
    pub(crate) fn iters(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
    ) -> Vec<Box<dyn InternalIter>> {
        self.all_tables()
            .filter(|t| t.has_entries() && in_bounds(t, lower, upper))
            .map(|t| Box::new(t.reader.iter()) as Box<dyn InternalIter>)
            .collect()
    }
}

/// The newest version of `key` at or below `seq` in `table`, turned into a
/// tombstone if one of the table's range tombstones hides it.
fn get_from(table: &Table, key: &[u8], seq: u64) -> Result<Option<Entry>> {
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
    let found = if table.has_entries() && table.reader.may_contain(key) {
        table.reader.get(key, seq)?
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
