//! `Batch`: records appended but not yet written, in one contiguous buffer.

use std::ops::Range;

use crate::format::{push_unsealed_record, seal_record};

/// Consecutive records `first_lsn..` encoded back to back, unsealed (their
/// crc and synced offset are filled in by the writer, which knows where each
/// record lands). One group write writes a slice of `bytes` in one call.
#[derive(Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// `ends[i]` is the offset one past record `i` in `bytes`.
    ends: Vec<usize>,
    first_lsn: u64,
}

impl std::fmt::Debug for Batch {
    /// Sizes only: a batch may hold megabytes of payload.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("first_lsn", &self.first_lsn)
            .field("records", &self.ends.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Batch {
    /// Adds a record; `lsn` must follow the last one.
    pub(crate) fn push(&mut self, lsn: u64, payload: &[u8]) {
        if self.ends.is_empty() {
            self.first_lsn = lsn;
        }
        debug_assert_eq!(lsn, self.first_lsn + self.ends.len() as u64);
        push_unsealed_record(&mut self.bytes, lsn, payload);
        self.ends.push(self.bytes.len());
    }

    /// Number of records.
    pub(crate) fn count(&self) -> usize {
        self.ends.len()
    }

    /// True if the batch holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Encoded size in bytes.
    pub(crate) fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Allocated capacity in bytes.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// The lsn of record `index`.
    pub(crate) fn lsn_of(&self, index: usize) -> u64 {
        self.first_lsn + index as u64
    }

    /// Byte offset where record `index` starts.
    pub(crate) fn start_of(&self, index: usize) -> usize {
        match index.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(self.bytes.len()),
            None => 0,
        }
    }

    /// The number of records, starting at `first`, to put in a segment that
    /// has `room_bytes` left: at least one, and stopping with the first record
    /// that fills the room.
    pub(crate) fn records_fitting(&self, first: usize, room_bytes: u64) -> usize {
        let start = self.start_of(first);
        let rest = self.ends.get(first..).unwrap_or(&[]);
        rest.iter()
            .position(|&end| (end - start) as u64 >= room_bytes)
            .map_or(rest.len(), |p| p + 1)
    }

    /// Seals records `records` for a segment synced up to `synced_offset`
    /// and returns their bytes, ready to write.
    pub(crate) fn seal(&mut self, records: Range<usize>, synced_offset: u64) -> &[u8] {
        let start = self.start_of(records.start);
        let end = self.start_of(records.end);
        for i in records {
            let range = self.start_of(i)..self.start_of(i + 1);
            if let Some(record) = self.bytes.get_mut(range) {
                seal_record(record, synced_offset);
            }
        }
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// Empties the batch, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{RECORD_HEADER_BYTES, decode_record};

    #[test]
    fn fitting_takes_at_least_one_and_stops_at_the_filler() {
        let mut b = Batch::default();
        for lsn in 10..15 {
            b.push(lsn, &[7u8; 8]); // 32 bytes each
        }
        let rec = RECORD_HEADER_BYTES as u64 + 8;
        assert_eq!(b.records_fitting(0, 0), 1);
        assert_eq!(b.records_fitting(0, rec), 1);
        assert_eq!(b.records_fitting(0, rec + 1), 2);
        assert_eq!(b.records_fitting(3, 1000), 2);
        assert_eq!(b.lsn_of(4), 14);
        let bytes = b.seal(1..3, 77).to_vec();
        let first = decode_record(&bytes, 0).unwrap();
        assert_eq!((first.lsn, first.synced_offset), (11, 77));
        assert_eq!(decode_record(&bytes, first.end).unwrap().lsn, 12);
        assert_eq!(first.end * 2, bytes.len());
    }
}
