//! A full check of the durable checkpoint on disk, bypassing the cache:
//! every node's checksum, page number and key order, separator bounds, equal
//! leaf depth, every overflow run's checksum, the free list, the entry
//! count, and that each page of the file is used exactly once — by a header,
//! a node extent, an overflow run, a free-list page, or the free list.

use bytes::Bytes;
use tierdb_io::{Error, Result};

use crate::free_list::read_chain;
use crate::header::Header;
use crate::node::{Body, Branch, Child, DiskRef, Leaf, Value};
use crate::space::PageRun;
use crate::store::Store;

/// What [`BTreeTier::verify`](crate::BTreeTier::verify) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries in the durable tree.
    pub entries: u64,
    /// Levels of the tree (1 = a single leaf).
    pub height: u32,
    /// Pages holding nodes (including their spilled-key tails).
    pub node_pages: u64,
    /// Leaf nodes (each one first page, plus tail pages counted in
    /// `node_pages`).
    pub leaves: u64,
    /// Branch nodes.
    pub branches: u64,
    /// Encoded bytes of the leaves' first pages (header, slots and cells):
    /// `leaf_bytes / (leaves * page size)` is the average leaf fill.
    pub leaf_bytes: u64,
    /// Encoded bytes of the branches' first pages.
    pub branch_bytes: u64,
    /// Pages holding overflow values.
    pub overflow_pages: u64,
    /// Pages holding the free list.
    pub free_list_pages: u64,
    /// Pages the free list lists.
    pub free_pages: u64,
    /// Pages in the checkpoint (`[0, total_pages)`).
    pub total_pages: u64,
    /// Bytes per page.
    pub page_size: u64,
}

impl VerifyReport {
    /// Average fill of the leaves' first pages, 0..=1 (0 with no leaf).
    pub fn leaf_fill(&self) -> f64 {
        let capacity = self.leaves as f64 * self.page_size as f64;
        if capacity == 0.0 {
            0.0
        } else {
            self.leaf_bytes as f64 / capacity
        }
    }
}

/// Checks the checkpoint `header` of `store`.
pub(crate) fn verify(store: &Store, header: &Header) -> Result<VerifyReport> {
    let mut v = Verifier {
        store,
        used: vec![false; usize::try_from(header.total_pages).unwrap_or(0)],
        report: VerifyReport::default(),
    };
    v.report.total_pages = header.total_pages;
    v.report.page_size = store.layout().page_size as u64;
    v.report.height = header.height;
    v.mark(PageRun { start: 0, count: 2 }, "header")?;
    if let Some(root) = header.root {
        v.node(root, None, None, header.height)?;
    }
    let list = read_chain(store, header.free_list, header.total_pages)?;
    for page in &list.list_pages {
        v.mark(
            PageRun {
                start: *page,
                count: 1,
            },
            "free-list page",
        )?;
    }
    for run in &list.runs {
        v.mark(*run, "free run")?;
    }
    v.report.free_list_pages = list.list_pages.len() as u64;
    v.report.free_pages = list.runs.iter().map(|r| r.count).sum();
    if v.report.entries != header.entries {
        return Err(Error::corruption(
            store.path(),
            0,
            format!(
                "header counts {} entries, tree holds {}",
                header.entries, v.report.entries
            ),
        ));
    }
    if let Some(page) = v.used.iter().position(|used| !used) {
        return Err(store.corrupt_page(page as u64, "page neither reachable nor free (leaked)"));
    }
    Ok(v.report)
}

struct Verifier<'a> {
    store: &'a Store,
    used: Vec<bool>,
    report: VerifyReport,
}

impl Verifier<'_> {
    fn mark(&mut self, run: PageRun, what: &str) -> Result<()> {
        for page in run.start..run.start.saturating_add(run.count) {
            let slot = usize::try_from(page)
                .ok()
                .and_then(|p| self.used.get_mut(p));
            match slot {
                Some(used) if !*used => *used = true,
                Some(_) => {
                    return Err(self
                        .store
                        .corrupt_page(page, format!("{what} uses a page already in use")));
                }
                None => {
                    return Err(self
                        .store
                        .corrupt_page(page, format!("{what} lies beyond the checkpoint's pages")));
                }
            }
        }
        Ok(())
    }

    fn node(
        &mut self,
        disk: DiskRef,
        lower: Option<&Bytes>,
        upper: Option<&Bytes>,
        level: u32,
    ) -> Result<()> {
        let node = self.store.read_node(disk)?;
        let count = node.origin.map_or(1, |o| o.page_count);
        self.mark(
            PageRun {
                start: disk.page,
                count,
            },
            "node",
        )?;
        self.report.node_pages += count;
        let encoded = self.store.layout().node_bytes(&node.body) as u64;
        match &node.body {
            Body::Leaf(_) => {
                self.report.leaves += 1;
                self.report.leaf_bytes += encoded;
            }
            Body::Branch(_) => {
                self.report.branches += 1;
                self.report.branch_bytes += encoded;
            }
        }
        let (first, last) = match &node.body {
            Body::Leaf(leaf) => (
                leaf.entries.first().map(|e| &e.key),
                leaf.entries.last().map(|e| &e.key),
            ),
            Body::Branch(branch) => (branch.keys.first(), branch.keys.last()),
        };
        let below = first.is_some_and(|k| lower.is_some_and(|l| k < l));
        let above = last.is_some_and(|k| upper.is_some_and(|u| k >= u));
        if below || above {
            return Err(self
                .store
                .corrupt_page(disk.page, "keys outside the parent's separators"));
        }
        match &node.body {
            Body::Leaf(_) if level != 1 => Err(self
                .store
                .corrupt_page(disk.page, "leaf above the bottom level")),
            Body::Branch(_) if level <= 1 => Err(self
                .store
                .corrupt_page(disk.page, "branch at the bottom level")),
            Body::Leaf(leaf) => self.leaf(leaf),
            Body::Branch(branch) => self.branch(branch, lower, upper, level),
        }
    }

    fn leaf(&mut self, leaf: &Leaf) -> Result<()> {
        self.report.entries += leaf.entries.len() as u64;
        for entry in &leaf.entries {
            if let Value::Overflow(run) = entry.value {
                self.store.read_run(run)?;
                let count = run.page_count(self.store.layout().page_size);
                self.mark(
                    PageRun {
                        start: run.start_page,
                        count,
                    },
                    "overflow run",
                )?;
                self.report.overflow_pages += count;
            }
        }
        Ok(())
    }

    fn branch(
        &mut self,
        branch: &Branch,
        lower: Option<&Bytes>,
        upper: Option<&Bytes>,
        level: u32,
    ) -> Result<()> {
        for (i, child) in branch.children.iter().enumerate() {
            let Child::Disk(child) = child else { continue };
            let lo = if i == 0 {
                lower
            } else {
                branch.keys.get(i - 1)
            };
            let hi = branch.keys.get(i).or(upper);
            self.node(*child, lo, hi, level - 1)?;
        }
        Ok(())
    }
}
