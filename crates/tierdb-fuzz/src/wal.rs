//! WAL targets: one record, and the scan of a whole segment as recovery
//! does it.

use tierdb::Error;
use tierdb_wal::fuzz_api::{
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, ScanSummary, decode_record_at, decode_segment_header,
    encode_record, encode_segment_header, reseal_record_at, reseal_segment_header, scan_segment,
};

use crate::Outcome;
use crate::input::{RESEAL, split_mode};

/// A WAL record at offset 0 of the input (mode bit 0: re-seal its crc).
/// A record that decodes re-encodes to exactly its bytes. Items: 1.
pub fn wal_record(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if mode & RESEAL != 0 {
        reseal_record_at(&mut bytes, 0);
    }
    match decode_record_at(&bytes, 0) {
        Ok((lsn, synced, payload, end)) => {
            assert_eq!(end, RECORD_HEADER_LEN + payload.len());
            assert_eq!(encode_record(lsn, synced, payload), bytes[..end]);
            Outcome::decoded(1)
        }
        Err(reason) => Outcome::refused(reason),
    }
}

/// A whole segment (number 1) as recovery scans it. Mode bit 0: re-seal
/// the header and every record in turn; bit 1: it is the last segment
/// (where a torn tail is legitimate); bits 2-3: replay records above lsn
/// 0, 1, 3 or `u64::MAX - 1`.
///
/// Checks: a valid scan covers the whole image, a torn tail or an unborn
/// segment only in the last one, damage inside the image; the records
/// replayed have consecutive lsns above `replay_after` and each decodes at
/// its offset to the same payload. A scan that ends cleanly (complete, a
/// torn tail, an unborn last segment) decodes the segment; items: the
/// records replayed.
pub fn wal_segment(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if mode & RESEAL != 0 {
        reseal_segment_header(&mut bytes);
        let mut at = SEGMENT_HEADER_LEN;
        while let Some(end) = reseal_record_at(&mut bytes, at) {
            at = end;
        }
    }
    let is_last = mode & 2 != 0;
    let replay_after = [0, 1, 3, u64::MAX - 1][usize::from((mode >> 2) & 3)];
    let mut replayed: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut replay = |lsn: u64, payload: &[u8]| {
        replayed.push((lsn, payload.to_vec()));
        Ok(())
    };
    let summary = match scan_segment(1, &bytes, is_last, replay_after, &mut replay) {
        Ok(summary) => summary,
        Err(e @ Error::UnsupportedVersion { .. }) => return Outcome::refused(e),
        Err(e) => panic!("segment scan failed with {e}"),
    };
    let len = bytes.len() as u64;
    let mut refused = None;
    let valid_end = match summary {
        ScanSummary::Complete(first, last, end) => {
            assert_eq!(end, len, "a complete scan covers the image");
            check_header(&bytes, first);
            assert!(last + 1 >= first);
            Some(end)
        }
        ScanSummary::TornTail(first, _, end) => {
            assert!(is_last, "torn tail outside the last segment");
            assert!(end < len);
            check_header(&bytes, first);
            Some(end)
        }
        ScanSummary::Unborn => {
            assert!(is_last, "unborn segment that is not the last");
            assert!(decode_segment_header(&bytes).is_err());
            None
        }
        ScanSummary::Bad {
            offset,
            valid_bytes,
            ..
        } => {
            assert!(offset <= len, "damage offset {offset} past the end");
            if let Some(valid) = valid_bytes {
                assert_eq!(valid, offset, "valid prefix ends where damage starts");
            }
            refused = Some(format!("damage at offset {offset}"));
            valid_bytes
        }
    };
    for pair in replayed.windows(2) {
        assert_eq!(pair[0].0 + 1, pair[1].0, "replayed lsns not consecutive");
    }
    assert!(replayed.iter().all(|(lsn, _)| *lsn > replay_after));
    if let Some(end) = valid_end {
        check_records(&bytes, end as usize, &replayed);
    }
    match refused {
        Some(reason) => Outcome::refused(reason),
        None => Outcome::decoded(replayed.len()),
    }
}

fn check_header(bytes: &[u8], first_lsn: u64) {
    let (number, first) = decode_segment_header(bytes).expect("valid header");
    assert_eq!((number, first), (1, first_lsn));
    assert_eq!(
        encode_segment_header(number, first),
        bytes[..SEGMENT_HEADER_LEN]
    );
}

/// The records in `[header, end)` decode one after another, ending exactly
/// at `end`, and those replayed are the last ones of them, unchanged.
fn check_records(bytes: &[u8], end: usize, replayed: &[(u64, Vec<u8>)]) {
    let mut at = SEGMENT_HEADER_LEN;
    let mut decoded = Vec::new();
    while at < end {
        let (lsn, _, payload, next) = decode_record_at(bytes, at).expect("valid record");
        decoded.push((lsn, payload.to_vec()));
        at = next;
    }
    assert_eq!(at, end, "records do not end at the valid length");
    let skipped = decoded
        .len()
        .checked_sub(replayed.len())
        .expect("replayed too many");
    assert_eq!(&decoded[skipped..], replayed);
}
