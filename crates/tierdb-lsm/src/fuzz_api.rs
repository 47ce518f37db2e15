//! The LSM tier's decoders (SSTable blocks, footer, properties, manifest),
//! exposed for the fuzz targets of `tierdb-fuzz` (not an API: hidden from
//! the docs, may change at any time). Thin wrappers over the private
//! modules, plus encoders and "re-seal" helpers so that a fuzzer gets past
//! the checksums.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::{EntryKind, RangeTombstone};
use crate::manifest::{Edit, Manifest, Record, TableRecord};
use crate::manifest_log;
use crate::sstable::block::{Block, BlockIter};
use crate::sstable::block_builder::BlockBuilder;
use crate::sstable::bloom::{self, Bloom};
use crate::sstable::coding::Decoder;
use crate::sstable::footer::{BlockHandle, Footer};
use crate::sstable::ikey;
use crate::sstable::index::{self, Index, IndexEntry};
use crate::sstable::properties::Properties;
use crate::sstable::range_del;
use crate::sstable::trailer;

/// Bytes after each block's contents (type and crc32).
pub const BLOCK_TRAILER_LEN: usize = trailer::BLOCK_TRAILER_BYTES as usize;

/// Seals block contents with their trailer, as the writer does.
pub fn seal_block(contents: Vec<u8>) -> Vec<u8> {
    trailer::seal(contents)
}

/// Recomputes the trailer checksum of a sealed block (keeping its type byte).
pub fn reseal_block(sealed: &mut [u8]) {
    if sealed.len() >= BLOCK_TRAILER_LEN {
        let split = sealed.len() - BLOCK_TRAILER_LEN;
        let kind = sealed[split];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&sealed[..split]);
        hasher.update(&[kind]);
        let crc = hasher.finalize();
        sealed[split + 1..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Checks and strips a block's trailer, as every block read does.
pub fn unseal_block(sealed: &[u8], path: &Path, offset: u64) -> Result<Bytes> {
    trailer::unseal(sealed.to_vec(), path, offset)
}

/// An internal key: user key, sequence, kind.
pub fn internal_key(user_key: &[u8], seq: u64, kind: EntryKind) -> Vec<u8> {
    ikey::encode(user_key, seq, kind)
}

/// Splits an internal key into user key, sequence and kind.
pub fn parse_internal_key(key: &[u8]) -> Result<(&[u8], u64, EntryKind), &'static str> {
    ikey::parse(key).map(|k| (k.user_key, k.seq, k.kind))
}

/// The order of internal keys (total, also over keys that do not parse).
pub fn compare_internal_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    ikey::compare(a, b)
}

/// Block contents holding `entries` (internal key, value) in the given
/// order, with a restart every `restart_interval` entries.
pub fn encode_block(entries: &[(Vec<u8>, Vec<u8>)], restart_interval: usize) -> Vec<u8> {
    let mut builder = BlockBuilder::new(restart_interval);
    for (key, value) in entries {
        builder.add(key, value);
    }
    builder.finish()
}

/// A parsed block with a cursor, as the table reader uses it.
#[derive(Debug)]
pub struct FuzzBlock(Arc<Block>);

/// (internal key, value) pairs.
pub type BlockEntries = Vec<(Vec<u8>, Bytes)>;

impl FuzzBlock {
    /// Parses block contents (trailer removed) found at `offset` of `path`.
    pub fn parse(contents: Bytes, path: &Path, offset: u64) -> Result<Self> {
        Block::parse(contents, Arc::from(path), offset).map(|b| Self(Arc::new(b)))
    }

    /// Every entry, first to last.
    pub fn forward(&self) -> Result<BlockEntries> {
        let mut iter = BlockIter::new(Arc::clone(&self.0));
        let mut out = Vec::new();
        iter.seek_to_first()?;
        while iter.valid() {
            out.push((iter.key().to_vec(), iter.value()));
            iter.next()?;
        }
        Ok(out)
    }

    /// Every entry, last to first.
    pub fn backward(&self) -> Result<BlockEntries> {
        let mut iter = BlockIter::new(Arc::clone(&self.0));
        let mut out = Vec::new();
        iter.seek_to_last()?;
        while iter.valid() {
            out.push((iter.key().to_vec(), iter.value()));
            iter.prev()?;
        }
        Ok(out)
    }

