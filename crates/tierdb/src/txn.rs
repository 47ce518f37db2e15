//! `Txn`: an optimistic transaction. Reads come from the snapshot taken at
//! `begin`; writes are buffered in the transaction and validated at commit.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;

use crate::commit_pipeline::CommitRequest;
use crate::conflict_tracker::ConflictCheck;
use crate::db::Db;
use crate::iter::{Inner, Iter, OverlayIter, is_empty_range, owned_bounds, prefix_bounds};
use crate::limits::{check_key, check_value};
use crate::range_delete::half_open;
use crate::snapshot::{read_get, read_range};
use crate::version::Version;
use crate::{CommitInfo, Error, Isolation, Result, TxnOptions};

/// A transaction. It sees its own writes. `commit` applies them atomically
/// or fails with `Error::Conflict` (retry the whole transaction); dropping it
/// uncommitted, or calling `rollback`, discards them.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = tierdb::Db::open(dir.path().join("db"), tierdb::Options::default()).unwrap();
/// loop {
///     let mut tx = db.begin();
///     let n: u64 = tx.get(b"counter")?.map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap());
///     tx.put(b"counter", (n + 1).to_string())?;
///     match tx.commit() {
///         Err(tierdb::Error::Conflict { .. }) => continue,
///         r => { r?; break; }
///     }
/// }
/// # Ok::<(), tierdb::Error>(())
/// ```
pub struct Txn {
    db: Db,
    version: Arc<Version>,
    opts: TxnOptions,
    writes: BTreeMap<Bytes, Option<Bytes>>,
    /// Ranges `[start, end)` deleted by this transaction; `writes` holds
    /// only what was written after the range deletes covering it.
    deleted_ranges: Vec<(Bytes, Option<Bytes>)>,
    read_keys: Vec<Bytes>,
    read_ranges: Vec<(Bound<Bytes>, Bound<Bytes>)>,
}

impl Txn {
    pub(crate) fn new(db: Db, opts: TxnOptions) -> Self {
        // Take the snapshot and register it in one step, so the conflict
        // tracker never forgets a write this transaction must check.
        let version = {
            let mut active = db.inner.active_txns.lock();
            let version = db.inner.version.load_full();
            *active.entry(version.seq).or_insert(0) += 1;
            version
        };
        Txn {
            db,
            version,
            opts,
            writes: BTreeMap::new(),
            deleted_ranges: Vec::new(),
            read_keys: Vec::new(),
            read_ranges: Vec::new(),
        }
    }

    /// The sequence of the snapshot this transaction reads from.
    pub fn snapshot_seq(&self) -> u64 {
        self.version.seq
    }

    fn serializable(&self) -> bool {
        self.opts.isolation == Isolation::Serializable
    }

