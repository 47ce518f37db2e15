//! Read views: a sequence number and the root of the tree version as of it.
//!
//! A view registers its sequence in the tier's view registry (in `Space`)
//! while it or any iterator made from it lives, so pages it can reach are
//! not reused under it.

use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::Mutex;
use tierdb_io::Result;
use tierdb_tier::{ReadView, Seq, TierIter};

use crate::cursor::RangeIter;
use crate::node::{Child, Node};
use crate::overlay::Overlay;
use crate::read;
use crate::space::Space;
use crate::store::Store;

/// Keeps a view's sequence registered until dropped.
#[derive(Debug)]
pub(crate) struct ViewPin {
    space: Arc<Mutex<Space>>,
    seq: Seq,
}

impl ViewPin {
    /// Registers a view at `seq` in `space` (already locked by the caller,
    /// who also read the root under the tree lock).
    pub(crate) fn register(space_arc: &Arc<Mutex<Space>>, space: &mut Space, seq: Seq) -> Self {
        space.register_view(seq);
        ViewPin {
            space: Arc::clone(space_arc),
            seq,
        }
    }
}

impl Drop for ViewPin {
    fn drop(&mut self) {
        self.space.lock().unregister_view(self.seq);
    }
}

/// A B+tree read view.
pub(crate) struct BTreeView {
    pub(crate) seq: Seq,
    pub(crate) root: Child,
    /// Recovered writes not yet folded into `root`, read over it.
    pub(crate) overlay: Option<Arc<Overlay>>,
    pub(crate) store: Arc<Store>,
    pub(crate) pin: Arc<ViewPin>,
    /// An on-disk root, once loaded: every read of the view starts there,
    /// so it is looked up in the cache once, not per read.
    pub(crate) loaded_root: OnceLock<Arc<Node>>,
}

impl BTreeView {
    /// The root node, and the on-disk pages it counts for in the read
    /// figures (1 for an on-disk root, loaded or not: each read reads it,
    /// from the view's copy rather than through the cache).
    fn root_node(&self) -> Result<(&Node, u64)> {
        match &self.root {
            Child::Mem(node) => Ok((node, 0)),
            Child::Disk(disk) => {
                let node = match self.loaded_root.get() {
                    Some(node) => node,
                    None => {
                        let node = self.store.load_node(*disk)?;
                        self.loaded_root.get_or_init(|| node)
                    }
                };
                Ok((node, 1))
            }
        }
    }
}

impl ReadView for BTreeView {
    fn seq(&self) -> Seq {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if let Some(decided) = self.overlay.as_ref().and_then(|o| o.get(key)) {
            return Ok(decided);
        }
        let (root, pages) = self.root_node()?;
        read::get(&self.store, root, pages, key)
    }

    fn range(&self, lower: Bound<Bytes>, upper: Bound<Bytes>) -> Result<TierIter> {
        self.root_node()?;
        let root = match self.loaded_root.get() {
            Some(node) => Child::Mem(Arc::clone(node)),
            None => self.root.clone(),
        };
        let iter = RangeIter::new(
            Arc::clone(&self.store),
            Arc::clone(&self.pin),
            root,
            lower.clone(),
            upper.clone(),
        );
        Ok(match &self.overlay {
            Some(overlay) => Overlay::merge(Arc::clone(overlay), Box::new(iter), lower, upper),
            None => Box::new(iter),
        })
    }
}
