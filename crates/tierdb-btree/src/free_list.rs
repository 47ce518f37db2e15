//! The persisted free list: a chain of pages listing runs of free pages.
//!
//! ```text
//! page header (24, type 3, count = runs here) | next page u64 | next crc32 u32
//! | reserved u32 | runs: (start u64, count u64) × count | zeros
//! ```
//! The header points at the first page with its crc; each page points at the
//! next with its crc, so the chain is covered by the checksum tree too.

use tierdb_io::Result;

use crate::codec::Reader;
use crate::layout::{Layout, PAGE_HEADER_BYTES};
use crate::node::DiskRef;
use crate::page_format::{PAGE_TYPE_FREE_LIST, parse_header, seal_page, write_header};
use crate::space::PageRun;
use crate::store::Store;

const NEXT_AT: usize = PAGE_HEADER_BYTES;
const RUNS_AT: usize = PAGE_HEADER_BYTES + 16;
const RUN_BYTES: usize = 16;

/// Runs one free-list page holds.
pub(crate) fn runs_per_page(layout: Layout) -> usize {
    (layout.page_size - RUNS_AT) / RUN_BYTES
}

/// Free-list pages needed for `runs` runs.
pub(crate) fn pages_needed(layout: Layout, runs: usize) -> usize {
    runs.div_ceil(runs_per_page(layout))
}

/// Encodes `runs` into the chain of `pages` (which may be more than needed;
/// the extra ones hold no runs). Returns the pages' bytes and the head.
pub(crate) fn encode_chain(
    layout: Layout,
    pages: &[u64],
    runs: &[PageRun],
) -> (Vec<(u64, Vec<u8>)>, Option<DiskRef>) {
    let per_page = runs_per_page(layout);
    let mut chunks = runs.chunks(per_page);
    let assigned: Vec<(u64, &[PageRun])> = pages
        .iter()
        .map(|p| (*p, chunks.next().unwrap_or_default()))
        .collect();
    debug_assert!(chunks.next().is_none(), "free list pages too few");
    let mut out = Vec::with_capacity(pages.len());
    let mut next: Option<DiskRef> = None;
    for (page, chunk) in assigned.into_iter().rev() {
        let mut buf = vec![0u8; layout.page_size];
        write_header(&mut buf, PAGE_TYPE_FREE_LIST, chunk.len(), page);
        let next_ref = next.unwrap_or(DiskRef {
            page: 0,
            checksum: 0,
        });
        buf[NEXT_AT..NEXT_AT + 8].copy_from_slice(&next_ref.page.to_le_bytes());
        buf[NEXT_AT + 8..NEXT_AT + 12].copy_from_slice(&next_ref.checksum.to_le_bytes());
        for (i, run) in chunk.iter().enumerate() {
            let at = RUNS_AT + i * RUN_BYTES;
            buf[at..at + 8].copy_from_slice(&run.start.to_le_bytes());
            buf[at + 8..at + 16].copy_from_slice(&run.count.to_le_bytes());
        }
        let checksum = seal_page(&mut buf);
        next = Some(DiskRef { page, checksum });
        out.push((page, buf));
    }
    out.reverse();
    (out, next)
}

/// What a persisted free list says.
#[derive(Debug, Default)]
pub(crate) struct FreeList {
    /// The free runs.
    pub(crate) runs: Vec<PageRun>,
    /// The pages holding the list itself.
    pub(crate) list_pages: Vec<u64>,
}

/// Reads and verifies the chain from `head`; every run and page must lie
/// within `[2, total_pages)`.
pub(crate) fn read_chain(
    store: &Store,
    head: Option<DiskRef>,
    total_pages: u64,
) -> Result<FreeList> {
    let mut list = FreeList::default();
    let mut next = head;
    while let Some(at) = next {
        if list.list_pages.len() as u64 >= total_pages {
            return Err(store.corrupt_page(at.page, "free list chain loops"));
        }
        let bytes = store.read_at(
            store.offset_of(at.page)?,
            store.layout().page_size as u64,
            at.page,
        )?;
        let (runs, following) =
            decode_page(&bytes, at, total_pages).map_err(|r| store.corrupt_page(at.page, r))?;
        list.runs.extend(runs);
        list.list_pages.push(at.page);
        next = following;
    }
    Ok(list)
}

pub(crate) fn decode_page(
    bytes: &[u8],
    at: DiskRef,
    total_pages: u64,
) -> Result<(Vec<PageRun>, Option<DiskRef>), String> {
    let header = parse_header(bytes)?;
    if header.page != at.page
        || header.crc != at.checksum
        || header.page_type != PAGE_TYPE_FREE_LIST
    {
        return Err(format!(
            "free-list page mismatch: page {} type {} crc {:#010x}",
            header.page, header.page_type, header.crc
        ));
    }
    let mut r = Reader::at(bytes, NEXT_AT);
    let next = DiskRef {
        page: r.u64()?,
        checksum: r.u32()?,
    };
    let mut runs = Vec::with_capacity(header.count);
    let mut r = Reader::at(bytes, RUNS_AT);
    for _ in 0..header.count {
        let run = PageRun {
            start: r.u64()?,
            count: r.u64()?,
        };
        let end = run
            .start
            .checked_add(run.count)
            .ok_or("free run overflows")?;
        if run.start < 2 || run.count == 0 || end > total_pages {
            return Err(format!(
                "free run {}+{} outside the file",
                run.start, run.count
            ));
        }
        runs.push(run);
    }
    let next = (next.page != 0).then_some(next);
    if next.is_some_and(|n| !(2..total_pages).contains(&n.page)) {
        return Err("free list points outside the file".into());
    }
    Ok((runs, next))
}
