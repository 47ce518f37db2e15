//! Making a new version durable: append one edit to the live manifest log,
//! or roll to a new log (see `docs/format/lsm-manifest.md`).
//!
//! Append (the log this process started has room, and the change is an
//! edit): sync the directory if the edit adds tables (their names must be
//! durable before a record naming them can be), write the framed edit at
//! the end of the log, sync the log. A crash before the sync leaves at
//! most an incomplete last record, ignored at open; the previous version
//! stands, and every table it lists is still there (a table is marked
//! obsolete, and later deleted, only after the edit removing it is
//! durable).
//!
//! Roll (the first install after open, a log whose edits since its
//! snapshot reach `roll_bytes` — so the snapshot's cost is spread over at
//! least that many bytes of edits, however large the tree — or a change no
//! edit expresses): write `LSM-MANIFEST-<n+1>` = stamp +
//! snapshot of the new version, sync it, switch `LSM-CURRENT` to it
//! (`current::switch`), then remove log `n` (best effort: a leftover log
//! is removed at the next open). Until the switch is durable, open finds
//! log `n` and the previous version; after it, the new log, complete.
//! A failure anywhere leaves the writer without a live log, so the next
//! install (after a reopen: the tier is poisoned) rolls again.

use std::path::Path;
use std::sync::Arc;

use tierdb_io::{OpenMode, Result, Vfs, VfsFile};

use crate::current;
use crate::files::manifest_log_path;
use crate::manifest::{Edit, Manifest, Record};
use crate::manifest_log;

/// The manifest writer of one tier (held under its install lock).
pub(crate) struct ManifestWriter {
    /// Roll once the live log's edits hold at least this many bytes.
    roll_bytes: u64,
    /// The log `LSM-CURRENT` names (0: none yet).
    current: u64,
    live: Option<LiveLog>,
}

/// A log this process started: appended to until it rolls.
struct LiveLog {
    file: Arc<dyn VfsFile>,
    len: u64,
    /// Bytes of the edits after the snapshot.
    edit_bytes: u64,
    /// The version the log describes.
    version: Manifest,
}

impl ManifestWriter {
    /// A writer for a tier whose `LSM-CURRENT` names log `current` (0: none).
    pub(crate) fn new(current: u64, roll_bytes: u64) -> ManifestWriter {
        ManifestWriter {
            roll_bytes,
            current,
            live: None,
        }
    }

    /// Makes `next` the durable version; returns the bytes written.
    pub(crate) fn install(&mut self, vfs: &dyn Vfs, dir: &Path, next: &Manifest) -> Result<u64> {
        let appendable = self.live.take().and_then(|live| {
            let edit = Edit::between(&live.version, next)?;
            (live.edit_bytes < self.roll_bytes).then_some((live, edit))
        });
        match appendable {
            Some((live, edit)) => self.append(vfs, dir, live, edit, next),
            None => self.roll(vfs, dir, next),
        }
    }

    fn append(
        &mut self,
        vfs: &dyn Vfs,
        dir: &Path,
        mut live: LiveLog,
        edit: Edit,
        next: &Manifest,
    ) -> Result<u64> {
        let adds_tables = !edit.added.is_empty();
        let record = manifest_log::frame(&Record::Edit(edit));
        if adds_tables {
            vfs.sync_dir(dir)?;
        }
        live.file.write_all_at(&record, live.len)?;
        live.file.sync()?;
        live.len += record.len() as u64;
        live.edit_bytes += record.len() as u64;
        live.version = next.clone();
        self.live = Some(live);
        Ok(record.len() as u64)
    }

    fn roll(&mut self, vfs: &dyn Vfs, dir: &Path, next: &Manifest) -> Result<u64> {
        let number = self.current + 1;
        let data = manifest_log::encode_new(number, next);
        let file = vfs.open(&manifest_log_path(dir, number), OpenMode::Create)?;
        file.set_len(0)?;
        file.write_all_at(&data, 0)?;
        file.sync()?;
        let pointer_bytes = current::switch(vfs, dir, number)?;
        let old = std::mem::replace(&mut self.current, number);
        if old != 0 {
            // Best effort: the switch is durable, a leftover log is
            // garbage removed at the next open.
            let _ = vfs.remove(&manifest_log_path(dir, old));
        }
        self.live = Some(LiveLog {
            file,
            len: data.len() as u64,
            edit_bytes: 0,
            version: next.clone(),
        });
        Ok(data.len() as u64 + pointer_bytes)
    }
}
