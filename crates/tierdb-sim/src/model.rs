//! The reference model: a sorted map, the write operations the workloads
//! issue, and reads of the database in the same shape as the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use tierdb::{Db, Iter, Snapshot};

/// The reference model of the database contents.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A range of keys with owned bounds.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// One write of a commit, as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set a key.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Delete(Vec<u8>),
    /// Remove every key in a range that exists when the commit applies.
    DeleteRange(KeyRange),
}

/// What a commit wrote, as conflict detection sees it: keys put or
/// deleted, and ranges deleted (a range delete counts as a write of every
/// key in its range, present or not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Keys put or deleted.
    pub keys: BTreeSet<Vec<u8>>,
    /// Non-empty ranges deleted.
    pub ranges: Vec<KeyRange>,
}

impl Footprint {
    /// True if the commit writes nothing (and so takes no sequence).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }

    /// Whether it wrote `key`.
    pub fn touches_key(&self, key: &[u8]) -> bool {
        self.keys.contains(key) || self.ranges.iter().any(|r| range_contains(r, key))
    }

    /// Whether it wrote a key in `r`.
    pub fn touches_range(&self, r: &KeyRange) -> bool {
        self.keys.iter().any(|k| range_contains(r, k))
            || self.ranges.iter().any(|d| ranges_overlap(d, r))
    }
}

/// Applies `ops` in order to `model`; returns what they wrote.
pub fn apply(model: &mut Model, ops: &[Op]) -> Footprint {
    let mut written = Footprint::default();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                model.insert(k.clone(), v.clone());
                written.keys.insert(k.clone());
            }
            Op::Delete(k) => {
                model.remove(k);
                written.keys.insert(k.clone());
            }
            Op::DeleteRange(r) if !range_is_empty(&r.0, &r.1) => {
                let gone: Vec<Vec<u8>> = range_keys(model, r).cloned().collect();
                for k in gone {
                    model.remove(&k);
                }
                written.ranges.push(r.clone());
            }
            Op::DeleteRange(_) => {}
        }
    }
    written
}

/// Whether some key lies in both ranges.
pub fn ranges_overlap(a: &KeyRange, b: &KeyRange) -> bool {
    fn tighter_lo<'a>(x: &'a Bound<Vec<u8>>, y: &'a Bound<Vec<u8>>) -> &'a Bound<Vec<u8>> {
        match (x, y) {
            (Bound::Unbounded, _) => y,
            (_, Bound::Unbounded) => x,
            (Bound::Included(p) | Bound::Excluded(p), Bound::Included(q) | Bound::Excluded(q)) => {
                if p > q || (p == q && matches!(x, Bound::Excluded(_))) {
                    x
                } else {
                    y
                }
            }
        }
    }
    fn tighter_hi<'a>(x: &'a Bound<Vec<u8>>, y: &'a Bound<Vec<u8>>) -> &'a Bound<Vec<u8>> {
        match (x, y) {
            (Bound::Unbounded, _) => y,
            (_, Bound::Unbounded) => x,
            (Bound::Included(p) | Bound::Excluded(p), Bound::Included(q) | Bound::Excluded(q)) => {
                if p < q || (p == q && matches!(x, Bound::Excluded(_))) {
                    x
                } else {
                    y
                }
            }
        }
    }
    !range_is_empty(tighter_lo(&a.0, &b.0), tighter_hi(&a.1, &b.1))
}

/// True if no key can lie in `(lo, hi)` (`BTreeMap::range` would panic).
pub fn range_is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// Whether `key` lies in `r`.
pub fn range_contains(r: &KeyRange, key: &[u8]) -> bool {
    let above = match &r.0 {
        Bound::Included(a) => key >= a.as_slice(),
        Bound::Excluded(a) => key > a.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match &r.1 {
        Bound::Included(b) => key <= b.as_slice(),
        Bound::Excluded(b) => key < b.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

fn range_keys<'a>(model: &'a Model, r: &KeyRange) -> impl Iterator<Item = &'a Vec<u8>> {
    let items = if range_is_empty(&r.0, &r.1) {
        None
    } else {
        Some(model.range(r.clone()).map(|(k, _)| k))
    };
    items.into_iter().flatten()
}

/// A scan: a range, a direction and how many entries to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The keys scanned.
    pub range: KeyRange,
    /// Read from the high end down.
    pub reverse: bool,
    /// Stop after this many entries (the iterator is dropped early).
    pub limit: usize,
}

