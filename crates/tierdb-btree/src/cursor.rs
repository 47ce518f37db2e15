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

use crate::leaf_page::LeafPage;
use crate::mutate::HEIGHT_MAX;
use crate::node::{Body, Branch, Child, Entry, Leaf, Node, Value};
use crate::read::too_deep;
use crate::resident;
use crate::store::{Page, Store};
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
    stack: Vec<(Page, usize)>,
    direction: Direction,
    /// Whether `step` has yielded an entry (then the leaf frame on top
    /// holds it, next to `index`).
    yielded: bool,
}

/// A frame's node: a branch, or a leaf (decoded or read in place).
enum Frame<'a> {
    Branch(&'a Node, &'a Branch),
    Leaf(&'a Leaf),
    Page(&'a LeafPage),
}

fn frame(page: &Page) -> Frame<'_> {
    match page {
        Page::Leaf(leaf) => Frame::Page(leaf),
        Page::Node(node) => match &node.body {
            Body::Leaf(leaf) => Frame::Leaf(leaf),
            Body::Branch(branch) => Frame::Branch(node, branch),
        },
    }
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
            stack: Vec::with_capacity(4),
            direction,
            yielded: false,
        };
        let mut page = store.resolve(root)?;
        loop {
            if cursor.stack.len() >= HEIGHT_MAX as usize {
                return Err(too_deep(store));
            }
            let (node, branch) = match frame(&page) {
                Frame::Branch(node, branch) => (node, branch),
                leaf => {
                    let index = leaf_position(store, &page, leaf, bound, direction)?;
                    cursor.stack.push((page, index));
                    return Ok(cursor);
                }
            };
            let index = match bound {
                Bound::Unbounded if direction == Direction::Forward => 0,
                Bound::Unbounded => branch.children.len().saturating_sub(1),
                Bound::Included(key) | Bound::Excluded(key) => node.child_index(key),
            };
            let child = child_of(store, node, branch, index)?;
            cursor.stack.push((page, index));
            page = child;
        }
    }

    /// The next entry in this cursor's direction, or `None` at the end.
    fn step(&mut self, store: &Store) -> Result<Option<Entry>> {
        while let Some((page, index)) = self.stack.last_mut() {
            let at = match self.direction {
                Direction::Forward => Some(*index),
                Direction::Backward => index.checked_sub(1),
            };
            let entry = match frame(page) {
                Frame::Branch(node, branch) => {
                    let next = match self.direction {
                        Direction::Forward => {
                            index.checked_add(1).filter(|i| *i < branch.children.len())
                        }
                        Direction::Backward => index.checked_sub(1),
                    };
                    match next.and_then(|i| branch.children.get(i).map(|c| (i, c))) {
                        Some((i, child)) => {
                            *index = i;
                            let child = resident::child_page(store, node, i, child)?;
                            self.descend_edge(store, child)?;
                        }
                        None => {
                            self.stack.pop();
                        }
                    }
                    continue;
                }
                Frame::Leaf(leaf) => at.and_then(|i| leaf.entries.get(i)).cloned(),
                Frame::Page(leaf) => match at.filter(|i| *i < leaf.len()) {
                    Some(i) => Some(
                        leaf.entry(i)
                            .map_err(|r| store.corrupt_page(leaf.page(), r))?,
                    ),
                    None => None,
                },
            };
            match entry {
                Some(entry) => {
                    match self.direction {
                        Direction::Forward => *index += 1,
                        Direction::Backward => *index -= 1,
                    }
                    self.yielded = true;
                    return Ok(Some(entry));
                }
                None => {
                    self.stack.pop();
                }
            }
        }
        Ok(None)
    }

    /// The key of the entry `step` yielded last, if any (read in place: the
    /// scan does not keep a copy per entry).
    fn last_key(&self) -> Option<&[u8]> {
        let (page, index) = self.stack.last().filter(|_| self.yielded)?;
        let at = match self.direction {
            Direction::Forward => index.checked_sub(1)?,
            Direction::Backward => *index,
        };
        match frame(page) {
            Frame::Branch(..) => None,
            Frame::Leaf(leaf) => leaf.entries.get(at).map(|e| e.key.as_ref()),
            // Read once already by `step`, so it parses.
            Frame::Page(leaf) => leaf.key(at).ok(),
        }
    }

    /// Pushes the leftmost (forward) or rightmost (backward) path from `page`.
    fn descend_edge(&mut self, store: &Store, mut page: Page) -> Result<()> {
        let forward = self.direction == Direction::Forward;
        loop {
            if self.stack.len() >= HEIGHT_MAX as usize {
                return Err(too_deep(store));
            }
            let (node, branch) = match frame(&page) {
                Frame::Branch(node, branch) => (node, branch),
                Frame::Leaf(leaf) => {
                    let index = if forward { 0 } else { leaf.entries.len() };
                    self.stack.push((page, index));
                    return Ok(());
                }
                Frame::Page(leaf) => {
                    let index = if forward { 0 } else { leaf.len() };
                    self.stack.push((page, index));
                    return Ok(());
                }
            };
            let index = if forward {
                0
            } else {
                branch.children.len().saturating_sub(1)
            };
            let child = child_of(store, node, branch, index)?;
            self.stack.push((page, index));
            page = child;
        }
    }
}

