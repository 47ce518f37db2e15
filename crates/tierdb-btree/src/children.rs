//! A branch's children, held in fixed-size chunks shared between copies of
//! the branch.
//!
//! A put path-copies every branch above its leaf but changes one child
//! pointer in each. With the children in one vector, each copy bumped the
//! reference count of every in-memory child (a cache miss apiece: a branch
//! of a 1M-entry tree has ~120 children, most of them in memory between
//! checkpoints) and dropping the old copy did it again; with the separators
//! already shared (`Branch::keys`), that was the largest part of an update
//! in the 90/10 mix. In chunks, a copy bumps one count per chunk and
//! [`Children::get_mut`] copies only the chunk it changes.
//!
//! Every chunk holds [`CHUNK`] children except the last (1 to `CHUNK`), so
//! child `i` is in chunk `i / CHUNK`. Changes of the structure (splits,
//! joins, range deletes) are rare and rebuild the chunks.

use std::ops::{Index, Range};
use std::sync::Arc;

use crate::node::{Child, DiskRef};

/// Children per chunk.
const CHUNK: usize = 16;

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Children {
    chunks: Vec<Arc<[Child]>>,
    len: usize,
}

impl Children {
    /// The number of children.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Child `i`, if there is one.
    pub(crate) fn get(&self, i: usize) -> Option<&Child> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Child `i` to change, copying its chunk if a copy of the branch
    /// shares it.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Child> {
        Arc::make_mut(self.chunks.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    /// The first child.
    pub(crate) fn first(&self) -> Option<&Child> {
        self.get(0)
    }

    /// The children in order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Child> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The children in order, to change (copying every shared chunk).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Child> {
        self.chunks
            .iter_mut()
            .flat_map(|chunk| Arc::make_mut(chunk).iter_mut())
    }

    /// Bytes the chunks take (for `Node::heap_bytes`).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.len * size_of::<Child>()
            + self.chunks.capacity() * size_of::<Arc<[Child]>>()
            // Each chunk's two reference counts.
            + self.chunks.len() * 2 * size_of::<usize>()
    }

    /// The children as a vector.
    pub(crate) fn into_vec(mut self) -> Vec<Child> {
        self.tail_from(0)
    }

    /// Removes the chunks from `first` on and returns their children (moved
    /// out of chunks no copy shares, cloned from the others).
    fn tail_from(&mut self, first: usize) -> Vec<Child> {
        let first = first.min(self.chunks.len());
        let mut tail = Vec::with_capacity(self.len - first * CHUNK);
        for mut chunk in self.chunks.drain(first..) {
            match Arc::get_mut(&mut chunk) {
                Some(owned) => tail.extend(owned.iter_mut().map(|child| {
                    std::mem::replace(
                        child,
                        Child::Disk(DiskRef {
                            page: 0,
                            checksum: 0,
                        }),
                    )
                })),
                None => tail.extend_from_slice(&chunk),
            }
        }
        self.len = first * CHUNK;
        tail
    }

    /// Appends `children` after the last chunk, which must be full.
    fn push_chunks(&mut self, children: Vec<Child>) {
        debug_assert_eq!(self.len % CHUNK, 0);
        self.len += children.len();
        let mut rest = children.into_iter();
        while rest.len() > 0 {
            self.chunks.push(rest.by_ref().take(CHUNK).collect());
        }
    }

    /// Changes the children from index `from` on with `change`, given them
    /// as a vector whose index 0 is child `from - from % CHUNK`; the chunks
    /// before are kept as they are.
    fn change_from(&mut self, from: usize, change: impl FnOnce(&mut Vec<Child>, usize)) {
        let first = from / CHUNK;
        let mut tail = self.tail_from(first);
        change(&mut tail, first * CHUNK);
        self.push_chunks(tail);
    }

    /// Replaces the children in `range` by `with`.
    pub(crate) fn splice(&mut self, range: Range<usize>, with: Vec<Child>) {
        self.change_from(range.start, |tail, base| {
            tail.splice(range.start - base..range.end - base, with);
        });
    }

    /// Removes and returns the children in `range`.
    pub(crate) fn drain(&mut self, range: Range<usize>) -> Vec<Child> {
        let mut drained = Vec::new();
        self.change_from(range.start, |tail, base| {
            drained = tail.drain(range.start - base..range.end - base).collect();
        });
        drained
    }

    /// Appends `other`'s children.
    pub(crate) fn extend(&mut self, other: Children) {
        self.change_from(self.len, |tail, _| tail.extend(other.into_vec()));
    }
}

