//! The trait every tier implements, and the read view it hands out.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::{Seq, WriteOp};

/// The write-ahead hook a tier calls before it makes a persist durable:
/// returns once the WAL holds every record up to the sequence given
/// durably (see [`Tier::persist`]).
pub type WalDurableTo = Arc<dyn Fn(Seq) -> Result<()> + Send + Sync>;

/// A double-ended iterator over `(key, value)` pairs in key order.
pub type TierIter = Box<dyn DoubleEndedIterator<Item = Result<(Bytes, Bytes)>> + Send>;

/// An immutable view of a tier's contents as of one sequence number.
///
/// A view stays valid and unchanged for as long as it is held, whatever is
/// applied, persisted or compacted meanwhile (the tier keeps whatever the view
/// needs alive). Views are cheap to create and to clone.
pub trait ReadView: Send + Sync {
    /// The sequence number this view reflects (every write set applied with a
    /// sequence at or below it, none above).
    fn seq(&self) -> Seq;
    /// The value of `key`, if present.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>>;
    /// The entries with keys in `(lower, upper)`, in key order, both ways.
    fn range(&self, lower: Bound<Bytes>, upper: Bound<Bytes>) -> Result<TierIter>;
}

/// Figures a tier reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Live entries (as of the latest applied write set).
    pub entries: u64,
    /// Bytes of the tier's files on disk.
    pub disk_bytes: u64,
    /// Bytes written to the tier's files since open: the sum of
    /// `persist_bytes_written`, `compaction_bytes_written` and
    /// `metadata_bytes_written`.
    pub bytes_written: u64,
    /// Of `bytes_written`, data written by persists: B+tree node and value
    /// pages of checkpoints; LSM L0 tables of flushes.
    pub persist_bytes_written: u64,
    /// Of `bytes_written`, tables written by compactions, per output level
    /// (index = level; LSM only, empty for tiers without compaction).
    pub compaction_bytes_written: Vec<u64>,
    /// Of `bytes_written`, metadata: B+tree headers and free-list pages;
    /// LSM manifest log and `LSM-CURRENT`.
    pub metadata_bytes_written: u64,
    /// Bytes of `disk_bytes` per level (LSM, L0 first; empty for tiers
    /// without levels).
    pub level_disk_bytes: Vec<u64>,
    /// Tables per level (LSM, L0 first; empty for tiers without levels).
    pub level_tables: Vec<u64>,
    /// Bytes of applied state not yet persisted (held in memory).
    pub dirty_bytes: u64,
    /// Page/block reads that were served by the shared cache.
    pub cache_hits: u64,
    /// Page/block reads that went to disk.
    pub cache_misses: u64,
    /// Number of completed persists (checkpoints or flushes) since open.
    pub persists: u64,
    /// The sequence number of the last durable persist.
    pub persisted_seq: Seq,
    /// Background merges completed since open (LSM compactions; 0 for tiers
    /// without them).
    pub compactions: u64,
    /// Bytes over their targets, summed over levels: what compaction still
    /// has to do (0 for tiers without compaction).
    pub compaction_debt_bytes: u64,
    /// Times a write waited because background work fell behind.
    pub stalls: u64,
    /// Total time writes spent waiting or slowed down, in microseconds.
    pub stall_micros: u64,
    /// Background operations of the tier that failed since open.
    pub background_errors: u64,
    /// Point reads (`ReadView::get`) served by the tier's views since open.
    pub gets: u64,
    /// Blocks (LSM data blocks, and index partitions on their first read,
    /// after which they stay in memory) or pages (B+tree
    /// nodes and overflow values) those point reads fetched, each counted
    /// once per fetch whether the shared cache held it or the file was
    /// read. State held only in memory (memtables, B+tree nodes changed
    /// since the last checkpoint) costs no block.
    /// [`TierStats::read_amplification`] divides it by `gets`.
    pub get_blocks: u64,
    /// Table probes of point reads that a bloom filter answered "absent",
    /// saving the block read (0 for tiers without filters).
    pub bloom_useful: u64,
    /// Table probes a bloom filter let through ("may be present") that
    /// then found no version of the key visible to the read: the filter's
    /// false positives, and the block reads they cost.
    pub bloom_ineffective: u64,
    /// Estimated bytes the tier's live data would take on disk once all
    /// garbage is gone (how each tier estimates it is documented on its
    /// `stats`). [`TierStats::space_amplification`] divides `disk_bytes`
    /// by it.
    pub live_bytes: u64,
}