/// Entries a scan returns: key/value pairs in scan order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl Scan {
    /// What the scan returns from `model`.
    pub fn on_model(&self, model: &Model) -> Entries {
        if range_is_empty(&self.range.0, &self.range.1) {
            Vec::new()
        } else {
            let it = model.range(self.range.clone());
            let pairs: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = if self.reverse {
                Box::new(it.rev())
            } else {
                Box::new(it)
            };
            pairs
                .take(self.limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
    }

    fn borrowed(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (borrow(&self.range.0), borrow(&self.range.1))
    }

    /// What the scan returns from the database now.
    pub fn on_db(&self, db: &Db) -> tierdb::Result<Entries> {
        self.collect(db.range(self.borrowed())?)
    }

    /// What the scan returns from a snapshot.
    pub fn on_snapshot(&self, snap: &Snapshot) -> tierdb::Result<Entries> {
        self.collect(snap.range(self.borrowed())?)
    }

    /// What the scan returns inside a transaction (own writes included).
    pub fn on_txn(&self, txn: &mut tierdb::Txn) -> tierdb::Result<Entries> {
        self.collect(txn.range(self.borrowed())?)
    }

    /// Takes the scan's entries from an iterator over its range.
    pub fn collect(&self, iter: Iter) -> tierdb::Result<Entries> {
        let mut out = Vec::new();
        let pairs: Box<dyn Iterator<Item = _>> = if self.reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        for item in pairs.take(self.limit) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

/// Borrowed form of an owned bound, as `Db::range` takes it.
pub fn borrow(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Everything in the database, read forward; and checks that a reverse
/// scan of the whole key space returns the same entries backwards.
pub fn read_all(db: &Db) -> Result<Model, String> {
    let all = Scan {
        range: (Bound::Unbounded, Bound::Unbounded),
        reverse: false,
        limit: usize::MAX,
    };
    let forward = all.on_db(db).map_err(|e| format!("full scan: {e}"))?;
    let mut backward = Scan {
        reverse: true,
        ..all
    }
    .on_db(db)
    .map_err(|e| format!("full reverse scan: {e}"))?;
    backward.reverse();
    if backward != forward {
        return Err(format!(
            "reverse scan disagrees with forward scan ({} vs {} entries)",
            backward.len(),
            forward.len()
        ));
    }
    Ok(forward.into_iter().collect())
}

/// The first few keys on which two states differ, for messages.
pub fn diff_keys(expected: &Model, got: &Model) -> Vec<String> {
    expected
        .keys()
        .chain(got.keys())
        .filter(|k| expected.get(*k) != got.get(*k))
        .take(4)
        .map(|k| {
            format!(
                "{} (expected {:?}, got {:?})",
                String::from_utf8_lossy(k),
                expected.get(k).map(|v| short(v)),
                got.get(k).map(|v| short(v))
            )
        })
        .collect()
}

/// Debug output with byte lists that are printable ASCII (keys) shown as
/// strings.
pub fn readable(debug: &str) -> String {
    let mut out = String::new();
    let mut rest = debug;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find(']').unwrap_or(after.len());
        let bytes: Option<Vec<u8>> = after[..close]
            .split(", ")
            .map(|b| b.parse::<u8>().ok().filter(|b| b.is_ascii_graphic()))
            .collect();
        match bytes {
            Some(b) if close > 0 => {
                out.push_str(&format!("{:?}", String::from_utf8_lossy(&b)));
                rest = &after[(close + 1).min(after.len())..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A value shortened for messages.
pub fn short(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    if s.len() > 24 {
        format!(
            "{}…({} bytes)",
            s.chars().take(24).collect::<String>(),
            v.len()
        )
    } else {
        s.into_owned()
    }
}

/// A value of `len` bytes that encodes `key` and `version`, so that a value
/// found under the wrong key or from the wrong commit is recognised.
pub fn value_for(key: &[u8], version: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{}@{version}:", String::from_utf8_lossy(key)).into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v
}
