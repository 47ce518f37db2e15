//! [`SstReader`]: an open table. Footer, properties, index and filter are
//! verified and kept in memory by [`SstReader::open`]; data blocks are read
//! on demand through the shared page cache, keyed by
//! `PageKey { file: file_id, page: block offset }`.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use tierdb_cache::{PageCache, PageKey};
use tierdb_io::{Error, Result, VfsFile};

use super::block::{Block, BlockIter};
use super::block_index::{BlockIndex, PartitionedIndex};
use super::bloom::{self, Bloom};
use super::footer::{BlockHandle, FOOTER_BYTES, Footer};
use super::index::Index;
use super::iter::SstIter;
use super::properties::Properties;
use super::trailer::BLOCK_TRAILER_BYTES;
use super::{GetCost, SstMeta, SstReadStats, ikey, range_del, trailer};
use crate::entry::{Entry, EntryKind, RangeTombstone};

/// How much a sequential iterator reads from the file at once.
pub(crate) const READAHEAD_BYTES: u64 = 256 << 10;

/// A sequential iterator's last read of its table: `bytes` from `offset`.
#[derive(Debug, Default)]
pub(crate) struct Readahead {
    offset: u64,
    bytes: Bytes,
}

/// An open, immutable table. `Send + Sync`; share it as `Arc<SstReader>`.
pub struct SstReader {
    file: Arc<dyn VfsFile>,
    path: Arc<Path>,
    file_id: u64,
    cache: Arc<PageCache>,
    meta: SstMeta,
    index: BlockIndex,
    bloom: Bloom,
    range_tombstones: Vec<RangeTombstone>,
    /// Where the data blocks end (the range-deletion block starts).
    data_end: u64,
    blocks_read: AtomicU64,
    block_lookups: AtomicU64,
    bloom_useful: AtomicU64,
    bloom_checked: AtomicU64,
}

impl SstReader {
    /// Opens the table in `file`: reads and verifies the footer, the
    /// properties, the range-deletion block, the index and the filter.
    /// Damage gives
    /// `Error::Corruption` naming the file and the offset of the bad block;
    /// a newer format version gives `Error::UnsupportedVersion`.
    pub fn open(
        file: Arc<dyn VfsFile>,
        file_id: u64,
        cache: Arc<PageCache>,
    ) -> Result<Arc<SstReader>> {
        let path: Arc<Path> = Arc::from(file.path());
        let file_bytes = file.len()?;
        let footer = read_footer(&*file, &path, file_bytes)?;
        let props_bytes = trailer::read_block(&*file, footer.properties)?;
        let props = Properties::decode(&props_bytes)
            .map_err(|r| Error::corruption(&*path, footer.properties.offset, r))?;
        if props.range_del.end() != footer.filter.offset {
            return Err(Error::corruption(
                &*path,
                footer.properties.offset,
                "range-deletion block does not end where the filter starts",
            ));
        }
        let range_tombstones = read_range_dels(&*file, &path, &props)?;
        let index_bytes = trailer::read_block(&*file, footer.index)?;
        let index = if props.index_partitions == 0 {
            let data = 0..props.range_del.offset;
            BlockIndex::Single(Index::decode(
                index_bytes,
                &path,
                footer.index.offset,
                data,
            )?)
        } else {
            BlockIndex::Partitioned(PartitionedIndex::decode(
                index_bytes,
                Arc::clone(&file),
                footer.index.offset,
                props.range_del.offset,
            )?)
        };
        let bloom = read_bloom(&*file, &path, footer.filter, &props)?;
        check_consistency(&index, &props, &path, footer.properties.offset)?;
        Ok(Arc::new(Self {
            data_end: props.range_del.offset,
            meta: props.meta(file_bytes),
            file,
            path,
            file_id,
            cache,
            index,
            bloom,
            range_tombstones,
            blocks_read: AtomicU64::new(0),
            block_lookups: AtomicU64::new(0),
            bloom_useful: AtomicU64::new(0),
            bloom_checked: AtomicU64::new(0),
        }))
    }

    /// Partitions of the table's two-level index; 0 if it has a single
    /// index block.
    pub fn index_partitions(&self) -> usize {
        match &self.index {
            BlockIndex::Single(_) => 0,
            BlockIndex::Partitioned(p) => p.partitions(),
        }
    }

