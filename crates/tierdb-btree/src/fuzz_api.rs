//! The B+tree's decoders, exposed for the fuzz targets of `tierdb-fuzz`
//! (not an API: hidden from the docs, may change at any time). Thin
//! wrappers over `page_format`, `header` and `free_list` with plain mirror
//! types, plus encoders and "re-seal" helpers so that a fuzzer gets past
//! the checksums.

use std::sync::Arc;

use bytes::Bytes;

use crate::free_list;
use crate::header::{Header, HeaderError};
use crate::layout::Layout;
use crate::node::{Body, Child, DiskRef, Entry, RunRef, Value};
use crate::page_format::{self, ValueCell, parse_header};
use crate::space::PageRun;
use crate::store::{Page, decode_page};

/// Page sizes the format allows, smallest first.
pub const PAGE_SIZES: [usize; 2] = [1024, 4096];

/// A leaf value as a page stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageValue {
    /// In the cell.
    Inline(Bytes),
    /// In an overflow run: `(start_page, len, crc32)`.
    Run(u64, u64, u32),
}

/// A decoded node page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageNode {
    /// Entries in key order.
    Leaf(Vec<(Bytes, PageValue)>),
    /// Separators and `(page, crc32)` children (one more than separators).
    Branch(Vec<Bytes>, Vec<(u64, u32)>),
}

/// Decodes the node whose first page and tail pages are `image`, as a read
/// from the file at its page number would: header, checksums, cells.
/// Returns the node and the page number it claims.
pub fn decode_node(page_size: usize, image: &[u8]) -> Result<(PageNode, u64), String> {
    let layout = Layout::new(page_size);
    let first = image.get(..page_size).ok_or("short page")?;
    let header = parse_header(first)?;
    let tail = image.get(page_size..).unwrap_or_default();
    let node = page_format::decode_node(
        layout,
        &Bytes::copy_from_slice(first),
        &Bytes::copy_from_slice(tail),
        &header,
    )?;
    let node = match node.body {
        Body::Leaf(leaf) => PageNode::Leaf(
            leaf.entries
                .into_iter()
                .map(|e| (e.key, page_value(e.value)))
                .collect(),
        ),
        Body::Branch(branch) => {
            let mut children = Vec::with_capacity(branch.children.len());
            for child in branch.children {
                match child {
                    Child::Disk(d) => children.push((d.page, d.checksum)),
                    Child::Mem(_) => return Err("decoded an in-memory child".into()),
                }
            }
            PageNode::Branch(Arc::unwrap_or_clone(branch.keys), children)
        }
    };
    Ok((node, header.page))
}

/// A leaf page without tail pages as the cache reads it in place: its
/// entries, for each the index a search for its key lands on (`Ok(i)` for
/// entry `i` in a well-formed leaf) and the value a point read of it gets,
/// and probes near the keys (each key cut by its last byte, and with a
/// zero byte appended): the probe, where a search lands, what a point
/// read gets.
#[derive(Debug)]
pub struct LeafInPlace {
    pub entries: Vec<(Bytes, PageValue)>,
    pub found: Vec<Result<usize, usize>>,
    pub values: Vec<Option<PageValue>>,
    pub probes: Vec<LeafProbe>,
}

/// A key searched in a leaf read in place: where the search lands, and
/// the value a point read gets.
pub type LeafProbe = (Vec<u8>, Result<usize, usize>, Option<PageValue>);

/// Reads `image` as the cache would (`store::decode_page`, then the
/// `LeafPage` accessors); `Ok(None)` for a page the cache decodes instead.
pub fn read_leaf_in_place(page_size: usize, image: &[u8]) -> Result<Option<LeafInPlace>, String> {
    let layout = Layout::new(page_size);
    let first = image.get(..page_size).ok_or("short page")?;
    let header = parse_header(first)?;
    let tail = image.get(page_size..).unwrap_or_default();
    let leaf = match decode_page(layout, first.to_vec(), tail.to_vec(), &header)? {
        Page::Leaf(leaf) => leaf,
        Page::Node(_) => return Ok(None),
    };
    let mut read = LeafInPlace {
        entries: Vec::with_capacity(leaf.len()),
        found: Vec::with_capacity(leaf.len()),
        values: Vec::with_capacity(leaf.len()),
        probes: Vec::with_capacity(2 * leaf.len()),
    };
    for i in 0..leaf.len() {
        let entry = leaf.entry(i)?;
        read.found.push(leaf.search(&entry.key)?);
        read.values.push(leaf.value_of(&entry.key)?.map(page_value));
        let cut = entry.key[..entry.key.len().saturating_sub(1)].to_vec();
        let longer = [entry.key.as_ref(), &[0]].concat();
        for probe in [cut, longer] {
            let found = leaf.search(&probe)?;
            let value = leaf.value_of(&probe)?.map(page_value);
            read.probes.push((probe, found, value));
        }
        read.entries.push((entry.key, page_value(entry.value)));
    }
    Ok(Some(read))
}

fn page_value(value: Value) -> PageValue {
    match value {
        Value::Inline(v) => PageValue::Inline(v),
        Value::Overflow(r) => PageValue::Run(r.start_page, r.len, r.checksum),
    }
}

