//! Flush: frozen memtables → one L0 table.
//!
//! All memtables taken by one persist are merged into a single table
//! (versions kept as `retain.rs` says; tombstones always kept, since older
//! values may sit in deeper levels), and so are range tombstones. The
//! caller installs the table with a manifest install and only then drops the
//! memtables.

use std::sync::Arc;

use tierdb_io::Result;

use crate::entry::InternalIter;
use crate::memtable::{FrozenIter, Memtable};
use crate::merge_iter::MergeIter;
use crate::range_del::fragment;
use crate::retain::Retain;
use crate::table::Table;
use crate::table_builder::{RangeDels, TableBuilder, WriteCtx};

/// Writes `memtables` (any order) to at most one new L0 table; `None` if
/// they hold nothing. They are frozen, so each is read by walking its
/// skiplist (`FrozenIter`) rather than by a search per entry.
pub(crate) fn write_l0(
    ctx: &mut WriteCtx<'_>,
    memtables: &[Arc<Memtable>],
    horizon: u64,
) -> Result<Option<Arc<Table>>> {
    let children = memtables
        .iter()
        .map(|m| Box::new(FrozenIter::new(m)) as Box<dyn InternalIter + '_>)
        .collect();
    let mut merged = MergeIter::new(children);
    let mut retain = Retain::new(horizon, false);
    let range_dels = RangeDels {
        fragments: fragment(
            memtables.iter().flat_map(|m| m.range_tombstones(u64::MAX)),
            horizon,
        ),
        horizon,
        drop_settled: false,
    };
    let mut tables =
        TableBuilder::new(ctx, u64::MAX).write_all(&mut merged, &mut retain, range_dels)?;
    Ok(tables.pop())
}
