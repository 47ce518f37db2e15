//! The file header: two slots (pages 0 and 1) written alternately, one per
//! checkpoint; the valid slot with the highest generation is the durable
//! checkpoint. See `docs/format/btree.md` for the byte diagram.

use tierdb_tier::Seq;

use crate::codec::{DecodeResult, Reader, put_u32, put_u64};
use crate::node::DiskRef;

/// The magic number at the start of each header slot.
pub(crate) const MAGIC: &[u8; 8] = b"TDBBTREE";
/// The file format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the header covered by its checksum.
const CHECKED_BYTES: usize = 88;

/// One checkpoint's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Bytes per page of the file.
    pub(crate) page_size: u32,
    /// Checkpoint generation: 0 for a new file, +1 per checkpoint.
    pub(crate) generation: u64,
    /// Every write set up to this sequence is in the tree.
    pub(crate) checkpoint_seq: Seq,
    /// The root node (`None` only in a new file's generation-0 header).
    pub(crate) root: Option<DiskRef>,
    /// Levels of the tree (1 = a single leaf).
    pub(crate) height: u32,
    /// The first free-list page, if any.
    pub(crate) free_list: Option<DiskRef>,
    /// Pages the free list lists.
    pub(crate) free_pages: u64,
    /// Pages `[0, total_pages)` are in use or listed free; later ones are free.
    pub(crate) total_pages: u64,
    /// Entries in the tree.
    pub(crate) entries: u64,
}

/// Why a header slot was not usable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Torn, zero or garbage: ignore this slot.
    Invalid(String),
    /// Valid checksum but a newer format version.
    Unsupported(u32),
}

impl Header {
    /// The header of a file that has never been checkpointed.
    pub(crate) fn initial(page_size: u32) -> Self {
        Header {
            page_size,
            generation: 0,
            checkpoint_seq: 0,
            root: None,
            height: 1,
            free_list: None,
            free_pages: 0,
            total_pages: 2,
            entries: 0,
        }
    }

    /// The slot (page 0 or 1) this header is written to.
    pub(crate) fn slot(&self) -> u64 {
        self.generation % 2
    }

    /// Encodes into one page of zeros.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.page_size as usize);
        buf.extend_from_slice(MAGIC);
        put_u32(&mut buf, FORMAT_VERSION);
        put_u32(&mut buf, self.page_size);
        put_u64(&mut buf, self.generation);
        put_u64(&mut buf, self.checkpoint_seq);
        let root = self.root.unwrap_or(DiskRef {
            page: 0,
            checksum: 0,
        });
        put_u64(&mut buf, root.page);
        put_u32(&mut buf, root.checksum);
        put_u32(&mut buf, self.height);
        let free_list = self.free_list.unwrap_or(DiskRef {
            page: 0,
            checksum: 0,
        });
        put_u64(&mut buf, free_list.page);
        put_u32(&mut buf, free_list.checksum);
        put_u32(&mut buf, 0);
        put_u64(&mut buf, self.free_pages);
        put_u64(&mut buf, self.total_pages);
        put_u64(&mut buf, self.entries);
        debug_assert_eq!(buf.len(), CHECKED_BYTES);
        let crc = crc32fast::hash(&buf);
        put_u32(&mut buf, crc);
        buf.resize(self.page_size as usize, 0);
        buf
    }

    /// Decodes and verifies one slot.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let checked = bytes
            .get(..CHECKED_BYTES)
            .ok_or_else(|| HeaderError::Invalid("short header".into()))?;
        let stored = Reader::at(bytes, CHECKED_BYTES)
            .u32()
            .map_err(HeaderError::Invalid)?;
        if crc32fast::hash(checked) != stored {
            return Err(HeaderError::Invalid("header checksum mismatch".into()));
        }
        if checked.get(..8) != Some(MAGIC.as_slice()) {
            return Err(HeaderError::Invalid("bad magic".into()));
        }
        let version = Reader::at(checked, 8).u32().map_err(HeaderError::Invalid)?;
        if version != FORMAT_VERSION {
            return Err(HeaderError::Unsupported(version));
        }
        Self::decode_fields(checked).map_err(HeaderError::Invalid)
    }

    fn decode_fields(checked: &[u8]) -> DecodeResult<Header> {
        let mut r = Reader::at(checked, 12);
        let page_size = r.u32()?;
        let generation = r.u64()?;
        let checkpoint_seq = r.u64()?;
        let root = DiskRef {
            page: r.u64()?,
            checksum: r.u32()?,
        };
        let height = r.u32()?;
        let free_list = DiskRef {
            page: r.u64()?,
            checksum: r.u32()?,
        };
        let _reserved = r.u32()?;
        let header = Header {
            page_size,
            generation,
            checkpoint_seq,
            root: (root.page != 0).then_some(root),
            height,
            free_list: (free_list.page != 0).then_some(free_list),
            free_pages: r.u64()?,
            total_pages: r.u64()?,
            entries: r.u64()?,
        };
        header.validate()?;
        Ok(header)
    }

    fn validate(&self) -> DecodeResult<()> {
        let page_size = self.page_size as usize;
        if !page_size.is_power_of_two() || !(1024..=65536).contains(&page_size) {
            return Err(format!("bad page size {page_size}"));
        }
        if self.total_pages < 2 || self.height == 0 || self.height > crate::mutate::HEIGHT_MAX {
            return Err("bad page count or height".into());
        }
        let in_file =
            |d: &Option<DiskRef>| d.is_none_or(|d| (2..self.total_pages).contains(&d.page));
        if !in_file(&self.root) || !in_file(&self.free_list) || self.free_pages > self.total_pages {
            return Err("root or free list outside the file".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            page_size: 4096,
            generation: 7,
            checkpoint_seq: 99,
            root: Some(DiskRef {
                page: 12,
                checksum: 0xdead_beef,
            }),
            height: 3,
            free_list: Some(DiskRef {
                page: 4,
                checksum: 5,
            }),
            free_pages: 10,
            total_pages: 40,
            entries: 1234,
        }
    }

    #[test]
    fn round_trips() {
        let header = sample();
        let bytes = header.encode();
        assert_eq!(bytes.len(), 4096);
        assert_eq!(Header::decode(&bytes), Ok(header));
        assert_eq!(
            Header::decode(&Header::initial(1024).encode()),
            Ok(Header::initial(1024))
        );
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        let bytes = sample().encode();
        for bit in 0..(CHECKED_BYTES + 4) * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(Header::decode(&damaged).is_err(), "bit {bit}");
        }
        assert!(Header::decode(&bytes[..50]).is_err());
        assert!(Header::decode(&[0; 4096]).is_err());
    }
}
