//! Persist: the copy-on-write checkpoint.
//!
//! 1. Under the tree lock, take the current root `R` at sequence `S`; then
//!    call `wal_durable_to(S)` (the write-ahead rule) before writing anything.
//! 2. Write every in-memory node reachable from `R`, children before parents,
//!    to free pages (never a page the durable checkpoint reaches), and every
//!    inline value too big for its leaf to an overflow run. `apply` keeps
//!    running meanwhile: `R` is shared, so it copies the paths it changes.
//! 3. Give up the reusable run at the end of the file (`Space::trim_tail`),
//!    write the free list (runs free once this checkpoint is durable), then
//!    `fdatasync`.
//! 4. Write the header into slot `generation % 2`, then `fdatasync`: this is
//!    the commit point. Then cut the file to the header's page count.
//! 5. Release what the previous checkpoint held, then swizzle (`swizzle.rs`).
//!
//! Any I/O error after step 1 poisons persists: the in-memory free-space
//! state no longer matches the file, so further persists fail with
//! `Error::Poisoned` until the tier is reopened.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tierdb_io::{Error, Result};
use tierdb_tier::Seq;

use crate::free_list::{encode_chain, pages_needed};
use crate::header::Header;
use crate::layout::Layout;
use crate::node::{Body, Child, DiskRef, Entry, Leaf, Node, RunRef, Value};
use crate::page_format::{Image, ValueCell, encode_branch, encode_leaf, parse_header};
use crate::space::{PageRun, Space};
use crate::store::{Page, Store, decode_page};

/// A node this checkpoint wrote.
#[derive(Debug)]
pub(crate) struct Written {
    /// The node written. Holding it keeps its address (the key of the
    /// table) from being reused until the swizzle is over.
    pub(crate) source: Arc<Node>,
    /// Where it went.
    pub(crate) disk: DiskRef,
    /// The extent and the overflow runs written for it.
    pub(crate) runs: Vec<PageRun>,
}

/// The tree version a checkpoint writes.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    /// Root at `seq`.
    pub(crate) root: Child,
    /// Sequence of the version.
    pub(crate) seq: Seq,
    /// Entries in it.
    pub(crate) entries: u64,
    /// Its height.
    pub(crate) height: u32,
}

/// What a successful checkpoint wrote.
pub(crate) struct Committed {
    /// The new durable header.
    pub(crate) header: Header,
    /// Nodes written, by identity.
    pub(crate) written: HashMap<usize, Written>,
    /// Pages of the new free list.
    pub(crate) list_pages: Vec<u64>,
}

/// Writes a checkpoint of `snapshot` as generation `previous.generation + 1`.
pub(crate) fn write_checkpoint(
    store: &Store,
    space: &Mutex<Space>,
    previous: &Header,
    snapshot: &Snapshot,
) -> Result<Committed> {
    let generation = previous.generation + 1;
    space.lock().promote();
    let mut writer = NodeWriter {
        store,
        space,
        layout: store.layout(),
        written: HashMap::new(),
    };
    let root = writer.write_child(&snapshot.root)?;
    space.lock().trim_tail();
    let (free_list, free_pages, list_pages) = writer.write_free_list(snapshot.seq, generation)?;
    store.sync()?;
    let header = Header {
        page_size: previous.page_size,
        generation,
        checkpoint_seq: snapshot.seq,
        root: Some(root),
        height: snapshot.height,
        free_list,
        free_pages,
        total_pages: space.lock().end(),
        entries: snapshot.entries,
    };
    store.write_meta_pages(header.slot(), &header.encode())?;
    store.sync()?;
    // Only now may the file lose pages the previous header still counts.
    // A crash before the cut leaves free pages past `total pages`; one
    // during it, a length that is still at least the header's.
    store.truncate_to(header.total_pages)?;
    Ok(Committed {
        header,
        written: writer.written,
        list_pages,
    })
}

struct NodeWriter<'a> {
    store: &'a Store,
    space: &'a Mutex<Space>,
    layout: Layout,
    written: HashMap<usize, Written>,
}

