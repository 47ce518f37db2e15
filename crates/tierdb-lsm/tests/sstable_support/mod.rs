//! Helpers shared by the `sstable_*` integration tests: writing a table to
//! a `SimVfs`, opening it, scanning it, and a sorted-`Vec` model of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{OpenMode, Result, SimVfs, Vfs, VfsFile};
use tierdb_lsm::entry::{Entry, EntryKind, InternalIter, internal_cmp};
use tierdb_lsm::sstable::{SstMeta, SstOptions, SstReader, SstWriter};

/// A fresh simulated disk with a `/db` directory.
pub fn sim_vfs(seed: u64) -> SimVfs {
    let vfs = SimVfs::new(seed);
    vfs.create_dir_all(Path::new("/db")).unwrap();
    vfs
}

pub fn path(name: &str) -> PathBuf {
    Path::new("/db").join(name)
}

pub fn put(key: &[u8], seq: u64, value: &[u8]) -> Entry {
    Entry {
        key: Bytes::copy_from_slice(key),
        seq,
        kind: EntryKind::Put,
        value: Bytes::copy_from_slice(value),
    }
}

pub fn del(key: &[u8], seq: u64) -> Entry {
    Entry {
        key: Bytes::copy_from_slice(key),
        seq,
        kind: EntryKind::Delete,
        value: Bytes::new(),
    }
}

/// Sorts into internal order and drops duplicate (key, seq) pairs.
pub fn normalize(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| internal_cmp(&a.key, a.seq, &b.key, b.seq));
    entries.dedup_by(|a, b| a.key == b.key && a.seq == b.seq);
    entries
}

/// Writes `entries` (already in internal order) as table `name`.
pub fn write_table(
    vfs: &SimVfs,
    name: &str,
    entries: &[Entry],
    opts: SstOptions,
) -> (Arc<dyn VfsFile>, SstMeta) {
    let file = vfs.open(&path(name), OpenMode::Create).unwrap();
    let mut writer = SstWriter::new(Arc::clone(&file), opts);
    for entry in entries {
        writer.add(entry).unwrap();
    }
    let meta = writer.finish().unwrap();
    (file, meta)
}

/// Writes raw `bytes` as file `name` and returns it.
pub fn raw_file(vfs: &SimVfs, name: &str, bytes: &[u8]) -> Arc<dyn VfsFile> {
    let file = vfs.open(&path(name), OpenMode::Create).unwrap();
    file.set_len(0).unwrap();
    file.write_all_at(bytes, 0).unwrap();
    file
}

pub fn cache() -> Arc<PageCache> {
    Arc::new(PageCache::new(8 << 20))
}

pub fn open(file: Arc<dyn VfsFile>) -> Arc<SstReader> {
    SstReader::open(file, 1, cache()).unwrap()
}

/// Every entry, front to back.
pub fn scan_forward(reader: &Arc<SstReader>) -> Result<Vec<Entry>> {
    let mut iter = reader.iter();
    let mut out = Vec::new();
    iter.seek_to_first()?;
    while iter.valid() {
        out.push(iter.entry().clone());
        iter.next()?;
    }
    Ok(out)
}

/// Every entry, back to front, returned in forward order.
pub fn scan_backward(reader: &Arc<SstReader>) -> Result<Vec<Entry>> {
    let mut iter = reader.iter();
    let mut out = Vec::new();
    iter.seek_to_last()?;
    while iter.valid() {
        out.push(iter.entry().clone());
        iter.prev()?;
    }
    out.reverse();
    Ok(out)
}

/// The model's answer to `SstReader::get`.
pub fn model_get<'a>(entries: &'a [Entry], key: &[u8], snapshot_seq: u64) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| &e.key[..] == key && e.seq <= snapshot_seq)
}

/// Index of the model's answer to `seek(key)`.
pub fn model_seek(entries: &[Entry], key: &[u8]) -> Option<usize> {
    entries.iter().position(|e| &e.key[..] >= key)
}

/// Index of the model's answer to `seek_for_prev(key)`.
pub fn model_seek_for_prev(entries: &[Entry], key: &[u8]) -> Option<usize> {
    entries.iter().rposition(|e| &e.key[..] <= key)
}
