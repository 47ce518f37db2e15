//! A decoded-on-demand block (see `block_builder.rs` for the layout) and
//! [`BlockIter`], a bidirectional cursor over its entries.
//!
//! [`Block::parse`] checks the restart array once (count, bounds, strictly
//! increasing offsets, first restart at 0). Entries are decoded lazily; each
//! decode checks every length against the block and that every key is a
//! well-formed internal key, and fails with `Error::Corruption` naming the
//! file and the block's offset. Nothing here can panic on bad bytes.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::{Error, Result};

use super::coding::{Decoder, Reason};
use super::ikey;

/// The contents of one block (trailer already checked and removed).
pub(crate) struct Block {
    data: Bytes,
    /// Offset of the restart array: entries live in `[0, restarts_at)`.
    restarts_at: usize,
    restart_count: usize,
    file: Arc<Path>,
    offset: u64,
}

impl Block {
    /// Checks the restart array of `data`, the block at `offset` in `file`.
    pub(crate) fn parse(data: Bytes, file: Arc<Path>, offset: u64) -> Result<Self> {
        let (restarts_at, restart_count) = match check_restarts(&data) {
            Ok(found) => found,
            Err(reason) => return Err(Error::corruption(&*file, offset, reason)),
        };
        Ok(Self {
            data,
            restarts_at,
            restart_count,
            file,
            offset,
        })
    }

    /// Bytes of the block, for cache charging.
    pub(crate) fn size_bytes(&self) -> usize {
        self.data.len()
    }

    fn corruption(&self, reason: Reason) -> Error {
        Error::corruption(&*self.file, self.offset, reason)
    }

    /// The internal key of the entry at restart point `index`: a restart
    /// entry shares nothing with the one before, so its key lies whole in
    /// the block and is read in place.
    fn restart_key(&self, index: usize) -> Result<&[u8], Reason> {
        let start = self.restart_point(index);
        let entries = self.data.get(..self.restarts_at).unwrap_or_default();
        let mut dec = Decoder::new(
            entries
                .get(start..)
                .ok_or("restart point past the entries")?,
        );
        let shared = dec.varint32()?;
        let unshared = dec.varint32()?;
        dec.varint32()?;
        if shared != 0 {
            return Err("bad shared key length");
        }
        let key = dec.bytes(unshared)?;
        ikey::parse(key)?;
        Ok(key)
    }

    fn restart_point(&self, index: usize) -> usize {
        let at = self.restarts_at + 4 * index;
        let bytes = self
            .data
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok());
        // `parse` checked every restart, so the fallback (the end) is unused.
        bytes.map_or(self.restarts_at, |b| u32::from_le_bytes(b) as usize)
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("file", &self.file)
            .field("offset", &self.offset)
            .field("bytes", &self.data.len())
            .field("restarts", &self.restart_count)
            .finish()
    }
}

/// Finds and checks the restart array; returns its offset and length.
fn check_restarts(data: &[u8]) -> Result<(usize, usize), Reason> {
    let count_at = data
        .len()
        .checked_sub(4)
        .ok_or("block shorter than its restart count")?;
    let count = Decoder::new(data.get(count_at..).unwrap_or_default()).u32()? as usize;
    if count == 0 {
        return Err("block has no restart points");
    }
    let array_bytes = count.checked_mul(4).ok_or("restart count overflows")?;
    let restarts_at = count_at
        .checked_sub(array_bytes)
        .ok_or("restart array larger than block")?;
    let mut dec = Decoder::new(data.get(restarts_at..count_at).unwrap_or_default());
    let mut previous = None;
    for _ in 0..count {
        let point = dec.u32()? as usize;
        let in_order = previous.is_none_or(|p| point > p);
        // An empty block (the index of a table holding only range
        // tombstones) has its single restart at 0 == restarts_at.
        let empty_block = restarts_at == 0 && count == 1;
        let past_end = point >= restarts_at && !empty_block;
        if past_end || !in_order || (previous.is_none() && point != 0) {
            return Err("bad restart point");
        }
        previous = Some(point);
    }
    Ok((restarts_at, count))
}

/// A cursor over the entries of one block, in key order.
#[derive(Debug)]
pub(crate) struct BlockIter {
    block: Arc<Block>,
    /// Offset of the current entry; `restarts_at` when not positioned.
    current: usize,
    /// Offset just after the current entry.
    next: usize,
    /// Restart region holding `current`.
    restart_index: usize,
    key: Vec<u8>,
    /// The previous entry's key while stepping forward, to check order.
    prev_key: Vec<u8>,
    value: (usize, usize),
}

impl BlockIter {
    /// An unpositioned cursor over `block`.
    pub(crate) fn new(block: Arc<Block>) -> Self {
        let end = block.restarts_at;
        Self {
            block,
            current: end,
            next: end,
            restart_index: 0,
            key: Vec::new(),
            prev_key: Vec::new(),
            value: (end, end),
        }
    }

