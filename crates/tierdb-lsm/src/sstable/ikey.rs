//! Internal keys as stored in blocks: the user key followed by a 9-byte
//! trailer, `!seq` as a big-endian `u64` and then the kind byte.
//!
//! Internal order is user key ascending, then sequence descending. Storing
//! `!seq` big-endian makes the trailer sort bytewise in that order too, but
//! the whole internal key is compared as (user key, then trailer), never as
//! one byte string, because a user key may be a prefix of another.

use std::cmp::Ordering;

use crate::entry::{EntryKind, internal_cmp};

use super::coding::Reason;

/// Length of the trailer after the user key.
pub(crate) const TRAILER_BYTES: usize = 9;

const KIND_DELETE: u8 = 0;
const KIND_PUT: u8 = 1;

/// Appends the internal key of (`key`, `seq`, `kind`) to `out`.
pub(crate) fn encode_into(out: &mut Vec<u8>, key: &[u8], seq: u64, kind: EntryKind) {
    out.extend_from_slice(key);
    out.extend_from_slice(&(!seq).to_be_bytes());
    out.push(kind_byte(kind));
}

/// The internal key of (`key`, `seq`, `kind`).
pub(crate) fn encode(key: &[u8], seq: u64, kind: EntryKind) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + TRAILER_BYTES);
    encode_into(&mut out, key, seq, kind);
    out
}

/// The kind tag stored in the trailer.
pub(crate) fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Delete => KIND_DELETE,
        EntryKind::Put => KIND_PUT,
    }
}

/// A decoded internal key borrowing the user key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParsedKey<'a> {
    pub(crate) user_key: &'a [u8],
    pub(crate) seq: u64,
    pub(crate) kind: EntryKind,
}

/// Splits and checks an internal key.
pub(crate) fn parse(ikey: &[u8]) -> Result<ParsedKey<'_>, Reason> {
    let split = ikey
        .len()
        .checked_sub(TRAILER_BYTES)
        .ok_or("internal key shorter than its trailer")?;
    let (user_key, trailer) = ikey.split_at_checked(split).ok_or("bad internal key")?;
    let (seq_bytes, kind_bytes) = trailer.split_at_checked(8).ok_or("bad trailer")?;
    let seq_bytes = <[u8; 8]>::try_from(seq_bytes).map_err(|_| "bad trailer")?;
    let kind = match kind_bytes {
        [KIND_DELETE] => EntryKind::Delete,
        [KIND_PUT] => EntryKind::Put,
        _ => return Err("unknown entry kind"),
    };
    let seq = !u64::from_be_bytes(seq_bytes);
    Ok(ParsedKey {
        user_key,
        seq,
        kind,
    })
}

/// Compares two internal keys in internal order. Keys that do not parse
/// (never produced by the block decoder, which checks every key) compare
/// by their raw bytes, so the function is total and never panics.
pub(crate) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => internal_cmp(a.user_key, a.seq, b.user_key, b.seq),
        _ => a.cmp(b),
    }
}

/// An internal key parsed once, to compare many keys against (binary
/// searches over index entries and restart points).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeekKey<'a> {
    raw: &'a [u8],
    parsed: Option<ParsedKey<'a>>,
}

impl<'a> SeekKey<'a> {
    /// `raw`, parsed once.
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            parsed: parse(raw).ok(),
        }
    }

    /// The user key, if the key parses.
    pub(crate) fn user_key(&self) -> Option<&'a [u8]> {
        self.parsed.map(|p| p.user_key)
    }

    /// `compare(key, self.raw())`, parsing only `key`.
    pub(crate) fn compare_key(&self, key: &[u8]) -> Ordering {
        match (parse(key), self.parsed) {
            (Ok(a), Some(b)) => internal_cmp(a.user_key, a.seq, b.user_key, b.seq),
            _ => key.cmp(self.raw),
        }
    }

    /// `compare(key, self.raw())` for a key already split into its user
    /// key and sequence.
    pub(crate) fn compare_parsed(&self, user_key: &[u8], seq: u64, key: &[u8]) -> Ordering {
        match self.parsed {
            Some(b) => internal_cmp(user_key, seq, b.user_key, b.seq),
            None => key.cmp(self.raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = encode(b"ab", 7, EntryKind::Put);
        let parsed = parse(&a).unwrap();
        assert_eq!(parsed.user_key, b"ab");
        assert_eq!(parsed.seq, 7);
        assert_eq!(parsed.kind, EntryKind::Put);
        // A prefix key sorts first even though its trailer bytes are large.
        let prefix = encode(b"a", 0, EntryKind::Delete);
        assert_eq!(compare(&prefix, &a), Ordering::Less);
        // Newer versions first.
        let newer = encode(b"ab", 8, EntryKind::Delete);
        assert_eq!(compare(&newer, &a), Ordering::Less);
        assert_eq!(compare(&a, &a), Ordering::Equal);
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(parse(b"short").is_err());
        let mut bad_kind = encode(b"k", 1, EntryKind::Put);
        if let Some(last) = bad_kind.last_mut() {
            *last = 9;
        }
        assert!(parse(&bad_kind).is_err());
    }
}
