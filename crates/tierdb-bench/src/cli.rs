//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::engine::{self, EngineConfig, EngineKind};
use crate::keys::{KeyDist, ValueSize};
use crate::runner::Stop;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Product catalog: load, durable 1- and 4-thread updates, batched
    /// updates, zipfian reads, category scans, 90/10 mix, reopen after a
    /// clean close and after a kill.
    Catalog,
    /// The catalog phases at each `--sizes` N, charted against N.
    Growth,
    /// YCSB A: 50% reads, 50% updates.
    YcsbA,
    /// YCSB B: 95% reads, 5% updates.
    YcsbB,
    /// YCSB C: reads only.
    YcsbC,
    /// YCSB D: 95% reads of the latest records, 5% inserts.
    YcsbD,
    /// YCSB E: 95% short scans, 5% inserts.
    YcsbE,
    /// YCSB F: 50% reads, 50% read-modify-writes.
    YcsbF,
    /// Inserts in key order.
    Fillseq,
    /// Inserts in random order.
    Fillrandom,
    /// Random overwrites of a loaded store.
    Overwrite,
    /// Random point reads of a loaded store.
    Readrandom,
    /// A full scan of a loaded store, in key order.
    Readseq,
    /// Random seeks (each reading one entry) in a loaded store.
    Seekrandom,
    /// Internal: opens a catalog store and updates it until killed (the
    /// reopen-after-kill phase runs this in a child process).
    #[value(hide = true)]
    KillChild,
}

impl Workload {
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WriteDurability {
    /// fdatasync before each commit returns.
    Sync,
    /// Written to the OS before each commit returns.
    Buffered,
}

/// A db_bench-style benchmark of tierdb and, with the comparison features,
/// of RocksDB, LMDB, redb, fjall and SQLite side by side.
#[derive(Clone, Debug, Parser)]
#[command(name = "tierdb-bench", version)]
pub struct Cli {
    /// What to run.
    pub workload: Workload,
    /// Records (products) to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: u64,
    /// Growth mode's N values, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "50000,200000,1000000,2100000"
    )]
    pub sizes: Vec<u64>,
    /// Value size in bytes: N, or MIN-MAX (uniform per record).
    #[arg(long, default_value = "100-500")]
    pub value_size: ValueSize,
    /// Threads of the concurrent phases (durable updates, reads, scans, mixes).
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Seconds each timed phase runs.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Run timed phases for this many operations instead of `--duration`.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Durability of single writes in the YCSB, classic and mix workloads
    /// (the catalog's durable and batched phases have their own by definition).
    #[arg(long, value_enum, default_value_t = WriteDurability::Buffered)]
    pub durability: WriteDurability,
    /// Engines to run one after another: tierdb-btree, tierdb-lsm,
    /// tierdb-mixed, rocksdb, lmdb, redb, fjall, sqlite, or `all` (those
    /// in this build).
    #[arg(long, default_value = "tierdb-btree,tierdb-lsm,tierdb-mixed", value_parser = engine::parse_list)]
    pub engines: std::vec::Vec<EngineKind>,
    /// Extra tierdb partitions, PREFIX=btree|lsm (repeatable).
    #[arg(long = "split", value_parser = parse_split)]
    pub splits: Vec<(String, tierdb::Tier)>,
    /// Cache budget of every engine, in MiB.
    #[arg(long, default_value_t = 256)]
    pub cache_mib: usize,
    /// tierdb's LSM memtable size in MiB (default: the library's default).
    #[arg(long)]
    pub lsm_memtable_mib: Option<usize>,
    /// tierdb's `checkpoint_wal_bytes` in MiB (default: the library's).
    #[arg(long)]
    pub checkpoint_wal_mib: Option<u64>,
    /// tierdb's `checkpoint_dirty_bytes` in MiB (default: the library's).
    #[arg(long)]
    pub checkpoint_dirty_mib: Option<u64>,
    /// How reads and updates choose keys.
    #[arg(long, value_enum, default_value_t = KeyDist::Zipfian)]
    pub dist: KeyDist,
    /// Records per batch when loading.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Entries per catalog category scan (YCSB E scans 1..=this).
    #[arg(long, default_value_t = 100)]
    pub scan_len: usize,
    /// Where the stores are created; each store is removed after its run
    /// unless `--keep`, and the directory itself only if the run created it.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the stores.
    #[arg(long)]
    pub keep: bool,
    /// Catalog only: reopen a store an earlier `--keep` run left in `--dir`
    /// instead of loading a new one (the cache starts cold; for iterating
    /// on read paths, not for published figures). Implies `--keep`.
    #[arg(long)]
    pub reuse: bool,
    /// Catalog only: run just these phases (comma list of load, sync-1,
    /// sync-n, batched, point-reads, scans, mix-90-10, reopen-clean,
    /// reopen-kill; the load always runs, as the others need its data).
    /// Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_phase)]
    pub phases: Vec<String>,
    /// JSON lines output; the SVG charts go beside it.
    #[arg(long, default_value = "bench-results/results.jsonl")]
    pub out: PathBuf,
    /// Milliseconds the reopen-after-kill child updates before SIGKILL.
    #[arg(long, default_value_t = 1000)]
    pub kill_after_ms: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run nothing: print the summary and targets of the JSON lines file
    /// of an earlier run and write its charts again (beside that file).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Internal (kill-child): the engine whose store `--dir` is.
    #[arg(long, hide = true)]
    pub child_engine: Option<EngineKind>,
}

/// The catalog's phases, in the order they run.
pub const CATALOG_PHASES: [&str; 9] = [
    "load",
    "sync-1",
    "sync-n",
    "batched",
    "point-reads",
    "scans",
    "mix-90-10",
    "reopen-clean",
    "reopen-kill",
];

fn parse_phase(s: &str) -> Result<String, String> {
    if CATALOG_PHASES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown phase {s:?}; known: {}",
            CATALOG_PHASES.join(", ")
        ))
    }
}

fn parse_split(s: &str) -> Result<(String, tierdb::Tier), String> {
    let (prefix, tier) = s
        .split_once('=')
        .ok_or_else(|| format!("--split {s:?}: want PREFIX=btree|lsm"))?;
    let tier = match tier {
        "btree" => tierdb::Tier::BTree,
        "lsm" => tierdb::Tier::Lsm,
        _ => return Err(format!("--split {s:?}: tier must be btree or lsm")),
    };
    Ok((prefix.to_string(), tier))
}

impl Cli {
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            cache_bytes: self.cache_mib << 20,
            lsm_memtable_bytes: self.lsm_memtable_mib.map(|m| m << 20),
            checkpoint_wal_bytes: self.checkpoint_wal_mib.map(|m| m << 20),
            checkpoint_dirty_bytes: self.checkpoint_dirty_mib.map(|m| m << 20),
            splits: self
                .splits
                .iter()
                .map(|(p, t)| (p.as_bytes().to_vec(), *t))
                .collect(),
        }
    }

    /// When a timed phase stops.
    pub fn stop(&self) -> Stop {
        match self.ops {
            Some(ops) => Stop::Ops(ops),
            None => Stop::Time(Duration::from_secs_f64(self.duration)),
        }
    }

    /// Whether `--phases` selects `phase` (every phase when it is empty).
    pub fn runs(&self, phase: &str) -> bool {
        self.phases.is_empty() || self.phases.iter().any(|p| p == phase)
    }

    pub fn durable(&self) -> bool {
        self.durability == WriteDurability::Sync
    }

    pub fn base_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("tierdb-bench-{}", std::process::id()))
        })
    }
}
