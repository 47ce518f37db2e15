//! The tier's file: positioned page reads and writes, node loads through
//! the shared cache with checksum verification, and overflow-run reads.
//!
//! Every failure to read or verify bytes becomes `Error::Corruption` naming
//! the file and the byte offset of the page (a read past the end of the file
//! included: a truncated file is corrupt, not an I/O error).

use std::any::Any;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tierdb_cache::{CacheValue, PageCache, PageKey};
use tierdb_io::{Error, Result, VfsFile};
use tierdb_tier::Counter;

use crate::codec::DecodeResult;
use crate::layout::Layout;
use crate::leaf_page::LeafPage;
use crate::node::{Body, Child, DiskRef, Node, Origin, RunRef, Value};
use crate::page_format::{
    PAGE_TYPE_BRANCH, PAGE_TYPE_LEAF, PageHeader, check_extent, decode_node, parse_header,
};

/// Overflow values up to this many bytes are kept in the shared cache.
const CACHED_VALUE_BYTES_MAX: u64 = 256 * 1024;

/// A cached overflow value, tagged with its checksum so a stale entry is
/// never mistaken for the current one.
#[derive(Debug)]
struct CachedValue {
    checksum: u32,
    bytes: Bytes,
}

/// The open tier file and its counters.
#[derive(Debug)]
pub(crate) struct Store {
    file: Arc<dyn VfsFile>,
    path: PathBuf,
    layout: Layout,
    cache: Arc<PageCache>,
    file_id: u64,
    /// Read-path counters, bumped by every reader thread (striped).
    hits: Counter,
    misses: Counter,
    bytes_written: AtomicU64,
    /// Of `bytes_written`, headers and free-list pages.
    meta_bytes_written: AtomicU64,
    gets: Counter,
    get_pages: Counter,
}

impl Store {
    /// Wraps an open file.
    pub(crate) fn new(
        file: Arc<dyn VfsFile>,
        layout: Layout,
        cache: Arc<PageCache>,
        file_id: u64,
    ) -> Self {
        let path = file.path().to_path_buf();
        Store {
            file,
            path,
            layout,
            cache,
            file_id,
            hits: Counter::new(),
            misses: Counter::new(),
            bytes_written: AtomicU64::new(0),
            meta_bytes_written: AtomicU64::new(0),
            gets: Counter::new(),
            get_pages: Counter::new(),
        }
    }

    /// The page-size rules of this file.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A corruption error at `page`.
    pub(crate) fn corrupt_page(&self, page: u64, reason: impl Into<String>) -> Error {
        let offset = page.saturating_mul(self.layout.page_size as u64);
        Error::corruption(&self.path, offset, reason)
    }

    /// The byte offset of `page`, checked.
    pub(crate) fn offset_of(&self, page: u64) -> Result<u64> {
        page.checked_mul(self.layout.page_size as u64)
            .ok_or_else(|| self.corrupt_page(page, "page number out of range"))
    }

