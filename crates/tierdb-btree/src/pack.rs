//! Packing a node's keys and values into one buffer.
//!
//! A node's keys and values are `Bytes`. Left as they come — the writers'
//! own buffers, or slices of the whole page a node was decoded from — each
//! key and value of an in-memory leaf has a reference count of its own
//! (a scan handing them out, and every path copy, then misses the cache once
//! per key and value), and a decoded node keeps its page's free space
//! alive. Packed, a node's keys and values are slices of one exact-size
//! buffer: one count per node, no free space held.

use std::sync::Arc;

use bytes::Bytes;

use crate::layout::Layout;
use crate::node::{Branch, Entry, Leaf, Value};

/// Packs the keys of `leaf` and its values that fit in a leaf page (larger
/// ones go to overflow runs at the next checkpoint and keep their buffer).
pub(crate) fn pack_leaf(layout: Layout, leaf: &mut Leaf) {
    let packed = |e: &Entry| match &e.value {
        Value::Inline(v) if layout.leaf_value_inline(e.key.len(), v.len() as u64) => Some(v.len()),
        _ => None,
    };
    let total: usize = leaf
        .entries
        .iter()
        .map(|e| e.key.len() + packed(e).unwrap_or(0))
        .sum();
    let mut buf = Vec::with_capacity(total);
    for e in &leaf.entries {
        buf.extend_from_slice(&e.key);
        if let (Some(_), Value::Inline(v)) = (packed(e), &e.value) {
            buf.extend_from_slice(v);
        }
    }
    let buf = Bytes::from(buf);
    let mut at = 0;
    for e in &mut leaf.entries {
        let value_len = packed(e);
        e.key = buf.slice(at..at + e.key.len());
        at += e.key.len();
        if let Some(len) = value_len {
            e.value = Value::Inline(buf.slice(at..at + len));
            at += len;
        }
    }
}

/// Packs the separators of `branch`.
pub(crate) fn pack_branch(branch: &mut Branch) {
    let buf = Bytes::from(branch.keys.concat());
    let mut at = 0;
    for key in Arc::make_mut(&mut branch.keys) {
        let len = key.len();
        *key = buf.slice(at..at + len);
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_nodes_keep_their_contents_and_share_one_buffer() {
        let layout = Layout::new(4096);
        let big = Bytes::from(vec![7u8; 10_000]);
        let mut leaf = Leaf {
            entries: vec![
                Entry {
                    key: Bytes::from_static(b"a"),
                    value: Value::Inline(Bytes::from_static(b"one")),
                },
                Entry {
                    key: Bytes::from_static(b"bb"),
                    value: Value::Inline(big.clone()),
                },
                Entry {
                    key: Bytes::from_static(b"ccc"),
                    value: Value::Inline(Bytes::new()),
                },
            ],
        };
        let before = leaf.entries.clone();
        pack_leaf(layout, &mut leaf);
        assert_eq!(leaf.entries, before);
        let first = leaf.entries[0].key.as_ptr();
        // "a", "one", "bb", "ccc", "": one buffer, in order.
        assert_eq!(leaf.entries[2].key.as_ptr(), first.wrapping_add(6));
        // The big value keeps its own buffer.
        let Value::Inline(v) = &leaf.entries[1].value else {
            panic!("inline")
        };
        assert_eq!(v.as_ptr(), big.as_ptr());

        let mut branch = Branch {
            keys: Arc::new(vec![Bytes::from_static(b"m"), Bytes::from_static(b"tt")]),
            children: Vec::new(),
        };
        pack_branch(&mut branch);
        assert_eq!(*branch.keys, [&b"m"[..], b"tt"]);
        assert_eq!(
            branch.keys[1].as_ptr(),
            branch.keys[0].as_ptr().wrapping_add(1)
        );
    }
}
