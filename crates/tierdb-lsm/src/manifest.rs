//! The LSM manifest's contents — which table is in which level, the
//! persisted sequence, the next table number — and the two records a
//! manifest log holds (see `manifest_log.rs`, `docs/format/lsm-manifest.md`):
//!
//! ```text
//! snapshot: kind u8 = 1 | persisted_seq u64 | next_table u64 | level_count u32
//!           | level_count × (table_count u32 | table_count × (number u64 | file_bytes u64))
//! edit:     kind u8 = 2 | persisted_seq u64 | next_table u64
//!           | removed_count u32 | removed_count × (level u32 | number u64)
//!           | added_count u32 | added_count × (level u32 | index u32 | number u64 | file_bytes u64)
//! ```
//! All integers little-endian. An edit removes its tables first, then
//! inserts each added table at `index` of its level, in the order listed.

use std::collections::HashSet;
use std::path::Path;

use tierdb_io::{Error, Result};

/// Refuse absurd counts before allocating for them.
const LEVELS_MAX: u32 = 64;
const KIND_SNAPSHOT: u8 = 1;
const KIND_EDIT: u8 = 2;

/// A table as the manifest lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TableRecord {
    pub(crate) number: u64,
    pub(crate) file_bytes: u64,
}

/// The manifest's contents: a version of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) persisted_seq: u64,
    pub(crate) next_table: u64,
    /// Tables per level, in the version's order.
    pub(crate) levels: Vec<Vec<TableRecord>>,
}

/// A table an edit inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Added {
    pub(crate) level: u32,
    /// Position in the level after the removals and the earlier inserts.
    pub(crate) index: u32,
    pub(crate) table: TableRecord,
}

/// The change from one version to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) persisted_seq: u64,
    pub(crate) next_table: u64,
    /// `(level, table number)`.
    pub(crate) removed: Vec<(u32, u64)>,
    pub(crate) added: Vec<Added>,
}

/// One record of a manifest log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Snapshot(Manifest),
    Edit(Edit),
}

impl Edit {
    /// The edit turning `old` into `new`; `None` if removals and inserts
    /// cannot express it (tables both versions hold, reordered), when only
    /// a snapshot can. Only the part of each level between the tables the
    /// two versions share at its start and at its end is compared, so a
    /// flush or a compaction costs about what it changed, not the level.
    pub(crate) fn between(old: &Manifest, new: &Manifest) -> Option<Edit> {
        let mut edit = Edit {
            persisted_seq: new.persisted_seq,
            next_table: new.next_table,
            removed: Vec::new(),
            added: Vec::new(),
        };
        for level in 0..old.levels.len().max(new.levels.len()) {
            let before = old.levels.get(level).map_or(&[][..], Vec::as_slice);
            let after = new.levels.get(level).map_or(&[][..], Vec::as_slice);
            let start = before.iter().zip(after).take_while(|(a, b)| a == b).count();
            let (before, after) = (&before[start..], &after[start..]);
            let end = before
                .iter()
                .rev()
                .zip(after.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let before = &before[..before.len() - end];
            let after = &after[..after.len() - end];
            let kept: HashSet<&TableRecord> = after.iter().collect();
            let had: HashSet<&TableRecord> = before.iter().collect();
            let level = u32::try_from(level).ok()?;
            for t in before.iter().filter(|t| !kept.contains(t)) {
                edit.removed.push((level, t.number));
            }
            for (i, t) in after.iter().enumerate() {
                if !had.contains(t) {
                    edit.added.push(Added {
                        level,
                        index: u32::try_from(start + i).ok()?,
                        table: *t,
                    });
                }
            }
        }
        let mut check = old.clone();
        check.apply(&edit).ok()?;
        check.same_version(new).then_some(edit)
    }
}

impl Manifest {
    /// Applies `edit`; an error says what does not fit.
    pub(crate) fn apply(&mut self, edit: &Edit) -> std::result::Result<(), &'static str> {
        for &(level, number) in &edit.removed {
            let tables = self
                .levels
                .get_mut(level as usize)
                .ok_or("edit removes from a level the manifest does not have")?;
            let at = tables
                .iter()
                .position(|t| t.number == number)
                .ok_or("edit removes a table its level does not hold")?;
            tables.remove(at);
        }
        for a in &edit.added {
            if a.level >= LEVELS_MAX {
                return Err("edit adds to a level beyond the limit");
            }
            let level = a.level as usize;
            if self.levels.len() <= level {
                self.levels.resize(level + 1, Vec::new());
            }
            let tables = &mut self.levels[level];
            if a.index as usize > tables.len() {
                return Err("edit inserts past the end of a level");
            }
            tables.insert(a.index as usize, a.table);
        }
        self.persisted_seq = edit.persisted_seq;
        self.next_table = edit.next_table;
        Ok(())
    }