/// Child `index` of the branch `node`.
fn child_of(store: &Store, node: &Node, branch: &Branch, index: usize) -> Result<Page> {
    let child = branch
        .children
        .get(index)
        .ok_or_else(|| crate::mutate::internal(store, "branch without children"))?;
    resident::child_page(store, node, index, child)
}

/// Where a cursor starts in a leaf: the first entry inside `bound`
/// forward, or one past the last entry inside it backward.
fn leaf_position(
    store: &Store,
    page: &Page,
    leaf: Frame<'_>,
    bound: Bound<&[u8]>,
    direction: Direction,
) -> Result<usize> {
    let len = match leaf {
        Frame::Leaf(leaf) => leaf.entries.len(),
        Frame::Page(leaf) => leaf.len(),
        Frame::Branch(..) => return Err(crate::mutate::internal(store, "not a leaf")),
    };
    let (key, included) = match bound {
        Bound::Unbounded if direction == Direction::Forward => return Ok(0),
        Bound::Unbounded => return Ok(len),
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
    };
    let found = match (page, leaf) {
        (Page::Node(node), _) => node.search(key),
        (_, Frame::Page(leaf)) => leaf
            .search(key)
            .map_err(|r| store.corrupt_page(leaf.page(), r))?,
        _ => return Err(crate::mutate::internal(store, "not a leaf")),
    };
    Ok(match found {
        // The key itself is inside the bound: forward starts at it,
        // backward just past it; outside, the other way round.
        Ok(i) if included == (direction == Direction::Forward) => i,
        Ok(i) => i + 1,
        Err(i) => i,
    })
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
                past_bound
                    || self
                        .back
                        .as_ref()
                        .and_then(Cursor::last_key)
                        .is_some_and(|b| key.as_ref() >= b)
            }
            Direction::Backward => {
                let past_bound = match &self.lower {
                    Bound::Included(l) => key < l,
                    Bound::Excluded(l) => key <= l,
                    Bound::Unbounded => false,
                };
                past_bound
                    || self
                        .front
                        .as_ref()
                        .and_then(Cursor::last_key)
                        .is_some_and(|f| key.as_ref() <= f)
            }
        }
    }

    fn advance(&mut self, direction: Direction) -> Option<Result<(Bytes, Bytes)>> {
        if self.done {
            return None;
        }
        let result = self.next_entry(direction).and_then(|entry| match entry {
            Some(entry) if !self.beyond(&entry.key, direction) => {
                let value = match entry.value {
                    Value::Inline(bytes) => bytes,
                    Value::Overflow(run) => self.store.read_value(run)?,
                };
                Ok(Some((entry.key, value)))
            }
            _ => Ok(None),
        });
        match result {
            Ok(Some(item)) => Some(Ok(item)),
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
