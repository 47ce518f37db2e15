//! Scanning one segment during recovery: validate the header and every
//! record, hand records to the replay callback, and classify the first bad
//! bytes as a torn tail (a legitimate crash state) or as corruption.

use std::path::Path;

use bytes::Bytes;
use tierdb_io::{Error, Result};

use crate::format::{
    FORMAT_VERSION, HeaderError, MAX_LSN, RECORD_HEADER_BYTES, Record, RecordHeader,
    SEGMENT_HEADER_BYTES, SEGMENT_HEADER_LEN, SegmentHeader, decode_record,
};
use crate::segment::SegmentMeta;

/// The replay callback of `Wal::open`: each payload is a slice of its
/// segment's image (no copy).
pub(crate) type Replay<'r> = &'r mut dyn FnMut(u64, &Bytes) -> Result<()>;

/// State carried from segment to segment.
pub(crate) struct ScanContext<'r> {
    replay_after: u64,
    replay: Replay<'r>,
    /// The lsn the next record must have; `None` before the first segment.
    next_lsn: Option<u64>,
    /// Records handed to `replay`.
    pub replayed: u64,
}

/// How one segment scanned.
#[derive(Debug)]
pub(crate) enum SegmentScan {
    /// Every byte is valid.
    Complete(SegmentMeta),
    /// The last segment: valid up to `meta.bytes`, after which lies a torn
    /// (unsynced) tail to cut.
    TornTail(SegmentMeta),
    /// The last segment, whose creation a crash interrupted: no valid header
    /// and nothing in it was ever synced.
    Unborn,
    /// Bad bytes at `offset` that no crash explains.
    Bad {
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
        /// The valid prefix `[0, offset)`, if the header itself is valid.
        valid: Option<SegmentMeta>,
    },
}

/// One segment file read into memory.
pub(crate) struct SegmentImage<'a> {
    /// Number from the file name.
    pub number: u64,
    /// Path of the file.
    pub path: &'a Path,
    /// Its whole contents.
    pub bytes: &'a Bytes,
    /// True for the newest segment, the only one that may hold a torn tail.
    pub is_last: bool,
}

impl<'r> ScanContext<'r> {
    /// A context for a recovery replaying records above `replay_after`.
    pub(crate) fn new(replay_after: u64, replay: Replay<'r>) -> Self {
        ScanContext {
            replay_after,
            replay,
            next_lsn: None,
            replayed: 0,
        }
    }

    /// Scans one segment.
    pub(crate) fn scan(&mut self, seg: &SegmentImage<'_>) -> Result<SegmentScan> {
        match self.check_header(seg)? {
            Ok(header) => self.scan_records(seg, header),
            Err(scan) => Ok(scan),
        }
    }

    /// Takes a sealed segment whose records replay needs none of: the next
    /// segment starts at `next_first_lsn <= replay_after + 1`. `seg.bytes`
    /// holds its header at least; its records are neither read nor
    /// checksummed, and it is taken to end at `file_len` with lsn
    /// `next_first_lsn - 1`.
    pub(crate) fn skip(
        &mut self,
        seg: &SegmentImage<'_>,
        file_len: u64,
        next_first_lsn: u64,
    ) -> Result<SegmentScan> {
        let header = match self.check_header(seg)? {
            Ok(header) => header,
            Err(scan) => return Ok(scan),
        };
        if next_first_lsn < header.first_lsn {
            let reason = format!(
                "segment starts at lsn {} but the next one at {next_first_lsn}",
                header.first_lsn
            );
            return Ok(bad(0, reason, None));
        }
        self.next_lsn = Some(next_first_lsn);
        Ok(SegmentScan::Complete(SegmentMeta {
            number: seg.number,
            path: seg.path.to_path_buf(),
            first_lsn: header.first_lsn,
            last_lsn: next_first_lsn - 1,
            bytes: file_len,
        }))
    }