    /// The value of `key`: this transaction's own write if any, else the
    /// snapshot's.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.check_open()?;
        let key = key.as_ref();
        if let Some(own) = self.writes.get(key) {
            return Ok(own.clone());
        }
        if self.deleted_by_self(key) {
            return Ok(None);
        }
        if self.serializable() {
            self.read_keys.push(Bytes::copy_from_slice(key));
        }
        read_get(&self.version, key)
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.db.check_open()?;
        let (key, value) = (key.as_ref(), value.as_ref());
        check_key(key)?;
        check_value(value)?;
        self.writes.insert(
            Bytes::copy_from_slice(key),
            Some(Bytes::copy_from_slice(value)),
        );
        Ok(())
    }

    /// Removes `key` when the transaction commits.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.db.check_open()?;
        let key = key.as_ref();
        check_key(key)?;
        self.writes.insert(Bytes::copy_from_slice(key), None);
        Ok(())
    }

    /// Removes every key in `range` when the transaction commits (keys this
    /// transaction wrote before included; later writes survive). Like
    /// `Db::delete_range`, its cost does not depend on how many keys the
    /// range holds. It conflicts with any write to, or serializable read
    /// of, a key in the range by a transaction that commits first.
    pub fn delete_range<'k>(&mut self, range: impl RangeBounds<&'k [u8]>) -> Result<()> {
        self.db.check_open()?;
        let (lo, hi) = owned_bounds(&range);
        let Some((start, end)) = half_open(&lo, &hi) else {
            return Ok(());
        };
        self.writes
            .retain(|k, _| !tierdb_tier::range_contains(&start, end.as_deref(), k));
        self.deleted_ranges.push((start, end));
        Ok(())
    }

    fn deleted_by_self(&self, key: &[u8]) -> bool {
        in_any(&self.deleted_ranges, key)
    }

    /// The entries in `range`, in key order, with this transaction's own
    /// writes applied.
    pub fn range<'k>(&mut self, range: impl RangeBounds<&'k [u8]>) -> Result<Iter> {
        let (lo, hi) = owned_bounds(&range);
        self.range_owned(lo, hi)
    }

    /// The entries whose keys start with `prefix`, with own writes applied.
    pub fn prefix(&mut self, prefix: impl AsRef<[u8]>) -> Result<Iter> {
        let (lo, hi) = prefix_bounds(prefix.as_ref());
        self.range_owned(lo, hi)
    }

    fn range_owned(&mut self, lo: Bound<Bytes>, hi: Bound<Bytes>) -> Result<Iter> {
        self.db.check_open()?;
        let overlay: Vec<(Bytes, Option<Bytes>)> = if is_empty_range(&lo, &hi) {
            Vec::new()
        } else {
            self.writes
                .range::<Bytes, _>((lo.clone(), hi.clone()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let deleted = self.deleted_ranges.clone();
        let base = read_range(&self.version, lo.clone(), hi.clone())?
            .filter(move |item| item.as_ref().map_or(true, |(k, _)| !in_any(&deleted, k)));
        if self.serializable() {
            self.read_ranges.push((lo, hi));
        }
        Ok(Iter::new(
            self.db.clone(),
            Inner::Boxed(Box::new(OverlayIter::new(base, overlay))),
        ))
    }

    /// Validates and applies the writes atomically. Fails with
    /// `Error::Conflict` if another transaction committed a conflicting
    /// write after this one began (see `Isolation`); nothing is applied then.
    pub fn commit(mut self) -> Result<CommitInfo> {
        self.db.check_open()?;
        let durability = self
            .opts
            .durability
            .unwrap_or(self.db.inner.opts.durability);
        if self.writes.is_empty() && self.deleted_ranges.is_empty() {
            // Nothing to validate or apply: its reads are those of its
            // snapshot, so that is where it sits in the commit order. What
            // it read is made as durable as asked, as for an empty batch:
            // a `Sync` commit must not return on state a crash can undo.
            self.db.inner.wait_durable(self.version.seq, durability)?;
            return Ok(CommitInfo {
                seq: self.version.seq,
                durability,
            });
        }
        let mut req = CommitRequest::new(durability);
        // Range deletes first: `writes` holds only what came after them.
        for (start, end) in std::mem::take(&mut self.deleted_ranges) {
            req.delete_range(
                Bound::Included(start),
                end.map_or(Bound::Unbounded, Bound::Excluded),
            )?;
        }
        for (key, value) in std::mem::take(&mut self.writes) {
            match value {
                Some(v) => req.put(key, v)?,
                None => req.delete(key)?,
            }
        }
        req.check = Some(ConflictCheck {
            snapshot: self.version.seq,
            read_keys: std::mem::take(&mut self.read_keys),
            read_ranges: std::mem::take(&mut self.read_ranges),
        });
        let result = self.db.inner.commit(req);
        if matches!(result, Err(Error::Conflict { .. })) {
            self.db
                .inner
                .counters
                .conflicts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// Discards the transaction's writes (as dropping it does).
    pub fn rollback(self) {}
}

/// True if one of the `[start, end)` ranges holds `key`.
fn in_any(ranges: &[(Bytes, Option<Bytes>)], key: &[u8]) -> bool {
    ranges
        .iter()
        .any(|(start, end)| tierdb_tier::range_contains(start, end.as_deref(), key))
}

impl Drop for Txn {
    fn drop(&mut self) {
        let mut active = self.db.inner.active_txns.lock();
        if let Some(n) = active.get_mut(&self.version.seq) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.version.seq);
            }
        }
    }
}
