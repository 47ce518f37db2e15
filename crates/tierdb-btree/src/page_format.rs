//! The slotted page format of B+tree nodes (see `docs/format/btree.md`).
//!
//! ```text
//! page header (24 bytes) | slot array (u16 cell offsets) | cells | zeros
//! [tail pages: spilled keys, raw bytes]
//! ```
//!
//! Encoding checks that the node fits; decoding checks the crc, the format
//! version, the page's own number, every offset and length, and key order,
//! and reports any failure as a reason string (the caller adds file and
//! offset). Nothing here panics on bad bytes.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{DecodeResult, Reader, len_u32, put_u16, put_u32, put_u64, to_usize};
use crate::layout::{Layout, PAGE_HEADER_BYTES, SLOT_BYTES};
use crate::node::{Body, Branch, Child, DiskRef, Entry, Leaf, Node, Origin, RunRef, Value};
use crate::pack::{pack_branch, pack_leaf};

/// Page type of a leaf.
pub(crate) const PAGE_TYPE_LEAF: u8 = 1;
/// Page type of a branch.
pub(crate) const PAGE_TYPE_BRANCH: u8 = 2;
/// Page type of a free-list page.
pub(crate) const PAGE_TYPE_FREE_LIST: u8 = 3;
/// The page format version this build writes and reads.
pub(crate) const PAGE_FORMAT_VERSION: u8 = 1;

const TYPE_AT: usize = 4;
const VERSION_AT: usize = 5;
const COUNT_AT: usize = 6;
const PAGE_NO_AT: usize = 8;
const TAIL_PAGES_AT: usize = 16;
const TAIL_CRC_AT: usize = 20;

/// Cell flag: the key is in the tail.
const FLAG_KEY_IN_TAIL: u8 = 1;
/// Cell flag (leaf): the value is in an overflow run.
const FLAG_VALUE_IN_RUN: u8 = 2;
/// Cell flag (branch): the first cell, which has no separator.
const FLAG_NO_KEY: u8 = 4;

/// The parsed header of a node or free-list page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageHeader {
    /// crc32 of bytes `[4, page_size)` (verified).
    pub(crate) crc: u32,
    /// One of the `PAGE_TYPE_*` constants.
    pub(crate) page_type: u8,
    /// Cells (nodes) or runs (free-list pages).
    pub(crate) count: usize,
    /// The page's own number, as written.
    pub(crate) page: u64,
    /// Pages of spilled keys after this one.
    pub(crate) tail_pages: u64,
    /// crc32 of the tail pages.
    pub(crate) tail_crc: u32,
}

/// A value as a leaf cell encodes it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueCell<'a> {
    /// Stored in the cell.
    Inline(&'a [u8]),
    /// Stored in an overflow run.
    Run(RunRef),
}

/// An encoded node (first page followed by its tail pages), not yet sealed.
#[derive(Debug)]
pub(crate) struct Image {
    /// `page_count * page_size` bytes.
    pub(crate) bytes: Vec<u8>,
    /// 1 + tail pages.
    pub(crate) page_count: u64,
}

impl Image {
    /// Stamps the page number and checksums; returns the first page's crc.
    pub(crate) fn seal(&mut self, page: u64, page_size: usize) -> u32 {
        let (first, tail) = self.bytes.split_at_mut(page_size);
        first[PAGE_NO_AT..PAGE_NO_AT + 8].copy_from_slice(&page.to_le_bytes());
        let tail_crc = crc32fast::hash(tail);
        first[TAIL_CRC_AT..TAIL_CRC_AT + 4].copy_from_slice(&tail_crc.to_le_bytes());
        seal_page(first)
    }
}

/// Computes and stores the crc of a single page; returns it.
pub(crate) fn seal_page(page: &mut [u8]) -> u32 {
    let crc = crc32fast::hash(&page[4..]);
    page[0..4].copy_from_slice(&crc.to_le_bytes());
    crc
}

/// Writes the fixed header fields (type, version, count, page number).
pub(crate) fn write_header(page: &mut [u8], page_type: u8, count: usize, page_no: u64) {
    page[TYPE_AT] = page_type;
    page[VERSION_AT] = PAGE_FORMAT_VERSION;
    let count = u16::try_from(count).unwrap_or(u16::MAX);
    page[COUNT_AT..COUNT_AT + 2].copy_from_slice(&count.to_le_bytes());
    page[PAGE_NO_AT..PAGE_NO_AT + 8].copy_from_slice(&page_no.to_le_bytes());
}

