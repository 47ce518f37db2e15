//! Leveled compaction: choosing what to merge, merging it, and the version
//! that results.
//!
//! - L0 has `>= l0_compaction_trigger` tables: all of L0 and the L1 tables
//!   overlapping them are merged into new L1 tables — or, when L0 alone
//!   holds more than L1's target, into the first level whose target it
//!   fits, with the overlapping tables of every level down to it.
//! - Level `n >= 1` holds more than `l1_target * ratio^(n-1)` bytes: its
//!   oldest table (lowest number) and the overlapping tables of `n+1` are
//!   merged into `n+1`. The last level never compacts further.
//! - `compact_all`: every table merged into the deepest non-empty level
//!   (at least L1).
//!
//! Output tables are cut after `target_file_bytes` at key boundaries.
//! Tombstones (point and range) are dropped when no level below the output
//! overlaps the merged key span. Spans include range tombstones, so a
//! tombstone always meets — and is merged with — the tables of the next
//! level holding keys it covers, and travels down with them. Run against the live tier by `compact.rs` (on the
//! background thread, in `compact_all`, or in `persist` without one).
//!
//! Compaction debt: the bytes over target, summed over levels — all of L0
//! once it holds `l0_compaction_trigger` tables, and for each level below
//! the bytes beyond its target.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::Result;

use crate::entry::InternalIter;
use crate::level_iter::LevelIter;
use crate::merge_iter::MergeIter;
use crate::options::{CompactionStyle, LsmOptions};
use crate::range_del::fragment;
use crate::retain::Retain;
use crate::table::{Table, max_upper};
use crate::table_builder::{RangeDels, TableBuilder, WriteCtx};
use crate::tiered;
use crate::version::{LEVELS, Version};

/// One compaction to run.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Tables merged (removed from whatever level holds them).
    pub(crate) inputs: Vec<Arc<Table>>,
    /// Where the output goes (>= 1).
    pub(crate) output_level: usize,
}

impl Plan {
    /// True if `table` is one of the inputs.
    fn has_input(&self, table: &Table) -> bool {
        self.inputs.iter().any(|i| i.number == table.number)
    }
}

/// The compaction the tree needs next, if any.
pub(crate) fn pick(version: &Version, opts: &LsmOptions) -> Option<Plan> {
    if opts.compaction_style == CompactionStyle::Tiered {
        return tiered::pick(version, opts);
    }
    if version.levels[0].len() >= opts.l0_compaction_trigger {
        return Some(plan_l0(version, opts));
    }
    (1..LEVELS - 1)
        .find(|&level| version.level_bytes(level) > opts.level_target_bytes(level))
        .and_then(|level| plan_level(version, level))
}

/// Every table into the deepest non-empty level (at least L1).
pub(crate) fn plan_all(version: &Version) -> Option<Plan> {
    let inputs: Vec<Arc<Table>> = version.all_tables().cloned().collect();
    if inputs.is_empty() {
        return None;
    }
    let deepest = (1..LEVELS)
        .rev()
        .find(|&l| !version.levels[l].is_empty())
        .unwrap_or(1);
    Some(Plan {
        inputs,
        output_level: deepest,
    })
}

/// All of L0 and the overlapping tables of L1, merged into L1 — or
/// deeper when L0 alone holds more than L1's target: such an L1 would at
/// once pass nearly everything on to L2, one more rewrite of every byte
/// for nothing. So the output goes to the first level whose target L0's
/// bytes fit, and the overlapping tables of every level down to it join
/// the merge (the catalog at N = 1M: four checkpoint-sized L0 tables,
/// ~240 MiB, against L1's 64 MiB target).
fn plan_l0(version: &Version, opts: &LsmOptions) -> Plan {
    let mut inputs = version.levels[0].clone();
    let l0_bytes = version.level_bytes(0);
    let mut output_level = 1;
    while output_level + 1 < LEVELS && l0_bytes > opts.level_target_bytes(output_level) {
        output_level += 1;
    }
    for level in 1..=output_level {
        if let Some((lo, hi)) = key_range(&inputs) {
            let below = version.overlapping(level, &lo, &hi);
            inputs.extend(below);
        }
    }
    Plan {
        inputs,
        output_level,
    }
}

