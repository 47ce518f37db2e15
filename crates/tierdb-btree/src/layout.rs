//! Sizes and spill rules of the page format: how many bytes a cell takes,
//! when a key or value moves out of the page, when a node is too big or too
//! small. The encoder, the splitter and the rebalancer all measure with these
//! functions, so an in-memory node that "fits" always encodes into one page.

use crate::node::{Body, Entry, Value};

/// Bytes of the header at the start of every node and free-list page.
pub(crate) const PAGE_HEADER_BYTES: usize = 24;
/// Bytes of one slot (a u16 cell offset).
pub(crate) const SLOT_BYTES: usize = 2;
/// Bytes of an overflow reference: start page u64, length u64, crc32.
pub(crate) const RUN_REF_BYTES: usize = 20;
/// Bytes of a reference to a key in the node's tail: length u32, offset u32.
pub(crate) const TAIL_KEY_BYTES: usize = 8;
/// Bytes of a branch cell's child pointer: page u64, crc32.
pub(crate) const CHILD_REF_BYTES: usize = 12;

/// The smallest and largest page sizes allowed.
pub(crate) const MIN_PAGE_SIZE: usize = 1024;
/// See [`MIN_PAGE_SIZE`].
pub(crate) const MAX_PAGE_SIZE: usize = 65536;

/// The size rules for one page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Bytes per page.
    pub(crate) page_size: usize,
}

impl Layout {
    /// The rules for `page_size` (already validated).
    pub(crate) fn new(page_size: usize) -> Self {
        debug_assert!((MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size));
        Layout { page_size }
    }

    /// The largest cell: a quarter of the page (minus its slot), so every
    /// page holds at least four cells and an even split always fits.
    pub(crate) fn max_cell(&self) -> usize {
        (self.page_size - PAGE_HEADER_BYTES) / 4 - SLOT_BYTES
    }

    /// Bytes available to slots and cells.
    pub(crate) fn capacity(&self) -> usize {
        self.page_size - PAGE_HEADER_BYTES
    }

    /// True if a leaf keeps this key inline (with room for a spilled value).
    pub(crate) fn leaf_key_inline(&self, key_len: usize) -> bool {
        1 + 2 + key_len + RUN_REF_BYTES <= self.max_cell()
    }

    fn leaf_key_part(&self, key_len: usize) -> usize {
        if self.leaf_key_inline(key_len) {
            2 + key_len
        } else {
            TAIL_KEY_BYTES
        }
    }

    /// True if a leaf keeps this value inline.
    pub(crate) fn leaf_value_inline(&self, key_len: usize, value_len: u64) -> bool {
        let key_part = self.leaf_key_part(key_len) as u64;
        1 + key_part + 4 + value_len <= self.max_cell() as u64
    }

    /// Encoded bytes of a leaf cell, slot included.
    pub(crate) fn leaf_cell_bytes(&self, entry: &Entry) -> usize {
        let key_len = entry.key.len();
        let value_part = match &entry.value {
            Value::Inline(v) if self.leaf_value_inline(key_len, v.len() as u64) => 4 + v.len(),
            _ => RUN_REF_BYTES,
        };
        SLOT_BYTES + 1 + self.leaf_key_part(key_len) + value_part
    }

    /// True if a branch keeps this separator inline.
    pub(crate) fn branch_key_inline(&self, key_len: usize) -> bool {
        1 + CHILD_REF_BYTES + 2 + key_len <= self.max_cell()
    }

    /// Encoded bytes of a branch cell, slot included; `key` is `None` for the
    /// first cell, which has no separator.
    pub(crate) fn branch_cell_bytes(&self, key: Option<usize>) -> usize {
        let key_part = match key {
            None => 0,
            Some(len) if self.branch_key_inline(len) => 2 + len,
            Some(_) => TAIL_KEY_BYTES,
        };
        SLOT_BYTES + 1 + CHILD_REF_BYTES + key_part
    }

    /// Cell sizes of a leaf's entries.
    pub(crate) fn leaf_cell_sizes(&self, entries: &[Entry]) -> Vec<usize> {
        entries.iter().map(|e| self.leaf_cell_bytes(e)).collect()
    }

    /// Cell sizes of a branch: cell `i` holds child `i` and separator `i-1`.
    pub(crate) fn branch_cell_sizes(&self, keys: &[bytes::Bytes], children: usize) -> Vec<usize> {
        (0..children)
            .map(|i| {
                self.branch_cell_bytes(i.checked_sub(1).and_then(|k| keys.get(k)).map(|k| k.len()))
            })
            .collect()
    }

    /// Encoded bytes of a node's first page (summed without collecting the
    /// cell sizes: every put asks it of each node on its path).
    pub(crate) fn node_bytes(&self, body: &Body) -> usize {
        let cells: usize = match body {
            Body::Leaf(leaf) => leaf.entries.iter().map(|e| self.leaf_cell_bytes(e)).sum(),
            Body::Branch(b) => {
                // As `branch_cell_sizes`: cell 0 has no separator, cell
                // `i` separator `i - 1`.
                let cells = b.children.len();
                let with_key = b.keys.len().min(cells.saturating_sub(1));
                let separators: usize = b.keys[..with_key]
                    .iter()
                    .map(|k| self.branch_cell_bytes(Some(k.len())))
                    .sum();
                separators + (cells - with_key) * self.branch_cell_bytes(None)
            }
        };
        PAGE_HEADER_BYTES + cells
    }

    /// True if a node of `bytes` encoded bytes fits in one page.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        bytes <= self.page_size
    }

    /// True if a node of `bytes` should be merged with or borrow from a
    /// sibling (under a quarter full).
    pub(crate) fn underfull(&self, bytes: usize) -> bool {
        bytes < self.page_size / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn max_cell_leaves_room_for_four_cells() {
        for shift in 10..=16 {
            let layout = Layout::new(1 << shift);
            assert!(PAGE_HEADER_BYTES + 4 * (layout.max_cell() + SLOT_BYTES) <= layout.page_size);
        }
    }

    #[test]
    fn big_cells_spill() {
        let layout = Layout::new(4096);
        let entry = |k: usize, v: usize| Entry {
            key: Bytes::from(vec![1; k]),
            value: Value::Inline(Bytes::from(vec![2; v])),
        };
        assert!(layout.leaf_cell_bytes(&entry(10, 10)) < 40);
        assert!(layout.leaf_cell_bytes(&entry(10, 100_000)) <= layout.max_cell() + SLOT_BYTES);
        assert!(layout.leaf_cell_bytes(&entry(16_384, 10)) <= layout.max_cell() + SLOT_BYTES);
        assert!(!layout.leaf_key_inline(16_384));
        assert!(!layout.branch_key_inline(16_384));
    }
}
