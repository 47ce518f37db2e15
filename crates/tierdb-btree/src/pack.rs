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

/// Whether `leaf`'s keys and values are scattered over more than a few
/// buffers, so a put changing it should pack it (see `Mutation::upsert`).
/// Repacking the whole leaf (an allocation and a copy of a page's worth of
/// bytes) on every put was a sixth of an update's cost in the 90/10 mix,
/// and most puts do not need it: a leaf just read from a page holds slices
/// of that page's bytes (one buffer, which the cache holds too), and a put
/// replacing a value in a packed leaf leaves the rest packed; a few values
/// in buffers of their own cost a path copy only a reference count each.
pub(crate) fn is_scattered(layout: Layout, leaf: &Leaf) -> bool {
    let (pieces, span) = pieces(layout, leaf);
    span > layout.page_size && pieces > 1 + leaf.entries.len() / 2
}

/// Runs of contiguous memory the keys and the packable values of `leaf`
/// lie in, in entry order (1 for a packed leaf), and the bytes from the
/// lowest address to the highest.
fn pieces(layout: Layout, leaf: &Leaf) -> (usize, usize) {
    let mut pieces = 0;
    let mut end = None;
    let (mut lowest, mut highest) = (usize::MAX, 0);
    let mut next = |bytes: &Bytes| {
        let start = bytes.as_ptr() as usize;
        if end != Some(start) {
            pieces += 1;
        }
        end = Some(start + bytes.len());
        lowest = lowest.min(start);
        highest = highest.max(start + bytes.len());
    };
    for e in &leaf.entries {
        next(&e.key);
        if let Value::Inline(v) = &e.value
            && layout.leaf_value_inline(e.key.len(), v.len() as u64)
        {
            next(v);
        }
    }
    (pieces, highest.saturating_sub(lowest))
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

        assert_eq!(pieces(layout, &leaf).0, 1, "the big value is not counted");

        let mut branch = Branch {
            keys: Arc::new(vec![Bytes::from_static(b"m"), Bytes::from_static(b"tt")]),
            children: Default::default(),
        };
        pack_branch(&mut branch);
        assert_eq!(*branch.keys, [&b"m"[..], b"tt"]);
        assert_eq!(
            branch.keys[1].as_ptr(),
            branch.keys[0].as_ptr().wrapping_add(1)
        );
    }

    #[test]
    fn a_leaf_is_repacked_only_once_scattered() {
        let layout = Layout::new(4096);
        let mut leaf = Leaf {
            entries: (0..10u8)
                .map(|i| Entry {
                    key: Bytes::from(vec![b'k', i]),
                    value: Value::Inline(Bytes::from(vec![i; 20])),
                })
                .collect(),
        };
        pack_leaf(layout, &mut leaf);
        assert_eq!(pieces(layout, &leaf).0, 1);
        let packed = leaf.entries[0].key.as_ptr();
        // Static bytes: far from the heap buffer, as a value allocated
        // later usually is.
        static NEW: [u8; 30] = [b'n'; 30];
        let replace = |leaf: &mut Leaf, i: usize| {
            let scattered = is_scattered(layout, leaf);
            leaf.entries[i].value = Value::Inline(Bytes::from_static(&NEW));
            if scattered {
                pack_leaf(layout, leaf);
            }
        };
        for i in [2, 5, 8] {
            replace(&mut leaf, i);
            assert_eq!(leaf.entries[0].key.as_ptr(), packed, "left as it is");
        }
        assert_eq!(pieces(layout, &leaf).0, 7);
        assert!(is_scattered(layout, &leaf));
        pack_leaf(layout, &mut leaf);
        assert!(!is_scattered(layout, &leaf));
        assert_eq!(pieces(layout, &leaf).0, 1);
        // Slices of one page-sized buffer (a leaf read from a page) are
        // left in it, however scattered.
        let page = Bytes::from(vec![7u8; 4096]);
        let in_page = Leaf {
            entries: (0..10)
                .map(|i| Entry {
                    key: page.slice(i * 400..i * 400 + 2),
                    value: Value::Inline(page.slice(i * 400 + 10..i * 400 + 30)),
                })
                .collect(),
        };
        assert_eq!(pieces(layout, &in_page).0, 20);
        assert!(!is_scattered(layout, &in_page));
        for (i, e) in leaf.entries.iter().enumerate() {
            let want = if [2, 5, 8].contains(&i) {
                vec![b'n'; 30]
            } else {
                vec![i as u8; 20]
            };
            assert_eq!(e.value, Value::Inline(Bytes::from(want)));
            assert_eq!(e.key, Bytes::from(vec![b'k', i as u8]));
        }
    }
}
