//! `Wal`: append into memory, group write and group sync by a leader,
//! poisoning on the first failed write or sync, release of old segments.
//!
//! Locks, in the only order they are ever nested:
//! 1. `release` (serialises `release_upto`; held during its removals), then
//! 2. `writer` (the segment files; held by the leader during I/O), then
//! 3. `pending` (the append buffer; held for a push or a swap, never I/O).
//!
//! `group` (the leader flag) is never held together with either.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tierdb_io::{Error, Result, Vfs};

use crate::batch::Batch;
use crate::flusher::Flusher;
use crate::format::{MAX_LSN, MAX_PAYLOAD_BYTES};
use crate::gather::Gather;
use crate::options::WalOptions;
use crate::recovery::recover;
use crate::stats::{Counters, WalStats, bump};
use crate::writer::{SegmentWriter, remove_segments};

/// Advice for callers: once [`Wal::buffered_bytes`] passes this many bytes,
/// call [`Wal::write_to`] (`append` itself never blocks or does I/O, so this
/// is the bound on the append buffer's memory).
pub const BUFFER_SOFT_LIMIT_BYTES: u64 = 64 << 20;

/// What [`Wal::open`] recovered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The lsn the log continues from: the next `append` must use
    /// `last_lsn + 1`. The larger of the last record found and `replay_after`
    /// (for an empty, or fully released, log this is `replay_after`).
    pub last_lsn: u64,
    /// Records handed to the replay callback (those with lsn > `replay_after`).
    pub records: u64,
    /// A torn (never synced) tail that was cut: the segment and the offset
    /// it was truncated at. Offset 0 means a segment whose creation a crash
    /// interrupted was removed.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Under `RecoveryMode::TolerateCorruption`, the first bad record: the
    /// segment and offset from which everything was dropped.
    pub dropped_by_tolerance: Option<(PathBuf, u64)>,
    /// Segments found valid (the fresh active segment is not counted).
    pub segments: usize,
}

/// The append buffer.
#[derive(Debug, Default)]
struct Pending {
    batch: Batch,
    last_lsn: u64,
    closed: bool,
}

/// The write-ahead log. `Send + Sync`; share it as `Arc<Wal>`.
///
/// Records are appended into memory with consecutive lsns ([`Wal::append`])
/// and made written or durable by [`Wal::write_to`] / [`Wal::sync_to`], whose
/// callers are batched into groups (one write and one `fdatasync` per group).
/// On-disk format and recovery rules: `docs/format/wal.md`.
#[derive(Debug)]
pub struct Wal {
    pending: Mutex<Pending>,
    writer: Mutex<Writer>,
    /// Serialises `release_upto` (its removals happen outside `writer`).
    release: Mutex<()>,
    /// True while a leader is writing; followers wait on `group_done`.
    group: Mutex<bool>,
    group_done: Condvar,
    /// `group`'s flag, readable without the lock: followers spinning on
    /// the leader's sync stop when it is cleared.
    led: AtomicBool,
    last_lsn: AtomicU64,
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    poison: OnceLock<String>,
    counters: Arc<Counters>,
    flusher: Flusher,
    /// The recent groups' sizes and sync time: how long the next leader
    /// waits for followers.
    gather: Gather,
}

/// The leader's state: the segment files plus a spare buffer to swap with
/// the append buffer, so steady-state appends do not allocate.
#[derive(Debug)]
struct Writer {
    segments: SegmentWriter,
    spare: Batch,
}

impl Wal {
    /// Opens (creating the dir if missing) and recovers: calls
    /// `replay(lsn, payload)` for every valid record with lsn > `replay_after`,
    /// in order; `payload` is a slice of the segment read into memory (a
    /// callback keeping it keeps that segment's image alive). Cuts a torn tail (truncates the last segment at it, syncs).
    /// Then starts a fresh segment for new appends and the background flusher.
    ///
    /// Errors: `Corruption` per the rules of `docs/format/wal.md` (under
    /// `RecoveryMode::Strict`), `UnsupportedVersion`, I/O errors, and any
    /// error `replay` returns (recovery stops there).
    pub fn open(
        vfs: Arc<dyn Vfs>,
        opts: WalOptions,
        replay_after: u64,
        replay: &mut dyn FnMut(u64, &bytes::Bytes) -> Result<()>,
    ) -> Result<(Arc<Wal>, Recovered)> {
        opts.validate()?;
        if replay_after > MAX_LSN {
            return Err(Error::InvalidArgument(format!(
                "replay_after {replay_after} is beyond the largest lsn {MAX_LSN}"
            )));
        }
        create_dir(&*vfs, &opts.dir)?;
        let outcome = recover(&*vfs, &opts.dir, opts.recovery, replay_after, replay)?;
        let last_lsn = outcome.last_lsn().max(replay_after);
        let recovered = Recovered {
            last_lsn,
            records: outcome.replayed,
            torn_tail: outcome.torn_tail,
            dropped_by_tolerance: outcome.dropped_by_tolerance,
            segments: outcome.segments.len(),
        };
        let counters = Arc::new(Counters::default());
        let segments = SegmentWriter::start(
            vfs,
            opts.dir,
            opts.segment_bytes,
            VecDeque::from(outcome.segments),
            last_lsn,
            Arc::clone(&counters),
        )?;
        let wal = Arc::new(Wal::new(segments, last_lsn, counters));
        wal.flusher
            .spawn(Arc::downgrade(&wal), opts.sync_interval)?;
        Ok((wal, recovered))
    }

