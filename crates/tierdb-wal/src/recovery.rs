//! Recovery: scan every segment in order, replay, and repair what a crash
//! legitimately leaves behind (a torn tail, a half-created last segment).
//! The rules are argued case by case in `docs/format/wal.md`.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use tierdb_io::{Error, OpenMode, Result, Vfs};

use crate::format::{SEGMENT_HEADER_BYTES, SEGMENT_HEADER_LEN, SegmentHeader};
use crate::options::RecoveryMode;
use crate::scan::{Replay, ScanContext, SegmentImage, SegmentScan};
use crate::segment::{SegmentMeta, list_segments};

/// What recovery found and left on disk.
#[derive(Debug, Default)]
pub(crate) struct RecoveryOutcome {
    /// The segments kept, oldest first; all durable, each ending with a
    /// valid record (or its header).
    pub segments: Vec<SegmentMeta>,
    /// Records handed to the replay callback.
    pub replayed: u64,
    /// Where a torn tail was cut (offset 0: a half-created segment removed).
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Where `TolerateCorruption` dropped the rest of the log.
    pub dropped_by_tolerance: Option<(PathBuf, u64)>,
}

impl RecoveryOutcome {
    /// The lsn of the last record in the log (`first_lsn - 1` of an empty
    /// last segment; 0 for an empty log).
    pub(crate) fn last_lsn(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.last_lsn)
    }
}

/// Recovers the WAL in `dir`; see `Wal::open`.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    replay_after: u64,
    replay: Replay<'_>,
) -> Result<RecoveryOutcome> {
    let listed = list_segments(vfs, dir)?;
    let mut ctx = ScanContext::new(replay_after, replay);
    let mut out = RecoveryOutcome::default();
    for (i, (number, path)) in listed.iter().enumerate() {
        let scan = match i.checked_sub(1).and_then(|p| listed.get(p)) {
            Some((prev, _)) if prev.checked_add(1) != Some(*number) => SegmentScan::Bad {
                offset: 0,
                reason: format!("segment {} is missing", prev.saturating_add(1)),
                valid: None,
            },
            _ => match needs_no_record(vfs, &listed, i, replay_after)? {
                Some(next_first_lsn) => skip_file(vfs, &mut ctx, *number, path, next_first_lsn)?,
                None => scan_file(vfs, &mut ctx, *number, path, i + 1 == listed.len())?,
            },
        };
        let go_on = apply(vfs, dir, mode, &listed[i..], scan, &mut out)?;
        if !go_on {
            break;
        }
    }
    out.replayed = ctx.replayed;
    make_last_durable(vfs, &out)?;
    vfs.sync_dir(dir)?;
    Ok(out)
}

fn scan_file(
    vfs: &dyn Vfs,
    ctx: &mut ScanContext<'_>,
    number: u64,
    path: &Path,
    is_last: bool,
) -> Result<SegmentScan> {
    let bytes = Bytes::from(vfs.open(path, OpenMode::Read)?.read_all()?);
    ctx.scan(&SegmentImage {
        number,
        path,
        bytes: &bytes,
        is_last,
    })
}

/// If replay needs no record of segment `listed[i]` (not the last), the
/// first lsn of the segment after it: its header is valid, it is the next
/// number, and it starts at or below `replay_after + 1`. Such a segment
/// only waits for the next checkpoint to remove it; reading and
/// checksumming it was most of an open that replayed little (an LSM whose
/// flushes had persisted most of the log). `None` when in doubt: the
/// segment is then scanned as any other.
fn needs_no_record(
    vfs: &dyn Vfs,
    listed: &[(u64, PathBuf)],
    i: usize,
    replay_after: u64,
) -> Result<Option<u64>> {
    let (Some((number, _)), Some((next, next_path))) = (listed.get(i), listed.get(i + 1)) else {
        return Ok(None);
    };
    if number.checked_add(1) != Some(*next) {
        return Ok(None);
    }
    let (_, Some(head)) = read_header(vfs, next_path)? else {
        return Ok(None);
    };
    Ok(match SegmentHeader::decode(&head) {
        Ok(h) if h.number == *next && h.first_lsn <= replay_after.saturating_add(1) => {
            Some(h.first_lsn)
        }
        _ => None,
    })
}

