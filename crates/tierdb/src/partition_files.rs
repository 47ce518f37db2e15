//! The files of partitions: their names, and removing those no manifest
//! names (left by a crashed creation or layout change) or that a layout
//! change replaced.

use std::path::Path;

use tierdb_io::Vfs;

use crate::manifest::Manifest;
use crate::{Error, Result};

/// `p000000g000000.btree` and the like (id, generation, tier).
pub(crate) fn is_partition_file(name: &str) -> bool {
    let stem = name
        .strip_suffix(".btree")
        .or_else(|| name.strip_suffix(".lsm"))
        .and_then(|s| s.strip_prefix('p'));
    let digits = |d: &str| d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit());
    stem.and_then(|s| s.split_once('g'))
        .is_some_and(|(id, generation)| digits(id) && digits(generation))
}

/// Every partition of an existing database must have its file: a missing
/// one would otherwise be silently recreated empty.
pub(crate) fn check_partition_files(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    for entry in &manifest.partitions {
        let path = dir.join(entry.file_name());
        if !vfs.exists(&path)? {
            return Err(Error::corruption(
                path,
                0,
                "partition file named in the manifest is missing",
            ));
        }
    }
    Ok(())
}

/// Removes partition files and directories the manifest does not name:
/// what a layout change left when it crashed before its manifest switch (the
/// new files) or after it (the old ones).
pub(crate) fn remove_unlisted_partition_files(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &Manifest,
) -> Result<()> {
    let listed: Vec<String> = manifest.partitions.iter().map(|p| p.file_name()).collect();
    for name in vfs.list(dir)? {
        if is_partition_file(&name) && !listed.contains(&name) {
            remove_partition_file(vfs, &dir.join(&name), &name)?;
        }
    }
    Ok(())
}

/// Removes a B+tree partition file, or an LSM partition directory with its
/// files. (The directory's own removal needs no sync: if a crash undoes it,
/// the next open finds an empty unlisted directory and removes it again.)
pub(crate) fn remove_partition_file(vfs: &dyn Vfs, path: &Path, name: &str) -> Result<()> {
    if name.ends_with(".lsm") {
        for file in vfs.list(path)? {
            vfs.remove(&path.join(file))?;
        }
        vfs.sync_dir(path)?;
        vfs.remove_dir(path)
    } else {
        vfs.remove(path)
    }
}
