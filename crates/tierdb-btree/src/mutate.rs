//! Applying puts and deletes to a tree version by path copying.
//!
//! Every node on the path of a touched key is made mutable with
//! [`Node::edit`] (`Arc::make_mut`): a node still shared with a read view,
//! a running checkpoint, the cache or the published tree is copied; a node
//! this write set already copied is changed in place, so a batch copies each
//! node at most once. A node loaded from disk that is changed frees its
//! extent (at the write set's sequence, see `space`); so does an overflow
//! value that is overwritten or deleted.
//!
//! After each insert an overfull child is split; after each delete an
//! underfull child (under a quarter page) is joined with a sibling and cut
//! again if the pair does not fit in one page (a borrow). The root grows a
//! level when it overflows and loses one when it is a branch with one child.
//! Range deletes drop whole subtrees (`mutate/delete_range.rs`).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::{Error, Result};

mod delete_range;

use crate::key_heads::KeyHeads;
use crate::layout::{Layout, PAGE_HEADER_BYTES};
use crate::node::{Body, Branch, Child, Entry, Leaf, Node, Value};
use crate::pack::{is_scattered, pack_leaf};
use crate::read::find_value;
use crate::space::PageRun;
use crate::split::{Cut, join_bodies, split_body};
use crate::store::Store;

/// Nodes an overflowing node is recut with (itself included) when no single
/// sibling has room: the window's `w` nodes become `w + 1` pieces (or stay
/// `w` if they fit at 15/16). At the catalog's 100-500 B values, N = 1M
/// products and stock rows loaded in random order (`examples/
/// catalog_space.rs`): 2 (the B*-tree's two-into-three) gave 81.5 % leaf
/// fill, 3 gave 83.4 % for 4.6 % more checkpoint writes during the load, 4
/// gave 85.6 % (at N = 200k) for 16 % more.
const SPLIT_WINDOW: usize = 3;

/// The `width` children around `index` (fewer if the branch has fewer).
fn split_window(children: usize, index: usize, width: usize) -> Range<usize> {
    let width = width.min(children).max(1);
    let first = index.saturating_sub((width - 1) / 2).min(children - width);
    first..first + width
}

/// The most levels a tree may have; deeper means a corrupt or cyclic file.
pub(crate) const HEIGHT_MAX: u32 = 64;

/// One write set being applied to a private copy of the root.
pub(crate) struct Mutation<'a> {
    store: &'a Store,
    layout: Layout,
    /// Extents and runs this write set replaced.
    pub(crate) freed: Vec<PageRun>,
    /// Change in the number of entries.
    pub(crate) entries_delta: i64,
    /// Estimated bytes newly held in memory.
    pub(crate) dirty_bytes: u64,
    /// The tree's height (1 = a single leaf).
    pub(crate) height: u32,
    /// Recuts (splits, shares, joins) so far: a branch whose children were
    /// recut has new separators, so its search index must go.
    recuts: u64,
}

impl<'a> Mutation<'a> {
    /// A mutation of a tree of `height` levels.
    pub(crate) fn new(store: &'a Store, height: u32) -> Self {
        Mutation {
            store,
            layout: store.layout(),
            freed: Vec::new(),
            entries_delta: 0,
            dirty_bytes: 0,
            height,
            recuts: 0,
        }
    }

    /// Sets `key` to `value`.
    pub(crate) fn put(&mut self, root: &mut Child, key: Bytes, value: Bytes) -> Result<()> {
        self.insert_into(root, key, value, true)?;
        self.grow_root(root)
    }

    /// Removes `key` if present.
    pub(crate) fn delete(&mut self, root: &mut Child, key: &[u8]) -> Result<()> {
        if find_value(self.store, root, key, &mut 0)?.is_none() {
            return Ok(());
        }
        self.remove_from(root, key)?;
        self.shrink_root(root)
    }

