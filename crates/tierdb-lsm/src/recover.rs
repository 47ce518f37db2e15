//! Opening the tier's directory: read `LSM-CURRENT` and replay the
//! manifest log it names, delete garbage, open the tables it lists.
//!
//! Files the manifest does not list are left over from a flush or
//! compaction that crashed before its manifest record became durable, from
//! a roll to a new log that crashed before (or removed the old log after)
//! the `LSM-CURRENT` switch, or from a delete that did not happen; they are
//! removed — unlisted tables by the compaction thread soon after open when
//! the tier has one (`Recovered::garbage_tables`), since unlinking a table
//! the crash left half-written (its pages still cached) takes long enough
//! to show in the reopen time. The next table number is past every number
//! seen, listed or not, so a number is never reused, and a table removed
//! late is never one written since. A directory still holding the format
//! 1 `LSM-MANIFEST` is refused (`Error::UnsupportedVersion`) before
//! anything is touched.

use std::collections::HashSet;
use std::path::Path;

use tierdb_io::{Error, OpenMode, Result, Vfs};

use crate::current;
use crate::files::{
    CURRENT_TMP_NAME, V1_MANIFEST_NAME, manifest_log_path, parse_manifest_log_name,
    parse_table_name, table_path,
};
use crate::manifest::Manifest;
use crate::manifest_log;
use crate::stamp::FORMAT_VERSION;
use crate::table::{Table, TableEnv};
use crate::version::{LEVELS, Version};

/// What a directory holds.
pub(crate) struct Recovered {
    pub(crate) version: Version,
    pub(crate) persisted_seq: u64,
    pub(crate) next_table: u64,
    /// The manifest log `LSM-CURRENT` names (0: none).
    pub(crate) manifest_number: u64,
    /// Unlisted tables left for the caller to remove (only when asked to
    /// defer their removal).
    pub(crate) garbage_tables: Vec<u64>,
}

/// Recovers the tier in `env.dir` (creating the directory if missing).
/// With `defer_tables`, unlisted tables are returned rather than removed.
pub(crate) fn recover(env: &TableEnv, defer_tables: bool) -> Result<Recovered> {
    let vfs = &*env.vfs;
    vfs.create_dir_all(&env.dir)?;
    refuse_format_1(vfs, &env.dir)?;
    let number = current::read(vfs, &env.dir)?.unwrap_or(0);
    let mpath = manifest_log_path(&env.dir, number);
    let manifest = match number {
        0 => Manifest {
            persisted_seq: 0,
            next_table: 1,
            levels: Vec::new(),
        },
        _ => read_log(vfs, &mpath, number)?,
    };
    if manifest.levels.len() > LEVELS {
        return Err(Error::corruption(
            &mpath,
            0,
            "manifest lists too many levels",
        ));
    }
    let (max_seen, garbage_tables) = remove_garbage(env, &manifest, number, defer_tables)?;
    let version = open_tables(env, &manifest, &mpath)?;
    Ok(Recovered {
        version,
        persisted_seq: manifest.persisted_seq,
        next_table: manifest.next_table.max(max_seen + 1),
        manifest_number: number,
        garbage_tables,
    })
}

/// The version manifest log `number` at `path` describes.
fn read_log(vfs: &dyn Vfs, path: &Path, number: u64) -> Result<Manifest> {
    if !vfs.exists(path)? {
        return Err(Error::corruption(
            path,
            0,
            format!("LSM-CURRENT names manifest log {number}, which is missing"),
        ));
    }
    let data = vfs.open(path, OpenMode::Read)?.read_all()?;
    let log = manifest_log::decode(path, &data)?;
    if log.number != number {
        return Err(Error::corruption(
            path,
            8,
            format!(
                "manifest log says it is number {}, LSM-CURRENT names {number}",
                log.number
            ),
        ));
    }
    log.replay(path)
}