    /// What the table holds (from its properties block).
    pub fn meta(&self) -> &SstMeta {
        &self.meta
    }

    /// The table's range tombstones, sorted by start key, then sequence
    /// descending (read and verified at open).
    pub fn range_tombstones(&self) -> &[RangeTombstone] {
        &self.range_tombstones
    }

    /// The newest version of `key` with `seq <= snapshot_seq` (a Put or a
    /// Delete), or `None`. Consults the bloom filter first.
    pub fn get(&self, key: &[u8], snapshot_seq: u64) -> Result<Option<Entry>> {
        self.get_counted(key, snapshot_seq, &mut GetCost::default())
    }

    /// [`SstReader::get`], adding what the probe cost to `cost`: blocks
    /// fetched and read, and whether the bloom filter stopped the probe
    /// (useful) or let it through to find nothing (ineffective).
    pub fn get_counted(
        &self,
        key: &[u8],
        snapshot_seq: u64,
        cost: &mut GetCost,
    ) -> Result<Option<Entry>> {
        self.get_hashed(key, bloom::key_hash(key), snapshot_seq, cost)
    }

    /// [`SstReader::get_counted`] with the key's filter hash
    /// (`bloom::key_hash(key)`) computed by the caller, once for every
    /// table a read asks.
    pub(crate) fn get_hashed(
        &self,
        key: &[u8],
        hash: u64,
        snapshot_seq: u64,
        cost: &mut GetCost,
    ) -> Result<Option<Entry>> {
        if self.bloom.is_present() {
            self.bloom_checked.fetch_add(1, AtomicOrdering::Relaxed);
            if !self.bloom.may_contain(hash) {
                self.bloom_useful.fetch_add(1, AtomicOrdering::Relaxed);
                cost.bloom_useful += 1;
                return Ok(None);
            }
        }
        let found = self.find(key, snapshot_seq, cost)?;
        if found.is_none() && self.bloom.is_present() {
            cost.bloom_ineffective += 1;
        }
        Ok(found)
    }

    fn find(&self, key: &[u8], snapshot_seq: u64, cost: &mut GetCost) -> Result<Option<Entry>> {
        let target = ikey::encode(key, snapshot_seq, EntryKind::Put);
        let target = ikey::SeekKey::new(&target);
        let Some((block_index, handle)) = self.index.locate(&target, cost)? else {
            return Ok(None);
        };
        let (block, from_file) = self.fetch(handle)?;
        cost.blocks += 1;
        cost.blocks_read += u64::from(from_file);
        let mut iter = BlockIter::new(block);
        iter.seek(&target)?;
        if !iter.valid() {
            // The index promised a key >= target in this block.
            return Err(self.corruption(block_index, "block ends before its index key"));
        }
        let found = self.decode_entry(&iter, block_index)?;
        Ok((found.key == key).then_some(found))
    }

