//! SSTables: immutable sorted files of internal entries, the on-disk runs
//! of the LSM tier. The byte format is described in
//! `docs/format/sstable.md`; in short, a table is a stack of blocks:
//!
//! ```text
//! data block 0 .. data block n-1 | [index partitions] | range-del | filter
//!   | index | properties | footer (64 B)
//! ```
//!
//! Every block ends with a type byte and a CRC-32. [`SstWriter`] writes a
//! table once, front to back, and syncs it; [`SstReader`] verifies the
//! footer, properties, index and filter when it opens the table and reads
//! data blocks on demand through the shared [`tierdb_cache::PageCache`].
//!
//! One concept per file: `coding` (varints, bounds-checked decoder), `ikey`
//! (internal key encoding), `block_builder` / `block` (data block format and
//! cursor), `trailer` (block checksum), `bloom`, `index` (one index block),
//! `block_index` (single or two-level index of an open table),
//! `properties`, `footer`, `writer`, `reader`, `iter`.

pub(crate) mod block;
pub(crate) mod block_builder;
mod block_index;
pub(crate) mod bloom;
pub(crate) mod coding;
pub(crate) mod footer;
pub(crate) mod ikey;
pub(crate) mod index;
mod iter;
pub(crate) mod properties;
pub(crate) mod range_del;
mod reader;
pub(crate) mod trailer;
mod writer;

use bytes::Bytes;

pub use iter::SstIter;
pub use reader::SstReader;
pub use writer::SstWriter;

/// How tables are written. Readers need no options: everything they need
/// is recorded in the file.
#[derive(Clone, Debug)]
pub struct SstOptions {
    /// Target size of a data block's contents in bytes (default 4096). A
    /// block is closed once it reaches this size, so it may exceed it by one
    /// entry (a single big entry makes a big block).
    pub block_bytes: usize,
    /// Entries between restart points in data blocks (default 16).
    pub restart_interval: usize,
    /// Bloom filter bits per user key (default 10, about 1% false
    /// positives); 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// An index that would take more than this many bytes is written as a
    /// two-level index: partitions of about this size, read through the
    /// cache, under a top-level block kept in memory. Default 32 KiB: with
    /// 11-byte user keys (20-byte internal keys) about 740 data blocks, so
    /// tables past about 3 MiB at 4 KiB blocks. A two-level index costs
    /// a point read one more block read the first time it needs a
    /// partition; partitions then stay decoded in memory (pinned) while the
    /// table is open.
    pub index_partition_bytes: usize,
}

impl Default for SstOptions {
    fn default() -> Self {
        Self {
            block_bytes: 4096,
            restart_interval: 16,
            bloom_bits_per_key: 10,
            index_partition_bytes: 32 * 1024,
        }
    }
}

/// What a table holds: returned by [`SstWriter::finish`] and by
/// [`SstReader::meta`] (from the properties block), for the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SstMeta {
    /// Length of the file in bytes.
    pub file_bytes: u64,
    /// Entries (versions), tombstones included.
    pub entries: u64,
    /// Entries of kind `Delete`.
    pub tombstones: u64,
    /// Range tombstones (in the range-deletion block, not in `entries`).
    pub range_tombstones: u64,
    /// Smallest user key of the entries (empty if there are none).
    pub smallest_key: Bytes,
    /// Largest user key of the entries (empty if there are none).
    pub largest_key: Bytes,
    /// Smallest sequence of any entry or range tombstone.
    pub min_seq: u64,
    /// Largest sequence of any entry or range tombstone.
    pub max_seq: u64,
}

/// What point lookups cost, added up over the table probes of one or more
/// reads ([`SstReader::get_counted`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetCost {
    /// Data blocks fetched, from the cache or the file.
    pub blocks: u64,
    /// Of those, blocks read from the file (cache misses).
    pub blocks_read: u64,
    /// Probes the bloom filter answered "absent" (no block fetched).
    pub bloom_useful: u64,
    /// Probes the bloom filter let through that found no version of the
    /// key visible to the read (a block fetched for nothing).
    pub bloom_ineffective: u64,
}

/// Read counters of one open table.
#[derive(Clone, Copy, Debug, Default)]
pub struct SstReadStats {
    /// Data blocks read from the file (cache misses); cache hits not counted.
    pub blocks_read: u64,
    /// Data block lookups (cache hits + misses); hits = `block_lookups -
    /// blocks_read`.
    pub block_lookups: u64,
    /// `get` calls the bloom filter answered "absent" (no block read).
    pub bloom_useful: u64,
    /// `get` calls that consulted a bloom filter.
    pub bloom_checked: u64,
}
