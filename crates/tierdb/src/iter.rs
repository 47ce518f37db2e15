//! Iterators: per-partition iterators concatenated in key order, optionally
//! overlaid with a transaction's own uncommitted writes.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Bound;

use bytes::Bytes;
use tierdb_tier::TierIter;

use crate::Result;
use crate::db::Db;

type Entry = (Bytes, Bytes);

/// A double-ended iterator over `(key, value)` pairs in key order, as of the
/// snapshot it was created from. Items are `Result`s: a damaged page yields
/// one `Err` and then the iterator ends. After `Db::close` it yields
/// `Err(Error::Closed)`.
pub struct Iter {
    db: Db,
    inner: Inner,
    done: bool,
}

/// What an [`Iter`] walks: a snapshot's partitions directly (no box and no
/// dynamic call per item: scans are short, so both show), or anything else
/// (a transaction's overlaid view) boxed.
pub(crate) enum Inner {
    Partitions(ConcatIter),
    Boxed(Box<dyn DoubleEndedIterator<Item = Result<Entry>> + Send>),
}

impl Iter {
    pub(crate) fn new(db: Db, inner: Inner) -> Self {
        Iter {
            db,
            inner,
            done: false,
        }
    }

    fn step(&mut self, item: Option<Result<Entry>>) -> Option<Result<Entry>> {
        if let Err(e) = self.db.check_open() {
            self.done = true;
            return Some(Err(e));
        }
        match item {
            None => {
                self.done = true;
                None
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            ok => ok,
        }
    }
}

impl Iterator for Iter {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.inner {
            Inner::Partitions(parts) => parts.next(),
            Inner::Boxed(inner) => inner.next(),
        };
        self.step(item)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.inner {
            Inner::Partitions(parts) => parts.next_back(),
            Inner::Boxed(inner) => inner.next_back(),
        };
        self.step(item)
    }
}

/// Per-partition iterators over disjoint, ordered key ranges, walked as one.
pub(crate) struct ConcatIter {
    parts: VecDeque<TierIter>,
}

impl ConcatIter {
    pub fn new(parts: Vec<TierIter>) -> Self {
        ConcatIter {
            parts: parts.into(),
        }
    }
}

impl Iterator for ConcatIter {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.parts.front_mut()?.next();
            match item {
                Some(item) => return Some(item),
                None => {
                    self.parts.pop_front();
                }
            }
        }
    }
}

impl DoubleEndedIterator for ConcatIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.parts.back_mut()?.next_back();
            match item {
                Some(item) => return Some(item),
                None => {
                    self.parts.pop_back();
                }
            }
        }
    }
}

/// A base iterator with a transaction's writes laid over it: an overlay
/// entry replaces the base entry of the same key; `None` hides it.
pub(crate) struct OverlayIter<I> {
    base: I,
    base_front: Option<Entry>,
    base_back: Option<Entry>,
    overlay: VecDeque<(Bytes, Option<Bytes>)>,
}

impl<I: DoubleEndedIterator<Item = Result<Entry>>> OverlayIter<I> {
    pub fn new(base: I, overlay: Vec<(Bytes, Option<Bytes>)>) -> Self {
        OverlayIter {
            base,
            base_front: None,
            base_back: None,
            overlay: overlay.into(),
        }
    }

    fn fill_front(&mut self) -> Result<()> {
        if self.base_front.is_none() {
            self.base_front = match self.base.next() {
                Some(item) => Some(item?),
                None => self.base_back.take(),
            };
        }
        Ok(())
    }

    fn fill_back(&mut self) -> Result<()> {
        if self.base_back.is_none() {
            self.base_back = match self.base.next_back() {
                Some(item) => Some(item?),
                None => self.base_front.take(),
            };
        }
        Ok(())
    }
}