/// A format 1 manifest (`LSM-MANIFEST`: "TLSM", version u32) is refused.
fn refuse_format_1(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let path = dir.join(V1_MANIFEST_NAME);
    if !vfs.exists(&path)? {
        return Ok(());
    }
    let data = vfs.open(&path, OpenMode::Read)?.read_all()?;
    match data.get(..8) {
        Some(head) if head[..4] == manifest_log::MAGIC => Err(Error::UnsupportedVersion {
            file: path,
            found: u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")),
            supported: FORMAT_VERSION,
        }),
        _ => Err(Error::corruption(
            &path,
            0,
            "an LSM-MANIFEST (format 1) that is not one",
        )),
    }
}

/// Removes unlisted tables (or, with `defer_tables`, returns them),
/// manifest logs other than the live one and a stale temp `LSM-CURRENT`;
/// returns the highest table number found.
fn remove_garbage(
    env: &TableEnv,
    manifest: &Manifest,
    live_log: u64,
    defer_tables: bool,
) -> Result<(u64, Vec<u64>)> {
    let listed: HashSet<u64> = manifest.levels.iter().flatten().map(|t| t.number).collect();
    let mut max_seen = 0;
    let mut deferred = Vec::new();
    let mut removed = false;
    for name in env.vfs.list(&env.dir)? {
        let stale_log = parse_manifest_log_name(&name).is_some_and(|n| n != live_log);
        if name == CURRENT_TMP_NAME || stale_log {
            env.vfs.remove(&env.dir.join(&name))?;
            removed = true;
        } else if let Some(number) = parse_table_name(&name) {
            max_seen = max_seen.max(number);
            if listed.contains(&number) {
                continue;
            }
            if defer_tables {
                deferred.push(number);
            } else {
                env.vfs.remove(&table_path(&env.dir, number))?;
                removed = true;
            }
        }
    }
    if removed {
        env.vfs.sync_dir(&env.dir)?;
    }
    Ok((max_seen, deferred))
}

/// Removes the unlisted tables `recover` left (deferred), then syncs the
/// directory.
pub(crate) fn remove_tables(env: &TableEnv, numbers: &[u64]) -> Result<()> {
    for &number in numbers {
        env.vfs.remove(&table_path(&env.dir, number))?;
    }
    env.vfs.sync_dir(&env.dir)
}

fn open_tables(env: &TableEnv, manifest: &Manifest, mpath: &Path) -> Result<Version> {
    let mut version = Version::empty();
    for (level, records) in manifest.levels.iter().enumerate() {
        for record in records {
            let table = Table::open(env, record.number).map_err(|e| match e {
                // Tables are deleted only once a record no longer listing
                // them is durable: a listed table that is gone means the
                // log lost records it had (damage, not a crash).
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::corruption(
                        mpath,
                        0,
                        format!("lists table {}, whose file is missing", record.number),
                    )
                }
                e => e,
            })?;
            if table.file_bytes != record.file_bytes {
                return Err(Error::corruption(
                    table_path(&env.dir, record.number),
                    0,
                    format!(
                        "table is {} bytes, manifest says {}",
                        table.file_bytes, record.file_bytes
                    ),
                ));
            }
            version.levels[level].push(table);
        }
    }
    check_levels(&version, mpath)?;
    Ok(version)
}

/// Levels below L0 must be sorted with disjoint ranges.
fn check_levels(version: &Version, mpath: &Path) -> Result<()> {
    for level in &version.levels[1..] {
        for pair in level.windows(2) {
            if !pair[0].ends_before(&pair[1].smallest) {
                return Err(Error::corruption(
                    mpath,
                    0,
                    format!(
                        "tables {} and {} overlap in a sorted level",
                        pair[0].number, pair[1].number
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The manifest describing `version`.
pub(crate) fn manifest_of(version: &Version, persisted_seq: u64, next_table: u64) -> Manifest {
    let levels = version
        .levels
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|t| crate::manifest::TableRecord {
                    number: t.number,
                    file_bytes: t.file_bytes,
                })
                .collect()
        })
        .collect();
    Manifest {
        persisted_seq,
        next_table,
        levels,
    }
}
