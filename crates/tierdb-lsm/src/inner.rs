//! `Inner`: the tier's shared state, owned by `LsmTier` and reached (through
//! a `Weak`) by the background compactor.
//!
//! Locks, each held briefly unless said otherwise, always taken in this
//! order:
//! - `compacting`: held by one compaction from pick to install (the
//!   background thread, `compact_all`, or `persist` without a background
//!   thread), for as long as the merge runs. Nothing else takes it.
//! - `durable`: the install lock. A flush holds it while writing its L0
//!   table; a compaction only while picking (marking its inputs, which
//!   flushes then leave alone) and installing (one manifest install).
//! - `progress` (see `stall.rs`): writers waiting in a stall.
//! - `writer`: serialises `apply` against a persist freezing the active
//!   memtable, so a frozen memtable never receives a half-applied write set.
//! - `state`: the published memtables, version and applied sequence.
//!   `read_view` clones them under it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tierdb_io::{Error, Result};
use tierdb_tier::{Progress, Seq, WalDurableTo, WriteOp};

use crate::background::Wakeup;
use crate::entry::{EntryKind, RangeTombstone, internal_cmp};
use crate::manifest_writer::ManifestWriter;
use crate::memtable::{Memtable, head_of, point_charge};
use crate::options::LsmOptions;
use crate::rate_limiter::RateLimiter;
use crate::sorted_run::RunBuilder;
use crate::stats::ReadCounters;
use crate::table::TableEnv;
use crate::user_iter::Sources;
use crate::version::Version;
use crate::view::LsmView;

/// What readers see: memtables, tables and the applied sequence.
pub(crate) struct Current {
    pub(crate) applied_seq: Seq,
    pub(crate) active: Arc<Memtable>,
    /// Full or flush-taken memtables, oldest first.
    pub(crate) frozen: Vec<Arc<Memtable>>,
    pub(crate) version: Arc<Version>,
}

impl Current {
    /// Bytes of the active and frozen memtables.
    pub(crate) fn memtable_bytes(&self) -> u64 {
        let frozen: u64 = self.frozen.iter().map(|m| m.bytes()).sum();
        frozen + self.active.bytes()
    }
}

/// The durable state, guarded by the install mutex.
pub(crate) struct Durable {
    pub(crate) persisted_seq: Seq,
    pub(crate) poisoned: Option<String>,
    /// Appends each install to the manifest log.
    pub(crate) manifest: ManifestWriter,
    /// Numbers of the tables the running compaction merges (set when it
    /// picks, under this lock, and cleared when it ends): a flush never
    /// merges them into its L0 table (`flush.rs`).
    pub(crate) compacting: Vec<u64>,
}

/// Counters since open.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) bytes_applied: AtomicU64,
    pub(crate) table_bytes_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) manifest_bytes_written: AtomicU64,
    pub(crate) persists: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_bytes_read: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    /// Table bytes written by flushes (into L0).
    pub(crate) flush_bytes_written: AtomicU64,
    /// Table bytes written by compactions, per output level.
    pub(crate) level_bytes_written: [AtomicU64; crate::version::LEVELS],
    pub(crate) background_errors: AtomicU64,
    pub(crate) stall_count: AtomicU64,
    pub(crate) stall_micros: AtomicU64,
    pub(crate) stall_timeouts: AtomicU64,
    pub(crate) slowdown_count: AtomicU64,
    pub(crate) slowdown_micros: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The state shared by the tier and its compactor.
