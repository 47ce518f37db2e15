//! Which data block may hold a key: [`BlockIndex`], either the table's
//! single index block kept decoded in memory, or — for tables whose index
//! would pass `SstOptions::index_partition_bytes` — a two-level index: a
//! small top-level block kept in memory whose entries point at *index
//! partitions* (ordinary index blocks, each listing a run of consecutive
//! data blocks), each read and verified on first use and then kept
//! decoded (pinned) while the table is open, outside the page cache: a
//! point read then costs one cache lookup (its data block), not two.
//!
//! Top-level entry (restart interval 1), one per partition in file order:
//!
//! ```text
//! key:   the last internal key of the partition (= of its last data block)
//! value: partition offset varint64 | partition size varint64
//!        | first data block offset varint64 | data blocks varint64
//! ```
//!
//! Partitions sit back to back right after the data blocks; the data
//! blocks a partition lists tile the stretch from its first data block
//! offset to the next partition's (the last one's to the first partition).

use std::cmp::Ordering;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tierdb_io::{Error, Result, VfsFile};

use super::block::{Block, BlockIter};
use super::block_builder::BlockBuilder;
use super::coding::{Decoder, Reason, put_varint64};
use super::footer::BlockHandle;
use super::index::{Index, IndexEntry};
use super::{GetCost, ikey, trailer};

/// A written partition, for the top-level block.
pub(crate) struct WrittenPartition<'a> {
    pub(crate) entries: &'a [IndexEntry],
    pub(crate) handle: BlockHandle,
}