impl From<Vec<Child>> for Children {
    fn from(all: Vec<Child>) -> Self {
        let mut children = Children {
            chunks: Vec::with_capacity(all.len().div_ceil(CHUNK)),
            len: 0,
        };
        children.push_chunks(all);
        children
    }
}

impl FromIterator<Child> for Children {
    fn from_iter<I: IntoIterator<Item = Child>>(iter: I) -> Self {
        Children::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl IntoIterator for Children {
    type Item = Child;
    type IntoIter = std::vec::IntoIter<Child>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl Index<usize> for Children {
    type Output = Child;

    fn index(&self, i: usize) -> &Child {
        match self.get(i) {
            Some(child) => child,
            None => panic!("child {i} of a branch of {}", self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Node;

    fn disk(page: u64) -> Child {
        Child::Disk(DiskRef { page, checksum: 0 })
    }

    fn pages(children: &Children) -> Vec<u64> {
        children
            .iter()
            .map(|c| match c {
                Child::Disk(d) => d.page,
                Child::Mem(_) => u64::MAX,
            })
            .collect()
    }

    #[test]
    fn chunks_keep_order_through_every_change() {
        for n in [0u64, 1, 15, 16, 17, 40, 64] {
            let mut model: Vec<u64> = (0..n).collect();
            let mut c: Children = (0..n).map(disk).collect();
            let held = c.clone();
            let mut next = 1000;
            // (at, removed, inserted), clamped to the current length.
            for (at, removed, inserted) in
                [(1, 0, 2), (0, 1, 0), (20, 3, 1), (33, 0, 5), (15, 2, 2)]
            {
                let at = at.min(model.len());
                let end = (at + removed).min(model.len());
                let with: Vec<u64> = (next..next + inserted).collect();
                next += inserted;
                model.splice(at..end, with.clone());
                c.splice(at..end, with.into_iter().map(disk).collect());
                assert_eq!(pages(&c), model, "n {n} splice at {at}");
                assert_eq!(c.len(), model.len());
            }
            if model.len() > 4 {
                let want: Vec<u64> = model.drain(2..4).collect();
                let got = c.drain(2..4);
                assert_eq!(pages(&Children::from(got)), want);
            }
            c.extend((200..203).map(disk).collect());
            model.extend(200..203);
            assert_eq!(pages(&c), model);
            assert_eq!(c.len(), model.len());
            assert!(matches!(c[model.len() - 1], Child::Disk(d) if d.page == 202));
            assert_eq!(c.get(model.len()).map(|_| ()), None);
            assert_eq!(c.iter().rev().count(), model.len());
            assert_eq!(
                pages(&held),
                (0..n).collect::<Vec<_>>(),
                "a copy is unchanged"
            );
        }
    }

    #[test]
    fn a_copy_shares_chunks_until_one_changes() {
        let node = Arc::new(Node::empty_leaf());
        let mut a: Children = (0..40)
            .map(|i| {
                if i == 20 {
                    Child::Mem(Arc::clone(&node))
                } else {
                    disk(i)
                }
            })
            .collect();
        let b = a.clone();
        assert_eq!(Arc::strong_count(&node), 2, "copying a chunk is one count");
        *a.get_mut(3).unwrap() = disk(999);
        assert_eq!(Arc::strong_count(&node), 2, "chunk 0 copied, chunk 1 not");
        assert!(matches!(b[3], Child::Disk(d) if d.page == 3));
        assert!(matches!(a[3], Child::Disk(d) if d.page == 999));
        *a.get_mut(21).unwrap() = disk(998);
        assert_eq!(Arc::strong_count(&node), 3, "chunk 1 copied");
        drop(b);
        assert_eq!(Arc::strong_count(&node), 2);
        assert_eq!(a.into_vec().len(), 40);
    }
}
