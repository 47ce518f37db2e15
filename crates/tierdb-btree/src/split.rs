//! Cutting an overfull node into pieces that fit, and joining siblings.
//!
//! Every cell is at most a quarter page (see `layout`), so cutting a run of
//! cells at byte-balanced points always yields pieces that fit; the loop
//! below only adds pieces until they do.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::layout::Layout;
use crate::node::{Body, Branch, Child, Entry, Leaf};

/// How a run of cells is cut into pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Pieces balanced by bytes: as few as fit, but at least this many.
    Balanced(usize),
    /// Every piece but the last as full as it can be: for a node that
    /// overflowed because a key was appended after every key in the tree,
    /// so ascending inserts leave full pages behind them (SQLite's
    /// "quick balance") instead of half-full ones.
    FillLeft,
}

/// Cuts cells of `sizes` bytes into pieces of at most `capacity` bytes.
pub(crate) fn cut_bounds(sizes: &[usize], capacity: usize, cut: Cut) -> Vec<Range<usize>> {
    match cut {
        Cut::Balanced(min_pieces) => piece_bounds(sizes, capacity, min_pieces),
        Cut::FillLeft => fill_left_bounds(sizes, capacity),
    }
}

/// Cuts greedily: each piece takes cells while they fit.
fn fill_left_bounds(sizes: &[usize], capacity: usize) -> Vec<Range<usize>> {
    let mut bounds = Vec::new();
    let mut start = 0;
    let mut acc = 0;
    for (i, size) in sizes.iter().enumerate() {
        if i > start && acc + size > capacity {
            bounds.push(start..i);
            start = i;
            acc = 0;
        }
        acc += size;
    }
    bounds.push(start..sizes.len());
    bounds
}

/// Cuts cells of `sizes` bytes into consecutive pieces of at most
/// `capacity` bytes each, balanced by bytes, using as few pieces as it can
/// but at least `min_pieces` (when there are that many cells).
pub(crate) fn piece_bounds(
    sizes: &[usize],
    capacity: usize,
    min_pieces: usize,
) -> Vec<Range<usize>> {
    let total: usize = sizes.iter().sum();
    let first_try = total
        .div_ceil(capacity.max(1))
        .max(min_pieces.min(sizes.len()))
        .max(1);
    for pieces in first_try..=sizes.len().max(1) {
        let bounds = balanced_bounds(sizes, pieces);
        let fits = bounds
            .iter()
            .all(|r| sizes[r.clone()].iter().sum::<usize>() <= capacity);
        if fits {
            return bounds;
        }
    }
    (0..sizes.len()).map(|i| i..i + 1).collect()
}

/// Cuts `sizes` into at most `pieces` non-empty ranges near equal byte counts.
fn balanced_bounds(sizes: &[usize], pieces: usize) -> Vec<Range<usize>> {
    let total: usize = sizes.iter().sum();
    let mut bounds = Vec::with_capacity(pieces);
    let mut start = 0;
    let mut acc = 0;
    for (i, size) in sizes.iter().enumerate() {
        // Cut before cell i if its midpoint lies past the next target.
        let target = total * (bounds.len() + 1) / pieces;
        if i > start && bounds.len() + 1 < pieces && acc + size / 2 > target {
            bounds.push(start..i);
            start = i;
        }
        acc += size;
    }
    bounds.push(start..sizes.len());
    bounds
}

/// A piece of a split node and the separator that goes before it in the
/// parent (`None` for the first piece).
pub(crate) type Piece = (Option<Bytes>, Body);

/// Cuts a node's contents into pieces that fit in a page.
pub(crate) fn split_body(layout: Layout, body: Body, cut: Cut) -> Vec<Piece> {
    match body {
        Body::Leaf(leaf) => split_leaf(layout, leaf.entries, cut),
        Body::Branch(branch) => split_branch(layout, branch, cut),
    }
}

fn split_leaf(layout: Layout, mut entries: Vec<Entry>, cut: Cut) -> Vec<Piece> {
    let sizes = layout.leaf_cell_sizes(&entries);
    let bounds = cut_bounds(&sizes, layout.capacity(), cut);
    let mut pieces = Vec::with_capacity(bounds.len());
    for range in bounds.iter().rev() {
        let part: Vec<Entry> = entries.drain(range.clone()).collect();
        // A copy, not a slice: a leaf's keys share the leaf's buffer
        // (`pack.rs`), which the branch would otherwise keep alive.
        let separator = (range.start > 0)
            .then(|| part.first().map(|e| Bytes::copy_from_slice(&e.key)))
            .flatten();
        pieces.push((separator, Body::Leaf(Leaf { entries: part })));
    }
    pieces.reverse();
    pieces
}

