//! Range deletes on their way to the tiers: user bounds turned into the
//! half-open `[start, end)` form `WriteOp::DeleteRange` takes, and cut
//! into one piece per partition the range meets (partitions are key
//! ranges, so each piece stays inside its partition). Used at commit and
//! again at WAL replay, where the layout may differ from the one the
//! record was written under.

use std::ops::Bound;

use bytes::Bytes;
use tierdb_tier::{WriteOp, range_is_empty};

/// `key` followed by a zero byte: the smallest key greater than `key`.
fn successor(key: &Bytes) -> Bytes {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    Bytes::from(next)
}

/// `(lo, hi)` as `[start, end)` (`end = None`: no upper end), or `None`
/// if it holds no key.
pub(crate) fn half_open(lo: &Bound<Bytes>, hi: &Bound<Bytes>) -> Option<(Bytes, Option<Bytes>)> {
    let start = match lo {
        Bound::Included(k) => k.clone(),
        Bound::Excluded(k) => successor(k),
        Bound::Unbounded => Bytes::new(),
    };
    let end = match hi {
        Bound::Included(k) => Some(successor(k)),
        Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    (!range_is_empty(&start, end.as_deref())).then_some((start, end))
}

/// The pieces of `[start, end)` per partition, for partitions starting at
/// `starts` (sorted, the first at the empty key): `(partition index, op)`.
pub(crate) fn clip(starts: &[&Bytes], start: &Bytes, end: Option<&Bytes>) -> Vec<(usize, WriteOp)> {
    let first = starts
        .partition_point(|s| s.as_ref() <= start.as_ref())
        .saturating_sub(1);
    let mut pieces = Vec::new();
    for i in first..starts.len() {
        let p_start = starts[i];
        if end.is_some_and(|e| e.as_ref() <= p_start.as_ref()) {
            break;
        }
        let p_end = starts.get(i + 1).copied();
        let piece_start = if p_start > start { p_start } else { start };
        let piece_end = match (end, p_end) {
            (None, e) | (e, None) => e,
            (Some(a), Some(b)) => Some(if a < b { a } else { b }),
        };
        if !range_is_empty(piece_start, piece_end.map(|e| e.as_ref())) {
            pieces.push((
                i,
                WriteOp::DeleteRange {
                    start: piece_start.clone(),
                    end: piece_end.cloned(),
                },
            ));
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn bounds_become_half_open() {
        let inc = |s| Bound::Included(b(s));
        let exc = |s| Bound::Excluded(b(s));
        assert_eq!(
            half_open(&inc("a"), &exc("c")),
            Some((b("a"), Some(b("c"))))
        );
        assert_eq!(
            half_open(&exc("a"), &inc("c")),
            Some((b("a\0"), Some(b("c\0"))))
        );
        assert_eq!(
            half_open(&Bound::Unbounded, &Bound::Unbounded),
            Some((b(""), None))
        );
        assert_eq!(half_open(&inc("c"), &exc("c")), None);
        assert_eq!(half_open(&inc("d"), &inc("c")), None);
    }

    #[test]
    fn clipped_per_partition() {
        let (p0, p1, p2) = (b(""), b("g"), b("p"));
        let starts = [&p0, &p1, &p2];
        let pieces = clip(&starts, &b("c"), Some(&b("r")));
        let ranges: Vec<(usize, WriteOp)> = vec![
            (
                0,
                WriteOp::DeleteRange {
                    start: b("c"),
                    end: Some(b("g")),
                },
            ),
            (
                1,
                WriteOp::DeleteRange {
                    start: b("g"),
                    end: Some(b("p")),
                },
            ),
            (
                2,
                WriteOp::DeleteRange {
                    start: b("p"),
                    end: Some(b("r")),
                },
            ),
        ];
        assert_eq!(pieces, ranges);
        assert_eq!(clip(&starts, &b("h"), Some(&b("i"))).len(), 1);
        assert_eq!(clip(&starts, &b("h"), Some(&b("p"))).len(), 1);
        assert_eq!(clip(&starts, &b("p"), None).len(), 1);
        assert_eq!(clip(&starts, &b(""), None).len(), 3);
    }
}
