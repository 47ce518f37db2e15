//! The range-deletion block: the table's range tombstones, sorted by start
//! key, then sequence descending.
//!
//! ```text
//! | count varint64 | tombstone x count |
//! tombstone: | start_len varint32 | start | seq u64 | has_end u8 (0|1) | [end_len varint32 | end] |
//! ```

use bytes::Bytes;

use super::coding::{Decoder, Reason, put_varint32, put_varint64};
use super::writer::KEY_BYTES_MAX;
use crate::entry::RangeTombstone;

/// Sorts `tombstones` into block order.
pub(crate) fn sort(tombstones: &mut [RangeTombstone]) {
    tombstones.sort_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)));
}

/// The block contents for `tombstones` (already in block order).
pub(crate) fn encode(tombstones: &[RangeTombstone]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint64(&mut out, tombstones.len() as u64);
    for t in tombstones {
        put_key(&mut out, &t.start);
        out.extend_from_slice(&t.seq.to_le_bytes());
        match &t.end {
            None => out.push(0),
            Some(end) => {
                out.push(1);
                put_key(&mut out, end);
            }
        }
    }
    out
}

fn put_key(out: &mut Vec<u8>, key: &[u8]) {
    // Keys are limited to KEY_BYTES_MAX (64 MiB) by the writer.
    put_varint32(out, u32::try_from(key.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(key);
}

/// Decodes and checks the block contents: order, non-empty ranges, no
/// trailing bytes.
pub(crate) fn decode(contents: &[u8]) -> Result<Vec<RangeTombstone>, Reason> {
    let mut dec = Decoder::new(contents);
    let count = dec.varint64()?;
    // Each tombstone takes at least 10 bytes: bound the allocation.
    let cap = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(contents.len() / 10);
    let mut out: Vec<RangeTombstone> = Vec::with_capacity(cap);
    for _ in 0..count {
        let start = get_key(&mut dec)?;
        let seq = dec.u64()?;
        let end = match dec.u8()? {
            0 => None,
            1 => Some(get_key(&mut dec)?),
            _ => return Err("bad range tombstone end flag"),
        };
        if end.as_ref().is_some_and(|e| *e <= start) {
            return Err("empty range tombstone");
        }
        if let Some(prev) = out.last()
            && !(prev.start < start || (prev.start == start && prev.seq > seq))
        {
            return Err("range tombstones out of order");
        }
        out.push(RangeTombstone { start, end, seq });
    }
    if !dec.is_empty() {
        return Err("trailing bytes in range-deletion block");
    }
    Ok(out)
}

fn get_key(dec: &mut Decoder<'_>) -> Result<Bytes, Reason> {
    let len = dec.varint32()?;
    if len > KEY_BYTES_MAX {
        return Err("range tombstone key too long");
    }
    Ok(Bytes::copy_from_slice(dec.bytes(len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<RangeTombstone> {
        let mut list = vec![
            RangeTombstone {
                start: Bytes::from_static(b"a"),
                end: Some(Bytes::from_static(b"c")),
                seq: 4,
            },
            RangeTombstone {
                start: Bytes::from_static(b"a"),
                end: Some(Bytes::from_static(b"c")),
                seq: 9,
            },
            RangeTombstone {
                start: Bytes::from_static(b"x"),
                end: None,
                seq: 2,
            },
        ];
        sort(&mut list);
        list
    }

    #[test]
    fn round_trip_and_truncation() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "len {len}");
        }
        let mut unsorted = sample();
        unsorted.swap(0, 1);
        assert!(decode(&encode(&unsorted)).is_err());
    }
}
