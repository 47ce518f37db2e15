//! The properties block: what the table holds, decoded into [`SstMeta`]
//! when the table is opened.
//!
//! ```text
//! | format version u32 | entries u64 | tombstones u64 | min seq u64 | max seq u64
//! | data blocks u64 | raw key bytes u64 | raw value bytes u64
//! | created unix secs u64 | bloom bits per key u32 | restart interval u32
//! | range tombstones u64 | range-del block offset u64 | range-del block size u64
//! | index partitions u64
//! | smallest key len u32 | smallest key | largest key len u32 | largest key
//! | creator len u32 | creator (UTF-8, e.g. "tierdb-lsm 0.1.0")
//! ```

use bytes::Bytes;

use super::SstMeta;
use super::coding::{Decoder, Reason};
use super::footer::{BlockHandle, FORMAT_VERSION};

/// Longest creator string accepted.
const CREATOR_BYTES_MAX: usize = 256;

/// The decoded properties block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Properties {
    pub(crate) entries: u64,
    pub(crate) tombstones: u64,
    pub(crate) min_seq: u64,
    pub(crate) max_seq: u64,
    pub(crate) data_blocks: u64,
    pub(crate) raw_key_bytes: u64,
    pub(crate) raw_value_bytes: u64,
    pub(crate) created_unix_secs: u64,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) restart_interval: u32,
    /// Range tombstones in the range-deletion block.
    pub(crate) range_tombstones: u64,
    /// Where the range-deletion block lives.
    pub(crate) range_del: BlockHandle,
    /// Smallest and largest user key of the entries (empty if none).
    /// Partitions of a two-level index; 0 for a single index block.
    pub(crate) index_partitions: u64,
    pub(crate) smallest_key: Bytes,
    pub(crate) largest_key: Bytes,
    pub(crate) creator: String,
}

impl Properties {
    /// The block contents.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.smallest_key.len() + self.largest_key.len());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let fixed = [
            self.entries,
            self.tombstones,
            self.min_seq,
            self.max_seq,
            self.data_blocks,
            self.raw_key_bytes,
            self.raw_value_bytes,
            self.created_unix_secs,
        ];
        for field in fixed {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.bloom_bits_per_key.to_le_bytes());
        out.extend_from_slice(&self.restart_interval.to_le_bytes());
        for field in [
            self.range_tombstones,
            self.range_del.offset,
            self.range_del.size,
        ] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.index_partitions.to_le_bytes());
        for bytes in [
            &self.smallest_key[..],
            &self.largest_key[..],
            self.creator.as_bytes(),
        ] {
            put_len_prefixed(&mut out, bytes);
        }
        out
    }

    /// Decodes and checks the block contents.
    pub(crate) fn decode(contents: &[u8]) -> Result<Self, Reason> {
        let mut dec = Decoder::new(contents);
        if dec.u32()? != FORMAT_VERSION {
            return Err("properties block of another format version");
        }
        let props = Self {
            entries: dec.u64()?,
            tombstones: dec.u64()?,
            min_seq: dec.u64()?,
            max_seq: dec.u64()?,
            data_blocks: dec.u64()?,
            raw_key_bytes: dec.u64()?,
            raw_value_bytes: dec.u64()?,
            created_unix_secs: dec.u64()?,
            bloom_bits_per_key: dec.u32()?,
            restart_interval: dec.u32()?,
            range_tombstones: dec.u64()?,
            range_del: BlockHandle {
                offset: dec.u64()?,
                size: dec.u64()?,
            },
            index_partitions: dec.u64()?,
            smallest_key: Bytes::copy_from_slice(get_len_prefixed(&mut dec)?),
            largest_key: Bytes::copy_from_slice(get_len_prefixed(&mut dec)?),
            creator: decode_creator(&mut dec)?,
        };
        if !dec.is_empty() {
            return Err("trailing bytes in properties block");
        }
        props.check()?;
        Ok(props)
    }

    fn check(&self) -> Result<(), Reason> {
        let sane = (self.entries > 0 || self.range_tombstones > 0)
            && self.tombstones <= self.entries
            && self.min_seq <= self.max_seq
            && (self.data_blocks > 0) == (self.entries > 0)
            && self.data_blocks <= self.entries
            && self.index_partitions <= self.data_blocks
            && self.index_partitions != 1
            && self.smallest_key <= self.largest_key;
        if sane {
            Ok(())
        } else {
            Err("inconsistent table properties")
        }
    }

    /// The summary handed to the LSM tier.
    pub(crate) fn meta(&self, file_bytes: u64) -> SstMeta {
        SstMeta {
            file_bytes,
            entries: self.entries,
            tombstones: self.tombstones,
            range_tombstones: self.range_tombstones,
            smallest_key: self.smallest_key.clone(),
            largest_key: self.largest_key.clone(),
            min_seq: self.min_seq,
            max_seq: self.max_seq,
        }
    }
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys are limited by the writer far below 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn get_len_prefixed<'a>(dec: &mut Decoder<'a>) -> Result<&'a [u8], Reason> {
    let len = dec.u32()?;
    dec.bytes(usize::try_from(len).map_err(|_| "length overflows")?)
}

fn decode_creator(dec: &mut Decoder<'_>) -> Result<String, Reason> {
    let bytes = get_len_prefixed(dec)?;
    if bytes.len() > CREATOR_BYTES_MAX {
        return Err("creator string too long");
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "creator string is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Properties {
        Properties {
            entries: 10,
            tombstones: 2,
            min_seq: 3,
            max_seq: 40,
            data_blocks: 2,
            raw_key_bytes: 100,
            raw_value_bytes: 1000,
            created_unix_secs: 1_700_000_000,
            bloom_bits_per_key: 10,
            restart_interval: 16,
            range_tombstones: 1,
            range_del: BlockHandle {
                offset: 500,
                size: 20,
            },
            index_partitions: 0,
            smallest_key: Bytes::from_static(b"a"),
            largest_key: Bytes::from_static(b"z"),
            creator: "tierdb-lsm test".into(),
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(Properties::decode(&sample().encode()).unwrap(), sample());
    }

    #[test]
    fn truncation_and_nonsense_are_errors() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Properties::decode(&bytes[..len]).is_err(), "len {len}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Properties::decode(&extra).is_err());
        let empty = Properties {
            entries: 0,
            range_tombstones: 0,
            ..sample()
        };
        assert!(Properties::decode(&empty.encode()).is_err());
    }
}
