//! One write of a committed write set.

use bytes::Bytes;

/// A commit sequence number. The first commit of a database has sequence 1;
/// 0 means "nothing". It is also the commit's WAL record number (LSN).
pub type Seq = u64;

/// One write of a committed write set, as a tier applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Remove `key` (no error if absent).
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Remove every key `k` with `start <= k` and, if `end` is set,
    /// `k < end` (a half-open range; `None` means no upper end). The empty
    /// `start` is the smallest key, so `start = b""` has no lower end. A
    /// tier does this in time independent of how many keys it removes
    /// (an LSM range tombstone, B+tree subtrees dropped whole), and a later
    /// write in the same or a later write set wins over it.
    DeleteRange {
        /// First key removed.
        start: Bytes,
        /// First key kept after the range, `None` for no end.
        end: Option<Bytes>,
    },
}

impl WriteOp {
    /// The key written, or the first key of a deleted range.
    pub fn key(&self) -> &Bytes {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key } => key,
            WriteOp::DeleteRange { start, .. } => start,
        }
    }

    /// Bytes of user data the op carries: key and value, the key of a
    /// delete, or both ends of a deleted range.
    pub fn data_bytes(&self) -> usize {
        match self {
            WriteOp::Put { key, value } => key.len() + value.len(),
            WriteOp::Delete { key } => key.len(),
            WriteOp::DeleteRange { start, end } => {
                start.len() + end.as_ref().map_or(0, |e| e.len())
            }
        }
    }
}

/// True if `key` lies in the half-open range `[start, end)` (`end = None`:
/// no upper end), as [`WriteOp::DeleteRange`] defines it.
pub fn range_contains(start: &[u8], end: Option<&[u8]>, key: &[u8]) -> bool {
    start <= key && end.is_none_or(|e| key < e)
}

/// True if the range `[start, end)` holds no key at all.
pub fn range_is_empty(start: &[u8], end: Option<&[u8]>) -> bool {
    end.is_some_and(|e| e <= start)
}
