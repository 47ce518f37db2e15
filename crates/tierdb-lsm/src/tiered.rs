//! Size-tiered compaction (`CompactionStyle::Tiered`): what to merge next.
//!
//! The tree is a list of *sorted runs*, newest first: each L0 table (newest
//! first), then each non-empty level from L1 down, a level being one run of
//! disjoint tables. Levels hold runs by age (a lower level is newer), which
//! is the order point reads and merges already assume, so nothing else in
//! the tier changes.
//!
//! Once L0 holds `l0_compaction_trigger` tables, all of L0 is merged, and
//! with it each next older run while that run is no larger than the bytes
//! merged so far (so runs of similar size merge, as in a binary counter:
//! each byte is rewritten about once per doubling of the data, against
//! about `level_size_ratio` times per level under leveled compaction). The
//! output is one run, placed in the level just above the next older run
//! that is not merged, or in the last level if every run is. When that next
//! older run sits in L1 there is no free level above it, so it is merged
//! too. Tombstones are dropped when no older run overlaps the output
//! (`compaction::run`, as for leveled).

use std::sync::Arc;

use crate::compaction::Plan;
use crate::options::LsmOptions;
use crate::table::Table;
use crate::version::{LEVELS, Version};

/// The merge the tree needs next, if any.
pub(crate) fn pick(version: &Version, opts: &LsmOptions) -> Option<Plan> {
    if version.levels[0].len() < opts.l0_compaction_trigger {
        return None;
    }
    let mut inputs: Vec<Arc<Table>> = version.levels[0].clone();
    let mut merged = version.level_bytes(0);
    for level in (1..LEVELS).filter(|&l| !version.levels[l].is_empty()) {
        let bytes = version.level_bytes(level);
        if bytes > merged && level > 1 {
            return Some(Plan {
                inputs,
                output_level: level - 1,
            });
        }
        inputs.extend(version.levels[level].iter().cloned());
        merged += bytes;
    }
    Some(Plan {
        inputs,
        output_level: LEVELS - 1,
    })
}