/// Parses and verifies a page header: crc and format version.
pub(crate) fn parse_header(page: &[u8]) -> DecodeResult<PageHeader> {
    let mut r = Reader::at(page, 0);
    let stored = r.u32()?;
    let computed = crc32fast::hash(page.get(4..).unwrap_or_default());
    if stored != computed {
        return Err(format!(
            "page checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    let page_type = r.u8()?;
    let version = r.u8()?;
    if version != PAGE_FORMAT_VERSION {
        return Err(format!("unknown page format version {version}"));
    }
    let count = usize::from(r.u16()?);
    let page_no = r.u64()?;
    let tail_pages = u64::from(r.u32()?);
    let tail_crc = r.u32()?;
    Ok(PageHeader {
        crc: stored,
        page_type,
        count,
        page: page_no,
        tail_pages,
        tail_crc,
    })
}

/// Accumulates cells, slots and tail bytes of one node.
struct CellWriter {
    layout: Layout,
    cells: Vec<u8>,
    offsets: Vec<usize>,
    tail: Vec<u8>,
    cell_count: usize,
}

impl CellWriter {
    /// Sized for a full page up front: growing `cells` cell by cell was a
    /// tenth of a checkpoint's time (reallocations).
    fn new(layout: Layout, cell_count: usize) -> Self {
        CellWriter {
            layout,
            cells: Vec::with_capacity(layout.page_size),
            offsets: Vec::with_capacity(cell_count),
            tail: Vec::new(),
            cell_count,
        }
    }

    fn start_cell(&mut self, flags: u8) {
        let base = PAGE_HEADER_BYTES + SLOT_BYTES * self.cell_count;
        self.offsets.push(base + self.cells.len());
        self.cells.push(flags);
    }

    fn key(&mut self, key: &[u8], inline: bool) -> DecodeResult<()> {
        if inline {
            let len = u16::try_from(key.len()).map_err(|_| "inline key too long".to_string())?;
            put_u16(&mut self.cells, len);
            self.cells.extend_from_slice(key);
        } else {
            put_u32(&mut self.cells, len_u32(key.len())?);
            put_u32(&mut self.cells, len_u32(self.tail.len())?);
            self.tail.extend_from_slice(key);
        }
        Ok(())
    }

    fn finish(self, page_type: u8) -> DecodeResult<Image> {
        let page_size = self.layout.page_size;
        let used = PAGE_HEADER_BYTES + SLOT_BYTES * self.cell_count + self.cells.len();
        if used > page_size || self.offsets.len() != self.cell_count {
            return Err(format!(
                "node of {used} bytes does not fit a {page_size}-byte page"
            ));
        }
        let tail_pages = self.tail.len().div_ceil(page_size);
        let mut bytes = vec![0u8; page_size * (1 + tail_pages)];
        write_header(&mut bytes, page_type, self.cell_count, 0);
        let tail_pages_u32 = len_u32(tail_pages)?;
        bytes[TAIL_PAGES_AT..TAIL_PAGES_AT + 4].copy_from_slice(&tail_pages_u32.to_le_bytes());
        for (i, offset) in self.offsets.iter().enumerate() {
            let at = PAGE_HEADER_BYTES + SLOT_BYTES * i;
            let offset = u16::try_from(*offset).map_err(|_| "cell offset overflow".to_string())?;
            bytes[at..at + 2].copy_from_slice(&offset.to_le_bytes());
        }
        let cells_at = PAGE_HEADER_BYTES + SLOT_BYTES * self.cell_count;
        bytes[cells_at..cells_at + self.cells.len()].copy_from_slice(&self.cells);
        bytes[page_size..page_size + self.tail.len()].copy_from_slice(&self.tail);
        Ok(Image {
            bytes,
            page_count: 1 + tail_pages as u64,
        })
    }
}

/// Encodes a leaf; values are already resolved to inline bytes or runs.
pub(crate) fn encode_leaf(
    layout: Layout,
    entries: &[(&[u8], ValueCell<'_>)],
) -> DecodeResult<Image> {
    let mut w = CellWriter::new(layout, entries.len());
    for (key, value) in entries {
        let key_inline = layout.leaf_key_inline(key.len());
        let mut flags = if key_inline { 0 } else { FLAG_KEY_IN_TAIL };
        if matches!(value, ValueCell::Run(_)) {
            flags |= FLAG_VALUE_IN_RUN;
        }
        w.start_cell(flags);
        w.key(key, key_inline)?;
        match value {
            ValueCell::Inline(v) => {
                put_u32(&mut w.cells, len_u32(v.len())?);
                w.cells.extend_from_slice(v);
            }
            ValueCell::Run(run) => {
                put_u64(&mut w.cells, run.start_page);
                put_u64(&mut w.cells, run.len);
                put_u32(&mut w.cells, run.checksum);
            }
        }
    }
    w.finish(PAGE_TYPE_LEAF)
}

/// Encodes a branch whose children are all on disk.
pub(crate) fn encode_branch(
    layout: Layout,
    keys: &[Bytes],
    children: &[DiskRef],
) -> DecodeResult<Image> {
    if children.len() != keys.len() + 1 {
        return Err(format!(
            "branch with {} keys and {} children",
            keys.len(),
            children.len()
        ));
    }
    let mut w = CellWriter::new(layout, children.len());
    for (i, child) in children.iter().enumerate() {
        let key = i.checked_sub(1).and_then(|k| keys.get(k));
        let key_inline = key.is_none_or(|k| layout.branch_key_inline(k.len()));
        let flags = match key {
            None => FLAG_NO_KEY,
            Some(_) if key_inline => 0,
            Some(_) => FLAG_KEY_IN_TAIL,
        };
        w.start_cell(flags);
        put_u64(&mut w.cells, child.page);
        put_u32(&mut w.cells, child.checksum);
        if let Some(key) = key {
            w.key(key, key_inline)?;
        }
    }
    w.finish(PAGE_TYPE_BRANCH)
}

/// That `first` is one page and `tail` the tail pages `header` describes:
/// their length and checksum (the checksum of no bytes for a one-page
/// node).
pub(crate) fn check_extent(
    layout: Layout,
    first: &[u8],
    tail: &[u8],
    header: &PageHeader,
) -> DecodeResult<()> {
    if first.len() != layout.page_size {
        return Err(format!(
            "page of {} bytes, expected {}",
            first.len(),
            layout.page_size
        ));
    }
    let tail_len = header.tail_pages.checked_mul(layout.page_size as u64);
    if tail_len != Some(tail.len() as u64) {
        return Err(format!(
            "tail of {} bytes, header says {} pages",
            tail.len(),
            header.tail_pages
        ));
    }
    if crc32fast::hash(tail) != header.tail_crc {
        return Err("tail pages checksum mismatch".to_string());
    }
    Ok(())
}

/// Decodes a verified node page (`first`) and its tail into a node.
///
/// Keys and inline values are packed into one buffer of their own (see
/// `pack.rs`): the node shares one reference count, not the page's free
/// space.
pub(crate) fn decode_node(
    layout: Layout,
    first: &Bytes,
    tail: &Bytes,
    header: &PageHeader,
) -> DecodeResult<Node> {
    check_extent(layout, first, tail, header)?;
    if header.count > (layout.page_size - PAGE_HEADER_BYTES) / SLOT_BYTES {
        return Err(format!("cell count {} too large", header.count));
    }
    let body = match header.page_type {
        PAGE_TYPE_LEAF => {
            let mut leaf = decode_leaf(first, tail, header.count)?;
            pack_leaf(layout, &mut leaf);
            Body::Leaf(leaf)
        }
        PAGE_TYPE_BRANCH => {
            let mut branch = decode_branch(first, tail, header.count)?;
            pack_branch(&mut branch);
            Body::Branch(branch)
        }
        other => return Err(format!("page type {other} is not a tree node")),
    };
    let origin = Origin {
        page: header.page,
        page_count: 1 + header.tail_pages,
        checksum: header.crc,
    };
    Ok(Node::decoded(body, origin))
}

#[inline]
fn cell_reader<'a>(first: &'a [u8], count: usize, index: usize) -> DecodeResult<Reader<'a>> {
    let slot_at = PAGE_HEADER_BYTES + SLOT_BYTES * index;
    let offset = usize::from(Reader::at(first, slot_at).u16()?);
    if offset < PAGE_HEADER_BYTES + SLOT_BYTES * count {
        return Err(format!(
            "cell {index} offset {offset} points into the header or slots"
        ));
    }
    Ok(Reader::at(first, offset))
}

fn read_key(r: &mut Reader<'_>, first: &Bytes, tail: &Bytes, flags: u8) -> DecodeResult<Bytes> {
    if flags & FLAG_KEY_IN_TAIL == 0 {
        let len = usize::from(r.u16()?);
        return Ok(first.slice_ref(r.bytes(len)?));
    }
    let len = to_usize(u64::from(r.u32()?))?;
    let offset = to_usize(u64::from(r.u32()?))?;
    let end = offset.checked_add(len).ok_or("tail key length overflows")?;
    let key = tail
        .get(offset..end)
        .ok_or_else(|| format!("tail key {offset}..{end} past tail end"))?;
    Ok(tail.slice_ref(key))
}

fn check_order(prev: Option<&Bytes>, key: &Bytes, index: usize) -> DecodeResult<()> {
    match prev {
        Some(prev) if prev >= key => Err(format!("key {index} out of order")),
        _ => Ok(()),
    }
}

fn decode_leaf(first: &Bytes, tail: &Bytes, count: usize) -> DecodeResult<Leaf> {
    let mut entries: Vec<Entry> = Vec::with_capacity(count);
    for i in 0..count {
        let mut r = cell_reader(first, count, i)?;
        let flags = leaf_flags(&mut r, i)?;
        let key = read_key(&mut r, first, tail, flags)?;
        check_order(entries.last().map(|e| &e.key), &key, i)?;
        let value = match read_value(&mut r, flags, i)? {
            Ok(range) => Value::Inline(first.slice(range)),
            Err(run) => Value::Overflow(run),
        };
        entries.push(Entry { key, value });
    }
    Ok(Leaf { entries })
}

/// A leaf cell's flags, checked.
#[inline]
fn leaf_flags(r: &mut Reader<'_>, index: usize) -> DecodeResult<u8> {
    let flags = r.u8()?;
    if flags & !(FLAG_KEY_IN_TAIL | FLAG_VALUE_IN_RUN) != 0 {
        return Err(format!("leaf cell {index} has unknown flags {flags:#x}"));
    }
    Ok(flags)
}

/// A leaf cell's value: where its bytes are in the page, or its run.
fn read_value(
    r: &mut Reader<'_>,
    flags: u8,
    index: usize,
) -> DecodeResult<Result<Range<usize>, RunRef>> {
    if flags & FLAG_VALUE_IN_RUN == 0 {
        let len = to_usize(u64::from(r.u32()?))?;
        let start = r.position();
        r.bytes(len)?;
        return Ok(Ok(start..start + len));
    }
    let run = RunRef {
        start_page: r.u64()?,
        len: r.u64()?,
        checksum: r.u32()?,
    };
    if run.start_page < 2 {
        return Err(format!(
            "leaf cell {index} overflow run starts at page {}",
            run.start_page
        ));
    }
    Ok(Err(run))
}

/// A leaf cell whose key is in the page (see `leaf_page.rs`), as
/// positions in the page.
pub(crate) struct LeafCell {
    /// The key's bytes.
    pub(crate) key: Range<usize>,
    /// The value's bytes, or its overflow run.
    pub(crate) value: Result<Range<usize>, RunRef>,
    /// One past the cell's last byte.
    pub(crate) end: usize,
}

/// Cell `index` of the `count` cells of a leaf page without tail pages.
pub(crate) fn leaf_cell(page: &[u8], count: usize, index: usize) -> DecodeResult<LeafCell> {
    let mut r = cell_reader(page, count, index)?;
    let flags = leaf_flags(&mut r, index)?;
    if flags & FLAG_KEY_IN_TAIL != 0 {
        return Err(format!("leaf cell {index} has its key in a tail page"));
    }
    let len = usize::from(r.u16()?);
    let start = r.position();
    r.bytes(len)?;
    let value = read_value(&mut r, flags, index)?;
    Ok(LeafCell {
        key: start..start + len,
        value,
        end: r.position(),
    })
}

fn decode_branch(first: &Bytes, tail: &Bytes, count: usize) -> DecodeResult<Branch> {
    if count == 0 {
        return Err("branch without children".to_string());
    }
    let mut keys = Vec::with_capacity(count - 1);
    let mut children = Vec::with_capacity(count);
    for i in 0..count {
        let mut r = cell_reader(first, count, i)?;
        let flags = r.u8()?;
        let expected_no_key = i == 0;
        if flags & !(FLAG_KEY_IN_TAIL | FLAG_NO_KEY) != 0
            || (flags & FLAG_NO_KEY != 0) != expected_no_key
        {
            return Err(format!("branch cell {i} has bad flags {flags:#x}"));
        }
        let child = DiskRef {
            page: r.u64()?,
            checksum: r.u32()?,
        };
        if child.page < 2 {
            return Err(format!("branch cell {i} points at page {}", child.page));
        }
        if !expected_no_key {
            let key = read_key(&mut r, first, tail, flags)?;
            check_order(keys.last(), &key, i)?;
            keys.push(key);
        }
        children.push(Child::Disk(child));
    }
    Ok(Branch {
        keys: Arc::new(keys),
        children: children.into(),
    })
}

#[cfg(test)]
mod tests;