impl NodeWriter<'_> {
    fn alloc(&self, count: u64) -> PageRun {
        let run = self.space.lock().alloc(count);
        self.store.forget(run.start);
        run
    }

    fn write_child(&mut self, child: &Child) -> Result<DiskRef> {
        match child {
            Child::Disk(disk) => Ok(*disk),
            Child::Mem(node) => self.write_node(node),
        }
    }

    fn write_node(&mut self, node: &Arc<Node>) -> Result<DiskRef> {
        let id = Node::identity(node);
        if let Some(done) = self.written.get(&id) {
            return Ok(done.disk);
        }
        let mut runs = Vec::new();
        let encoded = match &node.body {
            Body::Leaf(leaf) => self.encode_leaf(leaf, &mut runs)?,
            Body::Branch(branch) => {
                let children = branch
                    .children
                    .iter()
                    .map(|c| self.write_child(c))
                    .collect::<Result<Vec<_>>>()?;
                encode_branch(self.layout, &branch.keys, &children)
            }
        };
        let mut image = encoded.map_err(|reason| self.bug(reason))?;
        let extent = self.alloc(image.page_count);
        let checksum = image.seal(extent.start, self.layout.page_size);
        self.store.write_pages(extent.start, &image.bytes)?;
        // Into the cache now rather than at the swizzle: held until then, the
        // decoded copies of a large checkpoint doubled its memory outside
        // any budget. No durable tree reaches `extent` before the header
        // commits, and a reader checks a cached node's page and checksum
        // against its parent's pointer, so an early entry is never wrong.
        let decoded = self.decode_written(image, extent.start)?;
        self.store.cache_page(&decoded);
        runs.push(extent);
        let disk = DiskRef {
            page: extent.start,
            checksum,
        };
        let written = Written {
            source: Arc::clone(node),
            disk,
            runs,
        };
        self.written.insert(id, written);
        Ok(disk)
    }

    fn encode_leaf(
        &mut self,
        leaf: &Leaf,
        runs: &mut Vec<PageRun>,
    ) -> Result<Result<Image, String>> {
        let mut cells = Vec::with_capacity(leaf.entries.len());
        for entry in &leaf.entries {
            let cell = self.value_cell(entry, runs)?;
            cells.push((entry.key.as_ref(), cell));
        }
        Ok(encode_leaf(self.layout, &cells))
    }

    fn value_cell<'e>(
        &mut self,
        entry: &'e Entry,
        runs: &mut Vec<PageRun>,
    ) -> Result<ValueCell<'e>> {
        match &entry.value {
            Value::Overflow(run) => Ok(ValueCell::Run(*run)),
            Value::Inline(v)
                if self
                    .layout
                    .leaf_value_inline(entry.key.len(), v.len() as u64) =>
            {
                Ok(ValueCell::Inline(v))
            }
            Value::Inline(v) => {
                let run = self.write_run(v)?;
                runs.push(PageRun {
                    start: run.start_page,
                    count: run.page_count(self.layout.page_size),
                });
                Ok(ValueCell::Run(run))
            }
        }
    }

    fn write_run(&self, bytes: &[u8]) -> Result<RunRef> {
        let page_size = self.layout.page_size as u64;
        let run = RunRef {
            start_page: 0,
            len: bytes.len() as u64,
            checksum: crc32fast::hash(bytes),
        };
        let extent = self.alloc(run.page_count(self.layout.page_size));
        let offset = self.store.offset_of(extent.start)?;
        self.store.write_at(offset, bytes)?;
        let padding = extent.count * page_size - run.len;
        if padding > 0 {
            let zeros = vec![0u8; padding as usize];
            self.store.write_at(offset + run.len, &zeros)?;
        }
        Ok(RunRef {
            start_page: extent.start,
            ..run
        })
    }

    /// Decodes what was just written: the node the cache holds, and a
    /// check that the encoding round-trips.
    /// Takes the image's bytes: the decoded node's keys and values are
    /// slices of them.
    fn decode_written(&self, image: Image, page: u64) -> Result<Page> {
        let mut first = image.bytes;
        let tail = first.split_off(self.layout.page_size.min(first.len()));
        let header = parse_header(&first).map_err(|r| self.bug(r))?;
        decode_page(self.layout, first, tail, &header)
            .map_err(|r| self.bug(format!("page {page}: {r}")))
    }

    fn bug(&self, reason: String) -> Error {
        Error::corruption(
            self.store.path(),
            0,
            format!("checkpoint encoding failed (bug): {reason}"),
        )
    }

    fn write_free_list(
        &mut self,
        seq: Seq,
        generation: u64,
    ) -> Result<(Option<DiskRef>, u64, Vec<u64>)> {
        let mut pages: Vec<u64> = Vec::new();
        let runs = loop {
            let runs = self.space.lock().durable_free_runs(seq, generation);
            if pages_needed(self.layout, runs.len()) <= pages.len() {
                break runs;
            }
            pages.push(self.alloc(1).start);
        };
        let (encoded, head) = encode_chain(self.layout, &pages, &runs);
        for (page, bytes) in &encoded {
            self.store.write_meta_pages(*page, bytes)?;
        }
        let free_pages = runs.iter().map(|r| r.count).sum();
        Ok((head, free_pages, pages))
    }
}
