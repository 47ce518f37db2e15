//! `LSM-CURRENT`: the stamp (`stamp.rs`, magic "TLSC") naming the live
//! manifest log, switched atomically (see `docs/format/lsm-manifest.md`).

use std::path::Path;

use tierdb_io::{OpenMode, Result, Vfs};

use crate::files::{CURRENT_NAME, CURRENT_TMP_NAME};
use crate::stamp;

const MAGIC: [u8; 4] = *b"TLSC";

/// The number of the manifest log `LSM-CURRENT` in `dir` names, or `None`
/// if there is no `LSM-CURRENT` (a new tier).
pub(crate) fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(CURRENT_NAME);
    if !vfs.exists(&path)? {
        return Ok(None);
    }
    let data = vfs.open(&path, OpenMode::Read)?.read_all()?;
    if data.len() != stamp::STAMP_BYTES {
        return Err(tierdb_io::Error::corruption(
            &path,
            data.len().min(stamp::STAMP_BYTES) as u64,
            format!("LSM-CURRENT is {} bytes, not 20", data.len()),
        ));
    }
    stamp::decode(&path, &data, MAGIC, "LSM-CURRENT").map(Some)
}

/// Points `LSM-CURRENT` in `dir` at manifest log `number`, atomically and
/// durably: write and sync the temp file, sync the directory (so the log
/// it names, and every table that log lists, has a durable name before
/// the rename can be), rename it over `LSM-CURRENT`, sync the directory.
/// Returns the bytes written.
pub(crate) fn switch(vfs: &dyn Vfs, dir: &Path, number: u64) -> Result<u64> {
    let tmp = dir.join(CURRENT_TMP_NAME);
    let data = stamp::encode(MAGIC, number);
    let file = vfs.open(&tmp, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&data, 0)?;
    file.sync()?;
    drop(file);
    vfs.sync_dir(dir)?;
    vfs.rename(&tmp, &dir.join(CURRENT_NAME))?;
    vfs.sync_dir(dir)?;
    Ok(data.len() as u64)
}
