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

use crate::entry::{Entry, InternalIter};
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

    /// The newest version of `key` with sequence `<= seq`, if any table holds one.
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Result<Option<Entry>> {
        for table in &self.levels[0] {
            if let Some(entry) = get_from(table, key, seq)? {
                return Ok(Some(entry));
            }
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.largest.as_ref() < key);
            if let Some(table) = level.get(i)
                && let Some(entry) = get_from(table, key, seq)?
            {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// The tables of `level` whose range meets `[lo, hi]`.
    pub(crate) fn overlapping(&self, level: usize, lo: &[u8], hi: &[u8]) -> Vec<Arc<Table>> {
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
            .filter(|t| in_bounds(t, lower, upper))
            .map(|t| Box::new(t.reader.iter()) as Box<dyn InternalIter>)
            .collect()
    }
}

fn get_from(table: &Table, key: &[u8], seq: u64) -> Result<Option<Entry>> {
    if !table.covers(key) || !table.reader.may_contain(key) {
        return Ok(None);
    }
    table.reader.get(key, seq)
}

fn in_bounds(table: &Table, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> bool {
    let above_lower = match lower {
        Bound::Included(l) | Bound::Excluded(l) => table.largest.as_ref() >= l.as_ref(),
        Bound::Unbounded => true,
    };
    let below_upper = match upper {
        Bound::Included(u) | Bound::Excluded(u) => table.smallest.as_ref() <= u.as_ref(),
        Bound::Unbounded => true,
    };
    above_lower && below_upper
}
