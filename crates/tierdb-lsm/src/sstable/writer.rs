//! [`SstWriter`]: writes one table front to back, then syncs it.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tierdb_io::{Error, Result, VfsFile};

use super::block_builder::BlockBuilder;
use super::block_index::{WrittenPartition, encode_top};
use super::footer::{BlockHandle, Footer};
use super::index::{self, IndexBuilder};
use super::properties::Properties;
use super::{SstMeta, SstOptions, bloom, ikey, range_del, trailer};
use crate::entry::{Entry, EntryKind, RangeTombstone, internal_cmp};

/// Largest user key accepted (bytes).
pub(crate) const KEY_BYTES_MAX: usize = 64 << 20;
/// Largest value accepted (bytes).
pub(crate) const VALUE_BYTES_MAX: usize = 1 << 30;
/// `SstOptions::block_bytes` is clamped to this, so every block (one
/// target-sized run plus one maximal entry) stays below 4 GiB.
const BLOCK_BYTES_MAX: usize = 256 << 20;

/// Writes a new table. Entries go in with [`SstWriter::add`] in internal
/// order; [`SstWriter::finish`] writes the filter, index, properties and
/// footer and syncs the file. The file is never modified afterwards.
#[derive(Debug)]
pub struct SstWriter {
    file: Arc<dyn VfsFile>,
    opts: SstOptions,
    offset: u64,
    data: BlockBuilder,
    index: IndexBuilder,
    key_hashes: Vec<u64>,
    props: Option<Properties>,
    range_dels: Vec<RangeTombstone>,
    range_del_bytes: u64,
    last: Option<(Bytes, u64)>,
    scratch: Vec<u8>,
    failed: bool,
}

impl SstWriter {
    /// A writer of a table into `file`, which should be new and empty.
    pub fn new(file: Arc<dyn VfsFile>, opts: SstOptions) -> Self {
        Self {
            file,
            data: BlockBuilder::new(opts.restart_interval),
            opts,
            offset: 0,
            index: IndexBuilder::new(),
            key_hashes: Vec::new(),
            props: None,
            range_dels: Vec::new(),
            range_del_bytes: 0,
            last: None,
            scratch: Vec::new(),
            failed: false,
        }
    }

    /// Adds one entry. Entries must come in internal order (key ascending,
    /// seq descending, no duplicate (key, seq)), else
    /// `Error::InvalidArgument`. After an I/O error every call fails.
    pub fn add(&mut self, entry: &Entry) -> Result<()> {
        self.check_usable()?;
        self.check_entry(entry)?;
        self.scratch.clear();
        ikey::encode_into(&mut self.scratch, &entry.key, entry.seq, entry.kind);
        self.data.add(&self.scratch, &entry.value);
        self.note_entry(entry);
        if self.data.estimated_bytes() >= self.opts.block_bytes.min(BLOCK_BYTES_MAX) {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Adds a range tombstone (any order; the writer sorts them). An empty
    /// range or an oversized key is `Error::InvalidArgument`.
    pub fn add_range_tombstone(&mut self, tombstone: RangeTombstone) -> Result<()> {
        self.check_usable()?;
        let end_len = tombstone.end.as_ref().map_or(0, |e| e.len());
        if tombstone.start.len() > KEY_BYTES_MAX || end_len > KEY_BYTES_MAX {
            return Err(Error::InvalidArgument(
                "range tombstone key too large".into(),
            ));
        }
        if tierdb_tier::range_is_empty(&tombstone.start, tombstone.end.as_deref()) {
            return Err(Error::InvalidArgument("empty range tombstone".into()));
        }
        self.range_del_bytes += (tombstone.start.len() + end_len + 20) as u64;
        self.range_dels.push(tombstone);
        Ok(())
    }

    /// Bytes the file would have if finished now (an estimate, for cutting
    /// compaction outputs at a target size).
    pub fn estimated_bytes(&self) -> u64 {
        let filter = self.key_hashes.len() as u64 * u64::from(self.opts.bloom_bits_per_key) / 8;
        let tail = (self.data.estimated_bytes() + self.index.estimated_bytes()) as u64;
        self.offset + tail + filter + self.range_del_bytes + 256
    }

    /// Writes the index partitions (if the index is over
    /// `index_partition_bytes`), the range-deletion block, filter, index (or
    /// top-level index), properties and footer, then syncs the file. A
    /// table with neither entries nor range tombstones is
    /// `Error::InvalidArgument`.
    pub fn finish(mut self) -> Result<SstMeta> {
        self.check_usable()?;
        if self.props.is_none() && self.range_dels.is_empty() {
            return Err(Error::InvalidArgument(
                "an SSTable needs at least one entry or range tombstone".into(),
            ));
        }
        if !self.data.is_empty() {
            self.flush_data_block()?;
        }
        let entries = std::mem::take(&mut self.index);
        let runs = entries.partitions(self.opts.index_partition_bytes.max(1));
        let mut partitions = Vec::new();
        if runs.len() > 1 {
            for run in runs {
                let handle = self.write_block(index::encode(run))?;
                partitions.push(WrittenPartition {
                    entries: run,
                    handle,
                });
            }
        }
        let mut range_dels = std::mem::take(&mut self.range_dels);
        range_del::sort(&mut range_dels);
        let range_del_handle = self.write_block(range_del::encode(&range_dels))?;
        let filter =
            self.write_block(bloom::build(&self.key_hashes, self.opts.bloom_bits_per_key))?;
        let index = if partitions.is_empty() {
            index::encode(entries.entries())
        } else {
            encode_top(&partitions)
        };
        let index = self.write_block(index)?;
        let mut props = self
            .props
            .take()
            .unwrap_or_else(|| empty_properties(&self.opts));
        props.range_tombstones = range_dels.len() as u64;
        props.range_del = range_del_handle;
        for t in &range_dels {
            props.min_seq = props.min_seq.min(t.seq);
            props.max_seq = props.max_seq.max(t.seq);
        }
        props.index_partitions = partitions.len() as u64;
        let properties = self.write_block(props.encode())?;
        let footer = Footer {
            filter,
            index,
            properties,
        };
        self.write_raw(&footer.encode())?;
        self.file.sync()?;
        Ok(props.meta(self.offset))
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidArgument(
                "SSTable writer failed earlier".into(),
            ));
        }
        Ok(())
    }

