//! The index block: one entry per data block, in file order. The entry's
//! key is the last internal key of the block; its value is the block's
//! handle as two varints (offset, size). It is an ordinary block (restart
//! interval 1), kept decoded in memory while the table is open.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::{Error, Result};

use super::block::{Block, BlockIter};
use super::block_builder::BlockBuilder;
use super::coding::Decoder;
use super::footer::BlockHandle;
use super::ikey;

/// One data block: its last internal key and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) last_key: Vec<u8>,
    pub(crate) handle: BlockHandle,
}

/// Collects index entries while the writer emits data blocks.
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    block: BlockBuilder,
}

impl IndexBuilder {
    pub(crate) fn new() -> Self {
        Self {
            block: BlockBuilder::new(1),
        }
    }

    /// Records a finished data block.
    pub(crate) fn add(&mut self, last_key: &[u8], handle: BlockHandle) {
        let mut value = Vec::with_capacity(20);
        handle.encode_varint(&mut value);
        self.block.add(last_key, &value);
    }

    pub(crate) fn estimated_bytes(&self) -> usize {
        self.block.estimated_bytes()
    }

    /// The index block contents.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.block.finish()
    }
}

/// The decoded index of an open table.
#[derive(Debug)]
pub(crate) struct Index {
    entries: Vec<IndexEntry>,
}

impl Index {
    /// Decodes the index block at `offset` and checks that its blocks tile
    /// `[0, data_end)` exactly, in increasing key order.
    pub(crate) fn decode(
        contents: Bytes,
        file: &Arc<Path>,
        offset: u64,
        data_end: u64,
    ) -> Result<Self> {
        let corrupt = |reason: &str| Error::corruption(&**file, offset, reason);
        let block = Arc::new(Block::parse(contents, Arc::clone(file), offset)?);
        let mut iter = BlockIter::new(block);
        iter.seek_to_first()?;
        let mut entries: Vec<IndexEntry> = Vec::new();
        let mut expected_offset = 0;
        while iter.valid() {
            let value = iter.value();
            let mut dec = Decoder::new(&value);
            let handle = BlockHandle::decode_varint(&mut dec).map_err(corrupt)?;
            let in_order = entries
                .last()
                .is_none_or(|prev| ikey::compare(&prev.last_key, iter.key()) == Ordering::Less);
            if !dec.is_empty() || handle.offset != expected_offset || !in_order {
                return Err(corrupt("index entries out of order or not contiguous"));
            }
            expected_offset = handle.end();
            entries.push(IndexEntry {
                last_key: iter.key().to_vec(),
                handle,
            });
            iter.next()?;
        }
        // No entries only for a table without data blocks (data_end 0).
        if expected_offset != data_end {
            return Err(corrupt("index does not cover the data blocks"));
        }
        Ok(Self { entries })
    }

    /// Number of data blocks.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry of block `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&IndexEntry> {
        self.entries.get(index)
    }

    /// The first block whose last key is `>= target`: the only block that
    /// can hold the first entry `>= target`. `len()` if there is none.
    pub(crate) fn find(&self, target: &[u8]) -> usize {
        self.entries
            .partition_point(|e| ikey::compare(&e.last_key, target) == Ordering::Less)
    }

    /// The last key of the table.
    pub(crate) fn last_key(&self) -> Option<&[u8]> {
        self.entries.last().map(|e| &e.last_key[..])
    }
}
