//! Database configurations the simulation and the metamorphic runs use:
//! tiers, partition split points, page and cache sizes, checkpoint mode.

use std::sync::Arc;
use std::time::Duration;

use tierdb::{Options, SimVfs, Tier};

/// One way to configure a database. Every configuration must give the same
/// reads for the same operations (the metamorphic property).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Short name, used in reports.
    pub name: &'static str,
    /// Tier of the first partition.
    pub first: Tier,
    /// Declared partitions: start key and tier.
    pub splits: &'static [(&'static str, Tier)],
    /// B+tree page size.
    pub page_size: usize,
    /// Page cache budget.
    pub cache_bytes: usize,
    /// WAL segment size.
    pub wal_segment_bytes: u64,
    /// Checkpoints by the background worker (when the live WAL passes
    /// `checkpoint_wal_bytes`) instead of only the workload's own.
    /// Not deterministic at the file-system level, so the crash simulation
    /// never uses it; the metamorphic runs do.
    pub background_checkpoints: bool,
    /// WAL bytes that trigger a background checkpoint.
    pub checkpoint_wal_bytes: u64,
}

/// Split points that cut every workload's key range, alternating tiers.
const MIXED: &[(&str, Tier)] = &[
    ("acct/020", Tier::Lsm),
    ("acct/040", Tier::BTree),
    ("idx/", Tier::Lsm),
    ("idx/c3", Tier::BTree),
    ("item/0100", Tier::Lsm),
    ("item/0200", Tier::BTree),
    ("key/010", Tier::Lsm),
    ("key/025", Tier::BTree),
    ("key/070", Tier::Lsm),
];

/// Other split points, the other way round.
const MIXED_OTHER: &[(&str, Tier)] = &[
    ("acct/007", Tier::BTree),
    ("acct/031", Tier::Lsm),
    ("idx/c1", Tier::BTree),
    ("item/0150", Tier::BTree),
    ("key/050", Tier::BTree),
    ("key/051", Tier::Lsm),
];

const BASE: Config = Config {
    name: "btree",
    first: Tier::BTree,
    splits: &[],
    page_size: 1024,
    cache_bytes: 256 * 1024,
    wal_segment_bytes: 16 * 1024,
    background_checkpoints: false,
    checkpoint_wal_bytes: 64 << 20,
};

/// Configurations of the crash simulation: each tier alone, and mixed
/// partitions so that transactions span tiers. Small pages and segments so
/// that a few hundred writes exercise splits and WAL rotation.
pub const SIM_CONFIGS: &[Config] = &[
    BASE,
    Config {
        name: "lsm",
        first: Tier::Lsm,
        ..BASE
    },
    Config {
        name: "mixed",
        splits: MIXED,
        ..BASE
    },
];

/// Configurations of the metamorphic runs: all must read the same.
pub const METAMORPHIC_CONFIGS: &[Config] = &[
    BASE,
    Config {
        name: "lsm",
        first: Tier::Lsm,
        ..BASE
    },
    Config {
        name: "mixed",
        splits: MIXED,
        ..BASE
    },
    Config {
        name: "mixed-other-splits",
        first: Tier::Lsm,
        splits: MIXED_OTHER,
        ..BASE
    },
    Config {
        name: "btree-4k-pages-small-cache",
        page_size: 4096,
        cache_bytes: 32 * 1024,
        ..BASE
    },
    Config {
        name: "lsm-small-cache",
        first: Tier::Lsm,
        cache_bytes: 16 * 1024,
        ..BASE
    },
    Config {
        name: "btree-64k-pages-big-segments",
        page_size: 64 * 1024,
        cache_bytes: 4 << 20,
        wal_segment_bytes: 1 << 20,
        ..BASE
    },
    Config {
        name: "mixed-background-checkpoints",
        splits: MIXED,
        background_checkpoints: true,
        checkpoint_wal_bytes: 8 * 1024,
        ..BASE
    },
];

impl Config {
    /// Options for this configuration on a new session of `sim` (so that
    /// nothing this opening of the database does reaches the disk after
    /// the next crash).
    pub fn options(&self, sim: &Arc<SimVfs>) -> Options {
        let opts = Options::default()
            .vfs(Arc::new(sim.session()))
            .default_tier(self.first)
            .page_size(self.page_size)
            .cache_bytes(self.cache_bytes)
            .wal_segment_bytes(self.wal_segment_bytes)
            .background_checkpoints(self.background_checkpoints)
            .checkpoint_wal_bytes(self.checkpoint_wal_bytes)
            .buffered_sync_interval(Duration::from_secs(3600));
        self.splits
            .iter()
            .fold(opts, |o, (start, tier)| o.partition(start, *tier))
    }

    /// A configuration by name.
    pub fn named(configs: &[Config], name: &str) -> Option<Config> {
        configs.iter().copied().find(|c| c.name == name)
    }
}