    /// The first entry whose internal key is `>= target`, if any.
    pub fn seek(&self, target: &[u8]) -> Result<Option<(Vec<u8>, Bytes)>> {
        let mut iter = BlockIter::new(Arc::clone(&self.0));
        iter.seek(&crate::sstable::ikey::SeekKey::new(target))?;
        Ok(iter.valid().then(|| (iter.key().to_vec(), iter.value())))
    }
}

/// An index entry: last internal key of a data block, its offset and size.
pub type IndexRow = (Vec<u8>, u64, u64);

/// Index block contents for `rows`.
pub fn encode_index(rows: &[IndexRow]) -> Vec<u8> {
    let entries: Vec<IndexEntry> = rows
        .iter()
        .map(|(last_key, offset, size)| IndexEntry {
            last_key: last_key.clone(),
            handle: BlockHandle {
                offset: *offset,
                size: *size,
            },
        })
        .collect();
    index::encode(&entries)
}

/// Decodes index block contents of a table whose data blocks end at
/// `data_end`, as opening a table does.
pub fn decode_index(
    contents: Bytes,
    path: &Path,
    offset: u64,
    data_end: u64,
) -> Result<Vec<IndexRow>> {
    let index = Index::decode(contents, &Arc::from(path), offset, 0..data_end)?;
    Ok((0..index.len())
        .filter_map(|i| Some((index.block_last_key(i)?.to_vec(), index.handle(i)?)))
        .map(|(key, handle)| (key, handle.offset, handle.size))
        .collect())
}

/// A decoded bloom filter.
#[derive(Debug)]
pub struct FuzzBloom(Bloom);

impl FuzzBloom {
    /// Filter block contents for `keys`.
    pub fn build(keys: &[&[u8]], bits_per_key: u32) -> Vec<u8> {
        let hashes: Vec<u64> = keys.iter().map(|k| bloom::key_hash(k)).collect();
        bloom::build(&hashes, bits_per_key)
    }

    /// Decodes filter block contents.
    pub fn decode(contents: &[u8]) -> Result<Self, &'static str> {
        Bloom::decode(contents.to_vec()).map(Self)
    }

    /// True if the table has a filter.
    pub fn is_present(&self) -> bool {
        self.0.is_present()
    }

    /// False only if `key` was not added.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.0.may_contain(bloom::key_hash(key))
    }
}

/// Footer: filter, index and properties handles `(offset, size)`.
pub type FooterHandles = [(u64, u64); 3];

/// Bytes of a footer.
pub const FOOTER_LEN: usize = 64;

/// The 64 footer bytes.
pub fn encode_footer(handles: FooterHandles) -> Vec<u8> {
    let h = |(offset, size)| BlockHandle { offset, size };
    Footer {
        filter: h(handles[0]),
        index: h(handles[1]),
        properties: h(handles[2]),
    }
    .encode()
}

/// Decodes the footer read at `offset` of `path`.
pub fn decode_footer(bytes: &[u8], path: &Path, offset: u64) -> Result<FooterHandles> {
    let f = Footer::decode(bytes, path, offset)?;
    Ok([f.filter, f.index, f.properties].map(|h| (h.offset, h.size)))
}

