//! The writes a layout change must catch up on. While a change copies its
//! partitions from a snapshot, commits go on into the old partitions; the
//! commit pipeline also records here every write routed to a partition
//! being replaced, with its sequence, so the change can re-apply them to
//! the new partitions before it switches (see `layout_change.rs`).

use tierdb_tier::Seq;

use crate::commit_record::PartitionWrite;

/// Writes to a set of partitions, by commit, in sequence order.
pub(crate) struct WriteCapture {
    partitions: Vec<u32>,
    commits: Vec<(Seq, Vec<PartitionWrite>)>,
}

impl WriteCapture {
    /// Captures writes to the partitions with these ids.
    pub fn new(partitions: Vec<u32>) -> Self {
        WriteCapture {
            partitions,
            commits: Vec::new(),
        }
    }

    /// Records the writes of commit `seq` that go to a captured partition.
    pub fn record(&mut self, seq: Seq, writes: &[PartitionWrite]) {
        let mine: Vec<PartitionWrite> = writes
            .iter()
            .filter(|w| self.partitions.contains(&w.partition))
            .cloned()
            .collect();
        if !mine.is_empty() {
            self.commits.push((seq, mine));
        }
    }

    /// Takes the commits captured so far, in sequence order; capturing
    /// goes on.
    pub fn take(&mut self) -> Vec<(Seq, Vec<PartitionWrite>)> {
        std::mem::take(&mut self.commits)
    }
}
