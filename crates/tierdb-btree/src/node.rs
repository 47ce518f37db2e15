//! The decoded, in-memory B+tree node, shared between versions of the tree
//! as `Arc<Node>`.
//!
//! A tree is immutable once published: `apply` makes a new version by path
//! copying (`Arc::make_mut` through [`Node::edit`]), so a node reachable from a
//! read view or from a running checkpoint is never changed in place.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::children::Children;
use crate::key_heads::KeyHeads;

/// Where a child node lives on disk: its first page and the crc32 of that
/// page (the checksum tree: a parent vouches for its child's bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DiskRef {
    /// The node's first page.
    pub(crate) page: u64,
    /// crc32 of that page, as stored in its header.
    pub(crate) checksum: u32,
}

/// A value stored in an overflow run: `len` bytes from `start_page`, in
/// `ceil(len / page_size)` contiguous pages, crc32 `checksum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RunRef {
    /// The first page of the run.
    pub(crate) start_page: u64,
    /// Bytes of the value.
    pub(crate) len: u64,
    /// crc32 of the value's bytes.
    pub(crate) checksum: u32,
}

impl RunRef {
    /// Pages the run occupies.
    pub(crate) fn page_count(&self, page_size: usize) -> u64 {
        self.len.div_ceil(page_size as u64).max(1)
    }
}

/// A leaf entry's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// Held in memory (small, or large and not yet checkpointed).
    Inline(Bytes),
    /// Stored on disk in an overflow run owned by this entry.
    Overflow(RunRef),
}

/// One key/value pair of a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key.
    pub(crate) key: Bytes,
    /// The value.
    pub(crate) value: Value,
}

/// A branch's pointer to a child node.
#[derive(Clone, Debug)]
pub(crate) enum Child {
    /// Unchanged since it was checkpointed; load through the cache.
    Disk(DiskRef),
    /// Held in memory (changed since the last checkpoint, or not yet swizzled).
    Mem(Arc<Node>),
}

/// Sorted entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Leaf {
    /// Entries in strictly increasing key order.
    pub(crate) entries: Vec<Entry>,
}

/// Separators and children: `children[i]` holds the keys `k` with
/// `keys[i-1] <= k < keys[i]`; `children.len() == keys.len() + 1`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Branch {
    /// Separators in strictly increasing order. Shared between copies of
    /// the branch (`Arc::make_mut` where they change): a put path-copies
    /// every branch above its leaf but changes only a child pointer, and
    /// copying a few hundred separators (an atomic count each, and again
    /// when the old version drops) was most of an update's cost.
    pub(crate) keys: Arc<Vec<Bytes>>,
    /// One more child than separators, in chunks shared between copies
    /// (see `children.rs`).
    pub(crate) children: Children,
}

/// A leaf or a branch.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// A leaf.
    Leaf(Leaf),
    /// A branch.
    Branch(Branch),
}

/// Where a node decoded from disk came from: its extent and checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The node's first page.
    pub(crate) page: u64,
    /// Pages of its extent (1 + pages holding spilled keys).
    pub(crate) page_count: u64,
    /// crc32 of the first page.
    pub(crate) checksum: u32,
}

/// A node: its contents and, if it was decoded from disk and not changed
/// since, where it came from.
#[derive(Debug)]
pub(crate) struct Node {
    /// The contents.
    pub(crate) body: Body,
    /// Set on nodes decoded from a page; cleared by [`Node::edit`].
    pub(crate) origin: Option<Origin>,
    /// Search index of the keys (see [`KeyHeads`]): built with nodes
    /// decoded from a page, on the first search of other nodes. Whoever
    /// changes the keys of a node must clear it (`mutate.rs` clears it on
    /// every node it edits, except where a put only replaces a value or a
    /// child pointer).
    pub(crate) heads: OnceLock<KeyHeads>,
    /// For a branch decoded from a page: the children that are branches,
    /// once loaded, so reads reach them without the cache (see
    /// `resident.rs`). Cleared by [`Node::edit`].
    pub(crate) resident: OnceLock<ResidentChildren>,
}