/// The contents of the top-level block over `partitions` (each non-empty).
pub(crate) fn encode_top(partitions: &[WrittenPartition<'_>]) -> Vec<u8> {
    let mut block = BlockBuilder::new(1);
    let mut value = Vec::with_capacity(32);
    for p in partitions {
        let (Some(first), Some(last)) = (p.entries.first(), p.entries.last()) else {
            continue;
        };
        value.clear();
        p.handle.encode_varint(&mut value);
        put_varint64(&mut value, first.handle.offset);
        put_varint64(&mut value, p.entries.len() as u64);
        block.add(&last.last_key, &value);
    }
    block.finish()
}

/// One partition as the top-level block describes it.
#[derive(Debug)]
struct Partition {
    last_key: Vec<u8>,
    handle: BlockHandle,
    /// The file stretch its data blocks tile.
    data: Range<u64>,
    /// Number of the partition's first data block in the whole table.
    first_block: usize,
    blocks: usize,
}

/// The two-level index of an open table.
#[derive(Debug)]
pub(crate) struct PartitionedIndex {
    partitions: Vec<Partition>,
    /// Partition `i` once read and verified (pinned while the table is
    /// open).
    loaded: Vec<OnceLock<Index>>,
    blocks: usize,
    file: Arc<dyn VfsFile>,
    path: Arc<Path>,
}

/// Where a reader finds data blocks.
#[derive(Debug)]
pub(crate) enum BlockIndex {
    Single(Index),
    Partitioned(PartitionedIndex),
}

impl BlockIndex {
    /// Number of data blocks.
    pub(crate) fn len(&self) -> usize {
        match self {
            BlockIndex::Single(index) => index.len(),
            BlockIndex::Partitioned(p) => p.blocks,
        }
    }

    /// The last internal key of the table.
    pub(crate) fn last_key(&self) -> Option<&[u8]> {
        match self {
            BlockIndex::Single(index) => index.last_key(),
            BlockIndex::Partitioned(p) => p.partitions.last().map(|x| &x.last_key[..]),
        }
    }

    /// The first block whose last key is `>= target` (the only block that
    /// can hold the first entry `>= target`) and its handle; `None` if
    /// there is none. A partition fetched on the way is added to `cost`.
    pub(crate) fn locate(
        &self,
        target: &ikey::SeekKey<'_>,
        cost: &mut GetCost,
    ) -> Result<Option<(usize, BlockHandle)>> {
        match self {
            BlockIndex::Single(index) => {
                let i = index.find(target);
                Ok(index.handle(i).map(|h| (i, h)))
            }
            BlockIndex::Partitioned(p) => {
                let at = p
                    .partitions
                    .partition_point(|x| target.compare_key(&x.last_key) == Ordering::Less);
                if at >= p.partitions.len() {
                    return Ok(None);
                }
                let (part, index) = p.load(at, cost)?;
                let i = index.find(target);
                // The partition's last key is >= target, so i is in range.
                let handle = index
                    .handle(i)
                    .ok_or_else(|| p.corrupt(part, "partition"))?;
                Ok(Some((part.first_block + i, handle)))
            }
        }
    }

    /// The position of the first block whose last key is `>= target`
    /// (`len()` if none).
    pub(crate) fn find(&self, target: &ikey::SeekKey<'_>) -> Result<usize> {
        let found = self.locate(target, &mut GetCost::default())?;
        Ok(found.map_or(self.len(), |(i, _)| i))
    }

    /// The handle of data block `block` (`None` past the last block).
    pub(crate) fn handle(&self, block: usize) -> Result<Option<BlockHandle>> {
        match self {
            BlockIndex::Single(index) => Ok(index.handle(block)),
            BlockIndex::Partitioned(p) => p.handle(block),
        }
    }

    /// The last internal key of data block `block` (`None` past the last).
    pub(crate) fn block_last_key(&self, block: usize) -> Result<Option<Vec<u8>>> {
        match self {
            BlockIndex::Single(index) => Ok(index.block_last_key(block).map(<[u8]>::to_vec)),
            BlockIndex::Partitioned(p) => Ok(p
                .with_block(block, |index, i| {
                    index.block_last_key(i).map(<[u8]>::to_vec)
                })?
                .flatten()),
        }
    }

    /// Best-effort offset of data block `block`, for error messages.
    pub(crate) fn data_offset(&self, block: usize) -> u64 {
        match self {
            BlockIndex::Single(index) => index.handle(block).map_or(0, |h| h.offset),
            BlockIndex::Partitioned(p) => p.handle(block).ok().flatten().map_or(0, |h| h.offset),
        }
    }
}

impl PartitionedIndex {
    /// Decodes the top-level block at `offset` of `file` and checks that
    /// the partitions lie back to back up to `partitions_end`, right after
    /// the data blocks they list, which tile the file from offset 0.
    pub(crate) fn decode(
        contents: Bytes,
        file: Arc<dyn VfsFile>,
        offset: u64,
        partitions_end: u64,
    ) -> Result<Self> {
        let path: Arc<Path> = Arc::from(file.path());
        let corrupt = |reason: &str| Error::corruption(&*path, offset, reason);
        let block = Arc::new(Block::parse(contents, Arc::clone(&path), offset)?);
        let mut iter = BlockIter::new(block);
        iter.seek_to_first()?;
        let mut partitions: Vec<Partition> = Vec::new();
        let mut blocks = 0usize;
        while iter.valid() {
            let value = iter.value();
            let mut dec = Decoder::new(&value);
            let (handle, data_start, count) = decode_top_value(&mut dec).map_err(corrupt)?;
            let follows = match partitions.last() {
                Some(prev) => {
                    handle.offset == prev.handle.end()
                        && data_start > prev.data.start
                        && ikey::compare(&prev.last_key, iter.key()) == Ordering::Less
                }
                None => data_start == 0 && handle.offset > 0,
            };
            if !dec.is_empty() || !follows || count == 0 {
                return Err(corrupt("index partitions out of order or not contiguous"));
            }
            if let Some(prev) = partitions.last_mut() {
                prev.data.end = data_start;
            }
            partitions.push(Partition {
                last_key: iter.key().to_vec(),
                handle,
                data: data_start..handle.offset,
                first_block: blocks,
                blocks: count,
            });
            blocks = blocks
                .checked_add(count)
                .ok_or_else(|| corrupt("too many data blocks"))?;
            iter.next()?;
        }
        let data_end = partitions.first().map(|p| p.handle.offset);
        match (partitions.last_mut(), data_end) {
            (Some(last), Some(data_end))
                if last.handle.end() == partitions_end && last.data.start < data_end =>
            {
                last.data.end = data_end;
            }
            _ => return Err(corrupt("index partitions do not cover the index region")),
        }
        Ok(Self {
            loaded: partitions.iter().map(|_| OnceLock::new()).collect(),
            partitions,
            blocks,
            file,
            path,
        })
    }

    /// Number of partitions.
    pub(crate) fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn handle(&self, block: usize) -> Result<Option<BlockHandle>> {
        Ok(self.with_block(block, Index::handle)?.flatten())
    }

    /// `f` of the partition listing data block `block` and the block's
    /// position in it (`None` past the last block).
    fn with_block<T>(&self, block: usize, f: impl FnOnce(&Index, usize) -> T) -> Result<Option<T>> {
        let at = self
            .partitions
            .partition_point(|p| p.first_block + p.blocks <= block);
        if at >= self.partitions.len() {
            return Ok(None);
        }
        let (part, index) = self.load(at, &mut GetCost::default())?;
        Ok(Some(f(index, block - part.first_block)))
    }

    /// Partition `at` (in range), read from the file and verified on first
    /// use, then pinned. A read from the file is added to `cost`.
    fn load(&self, at: usize, cost: &mut GetCost) -> Result<(&Partition, &Index)> {
        let (Some(part), Some(slot)) = (self.partitions.get(at), self.loaded.get(at)) else {
            return Err(Error::corruption(
                &*self.path,
                0,
                "index partition out of range",
            ));
        };
        if let Some(index) = slot.get() {
            return Ok((part, index));
        }
        let contents = trailer::read_block(&*self.file, part.handle)?;
        let index = Index::decode(contents, &self.path, part.handle.offset, part.data.clone())?;
        if index.len() != part.blocks || index.last_key() != Some(&part.last_key[..]) {
            return Err(self.corrupt(part, "index partition disagrees with the top level"));
        }
        cost.blocks += 1;
        cost.blocks_read += 1;
        // Another reader may have pinned it meanwhile: either copy will do.
        let _ = slot.set(index);
        let index = slot
            .get()
            .ok_or_else(|| self.corrupt(part, "index partition not pinned"))?;
        Ok((part, index))
    }

    fn corrupt(&self, part: &Partition, reason: &str) -> Error {
        Error::corruption(&*self.path, part.handle.offset, reason)
    }
}

fn decode_top_value(dec: &mut Decoder<'_>) -> Result<(BlockHandle, u64, usize), Reason> {
    let handle = BlockHandle::decode_varint(dec)?;
    let data_start = dec.varint64()?;
    let count = usize::try_from(dec.varint64()?).map_err(|_| "block count overflows")?;
    Ok((handle, data_start, count))
}