    /// True while positioned at an entry.
    pub(crate) fn valid(&self) -> bool {
        self.current < self.block.restarts_at
    }

    /// The current internal key (only while valid).
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value, sharing the block's memory (only while valid).
    pub(crate) fn value(&self) -> Bytes {
        self.block.data.slice(self.value.0..self.value.1)
    }

    /// Positions at the first entry.
    pub(crate) fn seek_to_first(&mut self) -> Result<()> {
        self.seek_to_restart(0);
        self.parse_next()
    }

    /// Positions at the last entry.
    pub(crate) fn seek_to_last(&mut self) -> Result<()> {
        self.seek_to_restart(self.block.restart_count - 1);
        self.parse_next()?;
        while self.valid() && self.next < self.block.restarts_at {
            self.parse_next()?;
        }
        Ok(())
    }

    /// Moves to the next entry; invalid after the last.
    pub(crate) fn next(&mut self) -> Result<()> {
        self.parse_next()
    }

    /// Moves to the previous entry; invalid before the first.
    pub(crate) fn prev(&mut self) -> Result<()> {
        let original = self.current;
        while self.block.restart_point(self.restart_index) >= original {
            if self.restart_index == 0 {
                self.invalidate();
                return Ok(());
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index);
        loop {
            self.parse_next()?;
            if !self.valid() || self.next >= original {
                return Ok(());
            }
        }
    }

    /// Positions at the first entry whose internal key is `>= target`:
    /// a binary search over the restart keys, read in place, then a walk
    /// through one restart interval.
    pub(crate) fn seek(&mut self, target: &ikey::SeekKey<'_>) -> Result<()> {
        let mut left = 0;
        let mut right = self.block.restart_count - 1;
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            let key = match self.block.restart_key(mid) {
                Ok(key) => key,
                Err(reason) => {
                    self.invalidate();
                    return Err(self.block.corruption(reason));
                }
            };
            if target.compare_key(key) == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.seek_to_restart(left);
        loop {
            self.parse_next()?;
            if !self.valid() || target.compare_key(&self.key) != Ordering::Less {
                return Ok(());
            }
        }
    }

    fn seek_to_restart(&mut self, index: usize) {
        self.key.clear();
        self.restart_index = index;
        self.current = self.block.restarts_at;
        self.next = self.block.restart_point(index);
    }

    fn invalidate(&mut self) {
        self.current = self.block.restarts_at;
        self.next = self.block.restarts_at;
        self.key.clear();
    }

    /// Decodes the entry at `self.next`, or becomes invalid at the end.
    fn parse_next(&mut self) -> Result<()> {
        if self.next >= self.block.restarts_at {
            self.invalidate();
            return Ok(());
        }
        let start = self.next;
        while self.restart_index + 1 < self.block.restart_count
            && self.block.restart_point(self.restart_index + 1) <= start
        {
            self.restart_index += 1;
        }
        let at_restart = self.block.restart_point(self.restart_index) == start;
        // Stepping from a valid entry: `key` holds the one just before.
        let follows = self.valid();
        if let Err(reason) = self.decode_at(start, at_restart, follows) {
            self.invalidate();
            return Err(self.block.corruption(reason));
        }
        self.current = start;
        Ok(())
    }

    fn decode_at(&mut self, start: usize, at_restart: bool, follows: bool) -> Result<(), Reason> {
        let entries = self
            .block
            .data
            .get(..self.block.restarts_at)
            .unwrap_or_default();
        let mut dec = Decoder::new(entries.get(start..).ok_or("entry offset past the end")?);
        let shared = dec.varint32()?;
        let unshared = dec.varint32()?;
        let value_len = dec.varint32()?;
        if shared > self.key.len() || (at_restart && shared != 0) {
            return Err("bad shared key length");
        }
        let delta = dec.bytes(unshared)?;
        let value_start = start + dec.position();
        dec.bytes(value_len)?;
        if follows {
            self.prev_key.clear();
            self.prev_key.extend_from_slice(&self.key);
        }
        self.key.truncate(shared);
        self.key.extend_from_slice(delta);
        ikey::parse(&self.key)?;
        if follows && ikey::compare(&self.prev_key, &self.key) != Ordering::Less {
            return Err("block keys out of order");
        }
        let entry_end = start + dec.position();
        let next_restart = self.restart_index + 1;
        if next_restart < self.block.restart_count
            && self.block.restart_point(next_restart) < entry_end
        {
            // Reading backward starts at restart points: one inside an
            // entry would make the block read differently each way.
            return Err("restart point inside an entry");
        }
        self.value = (value_start, value_start + value_len);
        self.next = entry_end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;
    use crate::sstable::block_builder::BlockBuilder;
    use proptest::prelude::*;

    fn build(keys: &[Vec<u8>], interval: usize) -> Arc<Block> {
        let mut builder = BlockBuilder::new(interval);
        for (i, key) in keys.iter().enumerate() {
            builder.add(key, format!("v{i}").as_bytes());
        }
        let data = Bytes::from(builder.finish());
        Arc::new(Block::parse(data, Arc::from(Path::new("b.sst")), 0).unwrap())
    }

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                ikey::encode(
                    format!("key{:04}", i / 3).as_bytes(),
                    100 - (i % 3) as u64,
                    EntryKind::Put,
                )
            })
            .collect()
    }

    fn collect_forward(iter: &mut BlockIter) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        iter.seek_to_first().unwrap();
        while iter.valid() {
            out.push(iter.key().to_vec());
            iter.next().unwrap();
        }
        out
    }

    #[test]
    fn forward_backward_and_seek_match_the_input() {
        for interval in [1, 2, 3, 16] {
            let keys = keys(50);
            let mut iter = BlockIter::new(build(&keys, interval));
            assert_eq!(collect_forward(&mut iter), keys);
            let mut backward = Vec::new();
            iter.seek_to_last().unwrap();
            while iter.valid() {
                backward.push(iter.key().to_vec());
                iter.prev().unwrap();
            }
            backward.reverse();
            assert_eq!(backward, keys);
            for (i, key) in keys.iter().enumerate() {
                iter.seek(&ikey::SeekKey::new(key)).unwrap();
                assert_eq!(iter.key(), &key[..]);
                assert_eq!(&iter.value()[..], format!("v{i}").as_bytes());
            }
            let past = ikey::encode(b"zzz", 1, EntryKind::Put);
            iter.seek(&ikey::SeekKey::new(&past)).unwrap();
            assert!(!iter.valid());
        }
    }

    #[test]
    fn bad_restart_arrays_are_rejected() {
        let path: Arc<Path> = Arc::from(Path::new("b.sst"));
        for data in [
            &[][..],
            &[0, 0, 0, 0],
            &[1, 0, 0, 0],
            &[9, 0, 0, 0, 1, 0, 0, 0],
        ] {
            let err = Block::parse(Bytes::copy_from_slice(data), Arc::clone(&path), 5).unwrap_err();
            assert!(err.is_corruption());
        }
    }

    /// Found by the `sst_data_block` fuzz target: a block whose checksum is
    /// right but whose keys are out of order read back in the wrong order
    /// (and seeks in it went wrong). Stepping forward now checks the order.
    #[test]
    fn regression_sst_block_keys_out_of_order() {
        let mut keys = keys(6);
        keys.swap(2, 3);
        let block = build(&keys, 16);
        let mut iter = BlockIter::new(block);
        iter.seek_to_first().unwrap();
        let mut result = Ok(());
        while result.is_ok() && iter.valid() {
            result = iter.next();
        }
        let err = result.unwrap_err();
        assert!(
            err.is_corruption() && err.to_string().contains("out of order"),
            "{err}"
        );
    }

    /// Found by the `sst_data_block` fuzz target: a restart point inside an
    /// entry made the block read one way forward and fail (or read other
    /// entries) backward. Reading forward now rejects it.
    #[test]
    fn regression_sst_block_restart_inside_entry() {
        let keys = keys(4);
        let mut builder = BlockBuilder::new(16);
        for key in &keys {
            builder.add(key, b"v");
        }
        let mut data = builder.finish();
        // One restart (0); claim a second one at offset 1, inside entry 0.
        let n = data.len();
        data.truncate(n - 4);
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(&2u32.to_le_bytes());
        let block = Block::parse(Bytes::from(data), Arc::from(Path::new("b.sst")), 0).unwrap();
        let mut iter = BlockIter::new(Arc::new(block));
        let err = iter.seek_to_first().unwrap_err();
        assert!(
            err.to_string().contains("restart point inside an entry"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Arbitrary damage to a block never panics: it parses and iterates
        /// or reports corruption.
        #[test]
        fn damaged_blocks_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
            let keys = keys(20);
            let mut builder = BlockBuilder::new(4);
            for key in &keys {
                builder.add(key, b"value");
            }
            let mut data = builder.finish();
            let len = data.len();
            for (at, byte) in flips {
                data[at % len] ^= byte | 1;
            }
            if let Ok(block) = Block::parse(Bytes::from(data), Arc::from(Path::new("b")), 0) {
                let mut iter = BlockIter::new(Arc::new(block));
                let _ = iter.seek_to_first().and_then(|()| iter.next()).and_then(|()| iter.prev());
                let _ = iter.seek_to_last().and_then(|()| iter.prev());
                let _ = iter.seek(&ikey::SeekKey::new(&keys[7]));
            }
        }
    }
}