    /// Reads `len` bytes at `offset`; a read past the end is corruption.
    /// Lengths above one page come from disk (tails, runs), so they are
    /// checked against the file size before anything is allocated.
    pub(crate) fn read_at(&self, offset: u64, len: u64, page: u64) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| self.corrupt_page(page, "length overflows"))?;
        if len > self.layout.page_size as u64 {
            let file_len = self.file.len()?;
            if end > file_len {
                return Err(self.corrupt_page(
                    page,
                    format!("{len} bytes at offset {offset} run past end of file ({file_len})"),
                ));
            }
        }
        let len = usize::try_from(len).map_err(|_| self.corrupt_page(page, "length too large"))?;
        let mut buf = vec![0u8; len];
        self.read_into(offset, &mut buf, page)?;
        Ok(buf)
    }

    /// Fills `buf` from `offset` (in the extent of `page`, for errors).
    fn read_into(&self, offset: u64, buf: &mut [u8], page: u64) -> Result<()> {
        if offset.checked_add(buf.len() as u64).is_none() {
            return Err(self.corrupt_page(page, "length overflows"));
        }
        self.file.read_exact_at(buf, offset).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == ErrorKind::UnexpectedEof => self
                .corrupt_page(
                    page,
                    format!(
                        "{} bytes at offset {offset} run past end of file",
                        buf.len()
                    ),
                ),
            other => other,
        })
    }

    /// Writes `bytes` at page `page`.
    pub(crate) fn write_pages(&self, page: u64, bytes: &[u8]) -> Result<()> {
        let offset = self.offset_of(page)?;
        self.write_at(offset, bytes)
    }

    /// Writes metadata (a header, a free-list page) at page `page`,
    /// counted apart as well.
    pub(crate) fn write_meta_pages(&self, page: u64, bytes: &[u8]) -> Result<()> {
        self.write_pages(page, bytes)?;
        self.meta_bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of headers and free-list pages written (part of the bytes
    /// written).
    pub(crate) fn meta_bytes_written(&self) -> u64 {
        self.meta_bytes_written.load(Ordering::Relaxed)
    }

    /// Writes `bytes` at `offset`, counting them.
    pub(crate) fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.file.write_all_at(bytes, offset)?;
        self.bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// `fdatasync`.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    /// Cuts the file after page `pages - 1` if it is longer.
    pub(crate) fn truncate_to(&self, pages: u64) -> Result<()> {
        let len = self.offset_of(pages)?;
        if self.file.len()? > len {
            self.file.set_len(len)?;
        }
        Ok(())
    }

    /// The file's length in bytes.
    pub(crate) fn file_len(&self) -> Result<u64> {
        self.file.len()
    }

    /// Counters: (cache hits, cache misses, bytes written).
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        (
            self.hits.get(),
            self.misses.get(),
            self.bytes_written.load(Ordering::Relaxed),
        )
    }

    /// Counts a node found without the cache (`resident.rs`) as a hit.
    pub(crate) fn count_hit(&self) {
        self.hits.add(1);
    }

    /// Counts one point read that loaded `pages` pages or overflow values.
    pub(crate) fn count_get(&self, pages: u64) {
        self.gets.add(1);
        self.get_pages.add(pages);
    }

    /// Point reads and the pages they loaded: (gets, pages).
    pub(crate) fn get_counters(&self) -> (u64, u64) {
        (self.gets.get(), self.get_pages.get())
    }

    fn key(&self, page: u64) -> PageKey {
        PageKey {
            file: self.file_id,
            page,
        }
    }

    /// Forgets whatever the cache holds for the extent starting at `page`
    /// (called when a write set replaces the node there, and when the page
    /// is allocated again).
    pub(crate) fn forget(&self, page: u64) {
        self.cache.remove(self.key(page));
    }

    /// Puts a node just written into the cache.
    pub(crate) fn cache_page(&self, page: &Page) {
        let (key, charge) = (self.key(page.page()), self.charge(page));
        match page {
            Page::Node(node) => self.cache.insert(key, Arc::clone(node), charge),
            Page::Leaf(leaf) => self.cache.insert(key, Arc::clone(leaf), charge),
        }
    }

    /// What a cached node costs: the memory it holds (see
    /// [`Node::heap_bytes`] and [`LeafPage::charge`]), a decoded node at
    /// least its pages.
    fn charge(&self, page: &Page) -> usize {
        match page {
            Page::Leaf(leaf) => leaf.charge(),
            Page::Node(node) => usize::try_from(node.origin.map_or(1, |o| o.page_count))
                .unwrap_or(usize::MAX)
                .saturating_mul(self.layout.page_size)
                .max(node.heap_bytes()),
        }
    }

    /// The node a child points at, as the cache holds it.
    pub(crate) fn resolve(&self, child: &Child) -> Result<Page> {
        match child {
            Child::Mem(node) => Ok(Page::Node(Arc::clone(node))),
            Child::Disk(disk) => self.load_page(*disk),
        }
    }

    /// Loads the node at `disk` through the cache, verifying its checksum
    /// against the parent's pointer; a leaf cached as its page is decoded
    /// (not read again).
    pub(crate) fn load_node(&self, disk: DiskRef) -> Result<Arc<Node>> {
        match self.load_page(disk)? {
            Page::Node(node) => Ok(node),
            Page::Leaf(leaf) => leaf
                .to_node()
                .map(Arc::new)
                .map_err(|r| self.corrupt_page(disk.page, r)),
        }
    }

    /// Loads the node at `disk` through the cache, as the cache holds it.
    pub(crate) fn load_page(&self, disk: DiskRef) -> Result<Page> {
        let mut loaded = false;
        let value = self.cache.get_or_load_value(self.key(disk.page), || {
            loaded = true;
            let page = self.read_page(disk)?;
            let charge = self.charge(&page);
            Ok::<_, Error>((page.value(), charge))
        })?;
        if let Some(page) = Page::from_value(value).filter(|p| p.is_at(disk)) {
            let counter = if loaded { &self.misses } else { &self.hits };
            counter.add(1);
            return Ok(page);
        }
        // A stale entry from before the page was reused: read it afresh.
        self.cache.remove(self.key(disk.page));
        self.misses.add(1);
        let page = self.read_page(disk)?;
        self.cache_page(&page);
        Ok(page)
    }

    /// For a point read of `key`: searches the leaf at `disk` if it is in
    /// the cache, in place under the cache shard's read lock, so readers of
    /// a hot leaf touch neither its reference count nor a lock that excludes
    /// other readers (`search` searches a leaf cached as a node). A leaf
    /// read from the file is searched too; a branch is returned.
    pub(crate) fn search_leaf(
        &self,
        disk: DiskRef,
        key: &[u8],
        search: impl FnOnce(&Node) -> Result<Option<Value>>,
    ) -> Result<Searched> {
        let in_place = |value: &(dyn Any + Send + Sync)| {
            if let Some(leaf) = value.downcast_ref::<LeafPage>() {
                return leaf.is_at(disk).then(|| self.value_in(leaf, key));
            }
            let node = value.downcast_ref::<Node>()?;
            (node.is_at(disk) && matches!(node.body, Body::Leaf(_))).then(|| search(node))
        };
        let cached = match self.cache.borrow_or_get(self.key(disk.page), in_place) {
            Some(Ok(found)) => {
                self.hits.add(1);
                return Ok(Searched::Leaf(found?));
            }
            Some(Err(value)) => Page::from_value(value).filter(|p| p.is_at(disk)),
            None => None,
        };
        // A branch (counted here), or not cached or stale (the load counts).
        let page = match cached {
            Some(page) => {
                self.hits.add(1);
                page
            }
            None => self.load_page(disk)?,
        };
        match page {
            Page::Leaf(leaf) => Ok(Searched::Leaf(self.value_in(&leaf, key)?)),
            Page::Node(node) => Ok(Searched::Node(node)),
        }
    }

    /// The value of `key` in a cached leaf.
    fn value_in(&self, leaf: &LeafPage, key: &[u8]) -> Result<Option<Value>> {
        leaf.value_of(key)
            .map_err(|r| self.corrupt_page(leaf.page(), r))
    }

    /// Reads the node at `disk` from the file (no cache), as the cache
    /// holds it. The first page is read into this thread's page buffer: a
    /// leaf keeps a copy of the part its cells use, so a cache miss neither
    /// allocates nor zeroes a page-sized buffer it would free at once (that
    /// churn also fragmented the heap the cached leaves live in).
    fn read_page(&self, disk: DiskRef) -> Result<Page> {
        let corrupt = |r| self.corrupt_page(disk.page, r);
        let first = PAGE_BUFFER.with_borrow_mut(|buffer| {
            buffer.resize(self.layout.page_size, 0);
            let header = self.read_first_page(disk, buffer)?;
            Ok::<_, Error>(
                match leaf_in_place(self.layout, buffer, &header).map_err(corrupt)? {
                    Some(leaf) => FirstPage::Leaf(leaf),
                    None => FirstPage::Other(buffer.clone(), header),
                },
            )
        })?;
        match first {
            FirstPage::Leaf(leaf) => Ok(Page::Leaf(Arc::new(leaf))),
            FirstPage::Other(first, header) => {
                let tail = self.read_tail(disk, &header)?;
                decode_page(self.layout, first, tail, &header).map_err(corrupt)
            }
        }
    }

    /// Reads and decodes the node at `disk` from the file (no cache).
    pub(crate) fn read_node(&self, disk: DiskRef) -> Result<Node> {
        let (first, tail, header) = self.read_extent(disk)?;
        decode_node(self.layout, &first.into(), &tail.into(), &header)
            .map_err(|r| self.corrupt_page(disk.page, r))
    }

    /// Reads the pages of the node at `disk`: the first, checked against
    /// the parent's pointer, and its tail.
    fn read_extent(&self, disk: DiskRef) -> Result<(Vec<u8>, Vec<u8>, PageHeader)> {
        let mut first = vec![0; self.layout.page_size];
        let header = self.read_first_page(disk, &mut first)?;
        let tail = self.read_tail(disk, &header)?;
        Ok((first, tail, header))
    }

    /// Reads the first page of the node at `disk` into `buffer` (one page
    /// long) and checks its header against the parent's pointer.
    fn read_first_page(&self, disk: DiskRef, buffer: &mut [u8]) -> Result<PageHeader> {
        let offset = self.offset_of(disk.page)?;
        self.read_into(offset, buffer, disk.page)?;
        let header = parse_header(buffer).map_err(|r| self.corrupt_page(disk.page, r))?;
        self.check_node_header(disk, header.page, header.crc, header.page_type)?;
        Ok(header)
    }

    /// The tail pages of the node at `disk`, whose first page has `header`.
    fn read_tail(&self, disk: DiskRef, header: &PageHeader) -> Result<Vec<u8>> {
        if header.tail_pages == 0 {
            return Ok(Vec::new());
        }
        let page_size = self.layout.page_size as u64;
        let tail_len = header
            .tail_pages
            .checked_mul(page_size)
            .ok_or_else(|| self.corrupt_page(disk.page, "tail too long"))?;
        self.read_at(self.offset_of(disk.page)? + page_size, tail_len, disk.page)
    }

    fn check_node_header(&self, disk: DiskRef, page: u64, crc: u32, page_type: u8) -> Result<()> {
        if page != disk.page {
            return Err(self.corrupt_page(
                disk.page,
                format!("page claims to be page {page} (misdirected write?)"),
            ));
        }
        if crc != disk.checksum {
            return Err(self.corrupt_page(
                disk.page,
                format!("page checksum {crc:#010x} differs from the parent's {:#010x} (stale or lost write?)", disk.checksum),
            ));
        }
        if page_type != PAGE_TYPE_LEAF && page_type != PAGE_TYPE_BRANCH {
            return Err(self.corrupt_page(
                disk.page,
                format!("page type {page_type} is not a tree node"),
            ));
        }
        Ok(())
    }

    /// The bytes of an overflow value, through the cache.
    pub(crate) fn read_value(&self, run: RunRef) -> Result<Bytes> {
        if run.len > CACHED_VALUE_BYTES_MAX {
            self.misses.add(1);
            return self.read_run(run);
        }
        let mut loaded = false;
        let cached = self.cache.get_or_load(self.key(run.start_page), || {
            loaded = true;
            let bytes = self.read_run(run)?;
            let charge = bytes.len().max(1);
            Ok::<_, Error>((
                Arc::new(CachedValue {
                    checksum: run.checksum,
                    bytes,
                }),
                charge,
            ))
        })?;
        if cached.checksum == run.checksum && cached.bytes.len() as u64 == run.len {
            let counter = if loaded { &self.misses } else { &self.hits };
            counter.add(1);
            return Ok(cached.bytes.clone());
        }
        self.cache.remove(self.key(run.start_page));
        self.misses.add(1);
        self.read_run(run)
    }

    /// Reads and verifies an overflow run (no cache).
    pub(crate) fn read_run(&self, run: RunRef) -> Result<Bytes> {
        let offset = self.offset_of(run.start_page)?;
        let bytes = self.read_at(offset, run.len, run.start_page)?;
        if crc32fast::hash(&bytes) != run.checksum {
            return Err(self.corrupt_page(run.start_page, "overflow run checksum mismatch"));
        }
        Ok(Bytes::from(bytes))
    }
}

