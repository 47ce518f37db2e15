//! Segment files: names, listing, metadata, creation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tierdb_io::{Error, OpenMode, Result, Vfs, VfsFile};

use crate::format::{MAX_SEGMENT_NUMBER, SEGMENT_HEADER_LEN, SegmentHeader};

/// The file name of segment `number`: `000042.log`.
pub(crate) fn segment_file_name(number: u64) -> String {
    format!("{number:06}.log")
}

/// The segment number of a file name, if it is a segment name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let canonical = number <= MAX_SEGMENT_NUMBER && segment_file_name(number) == name;
    canonical.then_some(number)
}

/// The segments in `dir`, sorted by number. Other files are ignored.
pub(crate) fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found: Vec<(u64, PathBuf)> = vfs
        .list(dir)?
        .iter()
        .filter_map(|name| parse_segment_name(name).map(|n| (n, dir.join(name))))
        .collect();
    found.sort_by_key(|(n, _)| *n);
    Ok(found)
}

/// What the WAL remembers about a live segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    /// Number in the file name.
    pub number: u64,
    /// Full path.
    pub path: PathBuf,
    /// Lsn of the first record (from the header).
    pub first_lsn: u64,
    /// Lsn of the last record; `first_lsn - 1` when the segment holds none.
    pub last_lsn: u64,
    /// File length in bytes.
    pub bytes: u64,
}

impl SegmentMeta {
    /// True if the segment holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.last_lsn < self.first_lsn
    }
}

/// The number after `number`, if there is one.
pub(crate) fn next_segment_number(number: u64) -> Result<u64> {
    number
        .checked_add(1)
        .filter(|n| *n <= MAX_SEGMENT_NUMBER)
        .ok_or_else(|| Error::InvalidArgument("WAL segment numbers exhausted".into()))
}

/// Creates segment `number` whose first record will be `first_lsn`:
/// create, write the header, sync the file, sync the directory. When this
/// returns, the segment and its header survive a crash, so every later
/// record write can rely on them.
pub(crate) fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    number: u64,
    first_lsn: u64,
) -> Result<(Arc<dyn VfsFile>, SegmentMeta)> {
    debug_assert!(first_lsn >= 1, "lsns start at 1");
    let path = dir.join(segment_file_name(number));
    let file = vfs.open(&path, OpenMode::Create)?;
    if !file.is_empty()? {
        // A leftover from a crash recovery did not see (it never does: it
        // removes such files); start clean all the same.
        file.set_len(0)?;
    }
    let header = SegmentHeader { number, first_lsn };
    file.write_all_at(&header.encode(), 0)?;
    file.sync()?;
    vfs.sync_dir(dir)?;
    let meta = SegmentMeta {
        number,
        path,
        first_lsn,
        last_lsn: first_lsn.saturating_sub(1),
        bytes: SEGMENT_HEADER_LEN,
    };
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_file_name(1), "000001.log");
        assert_eq!(segment_file_name(1234567), "1234567.log");
        assert_eq!(parse_segment_name("000001.log"), Some(1));
        assert_eq!(parse_segment_name("1234567.log"), Some(1234567));
        for bad in [
            "1.log",
            "000001.log.tmp",
            "00000a.log",
            "0000001.log",
            "18446744073709551615.log",
            "1000000000000.log",
            "LOCK",
            ".log",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }
}
