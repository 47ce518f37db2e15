//! Opening the tier file: pick the newest valid header, read its free list.
//!
//! - An empty file is new: it gets the generation-0 header (an empty tree)
//!   in slot 0, synced, before `open` returns, so a crash during the first
//!   checkpoint finds that header.
//! - A file with no valid header slot is corrupt, unless it is a torn
//!   creation: shorter than two pages and a prefix of (or zeros instead of)
//!   the generation-0 image.
//! - A header of a newer format version gives `Error::UnsupportedVersion`.

use std::path::Path;
use std::sync::Arc;

use tierdb_cache::PageCache;
use tierdb_io::{Error, OpenMode, Result, Vfs, VfsFile};

use crate::free_list::{FreeList, read_chain};
use crate::header::{FORMAT_VERSION, Header, HeaderError};
use crate::layout::{Layout, MAX_PAGE_SIZE, MIN_PAGE_SIZE};
use crate::options::BTreeOptions;
use crate::store::Store;

/// Bytes of a header slot that are read to decode it.
const SLOT_READ_BYTES: u64 = 92;

/// An opened file and its durable checkpoint.
pub(crate) struct Opened {
    /// The file.
    pub(crate) store: Store,
    /// The durable header.
    pub(crate) header: Header,
    /// Its free list.
    pub(crate) free_list: FreeList,
}

/// Opens (creating if needed) the tier file at `path`.
pub(crate) fn open_file(
    vfs: &dyn Vfs,
    path: &Path,
    cache: Arc<PageCache>,
    file_id: u64,
    opts: &BTreeOptions,
) -> Result<Opened> {
    opts.validate()?;
    let existed = vfs.exists(path)?;
    let file = vfs.open(path, OpenMode::Create)?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|_| !existed) {
        vfs.sync_dir(parent)?;
    }
    let header = match newest_header(&*file)? {
        Some(header) => header,
        None if is_torn_creation(&*file, opts.page_size)? => initialize(&*file, opts.page_size)?,
        None => return Err(Error::corruption(path, 0, "neither header slot is valid")),
    };
    let layout = Layout::new(header.page_size as usize);
    let file_len = file.len()?;
    let needed = header.total_pages.saturating_mul(header.page_size as u64);
    if file_len < needed {
        return Err(Error::corruption(
            path,
            file_len,
            format!("file truncated: {file_len} bytes, checkpoint needs {needed}"),
        ));
    }
    let store = Store::new(file, layout, cache, file_id);
    let free_list = read_chain(&store, header.free_list, header.total_pages)?;
    let listed: u64 = free_list.runs.iter().map(|r| r.count).sum();
    if listed != header.free_pages {
        return Err(Error::corruption(
            path,
            0,
            format!(
                "free list holds {listed} pages, header says {}",
                header.free_pages
            ),
        ));
    }
    Ok(Opened {
        store,
        header,
        free_list,
    })
}

/// The valid header with the highest generation, if any.
fn newest_header(file: &dyn VfsFile) -> Result<Option<Header>> {
    let first = read_slot(file, 0)?;
    let offsets: Vec<u64> = match &first {
        Ok(h) => vec![u64::from(h.page_size)],
        Err(_) => (MIN_PAGE_SIZE.ilog2()..=MAX_PAGE_SIZE.ilog2())
            .map(|s| 1u64 << s)
            .collect(),
    };
    let mut candidates = vec![first];
    for offset in offsets {
        let slot = read_slot(file, offset)?;
        let matches = slot
            .as_ref()
            .is_ok_and(|h| u64::from(h.page_size) == offset);
        if matches || matches!(slot, Err(HeaderError::Unsupported(_))) {
            candidates.push(slot);
        }
    }
    let mut best: Option<Header> = None;
    for candidate in candidates {
        match candidate {
            Ok(h) if best.is_none_or(|b| h.generation > b.generation) => best = Some(h),
            Ok(_) | Err(HeaderError::Invalid(_)) => {}
            Err(HeaderError::Unsupported(found)) => {
                return Err(Error::UnsupportedVersion {
                    file: file.path().to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
        }
    }
    Ok(best)
}

fn read_slot(file: &dyn VfsFile, offset: u64) -> Result<Result<Header, HeaderError>> {
    if file.len()? < offset + SLOT_READ_BYTES {
        return Ok(Err(HeaderError::Invalid("file too short".into())));
    }
    let mut buf = vec![0u8; SLOT_READ_BYTES as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Header::decode(&buf))
}

fn initial_image(page_size: usize) -> Vec<u8> {
    let mut image = Header::initial(page_size as u32).encode();
    image.resize(2 * page_size, 0);
    image
}

fn is_torn_creation(file: &dyn VfsFile, page_size: usize) -> Result<bool> {
    let len = file.len()?;
    if len >= 2 * page_size as u64 {
        return Ok(false);
    }
    let bytes = file.read_all()?;
    let image = initial_image(page_size);
    Ok(image.get(..bytes.len()) == Some(bytes.as_slice()) || bytes.iter().all(|b| *b == 0))
}

fn initialize(file: &dyn VfsFile, page_size: usize) -> Result<Header> {
    file.set_len(0)?;
    file.write_all_at(&initial_image(page_size), 0)?;
    file.sync()?;
    Ok(Header::initial(page_size as u32))
}
