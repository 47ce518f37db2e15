//! Range iteration: a double-ended iterator over one tree version.
//!
//! Each end has a cursor, a stack of `(node, index)` frames from the root to
//! a leaf. The iterator owns `Arc`s of everything it walks (and a pin of its
//! view), so it is `'static + Send` and stays exact however long it lives.
//! The ends stop when they cross: the front never yields a key at or past
//! the last key the back yielded, and vice versa.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::mutate::HEIGHT_MAX;
use crate::node::{Body, Child, Entry, Node};
use crate::read::too_deep;
use crate::store::Store;
use crate::view::ViewPin;

/// Which way a cursor moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// One end of a range scan. For a branch frame, `index` is the child being
/// visited; for the leaf frame, the next entry (forward) or one past it
/// (backward).
struct Cursor {
    stack: Vec<(Arc<Node>, usize)>,
    direction: Direction,
}

impl Cursor {
    /// Positions a cursor at the first entry inside `bound` in `direction`.
    fn seek(
        store: &Store,
        root: &Child,
        bound: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<Self> {
        let mut cursor = Cursor {
            stack: Vec::new(),
            direction,
        };
        let mut node = store.resolve(root)?;
        loop {
            if cursor.stack.len() >= HEIGHT_MAX as usize {
                return Err(too_deep(store));
            }
            let next = match &node.body {
                Body::Leaf(leaf) => {
                    let index = leaf_position(&leaf.entries, bound, direction);
                    cursor.stack.push((node, index));
                    return Ok(cursor);
                }
                Body::Branch(branch) => {
                    let index = match bound {
                        Bound::Unbounded if direction == Direction::Forward => 0,
                        Bound::Unbounded => branch.children.len().saturating_sub(1),
                        Bound::Included(key) | Bound::Excluded(key) => branch.child_index(key),
                    };
                    let child = branch.children.get(index).cloned();
                    (index, child)
                }
            };
            let (index, child) = next;
            let child =
                child.ok_or_else(|| crate::mutate::internal(store, "branch without children"))?;
            cursor.stack.push((node, index));
            node = store.resolve(&child)?;
        }
    }

    /// The next entry in this cursor's direction, or `None` at the end.
    fn step(&mut self, store: &Store) -> Result<Option<Entry>> {
        while let Some((node, index)) = self.stack.last_mut() {
            match &node.body {
                Body::Leaf(leaf) => {
                    let entry = match self.direction {
                        Direction::Forward => leaf.entries.get(*index).inspect(|_| *index += 1),
                        Direction::Backward => index
                            .checked_sub(1)
                            .and_then(|i| leaf.entries.get(i))
                            .inspect(|_| *index -= 1),
                    };
                    if let Some(entry) = entry {
                        return Ok(Some(entry.clone()));
                    }
                    self.stack.pop();
                }
                Body::Branch(branch) => {
                    let next = match self.direction {
                        Direction::Forward => {
                            index.checked_add(1).filter(|i| *i < branch.children.len())
                        }
                        Direction::Backward => index.checked_sub(1),
                    };
                    match next.and_then(|i| branch.children.get(i).cloned().map(|c| (i, c))) {
                        Some((i, child)) => {
                            *index = i;
                            self.descend_edge(store, &child)?;
                        }
                        None => {
                            self.stack.pop();
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Pushes the leftmost (forward) or rightmost (backward) path under `child`.
    fn descend_edge(&mut self, store: &Store, child: &Child) -> Result<()> {
        let mut node = store.resolve(child)?;
        loop {
            if self.stack.len() >= HEIGHT_MAX as usize {
                return Err(too_deep(store));
            }
            let forward = self.direction == Direction::Forward;
            let next = match &node.body {
                Body::Leaf(leaf) => {
                    let index = if forward { 0 } else { leaf.entries.len() };
                    self.stack.push((node, index));
                    return Ok(());
                }
                Body::Branch(branch) => {
                    let index = if forward {
                        0
                    } else {
                        branch.children.len().saturating_sub(1)
                    };
                    (index, branch.children.get(index).cloned())
                }
            };
            let (index, child) = next;
            let child =
                child.ok_or_else(|| crate::mutate::internal(store, "branch without children"))?;
            self.stack.push((node, index));
            node = store.resolve(&child)?;
        }
    }
}

fn leaf_position(entries: &[Entry], bound: Bound<&[u8]>, direction: Direction) -> usize {
    match (direction, bound) {
        (Direction::Forward, Bound::Unbounded) => 0,
        (Direction::Forward, Bound::Included(k)) => entries.partition_point(|e| e.key.as_ref() < k),
        (Direction::Forward, Bound::Excluded(k)) => {
            entries.partition_point(|e| e.key.as_ref() <= k)
        }
        (Direction::Backward, Bound::Unbounded) => entries.len(),
        (Direction::Backward, Bound::Included(k)) => {
            entries.partition_point(|e| e.key.as_ref() <= k)
        }
        (Direction::Backward, Bound::Excluded(k)) => {
            entries.partition_point(|e| e.key.as_ref() < k)
        }
    }
}

fn as_ref(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_ref()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A range scan over one tree version.
pub(crate) struct RangeIter {
    store: Arc<Store>,
    _pin: Arc<ViewPin>,
    root: Child,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
    front: Option<Cursor>,
    back: Option<Cursor>,
    last_front: Option<Bytes>,
    last_back: Option<Bytes>,
    done: bool,
}

impl RangeIter {
    /// A scan of `(lower, upper)` in the tree at `root`.
    pub(crate) fn new(
        store: Arc<Store>,
        pin: Arc<ViewPin>,
        root: Child,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
    ) -> Self {
        RangeIter {
            store,
            _pin: pin,
            root,
            lower,
            upper,
            front: None,
            back: None,
            last_front: None,
            last_back: None,
            done: false,
        }
    }

    fn next_entry(&mut self, direction: Direction) -> Result<Option<Entry>> {
        let (slot, bound) = match direction {
            Direction::Forward => (&mut self.front, as_ref(&self.lower)),
            Direction::Backward => (&mut self.back, as_ref(&self.upper)),
        };
        let cursor = match slot {
            Some(cursor) => cursor,
            None => slot.insert(Cursor::seek(&self.store, &self.root, bound, direction)?),
        };
        cursor.step(&self.store)
    }

    /// True if `key` is past the far bound or where the other end stopped.
    fn beyond(&self, key: &Bytes, direction: Direction) -> bool {
        match direction {
            Direction::Forward => {
                let past_bound = match &self.upper {
                    Bound::Included(u) => key > u,
                    Bound::Excluded(u) => key >= u,
                    Bound::Unbounded => false,
                };
                past_bound || self.last_back.as_ref().is_some_and(|b| key >= b)
            }
            Direction::Backward => {
                let past_bound = match &self.lower {
                    Bound::Included(l) => key < l,
                    Bound::Excluded(l) => key <= l,
                    Bound::Unbounded => false,
                };
                past_bound || self.last_front.as_ref().is_some_and(|f| key <= f)
            }
        }
    }

    fn advance(&mut self, direction: Direction) -> Option<Result<(Bytes, Bytes)>> {
        if self.done {
            return None;
        }
        let result = self.next_entry(direction).and_then(|entry| match entry {
            Some(entry) if !self.beyond(&entry.key, direction) => {
                let value = self.store.value_bytes(&entry.value)?;
                Ok(Some((entry.key, value)))
            }
            _ => Ok(None),
        });
        match result {
            Ok(Some((key, value))) => {
                match direction {
                    Direction::Forward => self.last_front = Some(key.clone()),
                    Direction::Backward => self.last_back = Some(key.clone()),
                }
                Some(Ok((key, value)))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for RangeIter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance(Direction::Forward)
    }
}

impl DoubleEndedIterator for RangeIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.advance(Direction::Backward)
    }
}