/// What [`Store::search_leaf`] found.
pub(crate) enum Searched {
    /// The node was a leaf: the value of the key, if present.
    Leaf(Option<Value>),
    /// A branch, to descend from.
    Node(Arc<Node>),
}

/// A tree node as the cache holds it.
#[derive(Clone, Debug)]
pub(crate) enum Page {
    /// A branch, a leaf with tail pages, or an in-memory node: decoded.
    Node(Arc<Node>),
    /// A leaf read in place (see `leaf_page.rs`).
    Leaf(Arc<LeafPage>),
}

impl Page {
    /// Whether this is the node `disk` points at (same page and checksum).
    pub(crate) fn is_at(&self, disk: DiskRef) -> bool {
        match self {
            Page::Node(node) => node.is_at(disk),
            Page::Leaf(leaf) => leaf.is_at(disk),
        }
    }

    /// The first page of a node decoded from disk (0 for in-memory nodes,
    /// which are never cached).
    fn page(&self) -> u64 {
        match self {
            Page::Node(node) => node.origin.map_or(0, |o| o.page),
            Page::Leaf(leaf) => leaf.page(),
        }
    }

    fn value(&self) -> CacheValue {
        match self {
            Page::Node(node) => Arc::clone(node) as CacheValue,
            Page::Leaf(leaf) => Arc::clone(leaf) as CacheValue,
        }
    }

