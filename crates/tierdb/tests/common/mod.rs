//! Shared pieces of the integration suites: the tiers every suite runs
//! against, a reference model, and helpers to open databases on `SimVfs`.
#![allow(dead_code)]

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use tierdb::{CompactionStyle, Db, Options, SimVfs, Tier};

/// Every tier the conformance, crash and bad-input suites run against. A new
/// tier is added here and nowhere else.
pub const TIERS: &[Tier] = &[Tier::BTree, Tier::Lsm];

/// A partition layout the suites run on: the first partition's tier and the
/// declared split points.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub name: &'static str,
    pub first: Tier,
    pub splits: &'static [(&'static str, Tier)],
    /// How its LSM partitions compact.
    pub compaction: CompactionStyle,
}

/// Every layout the conformance and crash suites run on: each tier alone,
/// and a mix of partitions of both tiers whose boundaries fall inside the
/// key ranges the suites use, so that transactions span partitions. The
/// LSM layout compacts leveled, the mixed one size-tiered, so both
/// compaction styles run through every suite.
pub const LAYOUTS: &[Layout] = &[
    Layout {
        name: "btree",
        first: Tier::BTree,
        splits: &[],
        compaction: CompactionStyle::Leveled,
    },
    Layout {
        name: "lsm",
        first: Tier::Lsm,
        splits: &[],
        compaction: CompactionStyle::Leveled,
    },
    Layout {
        name: "mixed",
        first: Tier::BTree,
        splits: &[
            ("acct/020", Tier::Lsm),
            ("acct/040", Tier::BTree),
            ("item/0100", Tier::Lsm),
            ("item/0200", Tier::BTree),
            ("key/010", Tier::Lsm),
            ("key/025", Tier::BTree),
            ("t1/", Tier::Lsm),
            ("t3/", Tier::BTree),
        ],
        compaction: CompactionStyle::Tiered,
    },
];

impl Layout {
    /// True if some partition of the layout is an LSM tree.
    pub fn has_lsm(&self) -> bool {
        self.first == Tier::Lsm || self.splits.iter().any(|(_, t)| *t == Tier::Lsm)
    }

    /// `sim_options` for this layout.
    pub fn options(&self, sim: &Arc<SimVfs>) -> Options {
        let opts = sim_options(sim, self.first).compaction_style(self.compaction);
        self.splits
            .iter()
            .fold(opts, |o, (start, tier)| o.partition(start, *tier))
    }
}

/// The reference model and helpers shared with the simulation crate.
#[allow(unused_imports)]
pub use tierdb_sim::model::{Model, borrow, range_is_empty, value_for};

/// Options for deterministic tests on a simulated file system: no background
/// threads doing I/O at times the test does not control, small pages and
/// segments so that a few hundred writes exercise splits and rotation.
pub fn sim_options(sim: &Arc<SimVfs>, tier: Tier) -> Options {
    Options::default()
        .vfs(sim.clone())
        .default_tier(tier)
        .page_size(1024)
        .wal_segment_bytes(16 * 1024)
        .cache_bytes(256 * 1024)
        .background_checkpoints(false)
        .buffered_sync_interval(Duration::from_secs(3600))
}

/// Everything in the database, in key order, read forward.
pub fn dump(db: &Db) -> Model {
    db.range(..)
        .expect("range")
        .map(|r| {
            let (k, v) = r.expect("iterating");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// The model's entries in `(lo, hi)`, forward or reversed.
pub fn model_range(
    model: &Model,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    rev: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    if range_is_empty(lo, hi) {
        return Vec::new();
    }
    let mut v: Vec<_> = model
        .range((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if rev {
        v.reverse();
    }
    v
}

/// Collects an iterator of results, forward or reversed.
pub fn collect(iter: tierdb::Iter, rev: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let map = |r: tierdb::Result<(bytes::Bytes, bytes::Bytes)>| {
        let (k, v) = r.expect("iterating");
        (k.to_vec(), v.to_vec())
    };
    if rev {
        iter.rev().map(map).collect()
    } else {
        iter.map(map).collect()
    }
}
