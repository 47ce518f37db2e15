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
}

impl WriteOp {
    /// The key written.
    pub fn key(&self) -> &Bytes {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key } => key,
        }
    }
}
