//! Opening the tier's directory: read the manifest, delete garbage, open
//! the tables it lists.
//!
//! Files not listed in the manifest are left over from a flush or
//! compaction that crashed before its manifest write became durable (or
//! from a delete that did not happen); they are removed. The next table
//! number is past every number seen, listed or not, so a number is never
//! reused.

use std::path::Path;

use tierdb_io::{Error, Result};

use crate::files::{MANIFEST_TMP_NAME, parse_table_name, table_path};
use crate::manifest::{self, Manifest};
use crate::table::{Table, TableEnv};
use crate::version::{LEVELS, Version};

/// What a directory holds.
pub(crate) struct Recovered {
    pub(crate) version: Version,
    pub(crate) persisted_seq: u64,
    pub(crate) next_table: u64,
}

/// Recovers the tier in `env.dir` (creating the directory if missing).
pub(crate) fn recover(env: &TableEnv) -> Result<Recovered> {
    let vfs = &*env.vfs;
    vfs.create_dir_all(&env.dir)?;
    let manifest = manifest::read(vfs, &env.dir)?.unwrap_or(Manifest {
        persisted_seq: 0,
        next_table: 1,
        levels: Vec::new(),
    });
    let mpath = env.dir.join(crate::files::MANIFEST_NAME);
    if manifest.levels.len() > LEVELS {
        return Err(Error::corruption(
            &mpath,
            0,
            "manifest lists too many levels",
        ));
    }
    let max_seen = remove_garbage(env, &manifest)?;
    let version = open_tables(env, &manifest, &mpath)?;
    Ok(Recovered {
        version,
        persisted_seq: manifest.persisted_seq,
        next_table: manifest.next_table.max(max_seen + 1),
    })
}

/// Removes unlisted tables and a stale temp manifest; returns the highest
/// table number found.
fn remove_garbage(env: &TableEnv, manifest: &Manifest) -> Result<u64> {
    let listed = |n: u64| manifest.levels.iter().flatten().any(|t| t.number == n);
    let mut max_seen = 0;
    let mut removed = false;
    for name in env.vfs.list(&env.dir)? {
        if name == MANIFEST_TMP_NAME {
            env.vfs.remove(&env.dir.join(&name))?;
            removed = true;
        } else if let Some(number) = parse_table_name(&name) {
            max_seen = max_seen.max(number);
            if !listed(number) {
                env.vfs.remove(&table_path(&env.dir, number))?;
                removed = true;
            }
        }
    }
    if removed {
        env.vfs.sync_dir(&env.dir)?;
    }
    Ok(max_seen)
}

fn open_tables(env: &TableEnv, manifest: &Manifest, mpath: &Path) -> Result<Version> {
    let mut version = Version::empty();
    for (level, records) in manifest.levels.iter().enumerate() {
        for record in records {
            let table = Table::open(env, record.number)?;
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
                .map(|t| manifest::TableRecord {
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
