//! Which versions a flush or compaction keeps.
//!
//! The horizon `h` is the applied sequence when the work started. A table
//! written now is only ever read by views created after it is installed,
//! and those have sequences `>= h` (views created earlier keep their own
//! `Version` and memtables alive, see `view.rs`). Such a view needs, per
//! key, the newest version `<= its sequence`, which is either a version
//! above `h` or the newest version `<= h`. So, per key (newest first):
//! keep every version above `h`, keep the newest version at or below `h`,
//! drop the older ones. At the bottom-most level holding the key range, a
//! kept tombstone at or below `h` is dropped too: nothing older remains for
//! it to hide.
//!
//! In this version the inputs of a flush or compaction never hold a
//! sequence above the applied sequence, so in effect the filter keeps the
//! newest version of each key; views older than that keep reading the
//! memtables and tables they pinned (space is reclaimed when they go). No
//! registry of live views is needed. The horizon test stays so the filter
//! remains right if inputs ever do (say, a background compaction reading
//! an unflushed memtable).

use bytes::Bytes;

use crate::entry::{Entry, EntryKind};

/// Filters a stream of entries in internal order.
#[derive(Debug)]
pub(crate) struct Retain {
    horizon: u64,
    drop_tombstones: bool,
    last_key: Option<Bytes>,
    settled: bool,
}

impl Retain {
    /// A filter for horizon `horizon`; `drop_tombstones` at the bottom level.
    pub(crate) fn new(horizon: u64, drop_tombstones: bool) -> Self {
        Retain {
            horizon,
            drop_tombstones,
            last_key: None,
            settled: false,
        }
    }

    /// True if `entry` (the next in internal order) must be kept.
    pub(crate) fn keep(&mut self, entry: &Entry) -> bool {
        if self.last_key.as_ref() != Some(&entry.key) {
            self.last_key = Some(entry.key.clone());
            self.settled = false;
        }
        if entry.seq > self.horizon {
            return true;
        }
        if self.settled {
            return false;
        }
        self.settled = true;
        !(self.drop_tombstones && entry.kind == EntryKind::Delete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(key: &'static str, seq: u64, kind: EntryKind) -> Entry {
        Entry {
            key: Bytes::from_static(key.as_bytes()),
            seq,
            kind,
            value: Bytes::new(),
        }
    }

    #[test]
    fn keeps_above_horizon_and_newest_below() {
        let mut r = Retain::new(10, false);
        let kept: Vec<u64> = [
            e("a", 12, EntryKind::Put),
            e("a", 11, EntryKind::Put),
            e("a", 9, EntryKind::Delete),
            e("a", 5, EntryKind::Put),
            e("b", 3, EntryKind::Put),
            e("b", 2, EntryKind::Put),
        ]
        .iter()
        .filter(|x| r.keep(x))
        .map(|x| x.seq)
        .collect();
        assert_eq!(kept, vec![12, 11, 9, 3]);
    }

    #[test]
    fn bottom_level_drops_settled_tombstones() {
        let mut r = Retain::new(10, true);
        let kept: Vec<u64> = [
            e("a", 11, EntryKind::Delete),
            e("a", 9, EntryKind::Delete),
            e("a", 5, EntryKind::Put),
            e("b", 3, EntryKind::Put),
        ]
        .iter()
        .filter(|x| r.keep(x))
        .map(|x| x.seq)
        .collect();
        assert_eq!(kept, vec![11, 3]);
    }
}
