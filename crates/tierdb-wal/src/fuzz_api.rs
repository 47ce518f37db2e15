//! The WAL's decoders, exposed for the fuzz targets of `tierdb-fuzz` (not
//! an API: hidden from the docs, may change at any time). Thin wrappers
//! over `format` and `scan`, plus what a fuzzer needs to get past the
//! checksums: encoders and "re-seal" helpers.

use std::path::Path;

use tierdb_io::Result;

use crate::format::{
    RECORD_HEADER_BYTES, RecordHeader, SEGMENT_HEADER_BYTES, SegmentHeader, decode_record,
    push_unsealed_record, seal_record,
};
use crate::scan::{ScanContext, SegmentImage, SegmentScan};

/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = SEGMENT_HEADER_BYTES;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = RECORD_HEADER_BYTES;

/// Encodes a segment header.
pub fn encode_segment_header(number: u64, first_lsn: u64) -> Vec<u8> {
    SegmentHeader { number, first_lsn }.encode().to_vec()
}

/// Decodes a segment header into `(number, first_lsn)`.
pub fn decode_segment_header(bytes: &[u8]) -> Result<(u64, u64), String> {
    SegmentHeader::decode(bytes)
        .map(|h| (h.number, h.first_lsn))
        .map_err(|e| e.reason())
}

/// Recomputes the checksum of the segment header at the start of `bytes`.
pub fn reseal_segment_header(bytes: &mut [u8]) {
    if bytes.len() >= SEGMENT_HEADER_BYTES {
        let crc = crc32fast::hash(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    }
}

/// One sealed record.
pub fn encode_record(lsn: u64, synced_offset: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    push_unsealed_record(&mut out, lsn, payload);
    seal_record(&mut out, synced_offset);
    out
}

/// A decoded record: lsn, synced offset, payload, offset one past it.
pub type DecodedRecord<'a> = (u64, u64, &'a [u8], usize);

/// Decodes the record at `at` of a segment image.
pub fn decode_record_at(bytes: &[u8], at: usize) -> Result<DecodedRecord<'_>, &'static str> {
    decode_record(bytes, at).map(|r| (r.lsn, r.synced_offset, r.payload, r.end))
}

/// Recomputes the checksum of the record at `at` (as far as its length
/// field and the image allow). Returns the offset one past it, if it fits.
pub fn reseal_record_at(bytes: &mut [u8], at: usize) -> Option<usize> {
    let header = RecordHeader::parse(bytes, at)?;
    let end = header.end(at, bytes.len())?;
    let crc = crc32fast::hash(bytes.get(at + 4..end)?);
    bytes
        .get_mut(at..at + 4)?
        .copy_from_slice(&crc.to_le_bytes());
    Some(end)
}

/// How one segment scanned, as the recovery of `Wal::open` sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanSummary {
    /// Valid throughout: `(first_lsn, last_lsn, bytes)`.
    Complete(u64, u64, u64),
    /// A torn tail after `(first_lsn, last_lsn, bytes)`.
    TornTail(u64, u64, u64),
    /// A last segment whose creation a crash interrupted.
    Unborn,
    /// Damage at `offset`; the valid prefix `bytes`, if the header was valid.
    Bad {
        /// Where the damage starts.
        offset: u64,
        /// The reason.
        reason: String,
        /// Length of the valid prefix.
        valid_bytes: Option<u64>,
    },
}

/// Scans the image of segment `number` (the newest one if `is_last`),
/// replaying records above `replay_after` into `replay`.
pub fn scan_segment(
    number: u64,
    bytes: &[u8],
    is_last: bool,
    replay_after: u64,
    replay: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<ScanSummary> {
    let mut replay = |lsn: u64, payload: &bytes::Bytes| replay(lsn, payload);
    let mut ctx = ScanContext::new(replay_after, &mut replay);
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    let image = SegmentImage {
        number,
        path: Path::new("000001.log"),
        bytes: &bytes,
        is_last,
    };
    Ok(match ctx.scan(&image)? {
        SegmentScan::Complete(m) => ScanSummary::Complete(m.first_lsn, m.last_lsn, m.bytes),
        SegmentScan::TornTail(m) => ScanSummary::TornTail(m.first_lsn, m.last_lsn, m.bytes),
        SegmentScan::Unborn => ScanSummary::Unborn,
        SegmentScan::Bad {
            offset,
            reason,
            valid,
        } => ScanSummary::Bad {
            offset,
            reason,
            valid_bytes: valid.map(|m| m.bytes),
        },
    })
}
