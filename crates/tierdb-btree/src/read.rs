//! Point lookups: walk from a root to the leaf that may hold a key.
//!
//! The walk borrows in-memory nodes from their parents rather than cloning
//! their `Arc`s: the upper levels are shared by every reader, and an atomic
//! count on them per read is contention between cores. Only nodes loaded
//! through the cache are held by an `Arc` of their own.

use tierdb_io::Result;

use crate::mutate::{HEIGHT_MAX, internal};
use crate::node::{Body, Child, Node, Value};
use crate::resident;
use crate::store::{Searched, Store};

/// The value of `key` in the tree at `root`, if present, with the on-disk
/// nodes the walk loaded (through the cache) added to `pages`; nodes changed
/// since the last checkpoint are in memory and not counted.
pub(crate) fn find_value(
    store: &Store,
    root: &Child,
    key: &[u8],
    pages: &mut u64,
) -> Result<Option<Value>> {
    walk(store, root, key, pages, 0)
}

fn walk(
    store: &Store,
    child: &Child,
    key: &[u8],
    pages: &mut u64,
    depth: u32,
) -> Result<Option<Value>> {
    match child {
        Child::Mem(node) => find_in(store, node, key, pages, depth),
        Child::Disk(disk) => {
            *pages += 1;
            let node = store.load_node(*disk)?;
            find_in(store, &node, key, pages, depth)
        }
    }
}

/// [`find_value`] from `node`, which is `depth` levels below the root.
pub(crate) fn find_in(
    store: &Store,
    node: &Node,
    key: &[u8],
    pages: &mut u64,
    depth: u32,
) -> Result<Option<Value>> {
    match &node.body {
        Body::Leaf(_) => leaf_value(store, node, key),
        Body::Branch(_) if depth >= HEIGHT_MAX => Err(too_deep(store)),
        Body::Branch(branch) => {
            let index = node.child_index(key);
            match branch.children.get(index) {
                Some(Child::Mem(child)) => find_in(store, child, key, pages, depth + 1),
                Some(Child::Disk(disk)) => {
                    *pages += 1;
                    if let Some(child) = resident::kept(store, node, index, *disk) {
                        return find_in(store, child, key, pages, depth + 1);
                    }
                    // A cached leaf is searched where it sits (the usual
                    // last step); anything else is descended from.
                    let search = |leaf: &Node| leaf_value(store, leaf, key);
                    match store.search_leaf(*disk, key, search)? {
                        Searched::Leaf(found) => Ok(found),
                        Searched::Node(child) => {
                            resident::keep(node, index, &child);
                            find_in(store, &child, key, pages, depth + 1)
                        }
                    }
                }
                None => Err(internal(store, "child index")),
            }
        }
    }
}

/// The value of `key` in the leaf `node`, if present.
fn leaf_value(store: &Store, node: &Node, key: &[u8]) -> Result<Option<Value>> {
    let Body::Leaf(leaf) = &node.body else {
        return Err(internal(store, "not a leaf"));
    };
    match node.search(key) {
        Ok(index) => leaf
            .entries
            .get(index)
            .map(|entry| Some(entry.value.clone()))
            .ok_or_else(|| internal(store, "entry index")),
        Err(_) => Ok(None),
    }
}

/// The error for a path longer than any valid tree.
pub(crate) fn too_deep(store: &Store) -> tierdb_io::Error {
    tierdb_io::Error::corruption(
        store.path(),
        0,
        format!("tree deeper than {HEIGHT_MAX} levels (cycle?)"),
    )
}

/// The value of `key` under the root node `root`, if present. Counted in
/// the store's point-read figures: one get, plus the on-disk nodes on its
/// path (`pages` already counts the root's, if it was loaded) and the
/// overflow value it read, if any.
pub(crate) fn get(
    store: &Store,
    root: &Node,
    mut pages: u64,
    key: &[u8],
) -> Result<Option<bytes::Bytes>> {
    let result = match find_in(store, root, key, &mut pages, 0)? {
        None => Ok(None),
        Some(Value::Inline(bytes)) => Ok(Some(bytes)),
        Some(Value::Overflow(run)) => {
            pages += 1;
            store.read_value(run).map(Some)
        }
    };
    store.count_get(pages);
    result
}