    fn check_entry(&self, entry: &Entry) -> Result<()> {
        if entry.key.len() > KEY_BYTES_MAX || entry.value.len() > VALUE_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "SSTable entry too large: key {} bytes, value {} bytes",
                entry.key.len(),
                entry.value.len()
            )));
        }
        let Some((last_key, last_seq)) = &self.last else {
            return Ok(());
        };
        if internal_cmp(last_key, *last_seq, &entry.key, entry.seq) != Ordering::Less {
            return Err(Error::InvalidArgument(format!(
                "SSTable entries out of internal order at key {:?} seq {}",
                String::from_utf8_lossy(&entry.key),
                entry.seq
            )));
        }
        Ok(())
    }

    fn note_entry(&mut self, entry: &Entry) {
        let new_user_key = self.last.as_ref().is_none_or(|(k, _)| *k != entry.key);
        if new_user_key && self.opts.bloom_bits_per_key > 0 {
            self.key_hashes.push(bloom::key_hash(&entry.key));
        }
        let props = self
            .props
            .get_or_insert_with(|| first_properties(entry, &self.opts));
        props.entries += 1;
        props.tombstones += u64::from(entry.kind == EntryKind::Delete);
        props.min_seq = props.min_seq.min(entry.seq);
        props.max_seq = props.max_seq.max(entry.seq);
        props.raw_key_bytes += entry.key.len() as u64;
        props.raw_value_bytes += entry.value.len() as u64;
        props.largest_key = entry.key.clone();
        self.last = Some((entry.key.clone(), entry.seq));
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let last_key = self.data.last_key().to_vec();
        let contents = self.data.finish();
        let handle = self.write_block(contents)?;
        self.index.add(&last_key, handle);
        if let Some(props) = self.props.as_mut() {
            props.data_blocks += 1;
        }
        Ok(())
    }

    fn write_block(&mut self, contents: Vec<u8>) -> Result<BlockHandle> {
        let handle = BlockHandle {
            offset: self.offset,
            size: contents.len() as u64,
        };
        self.write_raw(&trailer::seal(contents))?;
        Ok(handle)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(err) = self.file.write_all_at(bytes, self.offset) {
            self.failed = true;
            return Err(err);
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

fn first_properties(entry: &Entry, opts: &SstOptions) -> Properties {
    Properties {
        min_seq: entry.seq,
        max_seq: entry.seq,
        smallest_key: entry.key.clone(),
        largest_key: entry.key.clone(),
        ..empty_properties(opts)
    }
}

/// Properties of a table without entries (yet).
fn empty_properties(opts: &SstOptions) -> Properties {
    Properties {
        entries: 0,
        tombstones: 0,
        min_seq: u64::MAX,
        max_seq: 0,
        data_blocks: 0,
        raw_key_bytes: 0,
        raw_value_bytes: 0,
        created_unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bloom_bits_per_key: opts.bloom_bits_per_key,
        restart_interval: u32::try_from(opts.restart_interval.max(1)).unwrap_or(u32::MAX),
        range_tombstones: 0,
        range_del: BlockHandle { offset: 0, size: 0 },
        index_partitions: 0,
        smallest_key: Bytes::new(),
        largest_key: Bytes::new(),
        creator: concat!("tierdb-lsm ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}