    fn new(segments: SegmentWriter, last_lsn: u64, counters: Arc<Counters>) -> Wal {
        Wal {
            pending: Mutex::new(Pending {
                last_lsn,
                ..Pending::default()
            }),
            writer: Mutex::new(Writer {
                segments,
                spare: Batch::default(),
            }),
            release: Mutex::new(()),
            group: Mutex::new(false),
            group_done: Condvar::new(),
            led: AtomicBool::new(false),
            last_lsn: AtomicU64::new(last_lsn),
            written_lsn: AtomicU64::new(last_lsn),
            synced_lsn: AtomicU64::new(last_lsn),
            poison: OnceLock::new(),
            counters,
            flusher: Flusher::default(),
            gather: Gather::default(),
        }
    }

    /// Buffers a record in memory (no I/O, never blocks on I/O). `lsn` must
    /// be `last_lsn() + 1`, else `Err(InvalidArgument)`; a payload over
    /// [`MAX_PAYLOAD_BYTES`] is `InvalidArgument` too. After `close` it is
    /// `Err(Closed)`, after a failed write or sync `Err(Poisoned)`.
    ///
    /// The buffer is not bounded here: callers keep it bounded by calling
    /// [`Wal::write_to`] once [`Wal::buffered_bytes`] passes
    /// [`BUFFER_SOFT_LIMIT_BYTES`].
    pub fn append(&self, lsn: u64, payload: &[u8]) -> Result<()> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::InvalidArgument(format!(
                "WAL record of {} bytes exceeds the maximum of {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        self.check_poison()?;
        let mut pending = self.pending.lock();
        if pending.closed {
            return Err(Error::Closed);
        }
        if lsn != pending.last_lsn + 1 || lsn > MAX_LSN {
            return Err(Error::InvalidArgument(format!(
                "WAL append of lsn {lsn}, expected {}",
                pending.last_lsn + 1
            )));
        }
        pending.batch.push(lsn, payload);
        pending.last_lsn = lsn;
        self.last_lsn.store(lsn, Ordering::Release);
        bump(&self.counters.records, 1);
        Ok(())
    }

    /// Ensures every record with lsn <= `lsn` has been written to the OS
    /// (Buffered durability; the flusher syncs it within `sync_interval`).
    /// Group write: the leader writes everything buffered in one write.
    ///
    /// `lsn` must have been appended (`<= last_lsn()`), else
    /// `InvalidArgument`. Once the WAL is poisoned this returns `Poisoned`
    /// even for an lsn that was written before.
    pub fn write_to(&self, lsn: u64) -> Result<()> {
        self.advance_to(lsn, Group::Write)
    }

    /// Ensures every record with lsn <= `lsn` is durable (`fdatasync`).
    ///
    /// Group commit: whichever caller finds no leader becomes the leader,
    /// takes all buffered records (not just its own), writes them with one
    /// write and one sync, and publishes `synced_lsn`; the callers that
    /// waited meanwhile and are now covered return without I/O. Appends
    /// continue into the buffer while a leader syncs.
    ///
    /// `lsn` must have been appended (`<= last_lsn()`), else
    /// `InvalidArgument`. A failed write or sync poisons the WAL: this call
    /// and every later one return `Poisoned` (never a retried fsync), even
    /// for an lsn that was synced before.
    pub fn sync_to(&self, lsn: u64) -> Result<()> {
        self.advance_to(lsn, Group::Sync)
    }

    /// `sync_to` for background work no commit waits on (checkpoints, the
    /// flusher): the same group write and `fdatasync`, without
    /// preallocating the segment ahead of it (see
    /// `SegmentWriter::write_batch`: the zeros only pay off for commits
    /// waiting on frequent syncs, and cost a second write of the log).
    pub fn sync_to_in_background(&self, lsn: u64) -> Result<()> {
        self.advance_to(lsn, Group::BackgroundSync)
    }

    /// Writes and syncs everything buffered.
    pub fn sync_all(&self) -> Result<()> {
        self.sync_to(self.last_lsn())
    }

    /// Declares every record with lsn <= `lsn` persisted elsewhere: deletes
    /// the sealed segments all of whose records are <= `lsn`, oldest first,
    /// syncing the directory after each. Never deletes the active segment.
    ///
    /// A failed remove or directory sync poisons the WAL too: an undurable
    /// removal could come back after a crash and leave a hole in the
    /// segment numbers.
    ///
    /// The files are removed outside the writer lock, so commits go on
    /// meanwhile; concurrent `release_upto` calls run one at a time.
    pub fn release_upto(&self, lsn: u64) -> Result<()> {
        let _one_at_a_time = self.release.lock();
        self.check_poison()?;
        let (doomed, (vfs, dir)) = {
            let mut writer = self.writer.lock();
            let doomed = writer.segments.take_releasable(lsn);
            (doomed, writer.segments.location())
        };
        remove_segments(&*vfs, &dir, &doomed, &self.counters).map_err(|e| self.poison_with(&e))
    }

    /// The lsn of the last appended record (or the recovered one).
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn.load(Ordering::Acquire)
    }