pub(crate) struct Inner {
    pub(crate) env: TableEnv,
    pub(crate) opts: LsmOptions,
    pub(crate) compacting: Mutex<()>,
    pub(crate) durable: Mutex<Durable>,
    pub(crate) writer: Mutex<()>,
    pub(crate) state: Mutex<Current>,
    pub(crate) counters: Counters,
    pub(crate) persisted_seq: AtomicU64,
    /// The next unused table number (flushes and compactions take from it
    /// without the install lock).
    pub(crate) next_table: AtomicU64,
    /// Compaction output limit, if configured.
    pub(crate) limiter: Option<RateLimiter>,
    /// Set when the tier is dropped: a rate-limited merge gives up.
    pub(crate) cancel: AtomicBool,
    /// Wakes the background compactor.
    pub(crate) wakeup: Arc<Wakeup>,
    /// Wakes the background flusher.
    pub(crate) flush_wakeup: Arc<Wakeup>,
    /// The write-ahead hook of background flushes, once the layer above
    /// has handed it over (`Tier::persist_in_background`); until then
    /// frozen memtables wait for `persist`.
    pub(crate) wal_durable_to: OnceLock<WalDurableTo>,
    /// Set when a background flush failed: writers stop waiting for the
    /// flusher (frozen memtables then wait for `persist`, which reports
    /// the failure).
    pub(crate) flusher_failed: AtomicBool,
    /// Unlisted tables found at open, removed by the compaction thread's
    /// first round (`recover.rs`).
    pub(crate) garbage_tables: Mutex<Vec<u64>>,
    /// Signalled after every install (stalled writers wait on it).
    pub(crate) progress: Progress,
    /// Point-read counters, shared with every view.
    pub(crate) reads: Arc<ReadCounters>,
}

impl Inner {
    /// Inserts a write set into the active memtable (after any throttling).
    pub(crate) fn apply_ops(&self, seq: Seq, ops: &[WriteOp]) -> Result<()> {
        self.throttle();
        let _writer = self.writer.lock();
        let (active, applied) = {
            let state = self.state.lock();
            (Arc::clone(&state.active), state.applied_seq)
        };
        if seq <= applied {
            return Err(Error::InvalidArgument(format!(
                "apply at sequence {seq}, already applied {applied}"
            )));
        }
        let mut points = Vec::new();
        let mut ranges = Vec::new();
        let bytes = split_write_set(seq, ops, &mut points, &mut ranges);
        for range in ranges {
            active.insert_range_tombstone(range);
        }
        // In key order: each skiplist search then walks the nodes the
        // previous insert just loaded instead of missing the cache at
        // every level (`sort_in_key_order`).
        sort_in_key_order(&mut points);
        for point in points {
            point.insert_into(&active)?;
        }
        bump(&self.counters.bytes_applied, bytes);
        self.publish_applied(&active, seq);
        Ok(())
    }

    /// Publishes `seq` as applied, after its write sets went into
    /// `active`; freezes `active` once it is full.
    pub(crate) fn publish_applied(&self, active: &Memtable, seq: Seq) {
        let mut state = self.state.lock();
        state.applied_seq = seq;
        if active.bytes() >= self.opts.memtable_bytes as u64 {
            freeze_active(&mut state, self.opts.memtable_bytes);
            drop(state);
            self.flush_wakeup.wake();
        }
    }

    /// True when frozen memtables are flushed by the background flusher
    /// (a thread runs, and the write-ahead hook was handed over).
    pub(crate) fn flushes_in_background(&self) -> bool {
        self.opts.background_compaction
            && self.wal_durable_to.get().is_some()
            && !self.flusher_failed.load(Ordering::Acquire)
    }

    /// A view of everything applied so far.
    pub(crate) fn view(&self) -> LsmView {
        let state = self.state.lock();
        let mut memtables = Vec::with_capacity(state.frozen.len() + 1);
        memtables.push(Arc::clone(&state.active));
        memtables.extend(state.frozen.iter().rev().cloned());
        LsmView {
            seq: state.applied_seq,
            sources: Sources {
                memtables: Arc::new(memtables),
                version: Arc::clone(&state.version),
            },
            reads: Arc::clone(&self.reads),
        }
    }
}

/// The value of a tombstone.
static NO_VALUE: bytes::Bytes = bytes::Bytes::new();

