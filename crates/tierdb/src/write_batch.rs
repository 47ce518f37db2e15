//! `WriteBatch`: writes applied atomically by `Db::write`.

use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

use crate::iter::owned_bounds;

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Put(Bytes, Bytes),
    Delete(Bytes),
    DeleteRange(Bound<Bytes>, Bound<Bytes>),
}

/// A list of writes applied atomically and in order by [`crate::Db::write`]:
/// all of them or none, and a later write to a key wins over an earlier one.
///
/// ```
/// let mut batch = tierdb::WriteBatch::new();
/// batch.put(b"a", b"1");
/// batch.delete(b"b");
/// batch.delete_range(b"tmp/".as_slice()..b"tmp0".as_slice());
/// assert_eq!(batch.len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.ops.push(BatchOp::Put(
            Bytes::copy_from_slice(key.as_ref()),
            Bytes::copy_from_slice(value.as_ref()),
        ));
        self
    }

    /// Removes `key` (no error if absent).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.ops
            .push(BatchOp::Delete(Bytes::copy_from_slice(key.as_ref())));
        self
    }

    /// Removes every key in `range` that exists when the batch commits
    /// (writes earlier in the same batch included; later ones survive). It
    /// costs the same however many keys the range holds: the WAL record
    /// carries the range itself (one op per partition it meets), an LSM
    /// partition records a range tombstone and a B+tree partition drops
    /// the subtrees inside the range whole.
    pub fn delete_range<'k>(&mut self, range: impl RangeBounds<&'k [u8]>) -> &mut Self {
        let (lo, hi) = owned_bounds(&range);
        self.ops.push(BatchOp::DeleteRange(lo, hi));
        self
    }

    /// Number of writes in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every write.
    pub fn clear(&mut self) {
        self.ops.clear();
    }
}