/// One slot per child of a branch (see `resident.rs`).
pub(crate) type ResidentChildren = Box<[OnceLock<Arc<Node>>]>;

/// A copy shares the body's handles and the search index, but not the
/// resident children: a copy is made only to be edited, and
/// [`Node::edit`] drops them (copying a few hundred `Arc`s to drop them
/// right after showed in every put's profile).
impl Clone for Node {
    fn clone(&self) -> Self {
        Node {
            body: self.body.clone(),
            origin: self.origin,
            heads: self.heads.clone(),
            resident: OnceLock::new(),
        }
    }
}

impl Node {
    /// A new in-memory node.
    pub(crate) fn new(body: Body) -> Self {
        Node {
            body,
            origin: None,
            heads: OnceLock::new(),
            resident: OnceLock::new(),
        }
    }

    /// A node decoded from the page at `origin`, with its search index.
    pub(crate) fn decoded(body: Body, origin: Origin) -> Self {
        let node = Node {
            body,
            origin: Some(origin),
            heads: OnceLock::new(),
            resident: OnceLock::new(),
        };
        node.heads();
        node
    }

    /// The search index of the keys, built on first use.
    fn heads(&self) -> &KeyHeads {
        self.heads.get_or_init(|| match &self.body {
            Body::Leaf(leaf) => KeyHeads::new(leaf.entries.iter().map(|e| &e.key)),
            Body::Branch(branch) => KeyHeads::new(branch.keys.iter()),
        })
    }

    /// Bytes of memory the node holds: the node itself, its vectors, the
    /// key and value bytes its `Bytes` slice (by length: a packed node's
    /// buffer is exactly that), and its search index (16 bytes a key once
    /// built). A decoded leaf of small entries holds several times its page
    /// (each entry is a key and a value handle of 32 bytes each), so the
    /// cache and the dirty budget charge this, not the page size.
    pub(crate) fn heap_bytes(&self) -> usize {
        let (handles, bytes, keys) = match &self.body {
            Body::Leaf(leaf) => (
                leaf.entries.capacity() * size_of::<Entry>(),
                leaf.entries
                    .iter()
                    .map(|e| {
                        e.key.len()
                            + match &e.value {
                                Value::Inline(v) => v.len(),
                                Value::Overflow(_) => 0,
                            }
                    })
                    .sum::<usize>(),
                leaf.entries.len(),
            ),
            Body::Branch(branch) => (
                branch.keys.capacity() * size_of::<Bytes>() + branch.children.heap_bytes(),
                branch.keys.iter().map(Bytes::len).sum(),
                branch.keys.len(),
            ),
        };
        let heads = self.heads.get().map_or(0, KeyHeads::heap_bytes);
        size_of::<Node>() + handles + bytes + heads.max(KeyHeads::HEAD_BYTES * keys)
    }

    /// The root of an empty tree.
    pub(crate) fn empty_leaf() -> Self {
        Node::new(Body::Leaf(Leaf::default()))
    }

    /// Mutable access for path copying: clones the node if anyone else
    /// (a view, a checkpoint, the cache) holds it, and forgets its origin
    /// and its resident children.
    /// The caller clears `heads` if it changes the keys.
    pub(crate) fn edit(arc: &mut Arc<Node>) -> &mut Node {
        let node = Arc::make_mut(arc);
        node.origin = None;
        node.resident.take();
        node
    }

    /// As a binary search over the leaf's keys or the branch's separators:
    /// `Ok(index)` of `key`, or `Err(index)` where it would go.
    pub(crate) fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let heads = self.heads();
        match &self.body {
            Body::Leaf(leaf) => heads.search(key, |i| &leaf.entries[i].key),
            Body::Branch(branch) => heads.search(key, |i| &branch.keys[i]),
        }
    }

    /// For a branch: the index of the child whose key range holds `key`.
    pub(crate) fn child_index(&self, key: &[u8]) -> usize {
        match self.search(key) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// Whether this node was decoded from the page `disk` points at (same
    /// page, same checksum): a cached copy of a page since reused fails it.
    pub(crate) fn is_at(&self, disk: DiskRef) -> bool {
        self.origin
            .is_some_and(|o| o.page == disk.page && o.checksum == disk.checksum)
    }

    /// The identity of a node within one tree version (its address, stable
    /// while anyone holds the `Arc`).
    pub(crate) fn identity(arc: &Arc<Node>) -> usize {
        Arc::as_ptr(arc) as usize
    }
}

