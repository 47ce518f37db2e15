//! Point lookups: walk from a root to the leaf that may hold a key.

use std::sync::Arc;

use tierdb_io::Result;

use crate::mutate::{HEIGHT_MAX, internal};
use crate::node::{Body, Child, Node, Value};
use crate::store::Store;

/// The leaf holding `key` and the entry's index in it, if present.
pub(crate) fn find_entry(
    store: &Store,
    root: &Child,
    key: &[u8],
) -> Result<Option<(Arc<Node>, usize)>> {
    find_entry_counted(store, root, key, &mut 0)
}

/// [`find_entry`], adding to `pages` the on-disk nodes it loaded (through
/// the cache); nodes changed since the last checkpoint are in memory and
/// not counted.
fn find_entry_counted(
    store: &Store,
    root: &Child,
    key: &[u8],
    pages: &mut u64,
) -> Result<Option<(Arc<Node>, usize)>> {
    let resolve = |child: &Child, pages: &mut u64| {
        *pages += u64::from(matches!(child, Child::Disk(_)));
        store.resolve(child)
    };
    let mut node = resolve(root, pages)?;
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
                resolve(child, pages)?
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

/// The value of `key`, if present. Counted in the store's point-read
/// figures: one get, plus the on-disk nodes on its path and the overflow
/// value it read, if any.
pub(crate) fn get(store: &Store, root: &Child, key: &[u8]) -> Result<Option<bytes::Bytes>> {
    let mut pages = 0;
    let result = match find_entry_counted(store, root, key, &mut pages)? {
        None => Ok(None),
        Some((leaf, index)) => match &leaf.body {
            Body::Leaf(l) => match l.entries.get(index) {
                Some(entry) => {
                    pages += u64::from(matches!(entry.value, Value::Overflow(_)));
                    store.value_bytes(&entry.value).map(Some)
                }
                None => Err(internal(store, "entry index")),
            },
            Body::Branch(_) => Err(internal(store, "leaf expected")),
        },
    };
    store.count_get(pages);
    result
}
