//! The payload of a commit's WAL record: the whole write set, so that one
//! record makes a multi-partition commit atomic. Format:
//! docs/format/commit-record.md.

use std::path::Path;

use bytes::Bytes;
use tierdb_tier::WriteOp;

use crate::{Error, Result};

/// Payload type tag of a commit record.
const COMMIT_RECORD_TYPE: u8 = 1;
/// Version of the commit payload layout this build writes. Version 1 (no
/// range deletes) is still read.
const COMMIT_RECORD_VERSION: u8 = 2;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
/// Version 2 and later.
const OP_DELETE_RANGE: u8 = 3;

/// One write of a commit, with the partition it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionWrite {
    pub partition: u32,
    pub op: WriteOp,
}

/// Encodes a write set.
pub(crate) fn encode(writes: &[PartitionWrite]) -> Vec<u8> {
    let bytes: usize = writes
        .iter()
        .map(|w| 18 + w.op.key().len() + value_len(&w.op))
        .sum();
    let mut out = Vec::with_capacity(6 + bytes);
    out.push(COMMIT_RECORD_TYPE);
    out.push(COMMIT_RECORD_VERSION);
    out.extend_from_slice(&(writes.len() as u32).to_le_bytes());
    for w in writes {
        match &w.op {
            WriteOp::Put { key, value } => {
                out.push(OP_PUT);
                out.extend_from_slice(&w.partition.to_le_bytes());
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
            WriteOp::Delete { key } => {
                out.push(OP_DELETE);
                out.extend_from_slice(&w.partition.to_le_bytes());
                put_bytes(&mut out, key);
            }
            WriteOp::DeleteRange { start, end } => {
                out.push(OP_DELETE_RANGE);
                out.extend_from_slice(&w.partition.to_le_bytes());
                put_bytes(&mut out, start);
                match end {
                    None => out.push(0),
                    Some(end) => {
                        out.push(1);
                        put_bytes(&mut out, end);
                    }
                }
            }
        }
    }
    out
}

fn value_len(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { value, .. } => value.len(),
        WriteOp::Delete { .. } => 0,
        WriteOp::DeleteRange { end, .. } => end.as_ref().map_or(0, |e| e.len()),
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a write set. `file` and `record_offset` only name the place in
/// errors; damage here means the record passed its checksum but does not
/// parse, which is corruption (or a bug), never silently skipped. Keys and
/// values are slices of `payload` (no copy; they keep it alive).
pub(crate) fn decode(payload: &Bytes, file: &Path, lsn: u64) -> Result<Vec<PartitionWrite>> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
        file,
        lsn,
    };
    let kind = r.u8()?;
    let version = r.u8()?;
    if kind != COMMIT_RECORD_TYPE || !(1..=COMMIT_RECORD_VERSION).contains(&version) {
        return Err(r.error(&format!(
            "unknown commit record type {kind} version {version}"
        )));
    }
    let count = r.u32()? as usize;
    // Each op takes at least 9 bytes: bound the allocation by the payload.
    let mut writes = Vec::with_capacity(count.min(payload.len() / 9));
    for _ in 0..count {
        let op = r.u8()?;
        let partition = r.u32()?;
        let key = r.bytes()?;
        let op = match op {
            OP_PUT => WriteOp::Put {
                key,
                value: r.bytes()?,
            },
            OP_DELETE => WriteOp::Delete { key },
            OP_DELETE_RANGE if version >= 2 => {
                let end = match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    flag => return Err(r.error(&format!("bad range end flag {flag}"))),
                };
                WriteOp::DeleteRange { start: key, end }
            }
            other => return Err(r.error(&format!("unknown op {other}"))),
        };
        writes.push(PartitionWrite { partition, op });
    }
    if r.pos != payload.len() {
        return Err(r.error("trailing bytes after the last op"));
    }
    Ok(writes)
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    file: &'a Path,
    lsn: u64,
}

impl Reader<'_> {
    fn error(&self, reason: &str) -> Error {
        Error::corruption(
            self.file,
            0,
            format!(
                "WAL record lsn {} payload byte {}: {reason}",
                self.lsn, self.pos
            ),
        )
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.error("truncated")),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<Bytes> {
        let n = self.u32()? as usize;
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_write() -> impl Strategy<Value = PartitionWrite> {
        (
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)),
            0..4u8,
        )
            .prop_map(|(partition, key, value, shape)| PartitionWrite {
                partition,
                op: match (value, shape) {
                    (v, 0) => WriteOp::DeleteRange {
                        start: key.into(),
                        end: v.map(Into::into),
                    },
                    (Some(v), _) => WriteOp::Put {
                        key: key.into(),
                        value: v.into(),
                    },
                    (None, _) => WriteOp::Delete { key: key.into() },
                },
            })
    }

    proptest! {
        #[test]
        fn round_trip(writes in proptest::collection::vec(arb_write(), 0..20)) {
            let bytes = encode(&writes);
            let back = decode(&Bytes::from(bytes), Path::new("wal"), 1).unwrap();
            prop_assert_eq!(back, writes);
        }

        #[test]
        fn damaged_payload_is_an_error_or_a_valid_parse(
            writes in proptest::collection::vec(arb_write(), 1..5),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode(&writes);
            let cut = cut.index(bytes.len());
            let r = decode(&Bytes::copy_from_slice(&bytes[..cut]), Path::new("wal"), 1);
            prop_assert!(r.unwrap_err().is_corruption());
        }
    }
}
