//! [`SstWriter`]: writes one table front to back, then syncs it.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tierdb_io::{Error, Result, VfsFile};

use super::block_builder::BlockBuilder;
use super::footer::{BlockHandle, Footer};
use super::index::IndexBuilder;
use super::properties::Properties;
use super::{SstMeta, SstOptions, bloom, ikey, trailer};
use crate::entry::{Entry, EntryKind, internal_cmp};

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

    /// Bytes the file would have if finished now (an estimate, for cutting
    /// compaction outputs at a target size).
    pub fn estimated_bytes(&self) -> u64 {
        let filter = self.key_hashes.len() as u64 * u64::from(self.opts.bloom_bits_per_key) / 8;
        let tail = (self.data.estimated_bytes() + self.index.estimated_bytes()) as u64;
        self.offset + tail + filter + 256
    }

    /// Writes filter, index, properties and footer, then syncs the file.
    /// An empty table is `Error::InvalidArgument`.
    pub fn finish(mut self) -> Result<SstMeta> {
        self.check_usable()?;
        if self.props.is_none() {
            return Err(Error::InvalidArgument(
                "an SSTable needs at least one entry".into(),
            ));
        }
        if !self.data.is_empty() {
            self.flush_data_block()?;
        }
        let filter =
            self.write_block(bloom::build(&self.key_hashes, self.opts.bloom_bits_per_key))?;
        let index = std::mem::replace(&mut self.index, IndexBuilder::new()).finish();
        let index = self.write_block(index)?;
        let props = self.finished_properties()?;
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

    fn finished_properties(&mut self) -> Result<Properties> {
        self.props
            .take()
            .ok_or_else(|| Error::InvalidArgument("an SSTable needs at least one entry".into()))
    }
}

fn first_properties(entry: &Entry, opts: &SstOptions) -> Properties {
    Properties {
        entries: 0,
        tombstones: 0,
        min_seq: entry.seq,
        max_seq: entry.seq,
        data_blocks: 0,
        raw_key_bytes: 0,
        raw_value_bytes: 0,
        created_unix_secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bloom_bits_per_key: opts.bloom_bits_per_key,
        restart_interval: u32::try_from(opts.restart_interval.max(1)).unwrap_or(u32::MAX),
        smallest_key: entry.key.clone(),
        largest_key: entry.key.clone(),
        creator: concat!("tierdb-lsm ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}
