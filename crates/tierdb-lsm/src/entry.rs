//! Internal entries: a user key, the sequence that wrote it, and what it
//! did. Ordered by user key ascending, then sequence descending (newest
//! version first), as every LSM component stores and iterates them.

use std::cmp::Ordering;

use bytes::Bytes;
use tierdb_io::Result;

/// What an entry does to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Sets the key to the entry's value.
    Put,
    /// Removes the key (a tombstone; the value is empty).
    Delete,
}

/// One version of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The user key.
    pub key: Bytes,
    /// The commit sequence that wrote this version.
    pub seq: u64,
    /// Put or tombstone.
    pub kind: EntryKind,
    /// The value (empty for a tombstone).
    pub value: Bytes,
}

/// A range tombstone: removes every version with a sequence below `seq`
/// of every key `k` with `start <= k` and (`end` unset or `k < end`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeTombstone {
    /// First key covered.
    pub start: Bytes,
    /// First key after the range (`None`: no upper end).
    pub end: Option<Bytes>,
    /// The commit sequence that wrote it.
    pub seq: u64,
}

impl RangeTombstone {
    /// True if the tombstone's range holds `key`.
    pub fn covers(&self, key: &[u8]) -> bool {
        tierdb_tier::range_contains(&self.start, self.end.as_deref(), key)
    }
}

/// Internal-key order: user key ascending, then sequence descending.
pub fn internal_cmp(a_key: &[u8], a_seq: u64, b_key: &[u8], b_seq: u64) -> Ordering {
    a_key.cmp(b_key).then(b_seq.cmp(&a_seq))
}

/// A positioned, bidirectional iterator over internal entries in internal
/// order (LevelDB's `Iterator`): memtables, SSTables and merges implement it.
pub trait InternalIter: Send {
    /// Positions at the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions at the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions at the first entry whose user key is `>= key` (its newest
    /// version).
    fn seek(&mut self, key: &[u8]) -> Result<()>;
    /// Positions at the last entry whose user key is `<= key` (its oldest
    /// version).
    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()>;
    /// True while positioned at an entry.
    fn valid(&self) -> bool;
    /// The current entry; only while `valid()`.
    fn entry(&self) -> &Entry;
    /// Moves to the next entry (may become invalid).
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry (may become invalid).
    fn prev(&mut self) -> Result<()>;
}