    /// The node a cache entry holds, if it holds one.
    fn from_value(value: CacheValue) -> Option<Page> {
        match value.downcast::<LeafPage>() {
            Ok(leaf) => Some(Page::Leaf(leaf)),
            Err(value) => value.downcast::<Node>().ok().map(Page::Node),
        }
    }
}

/// Decodes a node's verified pages into the form the cache holds: a leaf
/// without tail pages in place, anything else decoded.
pub(crate) fn decode_page(
    layout: Layout,
    first: Vec<u8>,
    tail: Vec<u8>,
    header: &PageHeader,
) -> DecodeResult<Page> {
    if let Some(leaf) = leaf_in_place(layout, &first, header)? {
        return Ok(Page::Leaf(Arc::new(leaf)));
    }
    let node = decode_node(layout, &first.into(), &tail.into(), header)?;
    Ok(Page::Node(Arc::new(node)))
}

/// A leaf without tail pages, read in place from its verified first page;
/// `None` for any other node.
fn leaf_in_place(
    layout: Layout,
    first: &[u8],
    header: &PageHeader,
) -> DecodeResult<Option<LeafPage>> {
    if header.page_type != PAGE_TYPE_LEAF || header.tail_pages != 0 {
        return Ok(None);
    }
    let origin = Origin {
        page: header.page,
        page_count: 1,
        checksum: header.crc,
    };
    check_extent(layout, first, &[], header)?;
    LeafPage::new(layout, first, header.count, origin).map(Some)
}

/// The first page of a node read on a cache miss: a leaf already copied
/// out of the page buffer, or the page itself for decoding with its tail.
enum FirstPage {
    Leaf(LeafPage),
    Other(Vec<u8>, PageHeader),
}

thread_local! {
    /// The page buffer of [`Store::read_page`], reused by every miss on
    /// this thread.
    static PAGE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}
