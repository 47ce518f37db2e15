//! The index block: one entry per data block, in file order. The entry's
//! key is the last internal key of the block; its value is the block's
//! handle as two varints (offset, size). It is an ordinary block (restart
//! interval 1), kept decoded in memory while the table is open.

use std::cmp::Ordering;
use std::ops::Range;
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
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    entries: Vec<IndexEntry>,
    bytes: usize,
}

/// Estimated encoded bytes of one index entry beyond its key.
const ENTRY_OVERHEAD: usize = 24;

impl IndexBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records a finished data block.
    pub(crate) fn add(&mut self, last_key: &[u8], handle: BlockHandle) {
        self.bytes += last_key.len() + ENTRY_OVERHEAD;
        self.entries.push(IndexEntry {
            last_key: last_key.to_vec(),
            handle,
        });
    }

    pub(crate) fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// Every entry so far.
    pub(crate) fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The entries, cut into runs of about `bytes` encoded bytes each (one
    /// run if they all fit, none if there are no entries).
    pub(crate) fn partitions(&self, bytes: usize) -> Vec<&[IndexEntry]> {
        let mut runs = Vec::new();
        let (mut start, mut run_bytes) = (0, 0);
        for (i, e) in self.entries.iter().enumerate() {
            run_bytes += e.last_key.len() + ENTRY_OVERHEAD;
            if run_bytes >= bytes && i + 1 < self.entries.len() {
                runs.push(&self.entries[start..=i]);
                (start, run_bytes) = (i + 1, 0);
            }
        }
        if start < self.entries.len() {
            runs.push(&self.entries[start..]);
        }
        runs
    }
}

/// The contents of an index block listing `entries`.
pub(crate) fn encode(entries: &[IndexEntry]) -> Vec<u8> {
    let mut block = BlockBuilder::new(1);
    let mut value = Vec::with_capacity(20);
    for e in entries {
        value.clear();
        e.handle.encode_varint(&mut value);
        block.add(&e.last_key, &value);
    }
    block.finish()
}

/// The decoded index of an open table.
#[derive(Debug)]
pub(crate) struct Index {
    entries: Vec<IndexEntry>,
}

impl Index {
    /// Decodes the index block at `offset` and checks that its blocks tile
    /// `data` (`start..end` in the file) exactly, in increasing key order.
    pub(crate) fn decode(
        contents: Bytes,
        file: &Arc<Path>,
        offset: u64,
        data: Range<u64>,
    ) -> Result<Self> {
        let corrupt = |reason: &str| Error::corruption(&**file, offset, reason);
        let block = Arc::new(Block::parse(contents, Arc::clone(file), offset)?);
        let mut iter = BlockIter::new(block);
        iter.seek_to_first()?;
        let mut entries: Vec<IndexEntry> = Vec::new();
        let mut expected_offset = data.start;
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
        // No entries only for a table without data blocks (an empty range).
        if expected_offset != data.end {
            return Err(corrupt("index does not cover the data blocks"));
        }
        Ok(Self { entries })
    }

    /// Bytes the decoded index takes in memory (roughly), for the cache.
    pub(crate) fn size_bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.last_key.len() + ENTRY_OVERHEAD)
            .sum()
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
