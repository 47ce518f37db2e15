//! Opening a database: refuse what is not ours, take the lock, create or
//! read the manifest, open every partition's tier, replay the WAL above
//! what the tiers persisted, publish the first version.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tierdb_btree::{BTreeOptions, BTreeTier};
use tierdb_cache::PageCache;
use tierdb_io::Vfs;
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{EventSink, Tier as TierStore, WalDurableTo};
use tierdb_wal::{Wal, WalOptions};

use crate::background::Background;
use crate::commit_pipeline::CommitState;
use crate::conflict_tracker::ConflictTracker;
use crate::db::{Counters, Db, DbHandle, DbInner};
use crate::layout::{Layout, Partition};
use crate::listener::PartitionEvents;
use crate::manifest::{MANIFEST_FILE, Manifest, PartitionEntry};
use crate::partition_files::{
    check_partition_files, is_partition_file, remove_partition_file,
    remove_unlisted_partition_files,
};
use crate::version::Version;
use crate::wal_replay::replay_wal;
use crate::{Error, Options, PartitionId, Result, Tier};

/// The lock file; held for as long as the database is open.
const LOCK_FILE: &str = "LOCK";
/// The WAL's directory inside the database directory.
const WAL_DIR: &str = "wal";
/// Entries a directory may hold and still count as empty (a creation that
/// crashed before its manifest was written), besides partition files.
const LEFTOVERS_OF_CREATION: &[&str] = &[LOCK_FILE, "MANIFEST.tmp", WAL_DIR];

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Db> {
    let started = Instant::now();
    opts.validate()?;
    let vfs = opts.vfs.clone();
    let exists = check_directory(&*vfs, dir)?;
    if !exists {
        vfs.create_dir_all(dir)?;
    }
    let lock = vfs.lock(&dir.join(LOCK_FILE))?;
    let is_new = !vfs.exists(&dir.join(MANIFEST_FILE))?;
    let manifest = if is_new {
        remove_leftovers_of_creation(&*vfs, dir)?;
        Manifest::with_splits(
            opts.default_tier,
            &opts.sorted_splits(),
            opts.page_size as u32,
        )
    } else {
        let manifest = Manifest::read(&*vfs, dir)?;
        check_partition_files(&*vfs, dir, &manifest)?;
        remove_unlisted_partition_files(&*vfs, dir, &manifest)?;
        manifest
    };
    let cache = Arc::new(PageCache::new(opts.cache_bytes));
    let partitions = open_partitions(dir, &manifest, &cache, &opts)?;
    let wal_opts = wal_options(dir, &opts);
    let (wal, replayed) = replay_wal(&vfs, wal_opts, &partitions)?;
    for p in &partitions {
        p.store.persist_in_background(wal_durable_to(&wal));
    }
    if is_new {
        publish_new_database(&*vfs, dir, &manifest)?;
    }
    let last_seq = partitions
        .iter()
        .map(|p| p.store.applied_seq())
        .max()
        .unwrap_or(0)
        .max(wal.last_lsn());
    let views = partitions.iter().map(|p| p.store.read_view()).collect();
    let layout = Arc::new(Layout {
        partitions: partitions.into_iter().map(Arc::new).collect(),
    });
    let inner = Arc::new(DbInner {
        dir: dir.to_path_buf(),
        wal,
        cache,
        manifest: Mutex::new(manifest),
        version: ArcSwap::from_pointee(Version {
            seq: last_seq,
            layout,
            views,
        }),
        commit: Mutex::new(CommitState {
            next_seq: last_seq + 1,
            conflicts: ConflictTracker::default(),
            capture: None,
        }),
        active_txns: Mutex::new(BTreeMap::new()),
        closed: AtomicBool::new(false),
        poison: Mutex::new(None),
        checkpoint_lock: Mutex::new(()),
        background: Background::default(),
        auto_tier: Mutex::default(),
        lock: Mutex::new(Some(lock)),
        counters: Counters::default(),
        open_duration: started.elapsed(),
        open_replayed: replayed,
        opts,
    });
    if inner.opts.background_checkpoints {
        inner.background.start(Arc::downgrade(&inner));
        if replayed > 0 {
            // Fold the replayed writes into the B+trees now, off the
            // caller's thread, rather than on the first write.
            inner.background.wake();
        }
    }
    Ok(Db {
        inner: Arc::new(DbHandle::new(inner)),
    })
}

/// Returns whether `dir` exists; refuses a directory that holds something
/// other than a tierdb database, before anything is written.
fn check_directory(vfs: &dyn Vfs, dir: &Path) -> Result<bool> {
    if !vfs.exists(dir)? {
        return Ok(false);
    }
    let names = vfs.list(dir).map_err(|e| Error::NotADatabase {
        path: dir.to_path_buf(),
        reason: format!("cannot list it as a directory ({e})"),
    })?;
    if names.iter().any(|n| n == MANIFEST_FILE) {
        return Ok(true);
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !LEFTOVERS_OF_CREATION.contains(&n.as_str()) && !is_partition_file(n))
        .collect();
    let wal_dir = dir.join(WAL_DIR);
    if foreign.is_empty() && names.iter().any(|n| n == WAL_DIR) {
        let odd: Vec<String> = vfs
            .list(&wal_dir)?
            .into_iter()
            .filter(|n| !is_wal_segment(n))
            .collect();
        if !odd.is_empty() {
            return Err(Error::NotADatabase {
                path: dir.to_path_buf(),
                reason: format!("it has no {MANIFEST_FILE} and its wal/ holds {odd:?}"),
            });
        }
    }
    if !foreign.is_empty() {
        return Err(Error::NotADatabase {
            path: dir.to_path_buf(),
            reason: format!("it is not empty and has no {MANIFEST_FILE} (found {foreign:?})"),
        });
    }
    Ok(true)
}

