//! The bytes on disk: segment header and record layout (`docs/format/wal.md`).
//!
//! Everything here is pure: encode into buffers, decode from slices with
//! checked indexing. A decoder never panics on bad bytes; it says what is wrong.

/// Magic bytes at offset 0 of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"TIERWAL\0";
/// The segment format this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Size of the segment header: magic 8 · version 4 · segment number 8 ·
/// first lsn 8 · crc32 4.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 32;
/// Size of a record header: crc32 4 · payload length 4 · lsn 8 · synced offset 8.
pub(crate) const RECORD_HEADER_BYTES: usize = 24;
/// The largest payload one record may carry (1 GiB).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 30;
/// The largest lsn a record may have, so that `lsn + 1` (the next record,
/// the next segment's first lsn) never overflows.
pub const MAX_LSN: u64 = u64::MAX - 1;
/// The largest segment number recognised in a file name (12 digits).
pub(crate) const MAX_SEGMENT_NUMBER: u64 = 999_999_999_999;

/// [`SEGMENT_HEADER_BYTES`] as a file offset.
pub(crate) const SEGMENT_HEADER_LEN: u64 = SEGMENT_HEADER_BYTES as u64;

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// The number in the file name (`000042.log` is 42).
    pub number: u64,
    /// The lsn the first record of this segment has (or would have).
    pub first_lsn: u64,
}

/// Why a segment header did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_BYTES`] bytes.
    Short,
    /// The header checksum does not match.
    Checksum,
    /// The checksum matches but the magic is not ours.
    Magic,
    /// A valid header of another format version.
    Version(u32),
}

impl HeaderError {
    /// A human-readable reason for `Error::Corruption`.
    pub(crate) fn reason(self) -> String {
        match self {
            HeaderError::Short => "segment header is truncated".into(),
            HeaderError::Checksum => "segment header checksum mismatch".into(),
            HeaderError::Magic => "not a tierdb WAL segment (bad magic)".into(),
            HeaderError::Version(v) => format!("unsupported WAL format version {v}"),
        }
    }
}

impl SegmentHeader {
    /// The header's 32 bytes.
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&self.number.to_le_bytes());
        out[20..28].copy_from_slice(&self.first_lsn.to_le_bytes());
        let crc = crc32fast::hash(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(Self::decode(&out), Ok(*self));
        out
    }

    /// Decodes the header at the start of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        let head = bytes
            .get(..SEGMENT_HEADER_BYTES)
            .ok_or(HeaderError::Short)?;
        let crc = u32_at(head, 28).ok_or(HeaderError::Short)?;
        if crc32fast::hash(&head[..28]) != crc {
            return Err(HeaderError::Checksum);
        }
        if head.get(0..8) != Some(&SEGMENT_MAGIC[..]) {
            return Err(HeaderError::Magic);
        }
        let version = u32_at(head, 8).ok_or(HeaderError::Short)?;
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        Ok(SegmentHeader {
            number: u64_at(head, 12).ok_or(HeaderError::Short)?,
            first_lsn: u64_at(head, 20).ok_or(HeaderError::Short)?,
        })
    }
}

/// The fixed-size part of a record, decoded but not yet checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// crc32 over the record bytes after this field.
    pub crc: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// The record's log sequence number.
    pub lsn: u64,
    /// Segment offset known fsynced when the record was written.
    pub synced_offset: u64,
}

impl RecordHeader {
    /// Reads the header at `at`; `None` if fewer than 24 bytes remain.
    pub(crate) fn parse(bytes: &[u8], at: usize) -> Option<RecordHeader> {
        Some(RecordHeader {
            crc: u32_at(bytes, at)?,
            len: u32_at(bytes, at.checked_add(4)?)?,
            lsn: u64_at(bytes, at.checked_add(8)?)?,
            synced_offset: u64_at(bytes, at.checked_add(16)?)?,
        })
    }

    /// Offset one past the record that starts at `at`, if it fits in `file_len`.
    pub(crate) fn end(&self, at: usize, file_len: usize) -> Option<usize> {
        let len = usize::try_from(self.len).ok()?;
        if len > MAX_PAYLOAD_BYTES {
            return None;
        }
        let end = at.checked_add(RECORD_HEADER_BYTES)?.checked_add(len)?;
        (end <= file_len).then_some(end)
    }
}

