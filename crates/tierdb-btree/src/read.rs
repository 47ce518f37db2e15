//! Point lookups: walk from a root to the leaf that may hold a key.

use std::sync::Arc;

use tierdb_io::Result;

use crate::mutate::{HEIGHT_MAX, internal};
use crate::node::{Body, Child, Node};
use crate::store::Store;

/// The leaf holding `key` and the entry's index in it, if present.
pub(crate) fn find_entry(
    store: &Store,
    root: &Child,
    key: &[u8],
) -> Result<Option<(Arc<Node>, usize)>> {
    let mut node = store.resolve(root)?;
    for _ in 0..HEIGHT_MAX {
        let next = match &node.body {
            Body::Leaf(leaf) => {
                return Ok(leaf
                    .search(key)
                    .ok()
                    .map(|index| (Arc::clone(&node), index)));
            }
            Body::Branch(branch) => {
                let child = branch
                    .children
                    .get(branch.child_index(key))
                    .ok_or_else(|| internal(store, "child index"))?;
                store.resolve(child)?
            }
        };
        node = next;
    }
    Err(too_deep(store))
}

/// The error for a path longer than any valid tree.
pub(crate) fn too_deep(store: &Store) -> tierdb_io::Error {
    tierdb_io::Error::corruption(
        store.path(),
        0,
        format!("tree deeper than {HEIGHT_MAX} levels (cycle?)"),
    )
}

/// The value of `key`, if present.
pub(crate) fn get(store: &Store, root: &Child, key: &[u8]) -> Result<Option<bytes::Bytes>> {
    match find_entry(store, root, key)? {
        None => Ok(None),
        Some((leaf, index)) => match &leaf.body {
            Body::Leaf(l) => match l.entries.get(index) {
                Some(entry) => store.value_bytes(&entry.value).map(Some),
                None => Err(internal(store, "entry index")),
            },
            Body::Branch(_) => Err(internal(store, "leaf expected")),
        },
    }
}