/// Encodes `node` as the engine would and seals it as page `page`.
pub fn encode_node(page_size: usize, node: &PageNode, page: u64) -> Result<Vec<u8>, String> {
    let layout = Layout::new(page_size);
    let mut image = match node {
        PageNode::Leaf(entries) => {
            let entries: Vec<Entry> = entries
                .iter()
                .map(|(key, value)| Entry {
                    key: key.clone(),
                    value: match value {
                        PageValue::Inline(v) => Value::Inline(v.clone()),
                        PageValue::Run(start_page, len, checksum) => Value::Overflow(RunRef {
                            start_page: *start_page,
                            len: *len,
                            checksum: *checksum,
                        }),
                    },
                })
                .collect();
            let cells: Vec<(&[u8], ValueCell<'_>)> = entries
                .iter()
                .map(|e| {
                    let cell = match &e.value {
                        Value::Inline(v) => ValueCell::Inline(v),
                        Value::Overflow(run) => ValueCell::Run(*run),
                    };
                    (e.key.as_ref(), cell)
                })
                .collect();
            page_format::encode_leaf(layout, &cells)?
        }
        PageNode::Branch(keys, children) => {
            let children: Vec<DiskRef> = children
                .iter()
                .map(|&(page, checksum)| DiskRef { page, checksum })
                .collect();
            page_format::encode_branch(layout, keys, &children)?
        }
    };
    image.seal(page, page_size);
    Ok(image.bytes)
}

/// Recomputes the tail checksum and the page checksum of a node image.
pub fn reseal_node(page_size: usize, image: &mut [u8]) {
    if image.len() < page_size {
        return;
    }
    let (first, tail) = image.split_at_mut(page_size);
    first[20..24].copy_from_slice(&crc32fast::hash(tail).to_le_bytes());
    page_format::seal_page(first);
}

/// The header fields: page size, generation, checkpoint sequence, root
/// `(page, crc)`, height, free list `(page, crc)`, free pages, total pages,
/// entries.
pub type HeaderFields = (
    u32,
    u64,
    u64,
    Option<(u64, u32)>,
    u32,
    Option<(u64, u32)>,
    u64,
    u64,
    u64,
);

/// Decodes a header slot. `Err(None)` for a slot of a newer version.
pub fn decode_header(bytes: &[u8]) -> Result<HeaderFields, Option<String>> {
    let h = Header::decode(bytes).map_err(|e| match e {
        HeaderError::Invalid(reason) => Some(reason),
        HeaderError::Unsupported(_) => None,
    })?;
    Ok((
        h.page_size,
        h.generation,
        h.checkpoint_seq,
        h.root.map(|d| (d.page, d.checksum)),
        h.height,
        h.free_list.map(|d| (d.page, d.checksum)),
        h.free_pages,
        h.total_pages,
        h.entries,
    ))
}

/// Encodes a header slot.
pub fn encode_header(f: &HeaderFields) -> Vec<u8> {
    let disk = |d: Option<(u64, u32)>| d.map(|(page, checksum)| DiskRef { page, checksum });
    Header {
        page_size: f.0,
        generation: f.1,
        checkpoint_seq: f.2,
        root: disk(f.3),
        height: f.4,
        free_list: disk(f.5),
        free_pages: f.6,
        total_pages: f.7,
        entries: f.8,
    }
    .encode()
}

/// Recomputes the checksum of a header slot.
pub fn reseal_header(bytes: &mut [u8]) {
    if bytes.len() >= 92 {
        let crc = crc32fast::hash(&bytes[..88]);
        bytes[88..92].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A decoded free-list page: its runs `(start, count)` and the next page.
pub type FreeListPage = (Vec<(u64, u64)>, Option<(u64, u32)>);

/// Decodes the free-list page `page` whose parent recorded checksum `crc`,
/// in a file of `total_pages` pages.
pub fn decode_free_list_page(
    bytes: &[u8],
    page: u64,
    crc: u32,
    total_pages: u64,
) -> Result<FreeListPage, String> {
    let at = DiskRef {
        page,
        checksum: crc,
    };
    let (runs, next) = free_list::decode_page(bytes, at, total_pages)?;
    Ok((
        runs.iter().map(|r| (r.start, r.count)).collect(),
        next.map(|d| (d.page, d.checksum)),
    ))
}

/// Encodes one free-list page holding `runs` (as many as fit), pointing at
/// `next`. Returns the page and its checksum.
pub fn encode_free_list_page(
    page_size: usize,
    page: u64,
    runs: &[(u64, u64)],
    next: Option<(u64, u32)>,
) -> (Vec<u8>, u32) {
    let layout = Layout::new(page_size);
    let runs: Vec<PageRun> = runs
        .iter()
        .take(free_list::runs_per_page(layout))
        .map(|&(start, count)| PageRun { start, count })
        .collect();
    let mut pages = vec![page];
    if let Some((next_page, _)) = next {
        pages.push(next_page);
    }
    let (mut encoded, head) = free_list::encode_chain(layout, &pages, &runs);
    let mut first = encoded.swap_remove(0).1;
    if let Some((next_page, next_crc)) = next {
        first[24..32].copy_from_slice(&next_page.to_le_bytes());
        first[32..36].copy_from_slice(&next_crc.to_le_bytes());
    }
    let crc = page_format::seal_page(&mut first);
    debug_assert!(head.is_some());
    (first, crc)
}
