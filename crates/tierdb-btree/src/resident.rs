//! Branches kept resident under their parents.
//!
//! A read reaches each on-disk node under the root through the page cache:
//! a shard lock and an `Arc` count per level, 8–12 % of point reads and
//! scans. Branches are under 1 % of a tree's pages but on every path, so a
//! branch decoded from a page keeps the children that are branches, once
//! loaded, in a slot per child: a read finds them there, by reference,
//! without the cache. Leaves are not kept (they are the cache's to evict).
//!
//! A kept child stays charged to the cache (its holder pins it there) and
//! lives as long as its parent. The slot is checked against the parent's
//! pointer (page and checksum) on each use, as a cache entry is, and
//! [`Node::edit`] clears the slots of a node it changes.

use std::sync::{Arc, OnceLock};

use tierdb_io::Result;

use crate::node::{Body, Child, DiskRef, Node};
use crate::store::{Page, Store};

/// Child `index` of `parent`, if its slot holds the node `disk` points at
/// (counted as a cache hit).
pub(crate) fn kept<'a>(
    store: &Store,
    parent: &'a Node,
    index: usize,
    disk: DiskRef,
) -> Option<&'a Arc<Node>> {
    let slot = parent.resident.get().and_then(|slots| slots.get(index));
    let kept = slot
        .and_then(OnceLock::get)
        .filter(|node| node.is_at(disk))?;
    store.count_hit();
    Some(kept)
}

/// Keeps `node`, child `index` of `parent`, in its slot if both are
/// checkpointed and `node` is a branch.
pub(crate) fn keep(parent: &Node, index: usize, node: &Arc<Node>) {
    let keep = parent.origin.is_some() && matches!(node.body, Body::Branch(_));
    if let (true, Body::Branch(branch)) = (keep, &parent.body) {
        let slots = parent.resident.get_or_init(|| {
            (0..branch.children.len())
                .map(|_| OnceLock::new())
                .collect()
        });
        if let Some(slot) = slots.get(index) {
            // A racing reader may have set it first: same page, same node.
            let _ = slot.set(Arc::clone(node));
        }
    }
}

/// Child `index` of `parent` as an owned handle (for cursors, which outlive
/// the walk), as the cache holds it.
pub(crate) fn child_page(
    store: &Store,
    parent: &Node,
    index: usize,
    child: &Child,
) -> Result<Page> {
    let Child::Disk(disk) = child else {
        return store.resolve(child);
    };
    if let Some(node) = kept(store, parent, index, *disk) {
        return Ok(Page::Node(Arc::clone(node)));
    }
    let page = store.load_page(*disk)?;
    if let Page::Node(node) = &page {
        keep(parent, index, node);
    }
    Ok(page)
}
