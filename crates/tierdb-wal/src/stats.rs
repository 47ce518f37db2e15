//! `WalStats` and the atomic counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the WAL's counters since `Wal::open`.
#[derive(Clone, Debug, Default)]
pub struct WalStats {
    /// Records appended.
    pub records: u64,
    /// Group writes: rounds in which a leader wrote buffered records (one
    /// `write_all_at` per segment touched, usually one).
    pub group_writes: u64,
    /// `fdatasync` calls on segment files (record syncs and new-segment
    /// header syncs).
    pub syncs: u64,
    /// Bytes written to segment files (records and headers; the zeros of
    /// preallocation are counted apart, in `zero_bytes_written`).
    pub bytes_written: u64,
    /// Of `bytes_written`, the framing: 24 bytes of header per record and
    /// 32 per segment header. The rest is payload.
    pub frame_bytes_written: u64,
    /// Zeros written ahead of the records to preallocate the active
    /// segment (see `docs/format/wal.md`, Preallocation). Once synced they
    /// reach the disk, and the records later overwrite them: a second write
    /// of the same bytes.
    pub zero_bytes_written: u64,
    /// Bytes of live segment files on disk, the active segment's zeroed
    /// preallocated tail included (`Wal::live_bytes` counts only records).
    pub file_bytes: u64,
    /// Segments on disk now, the active one included.
    pub segments_live: u64,
    /// Segments deleted by `Wal::release_upto`.
    pub segments_deleted: u64,
}

/// The live counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub records: AtomicU64,
    pub group_writes: AtomicU64,
    pub syncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub frame_bytes_written: AtomicU64,
    pub zero_bytes_written: AtomicU64,
    pub file_bytes: AtomicU64,
    pub segments_live: AtomicU64,
    pub segments_deleted: AtomicU64,
    pub live_bytes: AtomicU64,
}

/// Adds `n` to `counter`.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// The current values.
    pub(crate) fn snapshot(&self) -> WalStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WalStats {
            records: get(&self.records),
            group_writes: get(&self.group_writes),
            syncs: get(&self.syncs),
            bytes_written: get(&self.bytes_written),
            frame_bytes_written: get(&self.frame_bytes_written),
            zero_bytes_written: get(&self.zero_bytes_written),
            file_bytes: get(&self.file_bytes),
            segments_live: get(&self.segments_live),
            segments_deleted: get(&self.segments_deleted),
        }
    }
}
