//! `LevelIter`: one sorted level (L1 and below: tables with disjoint key
//! spans, sorted by key) read as one run, in both directions.
//!
//! Only the table holding the current entry is open: a seek binary-searches
//! the tables by span and positions one table iterator; stepping past a
//! table's end opens the next one. A range read therefore costs one child
//! per level in the merge, and one table seek per level, however many
//! tables the level holds (LevelDB's "concatenating iterator").
//!
//! A compaction reads each input level the same way
//! (`LevelIter::sequential`: forward only, each table read around the
//! cache), so its merge compares one entry per input level instead of one
//! per input table (an L0 → L2 merge at 1M products: 9 children instead of
//! ~35, each step of the merge a comparison per child).

use std::sync::Arc;

use tierdb_io::Result;

use crate::entry::{Entry, InternalIter};
use crate::sstable::SstIter;
use crate::table::Table;

/// A cursor over the tables of one level as one sorted run.
pub(crate) struct LevelIter {
    /// The level's tables that hold entries, sorted by key, disjoint.
    tables: Vec<Arc<Table>>,
    /// Position in `tables` of the open table.
    at: usize,
    /// The open table's iterator (`None`: not positioned).
    current: Option<SstIter>,
    /// Tables are opened with `SstReader::sequential_iter` (a compaction's
    /// front-to-back read) rather than `SstReader::iter`.
    sequential: bool,
}

impl LevelIter {
    /// An unpositioned cursor over `tables` (sorted by key, disjoint, each
    /// holding entries).
    pub(crate) fn new(tables: Vec<Arc<Table>>) -> Self {
        LevelIter {
            tables,
            at: 0,
            current: None,
            sequential: false,
        }
    }

    /// An unpositioned cursor over `tables` (as `new`) for one front-to-back
    /// pass, `seek_to_first` then `next` only: each table is read with
    /// `SstReader::sequential_iter`, around the shared cache.
    pub(crate) fn sequential(tables: Vec<Arc<Table>>) -> Self {
        LevelIter {
            sequential: true,
            ..LevelIter::new(tables)
        }
    }

    /// Opens table `at` (or nothing past the end) and returns its cursor.
    fn open(&mut self, at: usize) -> Option<&mut SstIter> {
        self.at = at;
        let sequential = self.sequential;
        self.current = self.tables.get(at).map(|t| {
            if sequential {
                t.reader.sequential_iter()
            } else {
                t.reader.iter()
            }
        });
        self.current.as_mut()
    }

    fn current_valid(&self) -> bool {
        self.current.as_ref().is_some_and(SstIter::valid)
    }

    /// While the open table is exhausted, moves to the start of the next.
    fn settle_forward(&mut self) -> Result<()> {
        while self.current.is_some() && !self.current_valid() {
            match self.open(self.at + 1) {
                Some(iter) => iter.seek_to_first()?,
                None => self.current = None,
            }
        }
        Ok(())
    }

    /// While the open table is exhausted, moves to the end of the previous.
    fn settle_backward(&mut self) -> Result<()> {
        while self.current.is_some() && !self.current_valid() {
            let Some(previous) = self.at.checked_sub(1) else {
                self.current = None;
                return Ok(());
            };
            if let Some(iter) = self.open(previous) {
                iter.seek_to_last()?;
            }
        }
        Ok(())
    }

    /// Runs `step`; on error leaves the cursor unpositioned.
    fn guard(&mut self, step: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let result = step(self);
        if result.is_err() {
            self.current = None;
        }
        result
    }
}

impl InternalIter for LevelIter {
    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| {
            if let Some(iter) = it.open(0) {
                iter.seek_to_first()?;
            }
            it.settle_forward()
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|it| {
            let last = it.tables.len().checked_sub(1);
            match last.and_then(|l| it.open(l)) {
                Some(iter) => iter.seek_to_last()?,
                None => it.current = None,
            }
            it.settle_backward()
        })
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.guard(|it| {
            // The first table whose span does not end before `key`.
            let at = it.tables.partition_point(|t| t.ends_before(key));
            if let Some(iter) = it.open(at) {
                iter.seek(key)?;
            }
            it.settle_forward()
        })
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        self.guard(|it| {
            // The last table whose span starts at or before `key`.
            let starting = it.tables.partition_point(|t| t.smallest.as_ref() <= key);
            match starting.checked_sub(1).and_then(|at| it.open(at)) {
                Some(iter) => iter.seek_for_prev(key)?,
                None => it.current = None,
            }
            it.settle_backward()
        })
    }

    fn valid(&self) -> bool {
        self.current_valid()
    }

    #[allow(clippy::expect_used)]
    fn entry(&self) -> &Entry {
        self.current
            .as_ref()
            .expect("LevelIter::entry called while not valid")
            .entry()
    }

    fn next(&mut self) -> Result<()> {
        self.guard(|it| {
            if let Some(iter) = it.current.as_mut().filter(|i| i.valid()) {
                iter.next()?;
                it.settle_forward()?;
            }
            Ok(())
        })
    }

    fn prev(&mut self) -> Result<()> {
        self.guard(|it| {
            if let Some(iter) = it.current.as_mut().filter(|i| i.valid()) {
                iter.prev()?;
                it.settle_backward()?;
            }
            Ok(())
        })
    }
}