/// One point write of a write set, on its way into a memtable.
pub(crate) struct PointWrite<'a> {
    /// The key's first 16 bytes as the memtable compares them first.
    head: [u64; 2],
    pub(crate) key: &'a bytes::Bytes,
    pub(crate) seq: Seq,
    kind: EntryKind,
    value: &'a bytes::Bytes,
}

impl PointWrite<'_> {
    /// Copies the write into `memtable` (its arena).
    pub(crate) fn insert_into(self, memtable: &Memtable) -> Result<()> {
        memtable.insert(self.key, self.seq, self.kind, self.value)
    }

    /// Adds the write to a sorted run on its way (no copy).
    pub(crate) fn add_to(self, run: &mut RunBuilder) {
        run.push(self.key, self.seq, self.kind, self.value);
    }

    /// What the write is charged in a memtable.
    pub(crate) fn charge(&self) -> u64 {
        point_charge(self.key, self.value)
    }
}

/// Sorts `points` into internal-key order (key ascending, then sequence
/// descending), stably: of two writes of one key in one set, the later is
/// inserted last and replaces the first, as inserting them in arrival
/// order would. Key heads are compared first, so most comparisons need
/// no `memcmp`.
pub(crate) fn sort_in_key_order(points: &mut [PointWrite<'_>]) {
    points.sort_by(|a, b| {
        a.head
            .cmp(&b.head)
            .then_with(|| internal_cmp(a.key, a.seq, b.key, b.seq))
    });
}

/// Puts the range deletes of write set `seq` into `ranges` and its point
/// writes (those no later range delete of the set removes) into `points`.
/// Returns the bytes of keys and values applied.
pub(crate) fn split_write_set<'a>(
    seq: Seq,
    ops: &'a [WriteOp],
    points: &mut Vec<PointWrite<'a>>,
    ranges: &mut Vec<RangeTombstone>,
) -> u64 {
    let mut bytes = 0u64;
    for op in superseded_removed(ops) {
        bytes += op.data_bytes() as u64;
        let (kind, value) = match op {
            WriteOp::Put { value, .. } => (EntryKind::Put, value),
            WriteOp::Delete { .. } => (EntryKind::Delete, &NO_VALUE),
            WriteOp::DeleteRange { start, end } => {
                ranges.push(RangeTombstone {
                    start: start.clone(),
                    end: end.clone(),
                    seq,
                });
                continue;
            }
        };
        points.push(PointWrite {
            head: head_of(op.key()),
            key: op.key(),
            seq,
            kind,
            value,
        });
    }
    bytes
}

/// The ops of a write set without the point writes a later range delete
/// of the same set removes. Everything in a set shares one sequence, and a
/// range tombstone only hides versions *below* its sequence, so what the
/// set wrote earlier in the range must not be inserted at all.
fn superseded_removed(ops: &[WriteOp]) -> impl Iterator<Item = &WriteOp> {
    let ranges: Vec<(usize, &WriteOp)> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, WriteOp::DeleteRange { .. }))
        .collect();
    ops.iter().enumerate().filter_map(move |(i, op)| {
        let removed = !matches!(op, WriteOp::DeleteRange { .. })
            && ranges.iter().any(|(j, r)| {
                *j > i
                    && matches!(r, WriteOp::DeleteRange { start, end }
                        if tierdb_tier::range_contains(start, end.as_deref(), op.key()))
            });
        (!removed).then_some(op)
    })
}

/// Moves the active memtable (if it holds anything) to the frozen list,
/// sealed at the applied sequence; the new active memtable is sized for
/// `memtable_bytes`.
pub(crate) fn freeze_active(state: &mut Current, memtable_bytes: usize) {
    if !state.active.is_empty() {
        let fresh = Arc::new(Memtable::new(memtable_bytes));
        let full = std::mem::replace(&mut state.active, fresh);
        full.seal(state.applied_seq);
        state.frozen.push(full);
    }
}