    /// Inserts under `child`; `rightmost` if no key in the tree lies after
    /// `child`'s subtree. Returns whether the key went after every other
    /// key in the tree (an append).
    fn insert_into(
        &mut self,
        child: &mut Child,
        key: Bytes,
        value: Bytes,
        rightmost: bool,
    ) -> Result<bool> {
        // Most puts replace a value: the path keeps its search indexes
        // unless this put adds a key or a split or share recuts a node.
        let recuts = self.recuts;
        let node = self.materialize_keeping_heads(child)?;
        let found = node.search(&key);
        let Node { body, heads, .. } = node;
        let (appended, inserted) = match body {
            Body::Leaf(leaf) => {
                let appended = rightmost && leaf.entries.last().is_none_or(|e| e.key < key);
                (appended, self.upsert(leaf, found, key, value))
            }
            Body::Branch(branch) => {
                let index = found.map_or_else(|i| i, |i| i + 1);
                let last = index + 1 == branch.children.len();
                let next = branch
                    .children
                    .get_mut(index)
                    .ok_or_else(|| internal(self.store, "child index"))?;
                let recuts_below = self.recuts;
                let appended = self.insert_into(next, key, value, rightmost && last)?;
                // A branch's encoding changes only when a node under it is
                // recut (its keys and children); it fitted before this put,
                // so it fits now. Measuring a few hundred separators on
                // every level of every put showed in the update profile.
                let unchanged_branch = self.recuts == recuts_below
                    && matches!(
                        &branch.children[index],
                        Child::Mem(node) if matches!(node.body, Body::Branch(_))
                    );
                if unchanged_branch {
                    // Fits, as before the put.
                } else if appended {
                    self.cut_if_overfull(branch, index, Cut::FillLeft)?;
                } else {
                    self.split_if_overfull(branch, index)?;
                }
                (appended, false)
            }
        };
        if inserted || self.recuts != recuts {
            heads.take();
        }
        Ok(appended)
    }

    /// Sets `key` in `leaf`, where `found` is its search result; true if
    /// it was not there (the keys changed).
    fn upsert(
        &mut self,
        leaf: &mut Leaf,
        found: std::result::Result<usize, usize>,
        key: Bytes,
        value: Bytes,
    ) -> bool {
        // What the leaf's memory grows by (see `Node::heap_bytes`): the
        // value, and for a new key its bytes, entry and search head.
        self.dirty_bytes += value.len() as u64;
        if found.is_err() {
            self.dirty_bytes += (key.len() + size_of::<Entry>() + KeyHeads::HEAD_BYTES) as u64;
        }
        // Packed again only if it was scattered before this put: one value
        // or key in a buffer of its own is not worth copying the leaf for.
        let scattered = is_scattered(self.layout, leaf);
        let inserted = match found {
            Ok(index) => {
                let old = std::mem::replace(&mut leaf.entries[index].value, Value::Inline(value));
                self.free_value(&old);
                false
            }
            Err(index) => {
                leaf.entries.insert(
                    index,
                    Entry {
                        key,
                        value: Value::Inline(value),
                    },
                );
                self.entries_delta += 1;
                true
            }
        };
        if scattered {
            pack_leaf(self.layout, leaf);
        }
        inserted
    }

    fn remove_from(&mut self, child: &mut Child, key: &[u8]) -> Result<()> {
        let node = self.materialize(child)?;
        match &mut node.body {
            Body::Leaf(leaf) => {
                if let Ok(index) = leaf.search(key) {
                    let entry = leaf.entries.remove(index);
                    self.free_value(&entry.value);
                    self.entries_delta -= 1;
                }
                Ok(())
            }
            Body::Branch(branch) => {
                let index = branch.child_index(key);
                let next = branch
                    .children
                    .get_mut(index)
                    .ok_or_else(|| internal(self.store, "child index"))?;
                self.remove_from(next, key)?;
                self.join_if_underfull(branch, index)
            }
        }
    }

    fn free_value(&mut self, value: &Value) {
        if let Value::Overflow(run) = value {
            let count = run.page_count(self.layout.page_size);
            self.freed.push(PageRun {
                start: run.start_page,
                count,
            });
        }
    }

