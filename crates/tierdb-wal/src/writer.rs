//! `SegmentWriter`: the live segments and the one file being appended to.
//!
//! Owned by the `Wal` behind its writer lock; only the group-commit leader
//! (and `release_upto`, briefly) touch it. Every method that does I/O returns the
//! error untouched; poisoning is the `Wal`'s business.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tierdb_io::{OpenMode, Result, Vfs, VfsFile};

use crate::batch::Batch;
use crate::format::{RECORD_HEADER_BYTES, SEGMENT_HEADER_LEN};
use crate::segment::{SegmentMeta, create_segment, next_segment_number};
use crate::stats::{Counters, bump};

/// The active segment's file is grown in zero-filled steps of this many
/// bytes ahead of the records. Overwriting bytes the file already has lets
/// `fdatasync` skip the inode's size update (a journal commit on ext4): one
/// such update per step instead of one per group. Measured with 64-byte
/// appends on this machine's ext4: 8,052 syncs/s appending, 11,939 over
/// `fallocate`d (unwritten) extents, 13,834 over written zeros. Recovery
/// treats the zeros after the last record as a torn tail (cut); a sealed
/// segment and a cleanly closed log are trimmed to their records first.
const PREALLOCATE_BYTES: u64 = 1 << 20;

/// The size of each zero write of a preallocation step: one page.
const ZERO_WRITE_BYTES: usize = 4096;

/// The live segments of a WAL: sealed ones (oldest first) and the active one.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    segment_bytes: u64,
    sealed: VecDeque<SegmentMeta>,
    /// Sum of `sealed[..].bytes`.
    sealed_bytes: u64,
    active: SegmentMeta,
    file: Arc<dyn VfsFile>,
    /// Offset of the active segment up to which it is known fsynced.
    synced_bytes: u64,
    /// Length of the active segment's file: `active.bytes` plus a zeroed,
    /// preallocated tail (see [`PREALLOCATE_BYTES`]).
    allocated: u64,
    /// Every record up to this lsn has been written to the OS.
    written_lsn: u64,
    /// Every record up to this lsn is durable.
    synced_lsn: u64,
    counters: Arc<Counters>,
}

impl SegmentWriter {
    /// Takes over the recovered segments (all durable, in order) and opens
    /// the active segment for records `last_lsn + 1 ..`: the recovered last
    /// segment if it is empty and starts there, else a new one.
    pub(crate) fn start(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        segment_bytes: u64,
        mut sealed: VecDeque<SegmentMeta>,
        last_lsn: u64,
        counters: Arc<Counters>,
    ) -> Result<Self> {
        let reusable = sealed
            .back()
            .is_some_and(|s| s.is_empty() && s.first_lsn == last_lsn + 1);
        let (file, active) = match sealed.pop_back() {
            Some(last) if reusable => (vfs.open(&last.path, OpenMode::ReadWrite)?, last),
            other => {
                let number = match &other {
                    Some(last) => next_segment_number(last.number)?,
                    None => 1,
                };
                sealed.extend(other);
                let created = create_segment(&*vfs, &dir, number, last_lsn + 1)?;
                bump(&counters.syncs, 1);
                bump(&counters.bytes_written, SEGMENT_HEADER_LEN);
                bump(&counters.frame_bytes_written, SEGMENT_HEADER_LEN);
                created
            }
        };
        let writer = SegmentWriter {
            vfs,
            dir,
            segment_bytes,
            sealed_bytes: sealed.iter().map(|s| s.bytes).sum(),
            sealed,
            synced_bytes: active.bytes,
            allocated: file.len()?,
            active,
            file,
            written_lsn: last_lsn,
            synced_lsn: last_lsn,
            counters,
        };
        writer.publish_sizes();
        Ok(writer)
    }

    /// Every record up to this lsn has been written to the OS.
    pub(crate) fn written_lsn(&self) -> u64 {
        self.written_lsn
    }

    /// Every record up to this lsn is durable.
    pub(crate) fn synced_lsn(&self) -> u64 {
        self.synced_lsn
    }

    /// Writes `batch` (which must continue at `written_lsn + 1`): one
    /// `write_all_at` per segment touched, rotating when the active segment
    /// is full. Does not sync, except the old segment on rotation.
    ///
    /// `preallocate`: a commit waits for the sync that follows this write
    /// (`Wal::sync_to`). Only such groups preallocate (see
    /// [`PREALLOCATE_BYTES`]): the zeros pay off when commits wait for
    /// `fdatasync`, and cost a second write of the log's bytes (the next
    /// sync writes the zeros, the records overwrite them). Buffered groups,
    /// and what the background flusher writes, append; the flusher's
    /// `fdatasync` every `sync_interval` then pays the size update.
    pub(crate) fn write_batch(&mut self, batch: &mut Batch, preallocate: bool) -> Result<()> {
        debug_assert_eq!(batch.lsn_of(0), self.written_lsn + 1);
        let mut done = 0;
        while done < batch.count() {
            if self.active_is_full() {
                self.rotate()?;
            }
            let room = self.segment_bytes.saturating_sub(self.active.bytes);
            let upto = done + batch.records_fitting(done, room);
            let bytes = batch.seal(done..upto, self.synced_bytes);
            let len = bytes.len() as u64;
            if preallocate {
                self.preallocate(self.active.bytes + len)?;
            }
            self.file.write_all_at(bytes, self.active.bytes)?;
            self.active.bytes += len;
            self.allocated = self.allocated.max(self.active.bytes);
            self.active.last_lsn = batch.lsn_of(upto - 1);
            self.written_lsn = self.active.last_lsn;
            bump(&self.counters.bytes_written, len);
            bump(
                &self.counters.frame_bytes_written,
                ((upto - done) * RECORD_HEADER_BYTES) as u64,
            );
            done = upto;
        }
        bump(&self.counters.group_writes, 1);
        self.publish_sizes();
        Ok(())
    }

