//! Cache keys and the hashing used to place them in shards and maps.

use std::hash::Hasher;

/// Identifies one cached unit: a B+tree page or an SSTable block.
///
/// `file` is an engine-wide file id (never a path); `page` is the page number
/// within a B+tree file or the block offset/number within an SSTable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKey {
    pub file: u64,
    pub page: u64,
}

impl PageKey {
    pub const fn new(file: u64, page: u64) -> Self {
        Self { file, page }
    }

    /// Picks a shard. Uses a mix that is independent of [`PageKeyHasher`], so
    /// the keys of one shard still spread over all buckets of its map.
    pub(crate) fn shard_index(self, shard_count: usize) -> usize {
        debug_assert!(shard_count > 0);
        let mixed = mix64(mix64(self.file ^ 0x9e37_79b9_7f4a_7c15) ^ self.page);
        // Truncation is intended: the shard count is small.
        #[allow(clippy::cast_possible_truncation)]
        let mixed = (mixed >> 16) as usize;
        mixed % shard_count
    }
}

/// The splitmix64 finalizer: a cheap, well-distributed 64-bit mix.
pub(crate) const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A fast hasher for [`PageKey`] maps. Keys are made by the engine, not by
/// users, so hash flooding is not a concern and SipHash would only cost time.
#[derive(Default, Clone, Copy)]
pub(crate) struct PageKeyHasher {
    state: u64,
}

impl Hasher for PageKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.state = mix64(self.state.rotate_left(5) ^ value);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_index_spreads_sequential_pages() {
        let shard_count = 16;
        let mut per_shard = vec![0usize; shard_count];
        for page in 0..16_000 {
            per_shard[PageKey::new(7, page).shard_index(shard_count)] += 1;
        }
        for count in per_shard {
            assert!((800..1200).contains(&count), "uneven shard spread: {count}");
        }
    }
}
