//! Deleting a key range `[start, end)` from a tree version.
//!
//! Walking down from the root, a node's children fall in three groups: those
//! outside the range (untouched), those whose whole key span lies inside it
//! (dropped whole: unlinked from the parent, their extents and overflow runs
//! freed at the write set's sequence like any replaced page), and at most
//! two *boundary* children that the range cuts (recursed into, path copied).
//! So only the two boundary paths are rewritten; a covered subtree costs one
//! read per page to learn which extents and overflow runs it owns and how
//! many entries it held, and no per-key tree work (no leaf rewrite, no
//! rebalancing). Afterwards the boundary children, now neighbours, are
//! joined or re-cut if underfull, and the root loses levels it no longer
//! needs.
//!
//! Views and snapshots stay exact: dropped nodes are only unlinked from the
//! new version (older versions still reach them), and their pages are freed
//! at the write set's sequence, so they are not reused while the durable
//! checkpoint or a live view can still read them (`space.rs`).

use std::sync::Arc;

use tierdb_io::Result;
use tierdb_tier::range_is_empty;

use super::{Mutation, internal};
use crate::node::{Body, Child, Node};
use crate::space::PageRun;
use crate::split::Cut;

/// The key span `[lower, upper)` of a node (`None`: unbounded that way).
#[derive(Clone, Copy)]
struct Span<'k> {
    lower: Option<&'k [u8]>,
    upper: Option<&'k [u8]>,
}

/// A range being deleted.
#[derive(Clone, Copy)]
struct Range<'k> {
    start: &'k [u8],
    end: Option<&'k [u8]>,
}

impl Range<'_> {
    /// True if every key of `span` lies in the range.
    fn holds(&self, span: Span<'_>) -> bool {
        let from = match span.lower {
            None => self.start.is_empty(),
            Some(lower) => self.start <= lower,
        };
        let to = match (self.end, span.upper) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(end), Some(upper)) => upper <= end,
        };
        from && to
    }
}

impl Mutation<'_> {
    /// Removes every key `k` with `start <= k` and (`end` unset or
    /// `k < end`).
    pub(crate) fn delete_range(
        &mut self,
        root: &mut Child,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<()> {
        if range_is_empty(start, end) {
            return Ok(());
        }
        let range = Range { start, end };
        let everything = Span {
            lower: None,
            upper: None,
        };
        if range.holds(everything) {
            let old = std::mem::replace(root, Child::Mem(Arc::new(Node::empty_leaf())));
            self.drop_subtree(&old)?;
            self.height = 1;
            return Ok(());
        }
        self.trim(root, range, everything)?;
        self.shrink_root(root)
    }

    /// Removes the range from `child`, whose span it cuts (is not inside).
    fn trim(&mut self, child: &mut Child, range: Range<'_>, span: Span<'_>) -> Result<()> {
        let node = self.materialize(child)?;
        let branch = match &mut node.body {
            Body::Leaf(leaf) => {
                let from = leaf
                    .entries
                    .partition_point(|e| e.key.as_ref() < range.start);
                let to = match range.end {
                    Some(end) => leaf.entries.partition_point(|e| e.key.as_ref() < end),
                    None => leaf.entries.len(),
                };
                if from < to {
                    for entry in leaf.entries.drain(from..to) {
                        self.free_value(&entry.value);
                        self.entries_delta -= 1;
                    }
                }
                return Ok(());
            }
            Body::Branch(branch) => branch,
        };
        let count = branch.children.len();
        let first = branch.child_index(range.start);
        let last = match range.end {
            Some(end) => branch.keys.partition_point(|sep| sep.as_ref() < end),
            None => count - 1,
        };
        let keys = Arc::clone(&branch.keys);
        let span_of = |i: usize| Span {
            lower: if i == 0 {
                span.lower
            } else {
                keys.get(i - 1).map(|k| k.as_ref())
            },
            upper: if i + 1 == count {
                span.upper
            } else {
                keys.get(i).map(|k| k.as_ref())
            },
        };
        // Boundary children first, while indices are unchanged.
        let mut boundary = Vec::with_capacity(2);
        for i in [first, last] {
            if !range.holds(span_of(i)) && !boundary.contains(&i) {
                let next = branch
                    .children
                    .get_mut(i)
                    .ok_or_else(|| internal(self.store, "child index"))?;
                self.trim(next, range, span_of(i))?;
                boundary.push(i);
            }
        }
        // The covered children lie between the boundary ones.
        let covered_from = if boundary.contains(&first) {
            first + 1
        } else {
            first
        };
        let covered_to = if boundary.contains(&last) {
            last
        } else {
            last + 1
        };
        if covered_from < covered_to {
            if covered_to - covered_from == count {
                return Err(internal(self.store, "range covers a cut node"));
            }
            let dropped: Vec<Child> = branch.children.drain(covered_from..covered_to);
            let keys = Arc::make_mut(&mut branch.keys);
            if covered_from > 0 {
                keys.drain(covered_from - 1..covered_to - 1);
            } else {
                keys.drain(0..covered_to);
            }
            for child in &dropped {
                self.drop_subtree(child)?;
            }
        }
        // Rejoin the boundary children (now neighbours) if underfull.
        let left = covered_from.saturating_sub(usize::from(boundary.contains(&first)));
        if boundary.len() == 2 && left + 1 < branch.children.len() {
            let small = [left, left + 1].iter().any(|&i| {
                branch
                    .children
                    .get(i)
                    .and_then(|c| self.node_bytes(c))
                    .is_some_and(|bytes| self.layout.underfull(bytes))
            });
            if small {
                self.recut(branch, left, left + 1, Cut::Balanced(1))?;
            }
        }
        if left < branch.children.len() {
            self.join_if_underfull(branch, left)?;
        }
        Ok(())
    }

    /// Frees everything `child` owns on disk (its extent, its descendants'
    /// and their overflow runs) and counts its entries as removed.
    fn drop_subtree(&mut self, child: &Child) -> Result<()> {
        let node = match child {
            Child::Mem(node) => Arc::clone(node),
            Child::Disk(disk) => {
                let node = self.store.read_node(*disk)?;
                let count = node.origin.map_or(1, |o| o.page_count);
                self.freed.push(PageRun {
                    start: disk.page,
                    count,
                });
                Arc::new(node)
            }
        };
        match &node.body {
            Body::Leaf(leaf) => {
                for entry in &leaf.entries {
                    self.free_value(&entry.value);
                }
                self.entries_delta -= leaf.entries.len() as i64;
            }
            Body::Branch(branch) => {
                for child in branch.children.iter() {
                    self.drop_subtree(child)?;
                }
            }
        }
        Ok(())
    }
}