impl<I: DoubleEndedIterator<Item = Result<Entry>>> Iterator for OverlayIter<I> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Err(e) = self.fill_front() {
                return Some(Err(e));
            }
            let order = match (&self.base_front, self.overlay.front()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (Some((bk, _)), Some((ok, _))) => ok.cmp(bk),
            };
            if order == Ordering::Equal {
                self.base_front = None;
            }
            let take_overlay = order != Ordering::Greater;
            if !take_overlay {
                return self.base_front.take().map(Ok);
            }
            if let Some((key, Some(value))) = self.overlay.pop_front() {
                return Some(Ok((key, value)));
            }
        }
    }
}

impl<I: DoubleEndedIterator<Item = Result<Entry>>> DoubleEndedIterator for OverlayIter<I> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            if let Err(e) = self.fill_back() {
                return Some(Err(e));
            }
            let order = match (&self.base_back, self.overlay.back()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((bk, _)), Some((ok, _))) => ok.cmp(bk),
            };
            if order == Ordering::Equal {
                self.base_back = None;
            }
            let take_overlay = order != Ordering::Less;
            if !take_overlay {
                return self.base_back.take().map(Ok);
            }
            if let Some((key, Some(value))) = self.overlay.pop_back() {
                return Some(Ok((key, value)));
            }
        }
    }
}

/// Turns any `RangeBounds<&[u8]>` into owned bounds.
pub(crate) fn owned_bounds<'k>(
    range: &impl std::ops::RangeBounds<&'k [u8]>,
) -> (Bound<Bytes>, Bound<Bytes>) {
    let own = |b: Bound<&&[u8]>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k)),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// `BTreeMap::range` panics on inverted or empty-exclusive bounds; such a
/// range holds no keys.
pub(crate) fn is_empty_range(lo: &Bound<Bytes>, hi: &Bound<Bytes>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// The bounds of every key starting with `prefix`.
pub(crate) fn prefix_bounds(prefix: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
    let lower = Bound::Included(Bytes::copy_from_slice(prefix));
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return (lower, Bound::Excluded(end.into()));
        }
    }
    (lower, Bound::Unbounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(k: &str, v: &str) -> Entry {
        (
            Bytes::copy_from_slice(k.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        )
    }

    fn overlay(items: &[(&str, Option<&str>)]) -> Vec<(Bytes, Option<Bytes>)> {
        items
            .iter()
            .map(|(k, v)| {
                (
                    Bytes::copy_from_slice(k.as_bytes()),
                    v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect()
    }

    fn base() -> Vec<Result<Entry>> {
        vec![Ok(e("a", "1")), Ok(e("c", "3")), Ok(e("e", "5"))]
    }

    #[test]
    fn overlay_replaces_hides_and_inserts_both_ways() {
        let ov = overlay(&[
            ("b", Some("2")),
            ("c", None),
            ("e", Some("50")),
            ("f", Some("6")),
        ]);
        let fwd: Vec<_> = OverlayIter::new(base().into_iter(), ov.clone())
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            fwd,
            vec![e("a", "1"), e("b", "2"), e("e", "50"), e("f", "6")]
        );
        let mut rev: Vec<_> = OverlayIter::new(base().into_iter(), ov.clone())
            .rev()
            .map(|r| r.unwrap())
            .collect();
        rev.reverse();
        assert_eq!(rev, fwd);
        // Mixed directions meet in the middle without loss or duplication.
        let mut it = OverlayIter::new(base().into_iter(), ov);
        let mut got = vec![
            it.next().unwrap().unwrap(),
            it.next_back().unwrap().unwrap(),
        ];
        got.extend(it.map(|r| r.unwrap()));
        got.sort();
        assert_eq!(
            got,
            vec![e("a", "1"), e("b", "2"), e("e", "50"), e("f", "6")]
        );
    }

    #[test]
    fn prefix_bounds_handle_0xff() {
        assert_eq!(
            prefix_bounds(b"ab").1,
            Bound::Excluded(Bytes::from_static(b"ac"))
        );
        assert_eq!(
            prefix_bounds(b"a\xff").1,
            Bound::Excluded(Bytes::from_static(b"b"))
        );
        assert_eq!(prefix_bounds(b"\xff\xff").1, Bound::Unbounded);
        assert_eq!(prefix_bounds(b"").1, Bound::Unbounded);
    }
}
