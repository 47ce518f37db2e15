//! [`SstIter`]: a two-level cursor (index, then data block) over every
//! version in a table, in internal order, in both directions.

use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use super::block::BlockIter;
use super::ikey;
use super::reader::{Readahead, SstReader};
use crate::entry::{Entry, EntryKind, InternalIter};

/// Iterates a table's entries. Made by [`SstReader::iter`]; keeps the
/// reader (and the current block) alive. After an error the iterator is
/// invalid until repositioned.
#[derive(Debug)]
pub struct SstIter {
    reader: Arc<SstReader>,
    block_index: usize,
    block: Option<BlockIter>,
    entry: Entry,
    valid: bool,
    /// `Some` for a sequential iterator (`SstReader::sequential_iter`):
    /// blocks are read through this window instead of the cache.
    readahead: Option<Readahead>,
}

impl SstIter {
    pub(crate) fn new(reader: Arc<SstReader>) -> Self {
        Self {
            reader,
            block_index: 0,
            block: None,
            entry: Entry {
                key: Bytes::new(),
                seq: 0,
                kind: EntryKind::Put,
                value: Bytes::new(),
            },
            valid: false,
            readahead: None,
        }
    }

    pub(crate) fn sequential(reader: Arc<SstReader>) -> Self {
        Self {
            readahead: Some(Readahead::default()),
            ..Self::new(reader)
        }
    }

    /// Positions at the first entry `>=` (`key`, `seq`) in internal order.
    fn seek_internal(&mut self, key: &[u8], seq: u64) -> Result<()> {
        let target = ikey::encode(key, seq, EntryKind::Put);
        let target = ikey::SeekKey::new(&target);
        self.guard(|it| {
            let index = it.reader.find_block(&target)?;
            if index >= it.reader.block_count() {
                it.invalidate();
                return Ok(());
            }
            it.load(index)?.seek(&target)?;
            it.settle_forward()
        })
    }

    /// Runs `step`; on error leaves the iterator invalid.
    fn guard(&mut self, step: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let result = step(self);
        if result.is_err() {
            self.invalidate();
        }
        result
    }

    fn load(&mut self, index: usize) -> Result<&mut BlockIter> {
        let block = match &mut self.readahead {
            Some(window) => self.reader.block_through(index, window)?,
            None => self.reader.block(index)?,
        };
        self.block_index = index;
        Ok(self.block.insert(BlockIter::new(block)))
    }

    fn current_valid(&self) -> bool {
        self.block.as_ref().is_some_and(BlockIter::valid)
    }

    /// Skips forward over block ends, then takes the current entry.
    fn settle_forward(&mut self) -> Result<()> {
        while !self.current_valid() {
            let next = self.block_index + 1;
            if next >= self.reader.block_count() {
                self.invalidate();
                return Ok(());
            }
            self.load(next)?.seek_to_first()?;
        }
        self.take_entry()
    }

    /// Skips backward over block starts, then takes the current entry.
    fn settle_backward(&mut self) -> Result<()> {
        while !self.current_valid() {
            let Some(previous) = self.block_index.checked_sub(1) else {
                self.invalidate();
                return Ok(());
            };
            self.load(previous)?.seek_to_last()?;
        }
        self.take_entry()
    }

    fn take_entry(&mut self) -> Result<()> {
        let Some(block) = self.block.as_ref() else {
            self.invalidate();
            return Ok(());
        };
        self.entry = self.reader.decode_entry(block, self.block_index)?;
        self.valid = true;
        Ok(())
    }

    fn invalidate(&mut self) {
        self.valid = false;
        self.block = None;
    }

    fn block_mut(&mut self) -> Option<&mut BlockIter> {
        if self.valid {
            self.block.as_mut()
        } else {
            None
        }
    }
}

impl InternalIter for SstIter {
    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| {
            it.load(0)?.seek_to_first()?;
            it.settle_forward()
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.reader.block_count().saturating_sub(1);
        self.guard(|it| {
            it.load(last)?.seek_to_last()?;
            it.settle_backward()
        })
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.seek_internal(key, u64::MAX)
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        // (key, 0) is the oldest possible version of `key`: the first entry
        // at or after it is that version itself or lies past `key`.
        self.seek_internal(key, 0)?;
        if !self.valid {
            return self.seek_to_last();
        }
        if self.entry.key != key {
            return self.prev();
        }
        Ok(())
    }

    fn valid(&self) -> bool {
        self.valid
    }

    fn entry(&self) -> &Entry {
        &self.entry
    }

    fn next(&mut self) -> Result<()> {
        self.guard(|it| {
            if let Some(block) = it.block_mut() {
                block.next()?;
                it.settle_forward()?;
            }
            Ok(())
        })
    }

    fn prev(&mut self) -> Result<()> {
        self.guard(|it| {
            if let Some(block) = it.block_mut() {
                block.prev()?;
                it.settle_backward()?;
            }
            Ok(())
        })
    }
}