    /// Makes `child` an in-memory node this mutation may change, loading it
    /// (and freeing its extent) if it is on disk. Its search index is
    /// cleared: the caller may change its keys.
    fn materialize<'c>(&mut self, child: &'c mut Child) -> Result<&'c mut Node> {
        let node = self.materialize_keeping_heads(child)?;
        node.heads.take();
        Ok(node)
    }

    /// [`Self::materialize`], keeping the search index: the caller must
    /// clear it if it changes the keys.
    fn materialize_keeping_heads<'c>(&mut self, child: &'c mut Child) -> Result<&'c mut Node> {
        if let Child::Disk(disk) = *child {
            let node = self.store.load_node(disk)?;
            // The current tree no longer reaches the old page: its cached
            // copy would only hold cache space until the page is reused.
            self.store.forget(disk.page);
            let count = node.origin.map_or(1, |o| o.page_count);
            self.freed.push(PageRun {
                start: disk.page,
                count,
            });
            self.dirty_bytes += node.heap_bytes() as u64;
            *child = Child::Mem(node);
        }
        match child {
            Child::Mem(node) => Ok(Node::edit(node)),
            Child::Disk(_) => Err(internal(self.store, "materialize")),
        }
    }

    fn node_bytes(&self, child: &Child) -> Option<usize> {
        match child {
            Child::Mem(node) => Some(self.layout.node_bytes(&node.body)),
            Child::Disk(_) => None,
        }
    }

    /// Encoded bytes of a child, reading it (through the cache) if it is on
    /// disk; unlike [`Self::materialize`] this neither copies nor frees it.
    fn peek_bytes(&self, child: &Child) -> Result<usize> {
        match child {
            Child::Mem(node) => Ok(self.layout.node_bytes(&node.body)),
            Child::Disk(disk) => Ok(self.layout.node_bytes(&self.store.load_node(*disk)?.body)),
        }
    }

    /// Encoded bytes of child `index` if it is in memory and too big.
    fn overfull_bytes(&self, branch: &Branch, index: usize) -> Option<usize> {
        let bytes = self.node_bytes(branch.children.get(index)?)?;
        (!self.layout.fits(bytes)).then_some(bytes)
    }

    /// Cuts child `index` alone if it is too big.
    fn cut_if_overfull(&mut self, branch: &mut Branch, index: usize, cut: Cut) -> Result<()> {
        match self.overfull_bytes(branch, index) {
            Some(_) => self.recut(branch, index, index, cut),
            None => Ok(()),
        }
    }

    /// Splits an overfull child the way a B*-tree does, generalised: first
    /// into a sibling with room (the pair is recut into two pieces balanced
    /// by bytes), else together with its neighbours (`SPLIT_WINDOW` nodes
    /// in all) into one piece more than there were nodes, so nodes stay at
    /// least three quarters full instead of half. Random-order inserts then
    /// leave leaves about 83 % full rather than 69 %, which shrinks the file
    /// and what each checkpoint writes. A child with no sibling is cut
    /// alone.
    fn split_if_overfull(&mut self, branch: &mut Branch, index: usize) -> Result<()> {
        let Some(bytes) = self.overfull_bytes(branch, index) else {
            return Ok(());
        };
        let mut siblings = Vec::with_capacity(2);
        if index + 1 < branch.children.len() {
            siblings.push(index + 1);
        }
        if index > 0 {
            siblings.push(index - 1);
        }
        // A pair shares only if both pieces end at most 15/16 full, so the
        // next insert does not overflow again to move a single cell. (At the
        // catalog's 100-500 B values: 1/4 slack gave 72 % leaf fill, 1/8
        // 78 %, 1/16 82 %, 1/32 83 %; without sharing 68 %.)
        let share_limit = 2 * self.layout.capacity() - self.layout.capacity() / 8;
        if siblings.is_empty() {
            return self.recut(branch, index, index, Cut::Balanced(2));
        }
        for sibling in siblings {
            let sibling_bytes = self.peek_bytes(&branch.children[sibling])?;
            let cells = bytes + sibling_bytes - 2 * PAGE_HEADER_BYTES;
            if cells <= share_limit {
                return self.recut(
                    branch,
                    index.min(sibling),
                    index.max(sibling),
                    Cut::Balanced(2),
                );
            }
        }
        let window = split_window(branch.children.len(), index, SPLIT_WINDOW);
        let mut cells = 0;
        for i in window.clone() {
            let node_bytes = if i == index {
                bytes
            } else {
                self.peek_bytes(&branch.children[i])?
            };
            cells += node_bytes - PAGE_HEADER_BYTES;
        }
        let nodes = window.len();
        let room = nodes * (self.layout.capacity() - self.layout.capacity() / 16);
        let pieces = if cells <= room { nodes } else { nodes + 1 };
        self.recut(branch, window.start, window.end - 1, Cut::Balanced(pieces))
    }

    fn join_if_underfull(&mut self, branch: &mut Branch, index: usize) -> Result<()> {
        let underfull = branch
            .children
            .get(index)
            .and_then(|c| self.node_bytes(c))
            .is_some_and(|bytes| self.layout.underfull(bytes));
        if !underfull || branch.children.len() < 2 {
            return Ok(());
        }
        let (first, last) = if index + 1 < branch.children.len() {
            (index, index + 1)
        } else {
            (index - 1, index)
        };
        self.recut(branch, first, last, Cut::Balanced(1))
    }

    /// Replaces children `first..=last` of `branch` by their joined contents
    /// cut into pieces that fit (one piece: a merge; two: a borrow or a
    /// share).
    fn recut(&mut self, branch: &mut Branch, first: usize, last: usize, cut: Cut) -> Result<()> {
        self.recuts += 1;
        let mut bodies = Vec::with_capacity(last - first + 1);
        for i in first..=last {
            let child = branch
                .children
                .get_mut(i)
                .ok_or_else(|| internal(self.store, "recut range"))?;
            let node = self.materialize(child)?;
            let empty = Body::Leaf(Leaf::default());
            bodies.push(std::mem::replace(&mut node.body, empty));
        }
        let separators: Vec<Bytes> = Arc::make_mut(&mut branch.keys).drain(first..last).collect();
        let joined = join_bodies(bodies, separators)
            .ok_or_else(|| internal(self.store, "siblings of different kinds"))?;
        let pieces = split_body(self.layout, joined, cut);
        let mut keys = Vec::with_capacity(pieces.len());
        let mut children = Vec::with_capacity(pieces.len());
        for (separator, body) in pieces {
            keys.extend(separator);
            children.push(Child::Mem(Arc::new(Node::new(body))));
        }
        self.dirty_bytes +=
            (children.len().saturating_sub(last - first + 1) * self.layout.page_size) as u64;
        branch.children.splice(first..last + 1, children);
        Arc::make_mut(&mut branch.keys).splice(first..first, keys);
        Ok(())
    }

    fn grow_root(&mut self, root: &mut Child) -> Result<()> {
        while self
            .node_bytes(root)
            .is_some_and(|bytes| !self.layout.fits(bytes))
        {
            if self.height >= HEIGHT_MAX {
                return Err(internal(self.store, "tree too high"));
            }
            let old = std::mem::replace(root, Child::Mem(Arc::new(Node::empty_leaf())));
            let mut branch = Branch {
                keys: Arc::default(),
                children: vec![old].into(),
            };
            self.recut(&mut branch, 0, 0, Cut::Balanced(2))?;
            *root = Child::Mem(Arc::new(Node::new(Body::Branch(branch))));
            self.height += 1;
        }
        Ok(())
    }

    fn shrink_root(&mut self, root: &mut Child) -> Result<()> {
        loop {
            let only_child = match root {
                Child::Mem(node) => match &node.body {
                    Body::Branch(branch) if branch.children.len() == 1 => {
                        branch.children.first().cloned()
                    }
                    _ => None,
                },
                Child::Disk(_) => None,
            };
            let Some(child) = only_child else {
                return Ok(());
            };
            *root = child;
            self.height = self.height.saturating_sub(1).max(1);
        }
    }
}

/// The error for a tree whose structure is inconsistent although every
/// checksum matched (a bug, or a damaged file whose checksums collide).
pub(crate) fn internal(store: &Store, what: &str) -> Error {
    Error::corruption(
        store.path(),
        0,
        format!("inconsistent B+tree structure: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::split_window;

    #[test]
    fn split_windows_centre_on_the_node_and_stay_inside_the_branch() {
        assert_eq!(split_window(10, 5, 3), 4..7);
        assert_eq!(split_window(10, 0, 3), 0..3);
        assert_eq!(split_window(10, 9, 3), 7..10);
        assert_eq!(split_window(2, 1, 3), 0..2);
        assert_eq!(split_window(10, 5, 2), 5..7);
        assert_eq!(split_window(10, 9, 2), 8..10);
        assert_eq!(split_window(1, 0, 3), 0..1);
    }
}
