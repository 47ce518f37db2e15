//! A compact search index of a node's sorted keys, in one allocation: the
//! prefix all keys share, then per key a 16-byte "head" of what follows
//! it: the next 15 bytes, zero-padded, and a last byte `min(length, 16)` of
//! that rest.
//!
//! Binary search over the heads reads one contiguous array instead of
//! following a pointer to every key it probes (each a likely cache miss in a
//! tree larger than the CPU caches). Keys are compared in full only among
//! equal heads whose rest is longer than 15 bytes.
//!
//! Order: `head(a) < head(b)` implies `a < b` (zero padding keeps byte
//! order, and where the padded bytes tie, a key that ended inside them is a
//! prefix of the other, so the shorter is smaller, as the length byte
//! says). Equal heads with a length byte below 16 mean equal keys (same
//! length, every byte in the head); equal heads of rests longer than 15
//! bytes decide nothing, hence the full comparison among them.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

/// Bytes of one head.
const HEAD: usize = 16;
/// Key bytes in a head (the last byte is the length).
const WINDOW: usize = HEAD - 1;

/// The search index of a node's keys (sorted, strictly increasing).
#[derive(Clone, Debug)]
pub(crate) struct KeyHeads {
    /// The common prefix, then `HEAD` bytes per key, in key order. Shared
    /// by the copies a put makes of the nodes on its path (most keep their
    /// keys, so their index too).
    bytes: Arc<[u8]>,
    prefix_len: usize,
}

/// The head of `rest` (a key without the common prefix).
fn head(rest: &[u8]) -> [u8; HEAD] {
    let mut head = [0u8; HEAD];
    let n = rest.len().min(WINDOW);
    head[..n].copy_from_slice(&rest[..n]);
    head[WINDOW] = rest.len().min(HEAD) as u8;
    head
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl KeyHeads {
    /// The index of `keys` (sorted, strictly increasing).
    pub(crate) fn new<'k>(keys: impl ExactSizeIterator<Item = &'k Bytes> + Clone) -> Self {
        let mut all = keys.clone();
        let prefix: &[u8] = match (all.next(), all.last()) {
            (Some(first), Some(last)) => &first[..common_prefix_len(first, last)],
            // One key (or none): its whole self is the common prefix.
            (Some(only), None) => only,
            (None, _) => &[],
        };
        let mut bytes = Vec::with_capacity(prefix.len() + HEAD * keys.len());
        bytes.extend_from_slice(prefix);
        for key in keys {
            bytes.extend_from_slice(&head(&key[prefix.len()..]));
        }
        KeyHeads {
            bytes: bytes.into(),
            prefix_len: prefix.len(),
        }
    }

    /// Bytes a key adds to an index.
    pub(crate) const HEAD_BYTES: usize = HEAD;

    /// Bytes of memory the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Keys indexed.
    pub(crate) fn len(&self) -> usize {
        (self.bytes.len() - self.prefix_len) / HEAD
    }

    /// The head of key `index`, as a number that orders like its bytes.
    fn head_at(&self, index: usize) -> u128 {
        let at = self.prefix_len + HEAD * index;
        let mut head = [0u8; HEAD];
        head.copy_from_slice(&self.bytes[at..at + HEAD]);
        u128::from_be_bytes(head)
    }

    /// As `slice::binary_search` over the keys: `Ok(index)` of `key`, or
    /// `Err(index)` where it would be inserted. `key_at(i)` is the i-th key
    /// the index was built from.
    pub(crate) fn search<'n>(
        &self,
        key: &[u8],
        key_at: impl Fn(usize) -> &'n [u8],
    ) -> Result<usize, usize> {
        let p = self.prefix_len;
        let shared = key.len().min(p);
        match key[..shared].cmp(&self.bytes[..shared]) {
            Ordering::Less => return Err(0),
            Ordering::Greater => return Err(self.len()),
            // A proper prefix of the common prefix: below every key.
            Ordering::Equal if key.len() < p => return Err(0),
            Ordering::Equal => {}
        }
        let h = head(&key[p..]);
        let whole_rest = usize::from(h[WINDOW]) < HEAD;
        let h = u128::from_be_bytes(h);
        let lo = partition_point(0, self.len(), |i| self.head_at(i) < h);
        let hi = partition_point(lo, self.len(), |i| self.head_at(i) == h);
        if whole_rest {
            // The whole rest is in the head: equal heads, equal keys.
            return if lo < hi { Ok(lo) } else { Err(lo) };
        }
        let (mut lo, mut hi) = (lo, hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match key_at(mid).cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

/// The first index in `lo..hi` where `pred` is false (`pred` true on a
/// prefix of the range, false after).
fn partition_point(mut lo: usize, mut hi: usize, pred: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(keys: &[Bytes], probe: &[u8]) {
        let heads = KeyHeads::new(keys.iter());
        let expected = keys.binary_search_by(|k| k.as_ref().cmp(probe));
        let got = heads.search(probe, |i| keys[i].as_ref());
        assert_eq!(got, expected, "keys {keys:?}, probe {probe:?}");
    }

    fn sorted(raw: Vec<Vec<u8>>) -> Vec<Bytes> {
        let set: std::collections::BTreeSet<Vec<u8>> = raw.into_iter().collect();
        set.into_iter().map(Bytes::from).collect()
    }

    #[test]
    fn edge_cases() {
        let keys = sorted(vec![
            b"ab".to_vec(),
            b"ab\0".to_vec(),
            b"ab\0\0\0\0\0\0\0\0\0".to_vec(),
            b"ab\0\0\0\0\0\0\0\0\x01".to_vec(),
            b"abc".to_vec(),
        ]);
        for probe in [
            &b""[..],
            b"a",
            b"ab",
            b"ab\0",
            b"ab\0\0",
            b"ab\0\0\0\0\0\0\0\0\0",
            b"ab\0\0\0\0\0\0\0\0\0\0",
            b"ab\0\0\0\0\0\0\0\0\x01",
            b"abb",
            b"abc",
            b"abd",
            b"b",
        ] {
            check(&keys, probe);
        }
        let long = sorted(
            (0..40u8)
                .map(|i| [b"0123456789abcdef".as_slice(), &[i % 5, i]].concat())
                .collect(),
        );
        for probe in [
            &b"0123456789abcde"[..],
            b"0123456789abcdef",
            b"0123456789abcdef",
            b"0123456789abcdef",
            b"1",
        ] {
            check(&long, probe);
        }
        check(&[], b"x");
        check(&[Bytes::from_static(b"only")], b"onl");
        check(&[Bytes::from_static(b"only")], b"only");
        check(&[Bytes::from_static(b"only")], b"only!");
        check(&[Bytes::from_static(b"only")], b"");
    }

    proptest! {
        #[test]
        fn matches_binary_search(
            raw in prop::collection::vec(prop::collection::vec(0u8..4, 0..20), 0..40),
            prefix in prop::collection::vec(any::<u8>(), 0..6),
            probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..20), 1..20),
        ) {
            let with_prefix = |k: &Vec<u8>| [prefix.as_slice(), k].concat();
            let keys = sorted(raw.iter().map(with_prefix).collect());
            for p in &probes {
                check(&keys, &with_prefix(p));
                check(&keys, p);
            }
            for k in &keys {
                check(&keys, k);
            }
        }
    }
}