/// A segment's length and its first `SEGMENT_HEADER_BYTES` (`None` if
/// shorter), from one open.
fn read_header(vfs: &dyn Vfs, path: &Path) -> Result<(u64, Option<Vec<u8>>)> {
    let file = vfs.open(path, OpenMode::Read)?;
    let len = file.len()?;
    if len < SEGMENT_HEADER_LEN {
        return Ok((len, None));
    }
    let mut head = vec![0; SEGMENT_HEADER_BYTES];
    file.read_exact_at(&mut head, 0)?;
    Ok((len, Some(head)))
}

/// Takes segment `number` without reading its records (`needs_no_record`).
fn skip_file(
    vfs: &dyn Vfs,
    ctx: &mut ScanContext<'_>,
    number: u64,
    path: &Path,
    next_first_lsn: u64,
) -> Result<SegmentScan> {
    let (file_len, head) = read_header(vfs, path)?;
    let head = Bytes::from(head.unwrap_or_default());
    let image = SegmentImage {
        number,
        path,
        bytes: &head,
        is_last: false,
    };
    ctx.skip(&image, file_len, next_first_lsn)
}

/// Acts on the scan of `rest[0]` (`rest` = it and every later segment).
/// Returns false when recovery must stop there.
fn apply(
    vfs: &dyn Vfs,
    dir: &Path,
    mode: RecoveryMode,
    rest: &[(u64, PathBuf)],
    scan: SegmentScan,
    out: &mut RecoveryOutcome,
) -> Result<bool> {
    let Some((_, path)) = rest.first() else {
        return Ok(false);
    };
    match scan {
        SegmentScan::Complete(meta) => out.segments.push(meta),
        SegmentScan::TornTail(meta) => {
            out.torn_tail = Some((path.clone(), meta.bytes));
            out.segments.push(meta);
        }
        SegmentScan::Unborn => {
            vfs.remove(path)?;
            vfs.sync_dir(dir)?;
            out.torn_tail = Some((path.clone(), 0));
        }
        SegmentScan::Bad {
            offset,
            reason,
            valid,
        } => {
            if mode == RecoveryMode::Strict {
                return Err(Error::corruption(path, offset, reason));
            }
            drop_rest(vfs, dir, rest, valid.is_some())?;
            out.dropped_by_tolerance = Some((path.clone(), offset));
            out.segments.extend(valid);
            return Ok(false);
        }
    }
    Ok(true)
}

/// `TolerateCorruption`: removes every segment after `rest[0]`, newest first
/// (so a crash meanwhile leaves a contiguous run), and `rest[0]` itself
/// unless its valid prefix is kept (it is truncated by `make_last_durable`).
fn drop_rest(vfs: &dyn Vfs, dir: &Path, rest: &[(u64, PathBuf)], keep_first: bool) -> Result<()> {
    let keep = usize::from(keep_first);
    for (_, path) in rest.iter().skip(keep).rev() {
        vfs.remove(path)?;
    }
    vfs.sync_dir(dir)
}

/// Truncates the last kept segment to its valid length (cutting a torn tail
/// or a dropped rest) and syncs it. Syncing even when nothing was cut
/// matters: after a process crash the OS may still hold writes that were
/// never synced; recovery just read and replayed them, so they must become
/// durable before new records follow them.
fn make_last_durable(vfs: &dyn Vfs, out: &RecoveryOutcome) -> Result<()> {
    let Some(last) = out.segments.last() else {
        return Ok(());
    };
    let file = vfs.open(&last.path, OpenMode::ReadWrite)?;
    if file.len()? != last.bytes {
        file.set_len(last.bytes)?;
    }
    file.sync()
}