    /// Makes everything written durable (one `fdatasync` of the active
    /// segment; sealed segments were synced when sealed).
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.synced_bytes == self.active.bytes && self.synced_lsn == self.written_lsn {
            return Ok(());
        }
        self.file.sync()?;
        bump(&self.counters.syncs, 1);
        self.synced_bytes = self.active.bytes;
        self.synced_lsn = self.written_lsn;
        Ok(())
    }

    /// Cuts the zeroed tail off the active segment and syncs, so that a
    /// cleanly closed log holds only records (no torn tail on reopen).
    pub(crate) fn trim(&mut self) -> Result<()> {
        if self.allocated > self.active.bytes {
            self.file.set_len(self.active.bytes)?;
            self.file.sync()?;
            bump(&self.counters.syncs, 1);
            self.allocated = self.active.bytes;
            self.publish_sizes();
        }
        Ok(())
    }

    /// Makes the active segment's file at least `end` bytes long, growing
    /// it by [`PREALLOCATE_BYTES`] of zeros past `end` (not past the
    /// segment's size) when it is shorter.
    fn preallocate(&mut self, end: u64) -> Result<()> {
        if end <= self.allocated {
            return Ok(());
        }
        let target = (end + PREALLOCATE_BYTES).min(self.segment_bytes.max(end));
        // Page by page: one large write puts the range into large page-cache
        // folios (Linux 6.x), and a record write then dirties, and counts in
        // `/proc/self/io` as written, the whole folio (1 MiB per commit in
        // the bench's write figures).
        // The records about to be written fill `..end`: zero only past it.
        self.allocated = self.allocated.max(end);
        let zeros = [0u8; ZERO_WRITE_BYTES];
        while self.allocated < target {
            let len = (target - self.allocated).min(ZERO_WRITE_BYTES as u64);
            let part = zeros.get(..len as usize).unwrap_or(&zeros);
            self.file.write_all_at(part, self.allocated)?;
            self.allocated += len;
            bump(&self.counters.zero_bytes_written, len);
        }
        Ok(())
    }

    /// Detaches the sealed segments whose records are all `<= lsn`, oldest
    /// first, for the caller to delete with [`remove_segments`] outside the
    /// writer lock.
    pub(crate) fn take_releasable(&mut self, lsn: u64) -> Vec<SegmentMeta> {
        let count = self.sealed.iter().take_while(|s| s.last_lsn <= lsn).count();
        let doomed: Vec<SegmentMeta> = self.sealed.drain(..count).collect();
        self.sealed_bytes -= doomed.iter().map(|s| s.bytes).sum::<u64>();
        self.publish_sizes();
        doomed
    }

    /// The file system and directory, for [`remove_segments`].
    pub(crate) fn location(&self) -> (Arc<dyn Vfs>, PathBuf) {
        (Arc::clone(&self.vfs), self.dir.clone())
    }

    fn active_is_full(&self) -> bool {
        self.active.bytes >= self.segment_bytes && !self.active.is_empty()
    }

    /// Seals the active segment (synced fully) and starts the next one
    /// (created, header synced, directory synced) before any record goes in.
    fn rotate(&mut self) -> Result<()> {
        // Unconditional, even if `sync` would find nothing new: it costs one
        // call per segment, and a handle that went bad fails here before
        // anything is created next to it. A sealed segment holds only
        // records: recovery reads bad bytes in one as corruption.
        if self.allocated > self.active.bytes {
            self.file.set_len(self.active.bytes)?;
        }
        self.file.sync()?;
        bump(&self.counters.syncs, 1);
        self.synced_bytes = self.active.bytes;
        self.synced_lsn = self.written_lsn;
        let next = next_segment_number(self.active.number)?;
        let (file, meta) = create_segment(&*self.vfs, &self.dir, next, self.written_lsn + 1)?;
        bump(&self.counters.syncs, 1);
        bump(&self.counters.bytes_written, SEGMENT_HEADER_LEN);
        bump(&self.counters.frame_bytes_written, SEGMENT_HEADER_LEN);
        let old = std::mem::replace(&mut self.active, meta);
        self.sealed_bytes += old.bytes;
        self.sealed.push_back(old);
        self.file = file;
        self.synced_bytes = self.active.bytes;
        self.allocated = self.active.bytes;
        self.publish_sizes();
        Ok(())
    }

    fn publish_sizes(&self) {
        let live = self.sealed_bytes + self.active.bytes;
        let c = &self.counters;
        c.live_bytes.store(live, Ordering::Relaxed);
        let tail = self.allocated.saturating_sub(self.active.bytes);
        c.file_bytes.store(live + tail, Ordering::Relaxed);
        c.segments_live
            .store(self.sealed.len() as u64 + 1, Ordering::Relaxed);
    }
}

/// Deletes `doomed` (oldest first), syncing the directory after each removal
/// so that a crash leaves a contiguous run of segment numbers.
pub(crate) fn remove_segments(
    vfs: &dyn Vfs,
    dir: &Path,
    doomed: &[SegmentMeta],
    counters: &Counters,
) -> Result<()> {
    for segment in doomed {
        vfs.remove(&segment.path)?;
        vfs.sync_dir(dir)?;
        bump(&counters.segments_deleted, 1);
    }
    Ok(())
}
