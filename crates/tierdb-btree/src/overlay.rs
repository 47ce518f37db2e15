//! The recovery overlay: WAL records replayed at open, held in memory over
//! the tree until they are folded into it.
//!
//! Applying a replayed record to the tree costs a read of each cold leaf it
//! touches and a copy of its path; an open after a crash would pay that for
//! every record since the last checkpoint. Replay instead puts each write
//! into this sorted map (decode + insert, no page read), reads merge it over
//! the tree, and the first `apply` or `persist` after open — or the
//! background worker, right after open — folds it into the tree in one
//! mutation in key order, each leaf read and copied once.
//!
//! Range deletes are kept as ranges: a tree key inside one is gone unless
//! the map has a newer write of it (a range delete removes the map's
//! entries it covers, so every entry left is newer than every range that
//! covers it).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;
use tierdb_io::Result;
use tierdb_tier::{Seq, TierIter, WriteOp, range_contains, range_is_empty};

/// Replayed writes not yet folded into the tree.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overlay {
    /// The newest write of each key: `None` for a delete.
    pub(crate) entries: BTreeMap<Bytes, Option<Bytes>>,
    /// Deleted ranges `[start, end)`, oldest first.
    pub(crate) range_deletes: Vec<(Bytes, Option<Bytes>)>,
    /// The sequence of the last write set added.
    pub(crate) seq: Seq,
    /// Bytes of keys and values held.
    pub(crate) bytes: u64,
}

impl Overlay {
    /// Adds a write set at `seq` (above every one added before).
    pub(crate) fn add(&mut self, seq: Seq, ops: &[WriteOp]) {
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    self.bytes += (key.len() + value.len()) as u64;
                    self.entries.insert(key.clone(), Some(value.clone()));
                }
                WriteOp::Delete { key } => {
                    self.bytes += key.len() as u64;
                    self.entries.insert(key.clone(), None);
                }
                WriteOp::DeleteRange { start, end } if range_is_empty(start, end.as_deref()) => {}
                WriteOp::DeleteRange { start, end } => {
                    let upper = end.clone().map_or(Bound::Unbounded, Bound::Excluded);
                    let covered: Vec<Bytes> = self
                        .entries
                        .range((Bound::Included(start.clone()), upper))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in covered {
                        self.entries.remove(&key);
                    }
                    self.range_deletes.push((start.clone(), end.clone()));
                }
            }
        }
        self.seq = seq;
    }

    /// What the overlay says of `key`: `Some(value)` if it decides (a
    /// write, a delete, or a deleted range), `None` to ask the tree.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        match self.entries.get(key) {
            Some(write) => Some(write.clone()),
            None if self.in_deleted_range(key) => Some(None),
            None => None,
        }
    }

    /// Whether the tree's entry for `key` is hidden by the overlay.
    fn hides(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key) || self.in_deleted_range(key)
    }

    fn in_deleted_range(&self, key: &[u8]) -> bool {
        self.range_deletes
            .iter()
            .any(|(start, end)| range_contains(start, end.as_deref(), key))
    }

    /// The overlay's puts in `(lower, upper)` merged with `tree`, the
    /// tree's entries in the same range, in key order both ways.
    pub(crate) fn merge(
        overlay: std::sync::Arc<Overlay>,
        tree: TierIter,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
    ) -> TierIter {
        let puts: VecDeque<(Bytes, Bytes)> = if holds_nothing(&lower, &upper) {
            VecDeque::new()
        } else {
            overlay
                .entries
                .range((lower, upper))
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect()
        };
        let tree = tree.filter(move |item| match item {
            Ok((key, _)) => !overlay.hides(key),
            Err(_) => true,
        });
        Box::new(Merge {
            puts,
            tree: Ends::new(Box::new(tree)),
        })
    }
}

/// Whether no key lies between the bounds (`BTreeMap::range` panics on
/// such bounds; a range read answers nothing).
fn holds_nothing(lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

/// A double-ended iterator that can look at its next item from either end.
struct Ends {
    inner: TierIter,
    front: Option<Result<(Bytes, Bytes)>>,
    back: Option<Result<(Bytes, Bytes)>>,
}

impl Ends {
    fn new(inner: TierIter) -> Self {
        Ends {
            inner,
            front: None,
            back: None,
        }
    }

    fn peek_front(&mut self) -> Option<&Result<(Bytes, Bytes)>> {
        if self.front.is_none() {
            self.front = self.inner.next().or_else(|| self.back.take());
        }
        self.front.as_ref()
    }

    fn peek_back(&mut self) -> Option<&Result<(Bytes, Bytes)>> {
        if self.back.is_none() {
            self.back = self.inner.next_back().or_else(|| self.front.take());
        }
        self.back.as_ref()
    }
}

/// The overlay's puts and the tree's entries it does not hide: two sorted
/// streams with no key in common, merged.
struct Merge {
    puts: VecDeque<(Bytes, Bytes)>,
    tree: Ends,
}

impl Iterator for Merge {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        let take_tree = match (self.tree.peek_front(), self.puts.front()) {
            (Some(Err(_)), _) | (Some(Ok(_)), None) => true,
            (Some(Ok((tree_key, _))), Some((put_key, _))) => tree_key < put_key,
            (None, _) => false,
        };
        if take_tree {
            self.tree.front.take()
        } else {
            self.puts.pop_front().map(Ok)
        }
    }
}

