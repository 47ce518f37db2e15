//! Range tombstones at read and merge time: fragmenting and coverage.
//!
//! Tombstones may overlap each other arbitrarily (as written, and after
//! being cut at table boundaries). Like RocksDB and Pebble, we *fragment*
//! them: cut every tombstone at every other tombstone's start and end, so
//! the result is a sorted list of non-overlapping fragments `[start, end)`,
//! each carrying the sequences of the tombstones that cover it. A fragment
//! is what tables store and what readers search (binary search by start).
//!
//! A version `v` of key `k` is hidden from a read at sequence `S` if some
//! tombstone `t` covers `k` with `v.seq < t.seq <= S`; so a reader only
//! needs, per fragment, the largest sequence `<= S` ([`Coverage`]). A
//! flush or compaction with horizon `h` (see `retain.rs`) keeps every
//! sequence above `h` and the largest at or below it: every later reader
//! reads at `>= h`, so for it the older ones are implied by that one.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::entry::RangeTombstone;

/// A piece of the key space `[start, end)` and the sequences of the
/// tombstones covering it, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fragment {
    pub(crate) start: Bytes,
    pub(crate) end: Option<Bytes>,
    pub(crate) seqs: Vec<u64>,
}

/// `end` as an upper bound where `None` is infinity.
fn end_le(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

/// Fragments `tombstones` (any order), keeping per fragment the sequences
/// above `horizon` and the largest at or below it.
pub(crate) fn fragment(
    tombstones: impl IntoIterator<Item = RangeTombstone>,
    horizon: u64,
) -> Vec<Fragment> {
    let mut list: Vec<RangeTombstone> = tombstones
        .into_iter()
        .filter(|t| !tierdb_tier::range_is_empty(&t.start, t.end.as_deref()))
        .collect();
    if list.is_empty() {
        return Vec::new();
    }
    list.sort_by(|a, b| a.start.cmp(&b.start));
    // Every start and finite end is a cut point.
    let mut cuts: Vec<Bytes> = list
        .iter()
        .flat_map(|t| std::iter::once(t.start.clone()).chain(t.end.clone()))
        .collect();
    cuts.sort();
    cuts.dedup();
    // Sweep: `active` maps end (None last) -> sequences of tombstones open.
    let mut active: BTreeMap<EndKey, Vec<u64>> = BTreeMap::new();
    let mut next = 0;
    let mut out: Vec<Fragment> = Vec::new();
    for (i, cut) in cuts.iter().enumerate() {
        while active
            .first_key_value()
            .is_some_and(|(end, _)| end.0.as_ref().is_some_and(|e| e <= cut))
        {
            active.pop_first();
        }
        while let Some(t) = list.get(next).filter(|t| t.start == *cut) {
            active.entry(EndKey(t.end.clone())).or_default().push(t.seq);
            next += 1;
        }
        if active.is_empty() {
            continue;
        }
        let mut seqs: Vec<u64> = active.values().flatten().copied().collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        if let Some(at) = seqs.iter().position(|&s| s <= horizon) {
            seqs.truncate(at + 1);
        }
        let end = cuts.get(i + 1).cloned();
        // The last cut is only open-ended if some active tombstone is.
        let end = match end {
            Some(e) => Some(e),
            None if active.contains_key(&EndKey(None)) => None,
            None => continue,
        };
        push_merged(
            &mut out,
            Fragment {
                start: cut.clone(),
                end,
                seqs,
            },
        );
    }
    out
}

/// Appends `f`, merging it into the previous fragment when they touch and
/// carry the same sequences.
fn push_merged(out: &mut Vec<Fragment>, f: Fragment) {
    if let Some(last) = out.last_mut()
        && last.seqs == f.seqs
        && last.end.as_ref() == Some(&f.start)
    {
        last.end = f.end;
        return;
    }
    out.push(f);
}

/// An end bound ordered with `None` (no end) last.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EndKey(Option<Bytes>);

impl Ord for EndKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (&self.0, &other.0) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for EndKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The fragments back as tombstones (one per fragment and sequence), in
/// start order: what a table stores.
pub(crate) fn to_tombstones(fragments: &[Fragment]) -> Vec<RangeTombstone> {
    fragments
        .iter()
        .flat_map(|f| {
            f.seqs.iter().map(|&seq| RangeTombstone {
                start: f.start.clone(),
                end: f.end.clone(),
                seq,
            })
        })
        .collect()
}

/// Splits `fragments` at `cut`: returns the parts below `cut` and leaves
/// the parts at or above it in `fragments`.
pub(crate) fn split_below(fragments: &mut Vec<Fragment>, cut: &[u8]) -> Vec<Fragment> {
    let below = fragments.partition_point(|f| f.start.as_ref() < cut);
    let mut head: Vec<Fragment> = fragments.drain(..below).collect();
    if let Some(last) = head.last_mut()
        && !end_le(last.end.as_deref(), Some(cut))
    {
        fragments.insert(
            0,
            Fragment {
                start: Bytes::copy_from_slice(cut),
                end: last.end.take(),
                seqs: last.seqs.clone(),
            },
        );
        last.end = Some(Bytes::copy_from_slice(cut));
    }
    head
}

/// What a read at one sequence must hide: non-overlapping fragments, each
/// with the largest tombstone sequence that read sees.
#[derive(Clone, Debug, Default)]
pub(crate) struct Coverage {
    fragments: Vec<Fragment>,
}

impl Coverage {
    /// The tombstones visible at `seq` among `tombstones`.
    pub(crate) fn new(tombstones: impl IntoIterator<Item = RangeTombstone>, seq: u64) -> Self {
        let visible = tombstones.into_iter().filter(|t| t.seq <= seq);
        Coverage {
            fragments: fragment(visible, seq),
        }
    }

    /// True if there is nothing to hide.
    pub(crate) fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// The largest sequence of a visible tombstone covering `key`, 0 if none:
    /// versions of `key` below it are hidden.
    pub(crate) fn covering_seq(&self, key: &[u8]) -> u64 {
        let i = self.fragments.partition_point(|f| f.start.as_ref() <= key);
        let Some(f) = i.checked_sub(1).and_then(|i| self.fragments.get(i)) else {
            return 0;
        };
        let inside = f.end.as_ref().is_none_or(|e| key < e.as_ref());
        if inside {
            f.seqs.first().copied().unwrap_or(0)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(start: &str, end: Option<&str>, seq: u64) -> RangeTombstone {
        RangeTombstone {
            start: Bytes::copy_from_slice(start.as_bytes()),
            end: end.map(|e| Bytes::copy_from_slice(e.as_bytes())),
            seq,
        }
    }

    /// Brute force: the largest seq <= s among tombstones covering key.
    fn brute(list: &[RangeTombstone], key: &str, s: u64) -> u64 {
        list.iter()
            .filter(|t| t.seq <= s && t.covers(key.as_bytes()))
            .map(|t| t.seq)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn coverage_matches_brute_force() {
        let list = vec![
            t("b", Some("f"), 5),
            t("d", Some("k"), 3),
            t("a", Some("c"), 9),
            t("j", None, 2),
            t("e", Some("e"), 8),
            t("m", Some("p"), 7),
        ];
        let keys = [
            "", "a", "b", "c", "cc", "d", "e", "f", "g", "j", "k", "m", "o", "p", "z",
        ];
        for s in 0..11 {
            let cov = Coverage::new(list.clone(), s);
            for k in keys {
                assert_eq!(
                    cov.covering_seq(k.as_bytes()),
                    brute(&list, k, s),
                    "key {k} at {s}"
                );
            }
        }
    }

    #[test]
    fn fragments_are_disjoint_and_split_keeps_coverage() {
        let list = vec![t("b", Some("f"), 5), t("d", Some("k"), 3), t("j", None, 2)];
        let mut frags = fragment(list.clone(), u64::MAX);
        for pair in frags.windows(2) {
            assert!(pair[0].end.as_ref().is_some_and(|e| *e <= pair[1].start));
        }
        let head = split_below(&mut frags, b"e");
        assert_eq!(head.last().unwrap().end.as_deref(), Some(&b"e"[..]));
        assert_eq!(frags.first().unwrap().start.as_ref(), b"e");
        let stored: Vec<RangeTombstone> = to_tombstones(&head)
            .into_iter()
            .chain(to_tombstones(&frags))
            .collect();
        for k in ["a", "b", "d", "e", "g", "j", "k", "z"] {
            assert_eq!(brute(&stored, k, 10), brute(&list, k, 10), "key {k}");
        }
    }

    #[test]
    fn horizon_keeps_newer_and_the_newest_older() {
        let frags = fragment(
            vec![
                t("a", Some("z"), 3),
                t("a", Some("z"), 5),
                t("a", Some("z"), 9),
            ],
            6,
        );
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0].seqs, vec![9, 5]);
    }
}