    /// True if the filter says `key` may be present (always true without a
    /// filter). Does not touch the statistics.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom.may_contain(bloom::key_hash(key))
    }

    /// An iterator over every version in internal order, both directions.
    pub fn iter(self: &Arc<Self>) -> SstIter {
        SstIter::new(Arc::clone(self))
    }

    /// An iterator for a compaction, which reads the table once from
    /// start to end: blocks come from the file in reads of
    /// [`READAHEAD_BYTES`], bypassing the shared cache (a compaction's
    /// inputs would evict what the point reads and scans keep there, and
    /// one read per 4 KiB block costs a system call each).
    pub(crate) fn sequential_iter(self: &Arc<Self>) -> SstIter {
        SstIter::sequential(Arc::clone(self))
    }

    /// The read counters so far.
    pub fn stats(&self) -> SstReadStats {
        SstReadStats {
            blocks_read: self.blocks_read.load(AtomicOrdering::Relaxed),
            block_lookups: self.block_lookups.load(AtomicOrdering::Relaxed),
            bloom_useful: self.bloom_useful.load(AtomicOrdering::Relaxed),
            bloom_checked: self.bloom_checked.load(AtomicOrdering::Relaxed),
        }
    }

    /// Number of data blocks.
    pub(crate) fn block_count(&self) -> usize {
        self.index.len()
    }

    /// The index position of the block that may hold `target`
    /// (`block_count()` if none).
    pub(crate) fn find_block(&self, target: &ikey::SeekKey<'_>) -> Result<usize> {
        self.index.find(target)
    }

    /// Data block `block_index`, from the cache or the file.
    pub(crate) fn block(&self, block_index: usize) -> Result<Arc<Block>> {
        self.fetch_block(block_index).map(|(block, _)| block)
    }

    /// Data block `block_index` read through `window` (a sequential
    /// iterator's last read of the file), without the cache: a block the
    /// window does not hold starts a new read of [`READAHEAD_BYTES`] (or
    /// the block, if larger), clamped to the data blocks' end. Checked
    /// like any block read from the file.
    pub(crate) fn block_through(
        &self,
        block_index: usize,
        window: &mut Readahead,
    ) -> Result<Arc<Block>> {
        let handle = self.handle(block_index)?;
        let total = handle.size.saturating_add(BLOCK_TRAILER_BYTES);
        let end = handle.offset.saturating_add(total);
        let held = window.offset..window.offset + window.bytes.len() as u64;
        if !(held.contains(&handle.offset) && end <= held.end) {
            let want = READAHEAD_BYTES
                .min(self.data_end.saturating_sub(handle.offset))
                .max(total);
            let want = usize::try_from(want)
                .map_err(|_| Error::corruption(&*self.path, handle.offset, "block too large"))?;
            let mut raw = vec![0; want];
            self.file.read_exact_at(&mut raw, handle.offset)?;
            *window = Readahead {
                offset: handle.offset,
                bytes: Bytes::from(raw),
            };
        }
        // Both in range: the window holds [handle.offset, end).
        let start = (handle.offset - window.offset) as usize;
        let raw = window.bytes.slice(start..start + total as usize);
        let contents = trailer::unseal_shared(raw, &self.path, handle.offset)?;
        let block = Arc::new(Block::parse(
            contents,
            Arc::clone(&self.path),
            handle.offset,
        )?);
        self.blocks_read.fetch_add(1, AtomicOrdering::Relaxed);
        self.check_block_keys(&block, block_index)?;
        Ok(block)
    }

    /// Data block `block_index`, and whether it was read from the file.
    /// A block read from the file is checked against the index once.
    fn fetch_block(&self, block_index: usize) -> Result<(Arc<Block>, bool)> {
        let (block, from_file) = self.fetch(self.handle(block_index)?)?;
        if from_file {
            self.check_block_keys(&block, block_index)?;
        }
        Ok((block, from_file))
    }

    /// The data block at `handle`, and whether it was read from the file.
    fn fetch(&self, handle: BlockHandle) -> Result<(Arc<Block>, bool)> {
        let key = PageKey::new(self.file_id, handle.offset);
        self.block_lookups.fetch_add(1, AtomicOrdering::Relaxed);
        let mut from_file = false;
        let block = self.cache.get_or_load(key, || {
            from_file = true;
            self.blocks_read.fetch_add(1, AtomicOrdering::Relaxed);
            let contents = trailer::read_block(&*self.file, handle)?;
            let block = Block::parse(contents, Arc::clone(&self.path), handle.offset)?;
            let charge = block.size_bytes();
            Ok::<_, Error>((Arc::new(block), charge))
        })?;
        Ok((block, from_file))
    }

    /// Checks that a freshly loaded data block's keys lie after the
    /// previous block's index key and end at its own: the index then leads
    /// every lookup to the right block. Reads the first entry and the last
    /// restart interval only; the order of the entries in between is
    /// checked as cursors step over them (`BlockIter` compares each key
    /// with the one before). Once per load; cached blocks are not checked
    /// again.
    fn check_block_keys(&self, block: &Arc<Block>, block_index: usize) -> Result<()> {
        let mut iter = BlockIter::new(Arc::clone(block));
        iter.seek_to_first()?;
        let previous = match block_index.checked_sub(1) {
            Some(i) => self.index.block_last_key(i)?,
            None => None,
        };
        let after_previous =
            previous.is_none_or(|prev| ikey::compare(&prev, iter.key()) == Ordering::Less);
        iter.seek_to_last()?;
        let last = iter.valid().then(|| iter.key().to_vec());
        let ends_at_index_key = self.index.block_last_key(block_index)? == last;
        if after_previous && ends_at_index_key {
            Ok(())
        } else {
            Err(self.corruption(block_index, "data block keys disagree with the index"))
        }
    }

    /// Turns the cursor's current entry into an [`Entry`].
    pub(crate) fn decode_entry(&self, iter: &BlockIter, block_index: usize) -> Result<Entry> {
        let parsed = ikey::parse(iter.key()).map_err(|r| self.corruption(block_index, r))?;
        Ok(Entry {
            key: bytes::Bytes::copy_from_slice(parsed.user_key),
            seq: parsed.seq,
            kind: parsed.kind,
            value: iter.value(),
        })
    }

    /// A corruption error at data block `block_index`.
    pub(crate) fn corruption(&self, block_index: usize, reason: &str) -> Error {
        let offset = self.index.data_offset(block_index);
        Error::corruption(&*self.path, offset, reason)
    }

    fn handle(&self, block_index: usize) -> Result<BlockHandle> {
        self.index
            .handle(block_index)?
            .ok_or_else(|| Error::corruption(&*self.path, 0, "data block index out of range"))
    }
}

