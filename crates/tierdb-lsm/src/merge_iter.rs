//! `MergeIter`: a k-way merge of internal iterators into one internal order.
//!
//! Heap-free: each step scans the children for the smallest (forward) or
//! largest (backward) entry, which is cheap for the handful of memtables
//! and tables a read touches. Changing direction repositions every other
//! child around the current entry, as LevelDB's merging iterator does. Two
//! children never hold the same (key, seq); if they did, the earlier child
//! would win.

use std::cmp::Ordering;

use tierdb_io::Result;

use crate::entry::{Entry, InternalIter, internal_cmp};

/// Which way the merge last moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// Merges children (each in internal order) into one internal order.
pub(crate) struct MergeIter<'a> {
    children: Vec<Box<dyn InternalIter + 'a>>,
    current: Option<usize>,
    direction: Direction,
}

fn cmp_entries(a: &Entry, b: &Entry) -> Ordering {
    internal_cmp(&a.key, a.seq, &b.key, b.seq)
}

impl<'a> MergeIter<'a> {
    /// A merge of `children`; position it before use.
    pub(crate) fn new(children: Vec<Box<dyn InternalIter + 'a>>) -> Self {
        MergeIter {
            children,
            current: None,
            direction: Direction::Forward,
        }
    }

    /// Picks the child with the smallest (`Forward`) or largest entry.
    fn pick(&mut self, direction: Direction) {
        self.direction = direction;
        let mut best: Option<usize> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let ord = cmp_entries(child.entry(), self.children[b].entry());
                    match direction {
                        Direction::Forward => ord == Ordering::Less,
                        Direction::Backward => ord == Ordering::Greater,
                    }
                }
            };
            if better {
                best = Some(i);
            }
        }
        self.current = best;
    }

    /// Puts every child but the current one just after the current entry.
    fn turn_forward(&mut self, current: usize) -> Result<()> {
        let at = self.children[current].entry().clone();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == current {
                continue;
            }
            child.seek(&at.key)?;
            while child.valid() && cmp_entries(child.entry(), &at) != Ordering::Greater {
                child.next()?;
            }
        }
        Ok(())
    }

    /// Puts every child but the current one just before the current entry.
    fn turn_backward(&mut self, current: usize) -> Result<()> {
        let at = self.children[current].entry().clone();
        for (i, child) in self.children.iter_mut().enumerate() {
            if i == current {
                continue;
            }
            child.seek_for_prev(&at.key)?;
            while child.valid() && cmp_entries(child.entry(), &at) != Ordering::Less {
                child.prev()?;
            }
        }
        Ok(())
    }
}

impl InternalIter for MergeIter<'_> {
    fn seek_to_first(&mut self) -> Result<()> {
        for child in &mut self.children {
            child.seek_to_first()?;
        }
        self.pick(Direction::Forward);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        for child in &mut self.children {
            child.seek_to_last()?;
        }
        self.pick(Direction::Backward);
        Ok(())
    }

    fn seek(&mut self, key: &[u8]) -> Result<()> {
        for child in &mut self.children {
            child.seek(key)?;
        }
        self.pick(Direction::Forward);
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8]) -> Result<()> {
        for child in &mut self.children {
            child.seek_for_prev(key)?;
        }
        self.pick(Direction::Backward);
        Ok(())
    }

    fn valid(&self) -> bool {
        self.current.is_some()
    }

    #[allow(clippy::expect_used)]
    fn entry(&self) -> &Entry {
        let current = self
            .current
            .expect("MergeIter::entry called while not valid");
        self.children[current].entry()
    }

    fn next(&mut self) -> Result<()> {
        let Some(current) = self.current else {
            return Ok(());
        };
        if self.direction == Direction::Backward {
            self.turn_forward(current)?;
        }
        self.children[current].next()?;
        self.pick(Direction::Forward);
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(current) = self.current else {
            return Ok(());
        };
        if self.direction == Direction::Forward {
            self.turn_backward(current)?;
        }
        self.children[current].prev()?;
        self.pick(Direction::Backward);
        Ok(())
    }
}
