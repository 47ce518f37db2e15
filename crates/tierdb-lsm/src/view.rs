//! `LsmView`: a read view as of one sequence number.
//!
//! A view is its sequence plus the memtables (newest first) and the
//! `Version` current when it was made. Holding them keeps them alive: a
//! flush drops its memtables from the tier, a compaction marks its input
//! tables obsolete, but neither memtable nor file goes while a view (or an
//! iterator made from one) can still reach it. This is also why flush and
//! compaction need no registry of live views (see `retain.rs`).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;
use tierdb_tier::{ReadView, Seq, TierIter};

use crate::entry::EntryKind;
use crate::sstable::GetCost;
use crate::sstable::bloom::key_hash;
use crate::stats::ReadCounters;
use crate::user_iter::{Sources, UserIter};

/// A read view of the LSM tier.
#[derive(Debug)]
pub(crate) struct LsmView {
    pub(crate) seq: Seq,
    pub(crate) sources: Sources,
    /// The tier's point-read counters.
    pub(crate) reads: Arc<ReadCounters>,
}

impl ReadView for LsmView {
    fn seq(&self) -> Seq {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let mut cost = GetCost::default();
        // One hash for every memtable's and table's filter.
        let hash = key_hash(key);
        let found = match self
            .sources
            .memtables
            .iter()
            .find_map(|m| m.get(key, hash, self.seq))
        {
            Some(entry) => Some(entry),
            None => self.sources.version.get(key, hash, self.seq, &mut cost)?,
        };
        self.reads.count_get(&cost);
        Ok(found.and_then(|e| (e.kind == EntryKind::Put).then_some(e.value)))
    }

    fn range(&self, lower: Bound<Bytes>, upper: Bound<Bytes>) -> Result<TierIter> {
        Ok(Box::new(UserIter::new(
            self.seq,
            self.sources.clone(),
            lower,
            upper,
        )))
    }
}
