//! After a checkpoint commits: replace, in the *current* tree, every
//! in-memory node that checkpoint wrote (and `apply` has not replaced since)
//! by a `Disk` pointer (the checkpoint put their decoded copies in the
//! cache as it wrote them). Memory then holds only the nodes changed since
//! the checkpoint began.
//!
//! Nodes are matched by identity (`Arc` address): the checkpoint's root
//! keeps every node it wrote alive until the swizzle ends, so an address in
//! its table cannot have been reused, and because every path from the
//! shared root is copied before it is changed, a node with that address still
//! has exactly the contents that were written.
//!
//! A written node that is no longer in the current tree is an orphan: its
//! pages (extent and overflow runs) are reachable from the new durable
//! checkpoint only, and are freed once a later checkpoint is durable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::checkpoint::Written;
use crate::node::{Body, Child, Node};
use crate::space::PageRun;

/// What the swizzle found.
pub(crate) struct Swizzled {
    /// Pages written by the checkpoint that the current tree does not reach.
    pub(crate) orphans: Vec<PageRun>,
    /// Bytes the current tree still holds in memory (exact).
    pub(crate) dirty_bytes: u64,
}

/// Swizzles `root` in place.
pub(crate) fn swizzle(root: &mut Child, written: &HashMap<usize, Written>) -> Swizzled {
    let mut s = Swizzler {
        written,
        reached: HashSet::new(),
        dirty_bytes: 0,
    };
    s.visit(root);
    let mut orphans = Vec::new();
    for (id, w) in written {
        if !s.reached.contains(id) {
            orphans.extend(w.runs.iter().copied());
        }
    }
    Swizzled {
        orphans,
        dirty_bytes: s.dirty_bytes,
    }
}

struct Swizzler<'a> {
    written: &'a HashMap<usize, Written>,
    reached: HashSet<usize>,
    dirty_bytes: u64,
}

impl Swizzler<'_> {
    fn visit(&mut self, child: &mut Child) {
        let written = self.written;
        let Child::Mem(node) = child else { return };
        if let Some(w) = written
            .get(&Node::identity(node))
            .filter(|w| Arc::ptr_eq(&w.source, node))
        {
            self.reach(node);
            *child = Child::Disk(w.disk);
            return;
        }
        self.dirty_bytes += node.heap_bytes() as u64;
        match &node.body {
            Body::Leaf(_) => {}
            Body::Branch(branch) if branch.children.iter().any(|c| matches!(c, Child::Mem(_))) => {
                if let Body::Branch(branch) = &mut Arc::make_mut(node).body {
                    for c in branch.children.iter_mut() {
                        self.visit(c);
                    }
                }
            }
            Body::Branch(_) => {}
        }
    }

    /// Marks a written node and its in-memory descendants (all written) as
    /// reachable from the current tree.
    fn reach(&mut self, node: &Arc<Node>) {
        self.reached.insert(Node::identity(node));
        if let Body::Branch(branch) = &node.body {
            for c in branch.children.iter() {
                if let Child::Mem(child) = c {
                    self.reach(child);
                }
            }
        }
    }
}
