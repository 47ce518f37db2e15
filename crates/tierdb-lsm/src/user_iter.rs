//! `UserIter`: the user-level range iterator of a view.
//!
//! Over a merge of every memtable and table in range, it skips versions
//! newer than the view's sequence, yields the newest visible version of
//! each key, hides tombstones and respects the bounds. The two ends use two
//! separate merges, built on first use (front: `seek` + `next`; back:
//! `seek_for_prev` + `prev`), and remember the last key each has handled;
//! an end stops when it reaches a key the other end has handled.
//! Range tombstones the view sees (from every memtable and every table
//! whose span meets the bounds) are fragmented once, when the iterator is
//! made (`range_del.rs`); a key's newest visible version is hidden if a
//! covering tombstone is newer.
//! It owns `Arc`s of the memtables and the version, so it is `'static` and
//! keeps every table it may read alive.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::{Entry, EntryKind, InternalIter};
use crate::memtable::Memtable;
use crate::merge_iter::MergeIter;
use crate::range_del::Coverage;
use crate::version::Version;

/// What a view reads: its memtables (newest first) and tables.
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    pub(crate) memtables: Arc<Vec<Arc<Memtable>>>,
    pub(crate) version: Arc<Version>,
}

impl Sources {
    fn merge(&self, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> MergeIter<'static> {
        let mut children: Vec<Box<dyn InternalIter>> =
            self.memtables.iter().map(Memtable::iter).collect();
        children.extend(self.version.iters(lower, upper));
        MergeIter::new(children)
    }

    /// The range tombstones a read at `seq` within the bounds must honour.
    fn coverage(&self, seq: u64, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> Coverage {
        let mut tombstones: Vec<_> = self
            .memtables
            .iter()
            .flat_map(|m| m.range_tombstones(seq))
            .collect();
        tombstones.extend(self.version.range_tombstones(lower, upper).cloned());
        Coverage::new(tombstones, seq)
    }
}

/// A double-ended iterator over the visible `(key, value)` pairs in range.
pub(crate) struct UserIter {
    seq: u64,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
    sources: Sources,
    coverage: Coverage,
    front: Option<MergeIter<'static>>,
    back: Option<MergeIter<'static>>,
    /// The largest key the front end has handled.
    front_to: Option<Bytes>,
    /// The smallest key the back end has handled.
    back_to: Option<Bytes>,
    done: bool,
}

type Item = Result<(Bytes, Bytes)>;

impl UserIter {
    /// An iterator over `sources` as of `seq` within the bounds.
    pub(crate) fn new(
        seq: u64,
        sources: Sources,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
    ) -> Self {
        let front_to = match &lower {
            Bound::Excluded(k) => Some(k.clone()),
            _ => None,
        };
        let back_to = match &upper {
            Bound::Excluded(k) => Some(k.clone()),
            _ => None,
        };
        let coverage = sources.coverage(seq, &lower, &upper);
        UserIter {
            seq,
            lower,
            upper,
            sources,
            coverage,
            front: None,
            back: None,
            front_to,
            back_to,
            done: false,
        }
    }

    fn front_iter(&mut self) -> Result<&mut MergeIter<'static>> {
        if self.front.is_none() {
            let mut merge = self.sources.merge(&self.lower, &self.upper);
            match &self.lower {
                Bound::Included(k) | Bound::Excluded(k) => merge.seek(k)?,
                Bound::Unbounded => merge.seek_to_first()?,
            }
            self.front = Some(merge);
        }
        Ok(self.front.get_or_insert_with(|| MergeIter::new(Vec::new())))
    }

    fn back_iter(&mut self) -> Result<&mut MergeIter<'static>> {
        if self.back.is_none() {
            let mut merge = self.sources.merge(&self.lower, &self.upper);
            match &self.upper {
                Bound::Included(k) | Bound::Excluded(k) => merge.seek_for_prev(k)?,
                Bound::Unbounded => merge.seek_to_last()?,
            }
            self.back = Some(merge);
        }
        Ok(self.back.get_or_insert_with(|| MergeIter::new(Vec::new())))
    }

    fn past_upper(&self, key: &[u8]) -> bool {
        let beyond_back = self.back_to.as_ref().is_some_and(|b| key >= b.as_ref());
        beyond_back
            || match &self.upper {
                Bound::Included(u) => key > u.as_ref(),
                Bound::Excluded(u) => key >= u.as_ref(),
                Bound::Unbounded => false,
            }
    }

    fn before_lower(&self, key: &[u8]) -> bool {
        let beyond_front = self.front_to.as_ref().is_some_and(|f| key <= f.as_ref());
        beyond_front
            || match &self.lower {
                Bound::Included(l) => key < l.as_ref(),
                Bound::Excluded(l) => key <= l.as_ref(),
                Bound::Unbounded => false,
            }
    }

    /// The next visible pair from the front, if any.
    fn step_front(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        let seq = self.seq;
        loop {
            let front_to = self.front_to.clone();
            let iter = self.front_iter()?;
            if !iter.valid() {
                return Ok(None);
            }
            let entry = iter.entry();
            if entry.seq > seq || front_to.as_ref() == Some(&entry.key) {
                iter.next()?;
                continue;
            }
            let entry = entry.clone();
            if self.past_upper(&entry.key) {
                return Ok(None);
            }
            self.front_to = Some(entry.key.clone());
            if let Some(pair) = self.visible(entry) {
                return Ok(Some(pair));
            }
        }
    }

    /// The next visible pair from the back, if any.
    fn step_back(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        loop {
            let iter = self.back_iter()?;
            if !iter.valid() {
                return Ok(None);
            }
            let key = iter.entry().key.clone();
            if self.back_to.as_ref() == Some(&key) {
                self.back_iter()?.prev()?;
                continue;
            }
            if self.before_lower(&key) {
                return Ok(None);
            }
            let newest = self.newest_visible_backward(&key)?;
            self.back_to = Some(key);
            if let Some(pair) = newest.and_then(|e| self.visible(e)) {
                return Ok(Some(pair));
            }
        }
    }

    /// Steps the back merge past every version of `key` (oldest first) and
    /// returns the newest one the view sees.
    fn newest_visible_backward(&mut self, key: &Bytes) -> Result<Option<Entry>> {
        let seq = self.seq;
        let iter = self.back_iter()?;
        let mut newest = None;
        while iter.valid() && iter.entry().key == *key {
            if iter.entry().seq <= seq {
                newest = Some(iter.entry().clone());
            }
            iter.prev()?;
        }
        Ok(newest)
    }

    /// The pair a newest visible version stands for (`None` for a
    /// tombstone or a version a range tombstone hides).
    fn visible(&self, entry: Entry) -> Option<(Bytes, Bytes)> {
        let hidden =
            !self.coverage.is_empty() && self.coverage.covering_seq(&entry.key) > entry.seq;
        match entry.kind {
            EntryKind::Put if !hidden => Some((entry.key, entry.value)),
            _ => None,
        }
    }

    fn finish(&mut self, step: Result<Option<(Bytes, Bytes)>>) -> Option<Item> {
        match step {
            Ok(Some(pair)) => Some(Ok(pair)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for UserIter {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        let step = self.step_front();
        self.finish(step)
    }
}

impl DoubleEndedIterator for UserIter {
    fn next_back(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        let step = self.step_back();
        self.finish(step)
    }
}
