//! Flush: frozen memtables → one L0 table.
//!
//! All memtables taken by one persist are merged into a single table
//! (versions kept as `retain.rs` says; tombstones always kept, since older
//! values may sit in deeper levels), and so are range tombstones. The
//! caller installs the table with a manifest install and only then drops the
//! memtables.
//!
//! **Small L0 tables merged in** (leveled compaction,
//! `LsmOptions::l0_merge_bytes`): checkpoints flush the active memtable
//! whatever it holds (the catalog's 16 MiB checkpoints cut a 32 MiB
//! memtable into ~16 MiB tables), and every L0 table costs each point read
//! a filter probe and each scan a seek, and L0's table count triggers its
//! compaction. So a flush also merges the newest L0 tables while their
//! bytes together stay within `l0_merge_bytes` (the database sets half
//! the memtable size) and within what the flush itself brings, and its
//! table takes their place at L0's head. They are the newest tables, so the
//! order of L0 (newest first) holds; tables a running compaction merges
//! are never taken (`Durable::compacting`, set under the install lock the
//! flush holds). A table of a full memtable is never merged again;
//! those of half-full ones pair up (a pair is larger than the next
//! flush, so it stays), so L0 holds about half as many tables for the
//! same bytes, at the price of writing the merged table's bytes once
//! more.

use std::sync::Arc;

use tierdb_io::Result;

use crate::entry::InternalIter;
use crate::inner::Durable;
use crate::memtable::Memtable;
use crate::merge_iter::MergeIter;
use crate::options::{CompactionStyle, LsmOptions};
use crate::range_del::fragment;
use crate::retain::Retain;
use crate::table::Table;
use crate::table_builder::{RangeDels, TableBuilder, WriteCtx};
use crate::version::Version;

/// The newest L0 tables of `version` a flush of `memtables` merges in
/// (see the module doc): a prefix of L0, none of them in the running
/// compaction, whose bytes together stay within `opts.l0_merge_bytes` and
/// within the memtables' own bytes. The second bound keeps the rewrite
/// cost at one more write per byte at most: a table merged in is no
/// larger than what the flush brings, so the merged table is never taken
/// again by a flush like it (without it, a partition flushing a little at
/// each checkpoint would rewrite an ever larger head table every time).
/// None for tiered compaction, whose runs merge by size on their own, or
/// when there is nothing to flush.
pub(crate) fn l0_to_merge(
    version: &Version,
    durable: &Durable,
    memtables: &[Arc<Memtable>],
    opts: &LsmOptions,
) -> Vec<Arc<Table>> {
    if opts.compaction_style != CompactionStyle::Leveled || memtables.is_empty() {
        return Vec::new();
    }
    let limit = opts
        .l0_merge_bytes
        .min(memtables.iter().map(|m| m.bytes()).sum());
    let mut total = 0u64;
    version.levels[0]
        .iter()
        .take_while(|t| {
            total = total.saturating_add(t.file_bytes);
            total <= limit && !durable.compacting.contains(&t.number)
        })
        .cloned()
        .collect()
}

/// Writes `memtables` (any order) and the L0 `tables` they are merged
/// with to at most one new L0 table; `None` if they hold nothing. The
/// memtables are frozen, so each is read by walking its skiplist
/// (`Memtable::frozen_iter`; a replayed run by index) rather than by a
/// search per entry; the tables are read
/// in sequence, around the cache.
pub(crate) fn write_l0(
    ctx: &mut WriteCtx<'_>,
    memtables: &[Arc<Memtable>],
    tables: &[Arc<Table>],
    horizon: u64,
) -> Result<Option<Arc<Table>>> {
    let mut children: Vec<Box<dyn InternalIter + '_>> =
        memtables.iter().map(|m| m.frozen_iter()).collect();
    children.extend(
        tables
            .iter()
            .filter(|t| t.has_entries())
            .map(|t| Box::new(t.reader.sequential_iter()) as Box<dyn InternalIter + '_>),
    );
    let mut merged = MergeIter::new(children);
    let mut retain = Retain::new(horizon, false);
    let table_tombstones = tables
        .iter()
        .flat_map(|t| t.reader.range_tombstones().iter().cloned());
    let range_dels = RangeDels {
        fragments: fragment(
            memtables
                .iter()
                .flat_map(|m| m.range_tombstones(u64::MAX))
                .chain(table_tombstones),
            horizon,
        ),
        horizon,
        drop_settled: false,
    };
    let mut tables =
        TableBuilder::new(ctx, u64::MAX).write_all(&mut merged, &mut retain, range_dels)?;
    Ok(tables.pop())
}
