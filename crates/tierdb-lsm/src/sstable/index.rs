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

/// The decoded index of an open table, flat: the blocks' last keys back
/// to back in one buffer, and per block where its key lies, the key's
/// sequence (parsed once here, so a lookup compares user keys and
/// sequences without parsing), an 8-byte probe and the block's handle.
///
/// The user keys of one index usually share a long prefix (a partition
/// covers a narrow stretch of the key space), so a lookup compares the
/// target with that common prefix once and then each block by `probe`, the
/// 8 bytes after the prefix as a big-endian integer (zero-padded), going to
/// the whole keys only when probes tie.
#[derive(Debug)]
pub(crate) struct Index {
    keys: Vec<u8>,
    slots: Vec<Slot>,
    /// The probe of each slot, apart so a lookup's binary search touches
    /// 8 bytes per step (eight blocks to a cache line).
    probes: Vec<u64>,
    /// Length of the prefix every block's user key shares.
    common: usize,
}

/// One data block in a decoded [`Index`].
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The last internal key is `keys[start..end]`, its user key
    /// `keys[start..end - TRAILER_BYTES]`.
    start: usize,
    end: usize,
    seq: u64,
    handle: BlockHandle,
}

/// Up to 8 bytes of `bytes`, zero-padded, as a big-endian integer: two
/// keys whose probes differ compare as their probes do.
fn probe_of(bytes: &[u8]) -> u64 {
    let mut probe = [0u8; 8];
    for (to, from) in probe.iter_mut().zip(bytes) {
        *to = *from;
    }
    u64::from_be_bytes(probe)
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
        let mut index = Index {
            keys: Vec::new(),
            slots: Vec::new(),
            probes: Vec::new(),
            common: 0,
        };
        let mut expected_offset = data.start;
        while iter.valid() {
            let value = iter.value();
            let mut dec = Decoder::new(&value);
            let handle = BlockHandle::decode_varint(&mut dec).map_err(corrupt)?;
            let in_order = index
                .last_key()
                .is_none_or(|prev| ikey::compare(prev, iter.key()) == Ordering::Less);
            if !dec.is_empty() || handle.offset != expected_offset || !in_order {
                return Err(corrupt("index entries out of order or not contiguous"));
            }
            // The block iterator checked that every key parses.
            let seq = ikey::parse(iter.key()).map_err(corrupt)?.seq;
            expected_offset = handle.end();
            let start = index.keys.len();
            index.keys.extend_from_slice(iter.key());
            index.slots.push(Slot {
                start,
                end: index.keys.len(),
                seq,
                handle,
            });
            iter.next()?;
        }
        // No entries only for a table without data blocks (an empty range).
        if expected_offset != data.end {
            return Err(corrupt("index does not cover the data blocks"));
        }
        index.set_probes();
        Ok(index)
    }

    /// The user key of `slot`.
    fn user_key(&self, slot: &Slot) -> &[u8] {
        let end = slot.end.saturating_sub(ikey::TRAILER_BYTES).max(slot.start);
        self.keys.get(slot.start..end).unwrap_or_default()
    }

    /// Sets `common` and every slot's probe. Keys are sorted, so the
    /// prefix the first and last user keys share is shared by all.
    fn set_probes(&mut self) {
        let (Some(first), Some(last)) = (self.slots.first(), self.slots.last()) else {
            return;
        };
        let (first, last) = (self.user_key(first), self.user_key(last));
        self.common = first.iter().zip(last).take_while(|(a, b)| a == b).count();
        self.probes = self
            .slots
            .iter()
            .map(|s| probe_of(self.user_key(s).get(self.common..).unwrap_or_default()))
            .collect();
    }

    /// Number of data blocks.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The handle of block `index`.
    pub(crate) fn handle(&self, index: usize) -> Option<BlockHandle> {
        self.slots.get(index).map(|s| s.handle)
    }

    /// The last internal key of block `index`.
    pub(crate) fn block_last_key(&self, index: usize) -> Option<&[u8]> {
        self.slots
            .get(index)
            .and_then(|s| self.keys.get(s.start..s.end))
    }

    /// The first block whose last key is `>= target`: the only block that
    /// can hold the first entry `>= target`. `len()` if there is none.
    pub(crate) fn find(&self, target: &ikey::SeekKey<'_>) -> usize {
        let whole = |s: &Slot| {
            let key = self.keys.get(s.start..s.end).unwrap_or_default();
            target.compare_parsed(self.user_key(s), s.seq, key)
        };
        let (Some(user_key), Some(first)) = (target.user_key(), self.slots.first()) else {
            return self.slots.partition_point(|s| whole(s) == Ordering::Less);
        };
        let prefix = self.user_key(first).get(..self.common).unwrap_or_default();
        let shared = user_key.len().min(self.common);
        let target_prefix = user_key.get(..shared).unwrap_or_default();
        match target_prefix.cmp(prefix.get(..shared).unwrap_or_default()) {
            Ordering::Less => return 0,
            Ordering::Greater => return self.slots.len(),
            // A proper prefix of every block's user key sorts before all.
            Ordering::Equal if shared < self.common => return 0,
            Ordering::Equal => {}
        }
        let probe = probe_of(user_key.get(self.common..).unwrap_or_default());
        // Blocks whose probe is below the target's come first, then those
        // that tie (compared whole), then those above.
        let below = self.probes.partition_point(|&p| p < probe);
        let ties = self
            .probes
            .get(below..)
            .unwrap_or_default()
            .partition_point(|&p| p == probe);
        let tied = self.slots.get(below..below + ties).unwrap_or_default();
        below + tied.partition_point(|s| whole(s) == Ordering::Less)
    }

    /// The last key of the table.
    pub(crate) fn last_key(&self) -> Option<&[u8]> {
        self.block_last_key(self.slots.len().checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;
    use proptest::prelude::*;

    /// An index over blocks whose last keys are `keys` (sorted, distinct).
    fn index_of(keys: &[Vec<u8>]) -> Index {
        let mut builder = IndexBuilder::new();
        let mut offset = 0;
        for key in keys {
            builder.add(key, BlockHandle { offset, size: 10 });
            offset += 10 + super::super::trailer::BLOCK_TRAILER_BYTES;
        }
        let contents = Bytes::from(encode(builder.entries()));
        Index::decode(contents, &Arc::from(Path::new("i.sst")), 0, 0..offset).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// `find` (common prefix, then probes, then whole keys) agrees
        /// with a plain binary search over whole internal keys, for keys
        /// sharing long prefixes, keys that are prefixes of others, and
        /// targets that do not parse.
        #[test]
        fn find_agrees_with_whole_key_search(
            suffixes in prop::collection::btree_set(
                (prop::collection::vec(0u8..4, 0..12), 0u64..4), 1..60),
            prefix in prop::collection::vec(0u8..3, 0..10),
            targets in prop::collection::vec(
                (prop::collection::vec(0u8..4, 0..24), 0u64..5), 1..40),
        ) {
            let mut keys: Vec<Vec<u8>> = suffixes
                .iter()
                .map(|(suffix, seq)| {
                    let user: Vec<u8> = prefix.iter().chain(suffix).copied().collect();
                    ikey::encode(&user, *seq, EntryKind::Put)
                })
                .collect();
            keys.sort_by(|a, b| ikey::compare(a, b));
            keys.dedup();
            let index = index_of(&keys);
            for (user, seq) in &targets {
                for raw in [ikey::encode(user, *seq, EntryKind::Put), user.clone()] {
                    let expected =
                        keys.partition_point(|k| ikey::compare(k, &raw) == Ordering::Less);
                    prop_assert_eq!(index.find(&ikey::SeekKey::new(&raw)), expected);
                }
            }
        }
    }
}
