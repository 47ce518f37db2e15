//! A manifest log, `LSM-MANIFEST-NNNNNN`: a stamp (`stamp.rs`, magic
//! "TLSM", its own number), one snapshot record, then one edit record per
//! install (`manifest.rs`). See `docs/format/lsm-manifest.md`.
//!
//! ```text
//! record: len u32 | len_check u32 = !len | crc32 u32 | payload (len bytes)
//! ```
//! The CRC-32 covers `len`, `len_check` and the payload. Reading stops at
//! an *incomplete* last record — fewer than 12 header bytes left, or a
//! payload running past the end of the file: an append cut by a crash
//! before its sync, never acknowledged, ignored. A complete record that
//! does not verify (length check, CRC, payload) is corruption wherever it
//! is, and so is an incomplete snapshot: the snapshot is synced before
//! `LSM-CURRENT` names the log.

use std::path::Path;

use tierdb_io::{Error, Result};

use crate::manifest::{Manifest, Record};
use crate::stamp::{self, STAMP_BYTES};

/// The stamp magic of a manifest log.
pub(crate) const MAGIC: [u8; 4] = *b"TLSM";
const RECORD_HEADER_BYTES: usize = 12;

/// A record framed for the log.
pub(crate) fn frame(record: &Record) -> Vec<u8> {
    let payload = record.encode();
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    let crc = record_crc(&out, &payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// A new log: the stamp of `number`, then the snapshot of `manifest`.
pub(crate) fn encode_new(number: u64, manifest: &Manifest) -> Vec<u8> {
    encode(number, &[Record::Snapshot(manifest.clone())])
}

/// Log `number` holding `records`.
pub(crate) fn encode(number: u64, records: &[Record]) -> Vec<u8> {
    let mut out = stamp::encode(MAGIC, number).to_vec();
    for record in records {
        out.extend_from_slice(&frame(record));
    }
    out
}

fn record_crc(lens: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(lens);
    h.update(payload);
    h.finalize()
}

/// A log as read: its number, records with their offsets, and where the
/// complete records end (`data.len()` unless the tail was incomplete).
pub(crate) struct Log {
    pub(crate) number: u64,
    pub(crate) records: Vec<(u64, Record)>,
    pub(crate) complete_len: u64,
}

/// Decodes the log `path` holding `data`.
pub(crate) fn decode(path: &Path, data: &[u8]) -> Result<Log> {
    let number = stamp::decode(path, data, MAGIC, "LSM manifest")?;
    let mut records = Vec::new();
    let mut pos = STAMP_BYTES;
    while pos < data.len() {
        let rest = &data[pos..];
        let at = pos as u64;
        let complete = rest.len() >= RECORD_HEADER_BYTES && {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
            let check = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
            if check != !len {
                return Err(Error::corruption(
                    path,
                    at,
                    "LSM manifest record length check mismatch",
                ));
            }
            rest.len() - RECORD_HEADER_BYTES >= len as usize
        };
        if !complete {
            if records.is_empty() {
                return Err(Error::corruption(
                    path,
                    at,
                    "LSM manifest snapshot incomplete",
                ));
            }
            break;
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        let payload = &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
        if record_crc(&rest[..8], payload) != crc {
            return Err(Error::corruption(
                path,
                at + 8,
                "LSM manifest record checksum mismatch",
            ));
        }
        let record = Record::decode(path, at + RECORD_HEADER_BYTES as u64, payload)?;
        let expected_snapshot = records.is_empty();
        if matches!(record, Record::Snapshot(_)) != expected_snapshot {
            return Err(Error::corruption(
                path,
                at,
                "an LSM manifest log is one snapshot, then edits",
            ));
        }
        records.push((at, record));
        pos += RECORD_HEADER_BYTES + len;
    }
    if records.is_empty() {
        return Err(Error::corruption(
            path,
            pos as u64,
            "LSM manifest snapshot missing",
        ));
    }
    Ok(Log {
        number,
        records,
        complete_len: pos as u64,
    })
}

impl Log {
    /// The version the records describe: the snapshot with every edit
    /// applied in order.
    pub(crate) fn replay(&self, path: &Path) -> Result<Manifest> {
        let mut manifest = Manifest::default();
        for (at, record) in &self.records {
            match record {
                Record::Snapshot(m) => manifest = m.clone(),
                Record::Edit(e) => manifest
                    .apply(e)
                    .map_err(|reason| Error::corruption(path, *at, reason))?,
            }
        }
        manifest.check_distinct().map_err(|reason| {
            let last = self.records.last().map_or(0, |(at, _)| *at);
            Error::corruption(path, last, reason)
        })?;
        Ok(manifest)
    }
}

/// Makes every stamp and record header of a log check again after its
/// bytes were changed (for fuzzing): the stamp's CRC, each record's length
/// check and CRC, as far as the records fit.
pub(crate) fn reseal(data: &mut [u8]) {
    if data.len() < STAMP_BYTES {
        return;
    }
    let crc = crc32fast::hash(&data[..16]);
    data[16..STAMP_BYTES].copy_from_slice(&crc.to_le_bytes());
    let mut pos = STAMP_BYTES;
    while data.len() - pos >= RECORD_HEADER_BYTES {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes"));
        data[pos + 4..pos + 8].copy_from_slice(&(!len).to_le_bytes());
        let end = pos + RECORD_HEADER_BYTES + len as usize;
        if end > data.len() {
            return;
        }
        let crc = record_crc(&data[pos..pos + 8], &data[pos + RECORD_HEADER_BYTES..end]);
        data[pos + 8..pos + 12].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Edit, TableRecord};

    fn manifest(tables: u64) -> Manifest {
        Manifest {
            persisted_seq: tables,
            next_table: tables + 1,
            levels: vec![
                (1..=tables)
                    .rev()
                    .map(|number| TableRecord {
                        number,
                        file_bytes: 100 + number,
                    })
                    .collect(),
            ],
        }
    }

    /// A log of a snapshot of one table and edits adding two more.
    fn sample() -> (Vec<u8>, Vec<usize>) {
        let mut data = encode_new(3, &manifest(1));
        let mut ends = vec![data.len()];
        for tables in 2..=3 {
            let edit = Edit::between(&manifest(tables - 1), &manifest(tables)).unwrap();
            data.extend_from_slice(&frame(&Record::Edit(edit)));
            ends.push(data.len());
        }
        (data, ends)
    }

    fn replay(data: &[u8]) -> Result<Manifest> {
        let p = Path::new("m");
        decode(p, data)?.replay(p)
    }

    #[test]
    fn replays_and_re_encodes() {
        let (data, _) = sample();
        let log = decode(Path::new("m"), &data).unwrap();
        assert_eq!(log.number, 3);
        assert_eq!(log.complete_len, data.len() as u64);
        assert_eq!(log.records.len(), 3);
        assert_eq!(replay(&data).unwrap(), manifest(3));
    }

    #[test]
    fn a_cut_tail_gives_the_previous_version() {
        let (data, ends) = sample();
        for len in 0..data.len() {
            match replay(&data[..len]) {
                Ok(m) => {
                    let complete = ends.iter().filter(|&&e| e <= len).count() as u64;
                    assert!(complete >= 1, "len {len}: no snapshot, yet {m:?}");
                    assert_eq!(m, manifest(complete), "len {len}");
                }
                Err(Error::Corruption { offset, .. }) => {
                    assert!(len < ends[0], "len {len}: a complete snapshot refused");
                    assert!(offset <= len as u64);
                }
                Err(e) => panic!("len {len}: {e}"),
            }
        }
    }

    #[test]
    fn every_flipped_byte_is_corruption_or_an_earlier_version() {
        let (data, ends) = sample();
        for i in 0..data.len() {
            for bit in [0x01, 0x80] {
                let mut bad = data.clone();
                bad[i] ^= bit;
                match replay(&bad) {
                    // A flip cannot pass for a cut tail: the length check
                    // catches a changed length.
                    Ok(m) => panic!("byte {i}: decoded {m:?}"),
                    Err(Error::Corruption { offset, .. }) => {
                        assert!(offset <= data.len() as u64)
                    }
                    Err(Error::UnsupportedVersion { .. }) => assert!((4..8).contains(&i)),
                    Err(e) => panic!("byte {i}: {e}"),
                }
            }
        }
        // Damage followed by good records is corruption, naming the record.
        let mut bad = data.clone();
        bad[ends[0] + 20] ^= 1;
        match replay(&bad) {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, ends[0] as u64 + 8),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reseal_makes_changed_bytes_verify() {
        let (mut data, ends) = sample();
        // Change a table's size in the last edit (its last 8 bytes).
        let at = ends[2] - 8;
        data[at] ^= 0x01;
        assert!(replay(&data).is_err());
        reseal(&mut data);
        let m = replay(&data).unwrap();
        assert_eq!(m.levels[0][0].file_bytes, (103 ^ 0x01));
    }
}