fn split_branch(layout: Layout, branch: Branch, cut: Cut) -> Vec<Piece> {
    let sizes = layout.branch_cell_sizes(&branch.keys, branch.children.len());
    let bounds = cut_bounds(&sizes, layout.capacity(), cut);
    let mut keys = Arc::unwrap_or_clone(branch.keys).into_iter();
    let mut children = branch.children.into_iter();
    let mut pieces = Vec::with_capacity(bounds.len());
    for range in bounds {
        // The separator before this piece moves up to the parent.
        let separator = if range.start > 0 { keys.next() } else { None };
        let len = range.len();
        let piece_children: Vec<Child> = children.by_ref().take(len).collect();
        let piece_keys: Vec<Bytes> = keys.by_ref().take(len.saturating_sub(1)).collect();
        pieces.push((
            separator,
            Body::Branch(Branch {
                keys: Arc::new(piece_keys),
                children: piece_children.into(),
            }),
        ));
    }
    pieces
}

/// Joins adjacent siblings (in order) and the separators between them.
/// Returns `None` if they are not all of one kind.
pub(crate) fn join_bodies(bodies: Vec<Body>, separators: Vec<Bytes>) -> Option<Body> {
    let mut bodies = bodies.into_iter();
    let first = bodies.next()?;
    match first {
        Body::Leaf(mut leaf) => {
            for body in bodies {
                let Body::Leaf(next) = body else { return None };
                leaf.entries.extend(next.entries);
            }
            Some(Body::Leaf(leaf))
        }
        Body::Branch(mut branch) => {
            for (body, separator) in bodies.zip(separators) {
                let Body::Branch(next) = body else {
                    return None;
                };
                let keys = Arc::make_mut(&mut branch.keys);
                keys.push(separator);
                keys.extend(Arc::unwrap_or_clone(next.keys));
                branch.children.extend(next.children);
            }
            Some(Body::Branch(branch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Value;

    #[test]
    fn bounds_fit_and_balance() {
        let sizes = vec![100; 50];
        let bounds = piece_bounds(&sizes, 3000, 1);
        assert_eq!(bounds, vec![0..25, 25..50]);
        let bounds = piece_bounds(&[10, 10, 10], 3000, 1);
        assert_eq!(bounds, vec![0..3]);
        // Two full pages' worth cut into three (a B*-tree's 2-to-3 split).
        let bounds = piece_bounds(&sizes, 2500, 3);
        assert_eq!(bounds.len(), 3);
        assert!(bounds.iter().all(|r| r.len() >= 16));
        assert_eq!(piece_bounds(&[10, 10], 3000, 3).len(), 2);
        // An append leaves the left piece full.
        let bounds = cut_bounds(&[100; 31], 3000, Cut::FillLeft);
        assert_eq!(bounds, vec![0..30, 30..31]);
        let uneven = [1000, 10, 10, 10, 1000, 1000, 1000];
        for r in piece_bounds(&uneven, 2100, 1) {
            assert!(uneven[r].iter().sum::<usize>() <= 2100);
        }
    }

    #[test]
    fn split_and_join_leaf_round_trip() {
        let layout = Layout::new(1024);
        let entries: Vec<Entry> = (0..100u32)
            .map(|i| Entry {
                key: Bytes::from(format!("key{i:05}")),
                value: Value::Inline(Bytes::from(vec![7; 20])),
            })
            .collect();
        let pieces = split_body(
            layout,
            Body::Leaf(Leaf {
                entries: entries.clone(),
            }),
            Cut::Balanced(1),
        );
        assert!(pieces.len() >= 3);
        for (i, (sep, body)) in pieces.iter().enumerate() {
            assert!(layout.fits(layout.node_bytes(body)));
            assert_eq!(sep.is_some(), i > 0);
        }
        let seps: Vec<Bytes> = pieces.iter().filter_map(|(s, _)| s.clone()).collect();
        let joined = join_bodies(pieces.into_iter().map(|(_, b)| b).collect(), seps).unwrap();
        let Body::Leaf(leaf) = joined else {
            panic!("leaf expected")
        };
        assert_eq!(leaf.entries, entries);
    }
}
