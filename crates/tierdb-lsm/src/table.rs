//! `Table`: one live SSTable file of the tree, shared by every version and
//! view that can reach it.
//!
//! When compaction replaces a table, the table is marked obsolete after the
//! manifest that no longer lists it is durable; its file is deleted when the
//! last `Arc<Table>` goes, that is, once no version, view or iterator can
//! reach it. A failed delete leaves garbage that the next open removes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{OpenMode, Result, Vfs};

use crate::files::table_path;
use crate::sstable::SstReader;

/// One SSTable and its key range.
pub(crate) struct Table {
    /// The table's number (its file is `NNNNNN.sst`).
    pub(crate) number: u64,
    /// The open reader.
    pub(crate) reader: Arc<SstReader>,
    /// Size of the file.
    pub(crate) file_bytes: u64,
    /// Entries (all versions, tombstones included).
    pub(crate) entries: u64,
    /// Tombstones among them.
    pub(crate) tombstones: u64,
    /// Smallest user key.
    pub(crate) smallest: Bytes,
    /// Largest user key.
    pub(crate) largest: Bytes,
    obsolete: AtomicBool,
    remover: Remover,
}

/// What is needed to delete the file once obsolete.
struct Remover {
    vfs: Arc<dyn Vfs>,
    path: PathBuf,
    cache: Arc<PageCache>,
    file_id: u64,
}

/// Where tables live and how they are cached.
#[derive(Clone, Debug)]
pub(crate) struct TableEnv {
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) dir: PathBuf,
    pub(crate) cache: Arc<PageCache>,
    pub(crate) file_id_base: u64,
}

impl TableEnv {
    /// The cache file id of table `number`.
    pub(crate) fn file_id(&self, number: u64) -> u64 {
        self.file_id_base.wrapping_add(number)
    }
}

impl Table {
    /// Opens table `number` of `env`.
    pub(crate) fn open(env: &TableEnv, number: u64) -> Result<Arc<Table>> {
        let path = table_path(&env.dir, number);
        let file = env.vfs.open(&path, OpenMode::Read)?;
        let file_id = env.file_id(number);
        env.cache.remove_file(file_id);
        let reader = SstReader::open(file, file_id, Arc::clone(&env.cache))?;
        let meta = reader.meta();
        Ok(Arc::new(Table {
            number,
            file_bytes: meta.file_bytes,
            entries: meta.entries,
            tombstones: meta.tombstones,
            smallest: meta.smallest_key.clone(),
            largest: meta.largest_key.clone(),
            reader,
            obsolete: AtomicBool::new(false),
            remover: Remover {
                vfs: Arc::clone(&env.vfs),
                path,
                cache: Arc::clone(&env.cache),
                file_id,
            },
        }))
    }

    /// Marks the file for deletion once unreachable.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// True if `key` lies in the table's key range.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.smallest.as_ref() <= key && key <= self.largest.as_ref()
    }

    /// True if the table's range meets `[lo, hi]`.
    pub(crate) fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.smallest.as_ref() <= hi && lo <= self.largest.as_ref()
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("number", &self.number)
            .field("file_bytes", &self.file_bytes)
            .finish_non_exhaustive()
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            self.remover.cache.remove_file(self.remover.file_id);
            // Best effort: a file left behind is garbage removed at open.
            let _ = self.remover.vfs.remove(&self.remover.path);
        }
    }
}