impl std::fmt::Debug for SstReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstReader")
            .field("path", &self.path)
            .field("file_id", &self.file_id)
            .field("meta", &self.meta)
            .field("data_blocks", &self.index.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Reads the footer and checks that the metadata blocks sit back to back
/// right before it: filter, index, properties.
fn read_footer(file: &dyn VfsFile, path: &Path, file_bytes: u64) -> Result<Footer> {
    let Some(footer_at) = file_bytes.checked_sub(FOOTER_BYTES) else {
        return Err(Error::corruption(
            path,
            0,
            "file shorter than a table footer",
        ));
    };
    let mut bytes = [0u8; FOOTER_BYTES as usize];
    file.read_exact_at(&mut bytes, footer_at)?;
    let footer = Footer::decode(&bytes, path, footer_at)?;
    let stacked = footer.properties.end() == footer_at
        && footer.index.end() == footer.properties.offset
        && footer.filter.end() == footer.index.offset;
    if !stacked {
        return Err(Error::corruption(
            path,
            footer_at,
            "footer handles do not stack before the footer",
        ));
    }
    Ok(footer)
}

fn read_bloom(
    file: &dyn VfsFile,
    path: &Path,
    handle: BlockHandle,
    props: &Properties,
) -> Result<Bloom> {
    let contents = trailer::read_block(file, handle)?;
    let bloom =
        Bloom::decode(contents.to_vec()).map_err(|r| Error::corruption(path, handle.offset, r))?;
    if bloom.is_present() != (props.bloom_bits_per_key > 0) {
        return Err(Error::corruption(
            path,
            handle.offset,
            "filter disagrees with properties",
        ));
    }
    Ok(bloom)
}

fn read_range_dels(
    file: &dyn VfsFile,
    path: &Path,
    props: &Properties,
) -> Result<Vec<RangeTombstone>> {
    let contents = trailer::read_block(file, props.range_del)?;
    let offset = props.range_del.offset;
    let list = range_del::decode(&contents).map_err(|r| Error::corruption(path, offset, r))?;
    if list.len() as u64 != props.range_tombstones {
        return Err(Error::corruption(
            path,
            offset,
            "range-deletion block disagrees with properties",
        ));
    }
    Ok(list)
}

fn check_consistency(
    index: &BlockIndex,
    props: &Properties,
    path: &Path,
    props_offset: u64,
) -> Result<()> {
    let last_user_key = index
        .last_key()
        .and_then(|k| ikey::parse(k).ok())
        .map(|k| k.user_key);
    let consistent = props.data_blocks == index.len() as u64
        && (props.data_blocks == 0 || last_user_key == Some(&props.largest_key[..]));
    if !consistent {
        return Err(Error::corruption(
            path,
            props_offset,
            "properties disagree with the index",
        ));
    }
    Ok(())
}
