//! Builds one block in the LevelDB block format: entries with
//! prefix-compressed keys, then the restart array and its length.
//!
//! ```text
//! entry:   shared varint32 | unshared varint32 | value_len varint32
//!          | key bytes [shared..] | value bytes
//! trailer: restart offsets (u32 LE each) | restart count u32 LE
//! ```
//!
//! Every `restart_interval`-th entry is a restart point: it stores its whole
//! key (`shared = 0`) and its offset goes into the restart array.

use super::coding::put_varint32;

/// Accumulates the entries of one block.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// An empty block with a restart point every `restart_interval` entries
    /// (at least 1).
    pub(crate) fn new(restart_interval: usize) -> Self {
        Self {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry. Keys must be added in increasing order, and the
    /// block must stay below 4 GiB (the writer checks entry sizes).
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.since_restart == 0 {
            self.restarts.push(offset_u32(self.buf.len()));
            0
        } else {
            common_prefix(&self.last_key, key)
        };
        let unshared = key.get(shared..).unwrap_or_default();
        put_varint32(&mut self.buf, offset_u32(shared));
        put_varint32(&mut self.buf, offset_u32(unshared.len()));
        put_varint32(&mut self.buf, offset_u32(value.len()));
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.entries += 1;
        self.since_restart = (self.since_restart + 1) % self.restart_interval;
    }

    /// True if nothing was added since the last `finish`.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The key added last.
    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// The size the block will have once finished (without its trailer).
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.buf.len() + 4 * (self.restarts.len() + 1)
    }

    /// Appends the restart array and returns the block contents, leaving
    /// the builder empty for the next block.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        if self.restarts.is_empty() {
            self.restarts.push(0);
        }
        for restart in &self.restarts {
            out.extend_from_slice(&restart.to_le_bytes());
        }
        out.extend_from_slice(&offset_u32(self.restarts.len()).to_le_bytes());
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Offsets and lengths inside a block are below 4 GiB: the writer refuses
/// entries that could break this (see `SstWriter::add`).
fn offset_u32(value: usize) -> u32 {
    debug_assert!(
        u32::try_from(value).is_ok(),
        "block offset {value} >= 4 GiB"
    );
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;
    use crate::sstable::ikey;

    /// The worked example of `docs/format/sstable.md`, byte for byte.
    #[test]
    fn worked_example() {
        let mut builder = BlockBuilder::new(16);
        builder.add(&ikey::encode(b"apple", 5, EntryKind::Put), b"1");
        builder.add(&ikey::encode(b"apply", 3, EntryKind::Put), b"2");
        let mut expected = vec![0x00, 0x0e, 0x01];
        expected.extend_from_slice(b"apple");
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x01]);
        expected.extend_from_slice(b"1");
        expected.extend_from_slice(&[0x04, 0x0a, 0x01]);
        expected.extend_from_slice(b"y");
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x01]);
        expected.extend_from_slice(b"2");
        expected.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(builder.estimated_bytes(), expected.len());
        assert_eq!(builder.finish(), expected);
        assert!(builder.is_empty());
    }

    #[test]
    fn restart_points_store_whole_keys() {
        let mut builder = BlockBuilder::new(2);
        for key in [&b"aaaa"[..], b"aaab", b"aaac"] {
            builder.add(key, b"");
        }
        let block = builder.finish();
        // Entry 2 is a restart point: shared = 0, unshared = 4.
        assert_eq!(&block[11..14], &[0, 4, 0]);
        assert_eq!(
            &block[block.len() - 12..],
            &[0, 0, 0, 0, 11, 0, 0, 0, 2, 0, 0, 0]
        );
    }
}
