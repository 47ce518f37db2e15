//! `Table`: one live SSTable file of the tree, shared by every version and
//! view that can reach it.
//!
//! When compaction replaces a table, the table is marked obsolete after the
//! manifest record that no longer lists it is durable; its file is deleted
//! when the last `Arc<Table>` goes, that is, once no version, view or
//! iterator can reach it. A failed delete leaves garbage that the next
//! open removes.

use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{OpenMode, Result, Vfs};

use crate::files::table_path;
use crate::sstable::SstReader;

/// One SSTable and its key span: the keys of its entries and the ranges
/// of its range tombstones, `[smallest, upper]`.
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
    /// Smallest user key of an entry or a range tombstone's start.
    pub(crate) smallest: Bytes,
    /// Upper end of the span: the largest entry key (included) or a range
    /// tombstone's end (excluded), whichever is larger; unbounded for a
    /// tombstone without end.
    pub(crate) upper: Bound<Bytes>,
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
        let (smallest, upper) = span(&reader);
        Ok(Arc::new(Table {
            number,
            file_bytes: meta.file_bytes,
            entries: meta.entries,
            tombstones: meta.tombstones,
            smallest,
            upper,
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

    /// True if `key` lies in the table's span.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.smallest.as_ref() <= key && !self.ends_before(key)
    }

    /// True if every key of the span is below `key`.
    pub(crate) fn ends_before(&self, key: &[u8]) -> bool {
        upper_below(&self.upper, key)
    }

    /// True if the span meets the keys from `lo` up to `hi`.
    pub(crate) fn overlaps(&self, lo: &[u8], hi: &Bound<Bytes>) -> bool {
        let starts_in = match hi {
            Bound::Included(h) => self.smallest.as_ref() <= h.as_ref(),
            Bound::Excluded(h) => self.smallest.as_ref() < h.as_ref(),
            Bound::Unbounded => true,
        };
        starts_in && !self.ends_before(lo)
    }

    /// True if the table holds entries (not only range tombstones).
    pub(crate) fn has_entries(&self) -> bool {
        self.entries > 0
    }
}

/// True if every key up to `upper` is below `key`.
pub(crate) fn upper_below(upper: &Bound<Bytes>, key: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => u.as_ref() < key,
        Bound::Excluded(u) => u.as_ref() <= key,
        Bound::Unbounded => false,
    }
}

/// The larger of two upper ends.
pub(crate) fn max_upper(a: Bound<Bytes>, b: Bound<Bytes>) -> Bound<Bytes> {
    match (&a, &b) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => Bound::Unbounded,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x > y || (x == y && matches!(a, Bound::Included(_))) {
                a
            } else {
                b
            }
        }
    }
}

/// The key span of a table's entries and range tombstones.
fn span(reader: &SstReader) -> (Bytes, Bound<Bytes>) {
    let meta = reader.meta();
    let mut smallest: Option<Bytes> = None;
    let mut upper: Option<Bound<Bytes>> = None;
    if meta.entries > 0 {
        smallest = Some(meta.smallest_key.clone());
        upper = Some(Bound::Included(meta.largest_key.clone()));
    }
    for t in reader.range_tombstones() {
        if smallest.as_ref().is_none_or(|s| t.start < *s) {
            smallest = Some(t.start.clone());
        }
        let end = t.end.clone().map_or(Bound::Unbounded, Bound::Excluded);
        upper = Some(match upper {
            Some(u) => max_upper(u, end),
            None => end,
        });
    }
    (
        smallest.unwrap_or_default(),
        upper.unwrap_or(Bound::Excluded(Bytes::new())),
    )
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