fn plan_level(version: &Version, level: usize) -> Option<Plan> {
    let table = version.levels[level].iter().min_by_key(|t| t.number)?;
    let mut inputs = vec![Arc::clone(table)];
    inputs.extend(version.overlapping(level + 1, &table.smallest, &table.upper));
    Some(Plan {
        inputs,
        output_level: level + 1,
    })
}

/// The span of `tables`: smallest key and upper end.
fn key_range(tables: &[Arc<Table>]) -> Option<(Bytes, Bound<Bytes>)> {
    let lo = tables.iter().map(|t| &t.smallest).min()?.clone();
    let hi = tables.iter().map(|t| t.upper.clone()).reduce(max_upper)?;
    Some((lo, hi))
}

/// Bytes over target, summed over levels (see the module doc; tiered
/// compaction has no level targets, so only L0 counts).
pub(crate) fn debt(version: &Version, opts: &LsmOptions) -> u64 {
    let l0 = if version.levels[0].len() >= opts.l0_compaction_trigger {
        version.level_bytes(0)
    } else {
        0
    };
    if opts.compaction_style == CompactionStyle::Tiered {
        return l0;
    }
    let below: u64 = (1..LEVELS - 1)
        .map(|l| {
            version
                .level_bytes(l)
                .saturating_sub(opts.level_target_bytes(l))
        })
        .sum();
    l0 + below
}

/// Runs `plan` against `version` (the version it was picked from): writes
/// the output tables and returns them (not yet installed).
pub(crate) fn run(
    plan: &Plan,
    version: &Version,
    ctx: &mut WriteCtx<'_>,
    opts: &LsmOptions,
    horizon: u64,
) -> Result<Vec<Arc<Table>>> {
    let mut merged = MergeIter::new(input_runs(plan, version));
    let drop_tombstones = is_bottom(version, plan);
    let mut retain = Retain::new(horizon, drop_tombstones);
    let range_dels = RangeDels {
        fragments: fragment(
            plan.inputs
                .iter()
                .flat_map(|t| t.reader.range_tombstones().iter().cloned()),
            horizon,
        ),
        horizon,
        drop_settled: drop_tombstones,
    };
    TableBuilder::new(ctx, opts.target_file_bytes).write_all(&mut merged, &mut retain, range_dels)
}

/// The merge's children: each input table of L0 on its own (L0 tables
/// overlap), and the input tables of each deeper level as one run
/// (`LevelIter::sequential`: a level's tables are disjoint and sorted by
/// key), so each step of the merge compares one entry per level rather
/// than one per table. Tables without entries (range tombstones only) are
/// left out; their tombstones reach the output through `RangeDels`.
fn input_runs(plan: &Plan, version: &Version) -> Vec<Box<dyn InternalIter>> {
    let deeper = &version.levels[1..];
    let in_deeper = |t: &Arc<Table>| deeper.iter().flatten().any(|d| d.number == t.number);
    // L0's inputs first (and any input not in a deeper level), as before.
    let mut children: Vec<Box<dyn InternalIter>> = plan
        .inputs
        .iter()
        .filter(|t| t.has_entries() && !in_deeper(t))
        .map(|t| Box::new(t.reader.sequential_iter()) as Box<dyn InternalIter>)
        .collect();
    for level in deeper {
        let tables: Vec<Arc<Table>> = level
            .iter()
            .filter(|t| t.has_entries() && plan.has_input(t))
            .cloned()
            .collect();
        if !tables.is_empty() {
            children.push(Box::new(LevelIter::sequential(tables)));
        }
    }
    children
}

/// True if no level below the output overlaps the inputs' key range.
fn is_bottom(version: &Version, plan: &Plan) -> bool {
    let Some((lo, hi)) = key_range(&plan.inputs) else {
        return true;
    };
    (plan.output_level + 1..LEVELS).all(|level| {
        version
            .overlapping(level, &lo, &hi)
            .iter()
            .all(|t| plan.has_input(t))
    })
}

/// `version` with the inputs removed and the outputs added.
pub(crate) fn replace(version: &Version, plan: &Plan, outputs: &[Arc<Table>]) -> Version {
    let mut next = version.clone();
    for level in &mut next.levels {
        level.retain(|t| !plan.has_input(t));
    }
    let out = &mut next.levels[plan.output_level];
    out.extend(outputs.iter().cloned());
    out.sort_by(|a, b| a.smallest.cmp(&b.smallest));
    next
}