/// Recomputes the checksum of a 64-byte footer.
pub fn reseal_footer(bytes: &mut [u8]) {
    if bytes.len() >= FOOTER_LEN {
        let crc = crc32fast::hash(&bytes[..52]);
        bytes[52..56].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Recomputes the checksum of every block of a table image that can be
/// found from its footer: the footer itself, the filter, index and
/// properties blocks, the range-deletion block the properties point to,
/// the partitions of a two-level index, and the data blocks each index
/// block lists — each only where it lies inside `bytes`, and only as far
/// as the (re-sealed) blocks that lead to it parse. A fuzzer's change deep
/// in a table then reaches the reader's checks behind the checksums.
///
/// A damaged handle may make two blocks overlap, and re-sealing one then
/// breaks the other's checksum. The blocks are found first (re-sealing as
/// it goes, to parse what leads further) and then re-sealed again in the
/// reverse of the order in which the reader checks them, so that the
/// blocks the reader checks first come out whole.
pub fn reseal_table(bytes: &mut [u8]) {
    let mut found = Vec::new();
    find_table_blocks(bytes, &mut found);
    // Checked on open: properties, range deletions, index, partitions
    // (when first used), filter; data blocks when read.
    let rank = |kind: TableBlock| match kind {
        TableBlock::Data => 0,
        TableBlock::Filter => 1,
        TableBlock::Partition => 2,
        TableBlock::Index => 3,
        TableBlock::RangeDel => 4,
        TableBlock::Properties => 5,
    };
    found.sort_by_key(|(kind, _)| rank(*kind));
    for (_, handle) in found {
        reseal_block_at(bytes, handle);
    }
    if let Some(footer_at) = bytes.len().checked_sub(FOOTER_LEN) {
        reseal_footer(&mut bytes[footer_at..]);
    }
}

/// The kinds of block a table holds.
#[derive(Clone, Copy)]
enum TableBlock {
    Data,
    Filter,
    Partition,
    Index,
    RangeDel,
    Properties,
}

/// Finds (and re-seals, to read on) the blocks of a table image.
fn find_table_blocks(bytes: &mut [u8], found: &mut Vec<(TableBlock, BlockHandle)>) {
    let mut reseal = |bytes: &mut [u8], kind, handle| {
        reseal_block_at(bytes, handle);
        found.push((kind, handle));
    };
    let Some(footer_at) = bytes.len().checked_sub(FOOTER_LEN) else {
        return;
    };
    reseal_footer(&mut bytes[footer_at..]);
    let path: Arc<Path> = Arc::from(Path::new("table"));
    let Ok(footer) = Footer::decode(&bytes[footer_at..], &path, 0) else {
        return;
    };
    reseal(bytes, TableBlock::Filter, footer.filter);
    reseal(bytes, TableBlock::Index, footer.index);
    reseal(bytes, TableBlock::Properties, footer.properties);
    let Some(props) = block_at(bytes, footer.properties, &path)
        .and_then(|contents| Properties::decode(&contents).ok())
    else {
        return;
    };
    reseal(bytes, TableBlock::RangeDel, props.range_del);
    let Some(top) = block_at(bytes, footer.index, &path) else {
        return;
    };
    // Each index block that lists data blocks, with the stretch of the
    // file its blocks tile.
    let mut lists = Vec::new();
    if props.index_partitions == 0 {
        lists.push((top, 0..props.range_del.offset));
    } else {
        let Ok(block) = Block::parse(top, Arc::clone(&path), 0) else {
            return;
        };
        let mut iter = BlockIter::new(Arc::new(block));
        let mut partitions = Vec::new();
        let mut step = iter.seek_to_first();
        while step.is_ok() && iter.valid() {
            let value = iter.value();
            let mut dec = Decoder::new(&value);
            let Ok(handle) = BlockHandle::decode_varint(&mut dec) else {
                break;
            };
            let Ok(data_start) = dec.varint64() else {
                break;
            };
            partitions.push((handle, data_start));
            step = iter.next();
        }
        let data_end = partitions.first().map_or(0, |(h, _)| h.offset);
        for (i, &(handle, data_start)) in partitions.iter().enumerate() {
            let next = partitions.get(i + 1).map_or(data_end, |(_, start)| *start);
            reseal(bytes, TableBlock::Partition, handle);
            if let Some(contents) = block_at(bytes, handle, &path) {
                lists.push((contents, data_start..next));
            }
        }
    }
    for (contents, data) in lists {
        if let Ok(index) = Index::decode(contents, &path, 0, data) {
            for handle in (0..index.len()).filter_map(|i| index.handle(i)) {
                reseal(bytes, TableBlock::Data, handle);
            }
        }
    }
}

/// The sealed bytes of the block at `handle`, if they lie inside `bytes`.
fn sealed_range(bytes: &[u8], handle: BlockHandle) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(handle.offset).ok()?;
    let end = start
        .checked_add(usize::try_from(handle.size).ok()?)?
        .checked_add(BLOCK_TRAILER_LEN)?;
    (end <= bytes.len()).then_some(start..end)
}

fn reseal_block_at(bytes: &mut [u8], handle: BlockHandle) {
    if let Some(range) = sealed_range(bytes, handle) {
        reseal_block(&mut bytes[range]);
    }
}

/// The contents of the block at `handle`, if it lies inside `bytes` and
/// its checksum holds.
fn block_at(bytes: &[u8], handle: BlockHandle, path: &Path) -> Option<Bytes> {
    let range = sealed_range(bytes, handle)?;
    trailer::unseal(bytes[range].to_vec(), path, handle.offset).ok()
}

/// A decoded properties block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzProperties(Properties);

impl FuzzProperties {
    /// Decodes properties block contents.
    pub fn decode(contents: &[u8]) -> Result<Self, &'static str> {
        Properties::decode(contents).map(Self)
    }

    /// The block contents.
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }

    /// Entries, tombstones, min and max sequence, data blocks.
    pub fn counts(&self) -> (u64, u64, u64, u64, u64) {
        let p = &self.0;
        (p.entries, p.tombstones, p.min_seq, p.max_seq, p.data_blocks)
    }

    /// Where the data blocks (and the index partitions, if any) end: the
    /// offset of the range-deletion block.
    pub fn data_end(&self) -> u64 {
        self.0.range_del.offset
    }

    /// Smallest and largest user key.
    pub fn key_range(&self) -> (&[u8], &[u8]) {
        (&self.0.smallest_key, &self.0.largest_key)
    }
}

