//! `OsVfs`: the `Vfs` trait on real files.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::os_lock::OsLock;
use crate::vfs::{OpenMode, Vfs, VfsFile, VfsLock};
use crate::{Error, Result};

/// Real files through `std::fs`. `sync` is `fdatasync`; locks are `flock`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsVfs;

impl OsVfs {
    /// The real file system.
    pub fn new() -> Self {
        OsVfs
    }
}

#[derive(Debug)]
struct OsFile {
    path: PathBuf,
    file: File,
}

impl Vfs for OsVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn VfsFile>> {
        let mut opts = OpenOptions::new();
        opts.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                opts.write(true);
            }
            OpenMode::Create => {
                opts.write(true).create(true);
            }
        }
        let file = opts.open(path).map_err(|e| Error::io(path, e))?;
        Ok(Arc::new(OsFile {
            path: path.to_path_buf(),
            file,
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|e| Error::io(path, e))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io(from, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))
    }

    fn remove_dir(&self, path: &Path) -> Result<()> {
        std::fs::remove_dir(path).map_err(|e| Error::io(path, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn VfsLock>> {
        Ok(Box::new(OsLock::take(path)?))
    }
}

impl VfsFile for OsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(&self.path, e))
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io(&self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_rename_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = OsVfs::new();
        let a = dir.path().join("a");
        let f = vfs.open(&a, OpenMode::Create).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.write_all_at(b"world", 10).unwrap();
        f.sync().unwrap();
        assert_eq!(f.len().unwrap(), 15);
        let mut buf = [0u8; 5];
        f.read_exact_at(&mut buf, 10).unwrap();
        assert_eq!(&buf, b"world");
        assert!(f.read_exact_at(&mut buf, 12).is_err());
        let b = dir.path().join("b");
        vfs.rename(&a, &b).unwrap();
        vfs.sync_dir(dir.path()).unwrap();
        assert_eq!(vfs.list(dir.path()).unwrap(), vec!["b".to_string()]);
        vfs.remove(&b).unwrap();
        assert!(!vfs.exists(&b).unwrap());
        assert!(vfs.open(&b, OpenMode::Read).is_err());
    }
}