impl DoubleEndedIterator for Merge {
    fn next_back(&mut self) -> Option<Self::Item> {
        let take_tree = match (self.tree.peek_back(), self.puts.back()) {
            (Some(Err(_)), _) | (Some(Ok(_)), None) => true,
            (Some(Ok((tree_key, _))), Some((put_key, _))) => tree_key > put_key,
            (None, _) => false,
        };
        if take_tree {
            self.tree.back.take()
        } else {
            self.puts.pop_back().map(Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn put(k: &str, v: &str) -> WriteOp {
        WriteOp::Put {
            key: b(k),
            value: b(v),
        }
    }

    fn tree(keys: &[&str]) -> TierIter {
        let items: Vec<Result<(Bytes, Bytes)>> =
            keys.iter().map(|k| Ok((b(k), b("tree")))).collect();
        Box::new(items.into_iter())
    }

    fn overlay() -> Arc<Overlay> {
        let mut o = Overlay::default();
        o.add(1, &[put("b", "1"), put("d", "1"), put("x", "1")]);
        o.add(
            2,
            &[
                WriteOp::DeleteRange {
                    start: b("c"),
                    end: Some(b("f")),
                },
                put("e", "2"),
                WriteOp::Delete { key: b("g") },
            ],
        );
        Arc::new(o)
    }

    #[test]
    fn get_decides_writes_deletes_and_deleted_ranges() {
        let o = overlay();
        assert_eq!(o.get(b"b"), Some(Some(b("1"))));
        assert_eq!(o.get(b"d"), Some(None), "range delete removed it");
        assert_eq!(o.get(b"c"), Some(None), "inside the deleted range");
        assert_eq!(o.get(b"e"), Some(Some(b("2"))), "written after the range");
        assert_eq!(o.get(b"g"), Some(None));
        assert_eq!(o.get(b"a"), None, "ask the tree");
        assert_eq!(o.seq, 2);
    }

    #[test]
    fn merge_is_sorted_both_ways_and_meets_in_the_middle() {
        let tree_keys = ["a", "b", "c", "d", "f", "g", "h", "y"];
        let all = |lower, upper| {
            Overlay::merge(overlay(), tree(&tree_keys), lower, upper)
                .map(|r| r.map(|(k, v)| format!("{}={}", k.escape_ascii(), v.escape_ascii())))
                .collect::<Result<Vec<_>>>()
                .unwrap()
        };
        let forward = all(Bound::Unbounded, Bound::Unbounded);
        assert_eq!(
            forward,
            ["a=tree", "b=1", "e=2", "f=tree", "h=tree", "x=1", "y=tree"]
        );
        let mut backward: Vec<String> = Overlay::merge(
            overlay(),
            tree(&tree_keys),
            Bound::Unbounded,
            Bound::Unbounded,
        )
        .rev()
        .map(|r| r.unwrap().0.escape_ascii().to_string())
        .collect();
        backward.reverse();
        assert_eq!(backward, ["a", "b", "e", "f", "h", "x", "y"]);
        for split in 0..=forward.len() {
            let mut it = Overlay::merge(
                overlay(),
                tree(&tree_keys),
                Bound::Unbounded,
                Bound::Unbounded,
            );
            let mut front: Vec<Bytes> = (0..split)
                .map_while(|_| it.next())
                .map(|r| r.unwrap().0)
                .collect();
            let mut back: Vec<Bytes> = it.rev().map(|r| r.unwrap().0).collect();
            back.reverse();
            front.extend(back);
            assert_eq!(front.len(), forward.len(), "split at {split}");
        }
        let bounded = all(Bound::Excluded(b("b")), Bound::Included(b("x")));
        // The tree iterator is bounded by its caller; here it is not, so
        // only the overlay's side is cut.
        assert!(bounded.contains(&"x=1".to_string()));
        assert!(!bounded.contains(&"b=1".to_string()));
    }
}
