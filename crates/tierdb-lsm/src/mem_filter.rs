//! `MemFilter`: a bloom filter over the user keys of a skiplist memtable,
//! filled as versions are inserted, so a point read skips the skiplist
//! search of a memtable that never held its key — a dozen dependent cache
//! misses down the skiplist's levels, the largest cost of a point read that
//! goes on to the tables (`docs/benchmarks.md`, "LSM read path: one merge
//! child per level").
//!
//! Blocked: the `PROBES` bits of a key lie in one 64-bit word, so a check
//! is one memory access. The key's hash is the table filters' own
//! (`sstable::bloom::key_hash`), computed once per point read and handed to
//! every memtable and table the read asks. Sized from the memtable's byte
//! budget for its most entries (every entry is charged at least
//! `ENTRY_OVERHEAD_BYTES`), at `BITS_PER_ENTRY` bits each, so at most
//! ~2 % false positives however small the entries; catalog-sized entries
//! (~400 bytes charged) leave it nearly empty. In memory only: nothing of
//! it is written.
//!
//! Bits are set with `fetch_or` before the version enters the skiplist;
//! a reader sees every version its view covers (published under the tier's
//! state lock after the insert), hence its bits too.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits set per key, all in one word.
const PROBES: u32 = 4;

/// Filter bits per entry at the memtable's most entries.
const BITS_PER_ENTRY: u64 = 10;

/// A concurrent blocked bloom filter over key hashes.
#[derive(Debug)]
pub(crate) struct MemFilter {
    words: Box<[AtomicU64]>,
    /// `words.len() - 1` (a power of two less one).
    mask: u64,
}

impl MemFilter {
    /// A filter for up to `entries` keys.
    pub(crate) fn for_entries(entries: u64) -> Self {
        let words = (entries.saturating_mul(BITS_PER_ENTRY) / 64)
            .clamp(1, 1 << 24)
            .next_power_of_two();
        MemFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: words - 1,
        }
    }

    /// The word of `hash` and its bits in that word.
    fn locate(&self, hash: u64) -> (usize, u64) {
        // The high half picks the word, the low 24 bits the bits in it.
        let word = usize::try_from((hash >> 32) & self.mask).unwrap_or(0);
        let bits = (0..PROBES).fold(0u64, |bits, i| bits | 1 << ((hash >> (6 * i)) & 63));
        (word, bits)
    }

    /// Records a key with this hash.
    pub(crate) fn insert(&self, hash: u64) {
        let (word, bits) = self.locate(hash);
        if let Some(w) = self.words.get(word) {
            w.fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// False only if no key with this hash was inserted.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (word, bits) = self.locate(hash);
        self.words
            .get(word)
            .is_none_or(|w| w.load(Ordering::Relaxed) & bits == bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::bloom::key_hash;

    #[test]
    fn inserted_keys_are_found_and_most_others_are_not() {
        let filter = MemFilter::for_entries(10_000);
        for i in 0..10_000u32 {
            filter.insert(key_hash(format!("key{i}").as_bytes()));
        }
        for i in 0..10_000u32 {
            assert!(filter.may_contain(key_hash(format!("key{i}").as_bytes())));
        }
        let false_positives = (0..10_000u32)
            .filter(|i| filter.may_contain(key_hash(format!("other{i}").as_bytes())))
            .count();
        // Full at 10 bits a key, blocked in 64-bit words: ~1-3 %.
        assert!(false_positives < 400, "{false_positives} false positives");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = MemFilter::for_entries(0);
        assert_eq!(filter.words.len(), 1);
        assert!(!filter.may_contain(key_hash(b"k")));
    }
}