    /// Every record with lsn <= this has been written to the OS.
    pub fn written_lsn(&self) -> u64 {
        self.written_lsn.load(Ordering::Acquire)
    }

    /// Every record with lsn <= this is durable.
    pub fn synced_lsn(&self) -> u64 {
        self.synced_lsn.load(Ordering::Acquire)
    }

    /// Bytes in live segment files (sealed and active), for the DB's
    /// "checkpoint when the WAL passes N bytes" trigger.
    pub fn live_bytes(&self) -> u64 {
        self.counters.live_bytes.load(Ordering::Relaxed)
    }

    /// Bytes written to segment files since open (`WalStats::bytes_written`),
    /// for the DB's "checkpoint when N bytes were logged since the last
    /// one" trigger.
    pub fn bytes_written(&self) -> u64 {
        self.counters.bytes_written.load(Ordering::Relaxed)
    }

    /// Bytes appended but not yet taken by a group write.
    pub fn buffered_bytes(&self) -> u64 {
        self.pending.lock().batch.size_bytes() as u64
    }

    /// The counters since open.
    pub fn stats(&self) -> WalStats {
        self.counters.snapshot()
    }

    /// Syncs everything and stops the background flusher. Later appends
    /// fail with `Error::Closed`; `sync_to` of appended lsns still succeeds.
    /// Idempotent. A poisoned WAL still closes but returns `Poisoned`.
    pub fn close(&self) -> Result<()> {
        self.pending.lock().closed = true;
        self.flusher.stop_and_join();
        self.sync_all()?;
        let trimmed = self.writer.lock().segments.trim();
        trimmed.map_err(|e| self.poison_with(&e))
    }

    fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn covered(&self, lsn: u64, durable: bool) -> bool {
        let done = if durable {
            self.synced_lsn()
        } else {
            self.written_lsn()
        };
        lsn <= done
    }

    /// `write_to`, `sync_to` or `sync_to_in_background`: wait for a running
    /// leader; if that did not cover `lsn`, lead a group.
    fn advance_to(&self, lsn: u64, group: Group) -> Result<()> {
        let durable = group.syncs();
        self.check_poison()?;
        if self.covered(lsn, durable) {
            return Ok(());
        }
        let last = self.last_lsn();
        if lsn > last {
            return Err(Error::InvalidArgument(format!(
                "WAL lsn {lsn} was not appended (last is {last})"
            )));
        }
        let mut leading = self.group.lock();
        if *leading && group == Group::Sync {
            drop(leading);
            if self.spin_while_led(lsn) {
                return Ok(());
            }
            leading = self.group.lock();
        }
        while *leading {
            self.group_done.wait(&mut leading);
            if self.covered(lsn, durable) {
                return Ok(());
            }
            self.check_poison()?;
        }
        *leading = true;
        self.led.store(true, Ordering::Release);
        drop(leading);
        let _done = LeaderGuard(self);
        self.lead(group)
    }