/// A decoded LSM manifest log: its records and the version they describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzLsmManifest {
    number: u64,
    records: Vec<Record>,
    version: Manifest,
}

fn manifest_of_levels(
    persisted_seq: u64,
    next_table: u64,
    levels: Vec<Vec<(u64, u64)>>,
) -> Manifest {
    let levels = levels
        .into_iter()
        .map(|l| {
            l.into_iter()
                .map(|(number, file_bytes)| TableRecord { number, file_bytes })
                .collect()
        })
        .collect();
    Manifest {
        persisted_seq,
        next_table,
        levels,
    }
}

impl FuzzLsmManifest {
    /// A log (number 1) holding a snapshot of these fields; levels hold
    /// `(table number, bytes)`.
    pub fn new(persisted_seq: u64, next_table: u64, levels: Vec<Vec<(u64, u64)>>) -> Self {
        let version = manifest_of_levels(persisted_seq, next_table, levels);
        Self {
            number: 1,
            records: vec![Record::Snapshot(version.clone())],
            version,
        }
    }

    /// Appends the edit to this version; false (nothing appended) if an
    /// edit cannot express it.
    pub fn push_version(
        &mut self,
        persisted_seq: u64,
        next_table: u64,
        levels: Vec<Vec<(u64, u64)>>,
    ) -> bool {
        let next = manifest_of_levels(persisted_seq, next_table, levels);
        match Edit::between(&self.version, &next) {
            Some(edit) => {
                self.records.push(Record::Edit(edit));
                self.version = next;
                true
            }
            None => false,
        }
    }

    /// Decodes and replays the manifest log `path` holding `data`. Strict:
    /// an incomplete last record, which opening a tier ignores as a cut
    /// tail, is an error here too (`Corruption` at its offset), so that a
    /// decoded log re-encodes to exactly its bytes.
    pub fn decode(path: &Path, data: &[u8]) -> Result<Self> {
        let log = manifest_log::decode(path, data)?;
        if log.complete_len != data.len() as u64 {
            return Err(tierdb_io::Error::corruption(
                path,
                log.complete_len,
                "incomplete last LSM manifest record",
            ));
        }
        let version = log.replay(path)?;
        Ok(Self {
            number: log.number,
            records: log.records.into_iter().map(|(_, r)| r).collect(),
            version,
        })
    }

    /// The whole file.
    pub fn encode(&self) -> Vec<u8> {
        manifest_log::encode(self.number, &self.records)
    }

    /// Tables per level of the version, as `(number, bytes)`.
    pub fn levels(&self) -> Vec<Vec<(u64, u64)>> {
        self.version
            .levels
            .iter()
            .map(|l| l.iter().map(|t| (t.number, t.file_bytes)).collect())
            .collect()
    }
}

/// Recomputes the checksums of an LSM manifest log (the stamp's, each
/// record's length check and CRC, as far as the records fit).
pub fn reseal_lsm_manifest(data: &mut [u8]) {
    manifest_log::reseal(data);
}

/// Range-deletion block contents for `tombstones` (in block order).
pub fn encode_range_dels(tombstones: &[RangeTombstone]) -> Vec<u8> {
    range_del::encode(tombstones)
}

/// Decodes and checks range-deletion block contents.
pub fn decode_range_dels(contents: &[u8]) -> Result<Vec<RangeTombstone>, &'static str> {
    range_del::decode(contents)
}
