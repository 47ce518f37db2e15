//! The published read state: one sequence number and a read view of every
//! partition as of it. Replaced (never mutated) after each commit, so a
//! reader takes it without a lock and keeps it as long as it likes.

use std::sync::Arc;

use tierdb_tier::{ReadView, Seq};

use crate::layout::Layout;

/// Everything committed up to `seq`, across all partitions.
pub(crate) struct Version {
    /// The last commit visible in this version.
    pub seq: Seq,
    /// The partitions this version's views belong to.
    pub layout: Arc<Layout>,
    /// A view per partition, in the layout's order.
    pub views: Vec<Arc<dyn ReadView>>,
}