    /// The same version: levels past the last non-empty one may differ in
    /// number only.
    fn same_version(&self, other: &Manifest) -> bool {
        let empty = Vec::new();
        let levels = self.levels.len().max(other.levels.len());
        self.persisted_seq == other.persisted_seq
            && self.next_table == other.next_table
            && (0..levels).all(|l| {
                self.levels.get(l).unwrap_or(&empty) == other.levels.get(l).unwrap_or(&empty)
            })
    }

    /// No table listed twice.
    pub(crate) fn check_distinct(&self) -> std::result::Result<(), &'static str> {
        let mut seen = HashSet::new();
        match self.levels.iter().flatten().all(|t| seen.insert(t.number)) {
            true => Ok(()),
            false => Err("a table is listed twice"),
        }
    }
}

impl Record {
    /// The record's payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Record::Snapshot(m) => {
                out.push(KIND_SNAPSHOT);
                out.extend_from_slice(&m.persisted_seq.to_le_bytes());
                out.extend_from_slice(&m.next_table.to_le_bytes());
                out.extend_from_slice(&(m.levels.len() as u32).to_le_bytes());
                for level in &m.levels {
                    out.extend_from_slice(&(level.len() as u32).to_le_bytes());
                    for t in level {
                        out.extend_from_slice(&t.number.to_le_bytes());
                        out.extend_from_slice(&t.file_bytes.to_le_bytes());
                    }
                }
            }
            Record::Edit(e) => {
                out.push(KIND_EDIT);
                out.extend_from_slice(&e.persisted_seq.to_le_bytes());
                out.extend_from_slice(&e.next_table.to_le_bytes());
                out.extend_from_slice(&(e.removed.len() as u32).to_le_bytes());
                for (level, number) in &e.removed {
                    out.extend_from_slice(&level.to_le_bytes());
                    out.extend_from_slice(&number.to_le_bytes());
                }
                out.extend_from_slice(&(e.added.len() as u32).to_le_bytes());
                for a in &e.added {
                    out.extend_from_slice(&a.level.to_le_bytes());
                    out.extend_from_slice(&a.index.to_le_bytes());
                    out.extend_from_slice(&a.table.number.to_le_bytes());
                    out.extend_from_slice(&a.table.file_bytes.to_le_bytes());
                }
            }
        }
        out
    }

    /// Decodes the payload starting at `offset` of the file `path`.
    pub(crate) fn decode(path: &Path, offset: u64, payload: &[u8]) -> Result<Record> {
        let mut r = Reader {
            data: payload,
            pos: 0,
            path,
            offset,
        };
        let record = match r.u8()? {
            KIND_SNAPSHOT => Record::Snapshot(decode_snapshot(&mut r)?),
            KIND_EDIT => Record::Edit(decode_edit(&mut r)?),
            _ => return Err(r.corrupt("unknown LSM manifest record kind")),
        };
        if r.remaining() != 0 {
            return Err(r.corrupt("trailing bytes in LSM manifest record"));
        }
        Ok(record)
    }
}

fn decode_snapshot(r: &mut Reader<'_>) -> Result<Manifest> {
    let persisted_seq = r.u64()?;
    let next_table = r.u64()?;
    let level_count = r.u32()?;
    if level_count > LEVELS_MAX {
        return Err(r.corrupt("too many levels"));
    }
    let mut levels = Vec::new();
    for _ in 0..level_count {
        let count = r.count(16)?;
        let mut level = Vec::with_capacity(count);
        for _ in 0..count {
            level.push(r.table()?);
        }
        levels.push(level);
    }
    Ok(Manifest {
        persisted_seq,
        next_table,
        levels,
    })
}

