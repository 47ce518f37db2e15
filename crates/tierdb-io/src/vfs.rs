//! The `Vfs` trait: the file-system operations the engine needs, and nothing else.
//!
//! Durability contract (what every implementation must honour and what the
//! engine relies on):
//! - `VfsFile::write_all_at` makes data visible to later reads at once, but not
//!   durable; only a later `VfsFile::sync` of the same file makes it durable.
//! - A created, renamed or removed directory entry is durable only after
//!   `Vfs::sync_dir` of its parent directory.
//! - `Vfs::rename` replaces the target atomically: after a crash either the old
//!   or the new file is found under the target name, never a mix.
//! - Nothing smaller than a whole synced write is assumed atomic: a crash may
//!   tear an unsynced write at any byte.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use crate::Result;

/// How [`Vfs::open`] treats a missing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; the file is created (empty) if missing.
    Create,
}

/// A file system: real (`OsVfs`) or simulated (`SimVfs`).
pub trait Vfs: Send + Sync + Debug {
    /// Opens `path` as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn VfsFile>>;
    /// True if a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Creates `path` and its missing parents as directories.
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// The names (not paths) of the entries of directory `dir`, sorted.
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes the file at `path`.
    fn remove(&self, path: &Path) -> Result<()>;
    /// Removes the empty directory at `path`.
    fn remove_dir(&self, path: &Path) -> Result<()>;
    /// Makes the creates, renames and removes of entries of `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes an exclusive lock on the file at `path` (created if missing),
    /// held until the returned guard is dropped. Fails with `Error::Locked`
    /// when another handle (in this process or another) holds it.
    fn lock(&self, path: &Path) -> Result<Box<dyn VfsLock>>;
}

/// An open file. Shared between threads; positioned reads and writes only.
pub trait VfsFile: Send + Sync + Debug {
    /// The path this file was opened at.
    fn path(&self) -> &Path;
    /// Fills `buf` from `offset`; reading past the end is an error
    /// (`std::io::ErrorKind::UnexpectedEof`).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()>;
    /// The current length in bytes.
    fn len(&self) -> Result<u64>;
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&self) -> Result<()>;

    /// True if the file is empty.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads the whole file.
    fn read_all(&self) -> Result<Vec<u8>> {
        let len = self.len()?;
        let len = usize::try_from(len).map_err(|_| {
            crate::Error::io(
                self.path(),
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    "file too large to read whole",
                ),
            )
        })?;
        let mut buf = vec![0; len];
        self.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// An exclusive lock taken by [`Vfs::lock`]; released when dropped.
pub trait VfsLock: Send + Sync + Debug {}