    /// A `Sync` follower's wait for the running leader, spinning (yielding
    /// the CPU) for up to one sync time instead of sleeping. Returns true
    /// once `lsn` is durable; false when the leader finished without
    /// covering it, the WAL is poisoned or the time is up (then the caller
    /// sleeps on `group_done` or leads).
    ///
    /// The committers of a group all wait on the same sync; woken one
    /// after another (the condition variable's requeue: each wakes the
    /// next as it releases the mutex), the last of them appended its next
    /// record tens of microseconds after the next leader had begun to
    /// gather. Spinning, they see the sync's end at once, as RocksDB's
    /// writers do (`enable_write_thread_adaptive_yield`).
    fn spin_while_led(&self, lsn: u64) -> bool {
        let budget = self.gather.spin_budget();
        let start = Instant::now();
        loop {
            if self.covered(lsn, true) {
                return true;
            }
            if !self.led.load(Ordering::Acquire)
                || self.poison.get().is_some()
                || start.elapsed() >= budget
            {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// One group: take every buffered record, write them, sync if asked.
    /// Any failure poisons the WAL.
    fn lead(&self, group: Group) -> Result<()> {
        self.check_poison()?;
        if group == Group::Sync {
            self.gather_followers();
        }
        let mut writer = self.writer.lock();
        let Writer { segments, spare } = &mut *writer;
        let mut batch = self.take_pending(spare);
        let records = batch.count() as u64;
        let started = Instant::now();
        let result = self.write_group(segments, &mut batch, group);
        if group == Group::Sync && records > 0 {
            self.gather.synced(records, started.elapsed());
        }
        recycle(spare, batch);
        self.written_lsn
            .store(segments.written_lsn(), Ordering::Release);
        self.synced_lsn
            .store(segments.synced_lsn(), Ordering::Release);
        result.map_err(|e| self.poison_with(&e))
    }

    fn write_group(
        &self,
        segments: &mut SegmentWriter,
        batch: &mut Batch,
        group: Group,
    ) -> Result<()> {
        if !batch.is_empty() {
            segments.write_batch(batch, group == Group::Sync)?;
        }
        if group.syncs() {
            segments.sync()?;
        } else if segments.synced_lsn() < segments.written_lsn() {
            self.flusher.control().mark_dirty();
        }
        Ok(())
    }

    /// Gives committers a bounded moment to append before a group sync
    /// (see [`Gather`]).
    fn gather_followers(&self) {
        let (want, budget) = self.gather.target();
        let start = Instant::now();
        while self.pending.lock().batch.count() < want && start.elapsed() < budget {
            std::thread::yield_now();
        }
    }

    /// Swaps the append buffer with the (empty) spare and returns the records.
    fn take_pending(&self, spare: &mut Batch) -> Batch {
        let mut taken = std::mem::take(spare);
        std::mem::swap(&mut taken, &mut self.pending.lock().batch);
        taken
    }

    fn poison_with(&self, cause: &Error) -> Error {
        let _ = self
            .poison
            .set(format!("WAL write or sync failed: {cause}"));
        let reason = self.poison.get().cloned().unwrap_or_default();
        Error::Poisoned { reason }
    }
}

/// Keeps the spare buffer unless it grew beyond the soft limit (bounding
/// idle memory).
/// What a group leader does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    /// Write the buffered records (`write_to`, Buffered commits).
    Write,
    /// Write and sync, a commit waiting (`sync_to`); may preallocate.
    Sync,
    /// Write and sync for background work (checkpoints, the flusher);
    /// never preallocates.
    BackgroundSync,
}

impl Group {
    /// Whether the group ends with a sync (it makes its records durable).
    fn syncs(self) -> bool {
        self != Group::Write
    }
}

fn recycle(spare: &mut Batch, mut used: Batch) {
    used.clear();
    if used.capacity_bytes() as u64 <= BUFFER_SOFT_LIMIT_BYTES {
        *spare = used;
    }
}

/// Ends a leader's turn, also on panic: clears the flag, wakes followers.
struct LeaderGuard<'a>(&'a Wal);

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        let mut leading = self.0.group.lock();
        *leading = false;
        self.0.led.store(false, Ordering::Release);
        drop(leading);
        self.0.group_done.notify_all();
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // No I/O here: what was not synced is lost as in a crash. Stop the
        // flusher and wait for it (unless it is the thread dropping the last
        // Arc), so that no thread of a dropped log outlives it: found by the
        // crash_recovery fuzz target, whose leak check saw the thread of a
        // dropped database still running.
        self.flusher.stop_and_join();
    }
}

/// Creates the WAL directory if missing, making its entry durable.
fn create_dir(vfs: &dyn Vfs, dir: &std::path::Path) -> Result<()> {
    if vfs.exists(dir)? {
        return Ok(());
    }
    vfs.create_dir_all(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => vfs.sync_dir(parent),
        _ => Ok(()),
    }
}