fn decode_edit(r: &mut Reader<'_>) -> Result<Edit> {
    let persisted_seq = r.u64()?;
    let next_table = r.u64()?;
    let count = r.count(12)?;
    let mut removed = Vec::with_capacity(count);
    for _ in 0..count {
        removed.push((r.u32()?, r.u64()?));
    }
    let count = r.count(24)?;
    let mut added = Vec::with_capacity(count);
    for _ in 0..count {
        let (level, index) = (r.u32()?, r.u32()?);
        added.push(Added {
            level,
            index,
            table: r.table()?,
        });
    }
    Ok(Edit {
        persisted_seq,
        next_table,
        removed,
        added,
    })
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
    /// Where `data` starts in the file.
    offset: u64,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self
            .data
            .get(self.pos..self.pos + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| self.corrupt("LSM manifest record truncated"))?;
        self.pos += N;
        Ok(bytes)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn table(&mut self) -> Result<TableRecord> {
        Ok(TableRecord {
            number: self.u64()?,
            file_bytes: self.u64()?,
        })
    }
    /// A count of items of `item_bytes` each, refused if they cannot fit.
    fn count(&mut self, item_bytes: usize) -> Result<usize> {
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.remaining() {
            return Err(self.corrupt("count exceeds LSM manifest record"));
        }
        Ok(count)
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    fn corrupt(&self, reason: &str) -> Error {
        Error::corruption(self.path, self.offset + self.pos as u64, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(number: u64) -> TableRecord {
        TableRecord {
            number,
            file_bytes: number * 10,
        }
    }

    fn sample() -> Manifest {
        Manifest {
            persisted_seq: 77,
            next_table: 9,
            levels: vec![vec![t(8)], vec![], vec![t(3), t(4)]],
        }
    }

    #[test]
    fn records_round_trip() {
        let snapshot = Record::Snapshot(sample());
        let p = Path::new("m");
        assert_eq!(Record::decode(p, 0, &snapshot.encode()).unwrap(), snapshot);
        let mut next = sample();
        next.levels[0].clear();
        next.levels[1] = vec![t(9), t(10)];
        next.next_table = 11;
        let edit = Edit::between(&sample(), &next).unwrap();
        let record = Record::Edit(edit.clone());
        assert_eq!(Record::decode(p, 0, &record.encode()).unwrap(), record);
        let mut replayed = sample();
        replayed.apply(&edit).unwrap();
        assert_eq!(replayed, next);
    }

    #[test]
    fn a_flush_edit_is_one_table_whatever_the_tree_holds() {
        let mut old = sample();
        old.levels[2] = (100..2100).map(t).collect();
        let mut new = old.clone();
        new.levels[0].insert(0, t(5000));
        let edit = Edit::between(&old, &new).unwrap();
        assert!(edit.removed.is_empty());
        assert_eq!(edit.added.len(), 1);
        assert!(Record::Edit(edit).encode().len() < 64);
    }

    #[test]
    fn a_reordering_needs_a_snapshot() {
        let old = sample();
        let mut new = old.clone();
        new.levels[2].reverse();
        assert_eq!(Edit::between(&old, &new), None);
    }

    #[test]
    fn edits_that_do_not_fit_are_refused() {
        let mut m = sample();
        let edit = |removed, added| Edit {
            persisted_seq: 1,
            next_table: 1,
            removed,
            added,
        };
        assert!(m.apply(&edit(vec![(1, 8)], vec![])).is_err());
        assert!(m.apply(&edit(vec![(9, 8)], vec![])).is_err());
        let far = Added {
            level: 1,
            index: 1,
            table: t(20),
        };
        assert!(m.apply(&edit(vec![], vec![far])).is_err());
        let deep = Added {
            level: 64,
            index: 0,
            table: t(20),
        };
        assert!(m.apply(&edit(vec![], vec![deep])).is_err());
        let mut twice = sample();
        twice.levels[1].push(t(8));
        assert!(twice.check_distinct().is_err());
        assert!(sample().check_distinct().is_ok());
    }

    #[test]
    fn every_truncation_of_a_record_is_an_error() {
        let data = Record::Snapshot(sample()).encode();
        for i in 0..data.len() {
            assert!(
                Record::decode(Path::new("m"), 0, &data[..i]).is_err(),
                "len {i}"
            );
        }
    }
}