/// A record that passed its checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// The record's lsn.
    pub lsn: u64,
    /// Segment offset known fsynced when it was written.
    pub synced_offset: u64,
    /// The opaque payload.
    pub payload: &'a [u8],
    /// Offset one past the record.
    pub end: usize,
}

/// Decodes and checks the record at `at` of a segment image `bytes`.
/// `Err` says why the bytes there are not a valid record.
pub(crate) fn decode_record(bytes: &[u8], at: usize) -> Result<Record<'_>, &'static str> {
    let header = RecordHeader::parse(bytes, at).ok_or("truncated record header")?;
    let end = header
        .end(at, bytes.len())
        .ok_or("record length runs past the end of the segment")?;
    let body = bytes.get(at + 4..end).ok_or("truncated record")?;
    if crc32fast::hash(body) != header.crc {
        return Err("record checksum mismatch");
    }
    let payload = bytes
        .get(at + RECORD_HEADER_BYTES..end)
        .ok_or("truncated record")?;
    Ok(Record {
        lsn: header.lsn,
        synced_offset: header.synced_offset,
        payload,
        end,
    })
}

/// Appends an unsealed record (crc and synced offset zero) to `out`. The
/// writer seals it with [`seal_record`] once it knows where it goes.
pub(crate) fn push_unsealed_record(out: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Fills in the synced offset and the checksum of the one record in `record`.
pub(crate) fn seal_record(record: &mut [u8], synced_offset: u64) {
    debug_assert!(record.len() >= RECORD_HEADER_BYTES);
    if let Some(field) = record.get_mut(16..24) {
        field.copy_from_slice(&synced_offset.to_le_bytes());
    }
    let crc = record.get(4..).map(crc32fast::hash).unwrap_or(0);
    if let Some(field) = record.get_mut(0..4) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
    debug_assert!(decode_record(record, 0).is_ok());
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(raw.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = SegmentHeader {
            number: 7,
            first_lsn: 99,
        };
        let mut bytes = h.encode().to_vec();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert_eq!(SegmentHeader::decode(&bytes[..31]), Err(HeaderError::Short));
        bytes[13] ^= 1;
        assert_eq!(SegmentHeader::decode(&bytes), Err(HeaderError::Checksum));
        assert_eq!(
            SegmentHeader::decode(&[0u8; 32]),
            Err(HeaderError::Checksum)
        );
    }

    /// The worked example of docs/format/wal.md, byte for byte: the format
    /// page and the code must not drift apart.
    #[test]
    fn worked_example_of_the_format_page() {
        let header = SegmentHeader {
            number: 1,
            first_lsn: 1,
        };
        let mut segment = header.encode().to_vec();
        push_unsealed_record(&mut segment, 1, b"hello");
        seal_record(&mut segment[32..], 32);
        push_unsealed_record(&mut segment, 2, b"world!");
        seal_record(&mut segment[61..], 61);
        let hex: Vec<String> = segment.iter().map(|b| format!("{b:02x}")).collect();
        let expected = "54 49 45 52 57 41 4c 00 01 00 00 00 01 00 00 00 00 00 00 00 \
                        01 00 00 00 00 00 00 00 e6 c3 3a 5a \
                        8a 4d 6f 6b 05 00 00 00 01 00 00 00 00 00 00 00 \
                        20 00 00 00 00 00 00 00 68 65 6c 6c 6f \
                        a7 a7 08 62 06 00 00 00 02 00 00 00 00 00 00 00 \
                        3d 00 00 00 00 00 00 00 77 6f 72 6c 64 21";
        let expected: Vec<&str> = expected.split_whitespace().collect();
        assert_eq!(hex, expected);
        assert_eq!(decode_record(&segment, 61).unwrap().payload, b"world!");
    }

    #[test]
    fn record_round_trip_and_every_bit_flip_detected() {
        let mut buf = Vec::new();
        push_unsealed_record(&mut buf, 5, b"hello");
        seal_record(&mut buf, 32);
        let rec = decode_record(&buf, 0).unwrap();
        assert_eq!(
            (rec.lsn, rec.synced_offset, rec.payload),
            (5, 32, &b"hello"[..])
        );
        assert_eq!(rec.end, buf.len());
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&bad, 0).is_err(), "bit {bit} flip undetected");
        }
        for cut in 0..buf.len() {
            assert!(decode_record(&buf[..cut], 0).is_err(), "cut at {cut}");
        }
        assert!(decode_record(&[0u8; 64], 0).is_err());
    }
}