/// `num / den`, or `None` when `den` is 0.
#[allow(clippy::cast_precision_loss)]
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl TierStats {
    /// Read amplification: blocks or pages fetched per point read,
    /// `get_blocks / gets` (`None` before the first read).
    pub fn read_amplification(&self) -> Option<f64> {
        ratio(self.get_blocks, self.gets)
    }

    /// Space amplification: `disk_bytes / live_bytes` (`None` while the
    /// tier has no live bytes on disk).
    pub fn space_amplification(&self) -> Option<f64> {
        ratio(self.disk_bytes, self.live_bytes)
    }

    /// Observed bloom false-positive rate: `bloom_ineffective /
    /// (bloom_useful + bloom_ineffective)`, the share of probes for keys a
    /// table did not hold that the filter failed to stop (`None` before
    /// any such probe).
    pub fn bloom_false_positive_rate(&self) -> Option<f64> {
        ratio(
            self.bloom_ineffective,
            self.bloom_useful + self.bloom_ineffective,
        )
    }
}

/// How a partition's data is stored. Implemented by the B+tree and LSM tiers.
///
/// Concurrency contract: `apply` is never called concurrently with itself
/// (the layer above serialises commits); `read_view`, reads through views,
/// `persist` and `stats` may run concurrently with `apply` and each other.
pub trait Tier: Send + Sync {
    /// Applies a committed write set. `seq` is strictly greater than every
    /// sequence applied before. After it returns, `read_view` reflects it.
    fn apply(&self, seq: Seq, ops: &[WriteOp]) -> Result<()>;

    /// Applies write sets recovered from the WAL while the database opens
    /// (before any read view or persist), `(seq, ops)` in ascending `seq`:
    /// same contract and result as [`Tier::apply`] of each in turn, but a
    /// tier may apply a run of them at once (the LSM inserts a run into
    /// its memtable in key order) or hold them aside in a cheaper form
    /// (the B+tree keeps recovered writes in an in-memory overlay instead
    /// of reading and copying a leaf per write) until
    /// [`Tier::finish_recovery`], the next `apply` or the next `persist`.
    /// Tiers with nothing to gain keep this default.
    fn apply_recovered(&self, sets: &[(Seq, Vec<WriteOp>)]) -> Result<()> {
        sets.iter().try_for_each(|(seq, ops)| self.apply(*seq, ops))
    }

    /// Bytes of keys and values the replay should gather for this tier
    /// before a call to [`Tier::apply_recovered`] (0, the default: every
    /// write set at once, while its keys are still in cache).
    fn recovery_run_bytes(&self) -> usize {
        0
    }

    /// Merges whatever [`Tier::apply_recovered`] held aside into the tier's
    /// own structure (the background worker calls it after open). Reads
    /// give the same answers before and after.
    fn finish_recovery(&self) -> Result<()> {
        Ok(())
    }

    /// A view of everything applied so far.
    fn read_view(&self) -> Arc<dyn ReadView>;

    /// The highest sequence applied (or recovered), 0 if none.
    fn applied_seq(&self) -> Seq;

    /// Makes everything applied so far durable in the tier's own files and
    /// returns the sequence now persisted. After a crash the tier recovers at
    /// least this sequence. Runs concurrently with `apply` and reads without
    /// blocking them beyond short critical sections.
    ///
    /// Write-ahead rule: once the tier has fixed the sequence `s` it is going
    /// to persist, and before it makes that persist durable (writes its
    /// header, installs its table), it must call `wal_durable_to(s)`, which
    /// returns once the WAL holds every record up to `s` durably. Without it a
    /// crash could leave the tier ahead of the log, and a transaction spanning
    /// partitions could come back in one partition but not in another. An
    /// error from the callback aborts the persist (nothing is committed).
    fn persist(&self, wal_durable_to: &dyn Fn(Seq) -> Result<()>) -> Result<Seq>;

    /// Lets the tier persist on its own, on its background threads, from
    /// now on: an LSM tier flushes frozen memtables to L0 tables as they
    /// fill instead of waiting for the next [`Tier::persist`]. Every such
    /// persist follows the write-ahead rule through `wal_durable_to`, and
    /// advances [`Tier::persisted_seq`] only to a sequence whose every
    /// write set is in the tier's files. The layer above calls it once,
    /// after the WAL is replayed (the recovered records are then durable
    /// in the log); later calls are ignored. Tiers that only persist when
    /// asked keep this default, which does nothing.
    fn persist_in_background(&self, _wal_durable_to: WalDurableTo) {}

    /// The sequence of the last durable persist (or the one recovered on open).
    fn persisted_seq(&self) -> Seq;

    /// Figures about the tier.
    fn stats(&self) -> TierStats;

    /// [`TierStats::dirty_bytes`] alone, cheap enough for every commit to
    /// check (the database wakes its checkpointer and stalls writers on
    /// it). Tiers whose `stats` is costly override it.
    fn dirty_bytes(&self) -> u64 {
        self.stats().dirty_bytes
    }

    /// Does now whatever background maintenance would do later (an LSM
    /// tier compacts until no level is over its target), on the caller's
    /// thread. Applied but unpersisted state is not touched. Tiers with
    /// nothing to do keep this default.
    fn compact(&self) -> Result<()> {
        Ok(())
    }
}