/// Makes a new database exist: its files were created first, so writing
/// the manifest (what makes the directory a database) comes last.
fn publish_new_database(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    vfs.sync_dir(dir)?;
    manifest.write(vfs, dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        vfs.sync_dir(parent)?;
    }
    Ok(())
}

/// A creation that crashed before its manifest was written may have left
/// partition files and WAL segments; they hold no commit (none can be made
/// before the manifest exists), so they are removed and created afresh.
fn remove_leftovers_of_creation(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    for name in vfs.list(dir)? {
        if is_partition_file(&name) {
            remove_partition_file(vfs, &dir.join(&name), &name)?;
        }
    }
    let wal_dir = dir.join(WAL_DIR);
    if vfs.exists(&wal_dir)? {
        for name in vfs.list(&wal_dir)? {
            vfs.remove(&wal_dir.join(name))?;
        }
    }
    vfs.sync_dir(dir)
}

/// `000001.log` and the like.
fn is_wal_segment(name: &str) -> bool {
    name.strip_suffix(".log")
        .is_some_and(|d| d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()))
}

fn open_partitions(
    dir: &Path,
    manifest: &Manifest,
    cache: &Arc<PageCache>,
    opts: &Options,
) -> Result<Vec<Partition>> {
    manifest
        .partitions
        .iter()
        .map(|entry| {
            let store = open_tier(dir, entry, cache, opts)?;
            Ok(Partition::new(entry.clone(), store))
        })
        .collect()
}

/// The partition generation's key space in the shared page cache: distinct
/// for every (partition, generation), so that a rebuilt partition never
/// meets pages of the file it replaced. B+tree: `id << 32 | generation`;
/// LSM: top bit set, `id << 44 | generation << 32`, plus the table number.
fn cache_file_id(entry: &PartitionEntry) -> u64 {
    let (id, generation) = (u64::from(entry.id), u64::from(entry.generation));
    match entry.tier {
        Tier::BTree => (id << 32) | generation,
        Tier::Lsm => (1 << 63) | (id << 44) | ((generation & 0xfff) << 32),
    }
}

pub(crate) fn open_tier(
    dir: &Path,
    entry: &PartitionEntry,
    cache: &Arc<PageCache>,
    opts: &Options,
) -> Result<Arc<dyn TierStore>> {
    let vfs = &opts.vfs;
    let path = dir.join(entry.file_name());
    match entry.tier {
        Tier::BTree => {
            let opts = BTreeOptions {
                page_size: entry.page_size as usize,
            };
            let tier = BTreeTier::open(
                vfs.clone(),
                &path,
                cache.clone(),
                cache_file_id(entry),
                opts,
            )?;
            Ok(Arc::new(tier))
        }
        Tier::Lsm => {
            let events = (!opts.listeners.is_empty()).then(|| {
                EventSink(Arc::new(PartitionEvents {
                    partition: PartitionId(entry.id),
                    listeners: opts.listeners.clone(),
                }))
            });
            // Without background threads L0 tables come from checkpoints
            // alone, each holding every memtable since the one before, so
            // half as many make an L0 as large as L1.
            let l0_compaction_trigger = if opts.background_checkpoints {
                LsmOptions::default().l0_compaction_trigger
            } else {
                LsmOptions::default().l0_compaction_trigger / 2
            };
            let opts = LsmOptions {
                compaction_style: opts.compaction_style,
                memtable_bytes: opts.lsm_memtable_bytes,
                // Checkpoints flush half-full memtables: pair them up.
                l0_merge_bytes: opts.lsm_memtable_bytes as u64 / 2,
                l0_compaction_trigger,
                background_compaction: opts.background_checkpoints,
                events,
                ..LsmOptions::default()
            };
            let tier = LsmTier::open(
                vfs.clone(),
                &path,
                cache.clone(),
                cache_file_id(entry),
                opts,
            )?;
            Ok(Arc::new(tier))
        }
    }
}

fn wal_options(dir: &Path, opts: &Options) -> WalOptions {
    let mut wal_opts = WalOptions::new(dir.join(WAL_DIR));
    wal_opts.segment_bytes = opts.wal_segment_bytes;
    wal_opts.recovery = opts.recovery_mode;
    wal_opts.sync_interval = opts.buffered_sync_interval;
    wal_opts
}

/// The write-ahead hook a partition's tier calls before making a persist
/// of its own (a background flush) durable; see `Tier::persist_in_background`.
pub(crate) fn wal_durable_to(wal: &Arc<Wal>) -> WalDurableTo {
    let wal = Arc::clone(wal);
    Arc::new(move |seq| wal.sync_to_in_background(seq))
}