impl Leaf {
    /// `Ok(index)` of `key`, or `Err(insertion index)`.
    pub(crate) fn search(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.as_ref().cmp(key))
    }
}

impl Branch {
    /// The index of the child whose key range holds `key`.
    pub(crate) fn child_index(&self, key: &[u8]) -> usize {
        self.keys.partition_point(|sep| sep.as_ref() <= key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_index_follows_separators() {
        let branch = Branch {
            keys: Arc::new(vec![Bytes::from_static(b"m"), Bytes::from_static(b"t")]),
            children: Children::default(),
        };
        assert_eq!(branch.child_index(b"a"), 0);
        assert_eq!(branch.child_index(b"m"), 1);
        assert_eq!(branch.child_index(b"s"), 1);
        assert_eq!(branch.child_index(b"t"), 2);
        assert_eq!(branch.child_index(b"z"), 2);
    }

    #[test]
    fn heap_bytes_counts_entry_handles_and_search_heads() {
        // 150 stock rows of 21 bytes: ~3 KiB encoded, far more in memory.
        let entries: Vec<Entry> = (0..150u32)
            .map(|i| Entry {
                key: Bytes::from(format!("stock/{i:08}")),
                value: Value::Inline(Bytes::from(vec![0u8; 8])),
            })
            .collect();
        let node = Node::new(Body::Leaf(Leaf { entries }));
        let data = 150 * (14 + 8);
        let expected = size_of::<Node>() + 150 * (size_of::<Entry>() + 16) + data;
        assert_eq!(node.heap_bytes(), expected);
        assert!(node.heap_bytes() > 4096 * 3);
        // Building the index does not change the estimate.
        let _ = node.search(b"stock/00000007");
        assert!(node.heap_bytes() >= expected);
    }

    #[test]
    fn a_path_copy_shares_separators_until_they_change() {
        let keys = vec![Bytes::from_static(b"m"), Bytes::from_static(b"t")];
        let children = (0..3u64)
            .map(|page| {
                Child::Disk(DiskRef {
                    page: page + 2,
                    checksum: 0,
                })
            })
            .collect();
        let mut a = Arc::new(Node::new(Body::Branch(Branch {
            keys: Arc::new(keys),
            children,
        })));
        let _ = a.search(b"n");
        a.resident
            .get_or_init(|| (0..3).map(|_| OnceLock::new()).collect());
        let held = Arc::clone(&a);
        let copy = Node::edit(&mut a);
        let (Body::Branch(old), Body::Branch(new)) = (&held.body, &mut copy.body) else {
            panic!("branches expected");
        };
        // A put's copy: the separators are shared, the resident slots are not
        // carried over, the search index still answers.
        assert!(Arc::ptr_eq(&old.keys, &new.keys));
        assert!(copy.resident.get().is_none());
        assert_eq!(copy.child_index(b"u"), 2);
        // A split's copy: changing them leaves the held version as it was.
        let Body::Branch(new) = &mut copy.body else {
            unreachable!()
        };
        Arc::make_mut(&mut new.keys).push(Bytes::from_static(b"x"));
        assert!(!Arc::ptr_eq(&old.keys, &new.keys));
        assert_eq!(*old.keys, [&b"m"[..], b"t"]);
        assert!(held.resident.get().is_some());
    }

    #[test]
    fn edit_copies_shared_nodes_and_forgets_origin() {
        let mut a = Arc::new(Node {
            body: Body::Leaf(Leaf::default()),
            origin: Some(Origin {
                page: 5,
                page_count: 1,
                checksum: 1,
            }),
            heads: OnceLock::new(),
            resident: OnceLock::new(),
        });
        let b = a.clone();
        Node::edit(&mut a);
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(a.origin.is_none());
        assert!(b.origin.is_some());
    }
}