    /// The segment's header, checked against its name and the log so far;
    /// `Err` holds how the segment scans if the header is not right.
    fn check_header(
        &mut self,
        seg: &SegmentImage<'_>,
    ) -> Result<std::result::Result<SegmentHeader, SegmentScan>> {
        let header = match SegmentHeader::decode(seg.bytes) {
            Ok(header) => header,
            Err(HeaderError::Version(found)) => {
                return Err(Error::UnsupportedVersion {
                    file: seg.path.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Err(_) if seg.is_last && is_unborn(seg.bytes) => return Ok(Err(SegmentScan::Unborn)),
            Err(e) => return Ok(Err(bad(0, e.reason(), None))),
        };
        if header.number != seg.number {
            let reason = format!("segment header says number {}", header.number);
            return Ok(Err(bad(0, reason, None)));
        }
        if let Err(reason) = self.check_first_lsn(header.first_lsn) {
            return Ok(Err(bad(0, reason, None)));
        }
        Ok(Ok(header))
    }

    fn scan_records(
        &mut self,
        seg: &SegmentImage<'_>,
        header: SegmentHeader,
    ) -> Result<SegmentScan> {
        let mut meta = SegmentMeta {
            number: seg.number,
            path: seg.path.to_path_buf(),
            first_lsn: header.first_lsn,
            last_lsn: header.first_lsn - 1,
            bytes: SEGMENT_HEADER_LEN,
        };
        let mut at = SEGMENT_HEADER_BYTES;
        while at < seg.bytes.len() {
            let record = match decode_record(seg.bytes, at) {
                Ok(record) => record,
                Err(reason) => return Ok(self.classify_bad_record(seg, at, reason, meta)),
            };
            if let Err(reason) = self.check_record(&record, at) {
                return Ok(bad(at as u64, reason, Some(meta)));
            }
            self.deliver(seg, &record)?;
            meta.last_lsn = record.lsn;
            meta.bytes = record.end as u64;
            at = record.end;
        }
        Ok(SegmentScan::Complete(meta))
    }

    /// The header's first lsn must continue the log; gaps are allowed only
    /// where every missing lsn is `<= replay_after` (not needed for replay).
    fn check_first_lsn(&mut self, first_lsn: u64) -> Result<(), String> {
        if first_lsn == 0 {
            return Err("segment header has first lsn 0".into());
        }
        let needed = self.replay_after.saturating_add(1);
        match self.next_lsn {
            None if first_lsn > needed => {
                return Err(format!(
                    "log starts at lsn {first_lsn}; records {needed}..{first_lsn} needed for replay are missing"
                ));
            }
            Some(next) if first_lsn < next => {
                return Err(format!(
                    "segment starts at lsn {first_lsn} but the previous one ended at {}",
                    next - 1
                ));
            }
            Some(next) if first_lsn > next && first_lsn > needed => {
                return Err(format!(
                    "records {next}..{first_lsn} needed for replay are missing before this segment"
                ));
            }
            _ => {}
        }
        self.next_lsn = Some(first_lsn);
        Ok(())
    }

    fn check_record(&self, record: &Record<'_>, at: usize) -> Result<(), String> {
        let expected = self.next_lsn.unwrap_or(0);
        if record.lsn > MAX_LSN {
            return Err(format!("record lsn {} is out of range", record.lsn));
        }
        if record.lsn != expected {
            return Err(format!(
                "record has lsn {} where {expected} was expected",
                record.lsn
            ));
        }
        if record.synced_offset > at as u64 {
            return Err(format!(
                "record claims the segment was synced up to {}, beyond itself",
                record.synced_offset
            ));
        }
        Ok(())
    }

    fn deliver(&mut self, seg: &SegmentImage<'_>, record: &Record<'_>) -> Result<()> {
        if record.lsn > self.replay_after {
            (self.replay)(record.lsn, &seg.bytes.slice_ref(record.payload))?;
            self.replayed += 1;
        }
        self.next_lsn = Some(record.lsn + 1);
        Ok(())
    }

    /// A bad record at `at`: in the last segment it is a torn tail unless a
    /// later valid record proves that `at` had been synced.
    fn classify_bad_record(
        &self,
        seg: &SegmentImage<'_>,
        at: usize,
        reason: &str,
        meta: SegmentMeta,
    ) -> SegmentScan {
        if !seg.is_last {
            return bad(at as u64, reason.into(), Some(meta));
        }
        let next_lsn = self.next_lsn.unwrap_or(0);
        match find_record_synced_past(seg.bytes, at, next_lsn) {
            Some((later, synced)) => {
                let reason = format!(
                    "{reason}; the valid record at offset {later} was written after the segment was synced up to {synced}"
                );
                bad(at as u64, reason, Some(meta))
            }
            None => SegmentScan::TornTail(meta),
        }
    }
}

fn bad(offset: u64, reason: String, valid: Option<SegmentMeta>) -> SegmentScan {
    SegmentScan::Bad {
        offset,
        reason,
        valid,
    }
}

/// A last segment whose header is invalid and that holds nothing else: a
/// crash hit between its creation and the sync of its header.
fn is_unborn(bytes: &[u8]) -> bool {
    bytes.len() <= SEGMENT_HEADER_BYTES || bytes.iter().all(|&b| b == 0)
}

/// Searches `bytes` after a bad record at `bad_at` for a valid record that
/// claims the segment was synced beyond `bad_at`: proof that the bad bytes
/// were durable, hence corrupt rather than torn. Returns its offset and
/// synced offset. Cheap header checks come before the checksum: the synced
/// offset must lie in `(bad_at, y]` and the lsn within what fits between.
/// Bounded by the end of the segment.
///
/// Runs of zeros are skipped at memchr speed: a candidate's synced offset
/// is above `bad_at`, so not zero, and the 8 bytes holding it are not all
/// zeros. After a kill the last segment usually ends in the zeros of its
/// preallocation (up to 1 MiB), which a header check at every offset
/// walked byte by byte (~24 M instructions, a quarter of the open that
/// replayed 17 MiB).
pub(crate) fn find_record_synced_past(
    bytes: &[u8],
    bad_at: usize,
    next_lsn: u64,
) -> Option<(usize, u64)> {
    /// Where a record header holds its synced offset.
    const SYNCED_AT: usize = 16;
    let last_start = bytes.len().checked_sub(RECORD_HEADER_BYTES)?;
    let mut y = bad_at + 1;
    while y <= last_start {
        // The first non-zero byte at or after `y`'s synced offset field;
        // no start before `nonzero - 23` has one in that field.
        let nonzero = y + SYNCED_AT + bytes[y + SYNCED_AT..].iter().position(|&b| b != 0)?;
        y = y.max(nonzero + 1 - RECORD_HEADER_BYTES);
        if y > last_start {
            return None;
        }
        if let Some(found) = synced_past_at(bytes, bad_at, next_lsn, y) {
            return Some(found);
        }
        y += 1;
    }
    None
}

/// `find_record_synced_past`'s check of the record that would start at `y`.
fn synced_past_at(bytes: &[u8], bad_at: usize, next_lsn: u64, y: usize) -> Option<(usize, u64)> {
    let h = RecordHeader::parse(bytes, y)?;
    let synced_ok = h.synced_offset > bad_at as u64 && h.synced_offset <= y as u64;
    let max_lsn = next_lsn.saturating_add(((y - bad_at) / RECORD_HEADER_BYTES) as u64);
    let lsn_ok = h.lsn >= next_lsn && h.lsn <= max_lsn;
    if !synced_ok || !lsn_ok {
        return None;
    }
    let record = decode_record(bytes, y).ok()?;
    Some((y, record.synced_offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{SEGMENT_HEADER_BYTES, push_unsealed_record};
    use proptest::prelude::*;

    /// The search checking every offset, as it was before zeros were skipped.
    fn every_offset(bytes: &[u8], bad_at: usize, next_lsn: u64) -> Option<(usize, u64)> {
        let last_start = bytes.len().checked_sub(RECORD_HEADER_BYTES)?;
        (bad_at + 1..=last_start).find_map(|y| synced_past_at(bytes, bad_at, next_lsn, y))
    }

    /// A record synced past the bad one, behind 1 MiB of zeros, is found.
    #[test]
    fn a_record_behind_zeros_is_found() {
        let mut bytes = vec![0u8; SEGMENT_HEADER_BYTES + 100 + (1 << 20)];
        let at = bytes.len();
        push_unsealed_record(&mut bytes, 2, b"late");
        bytes[at + 16..at + 24].copy_from_slice(&(at as u64).to_le_bytes());
        let crc = crc32fast::hash(&bytes[at + 4..]);
        bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        let bad_at = SEGMENT_HEADER_BYTES + 50;
        assert_eq!(
            find_record_synced_past(&bytes, bad_at, 2),
            Some((at, at as u64))
        );
        assert_eq!(find_record_synced_past(&bytes[..at], bad_at, 2), None);
    }

    proptest! {
        /// Skipping zeros finds what checking every offset finds, on
        /// images of zeros, noise and sealed records claiming synced
        /// offsets on either side of the bad record.
        #[test]
        fn skipping_zeros_changes_nothing(
            pieces in prop::collection::vec((0u8..3, 0usize..80, 1u64..6, 0usize..200), 1..8),
            bad_at in SEGMENT_HEADER_BYTES..200,
            next_lsn in 1u64..4,
        ) {
            let mut bytes = vec![0u8; SEGMENT_HEADER_BYTES];
            for (kind, len, lsn, synced) in pieces {
                match kind {
                    0 => bytes.resize(bytes.len() + len, 0),
                    1 => bytes.extend((0..len).map(|i| (i * 37 + len) as u8)),
                    _ => {
                        let at = bytes.len();
                        push_unsealed_record(&mut bytes, lsn, &vec![7u8; len % 9]);
                        bytes[at + 16..at + 24].copy_from_slice(&(synced as u64).to_le_bytes());
                        let crc = crc32fast::hash(&bytes[at + 4..]);
                        bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
                    }
                }
            }
            prop_assert_eq!(
                find_record_synced_past(&bytes, bad_at, next_lsn),
                every_offset(&bytes, bad_at, next_lsn)
            );
        }
    }
}
