//! Chosen crashes: the unsynced operations a power loss may keep or drop,
//! listed ([`SimVfs::pending_ops`]) so that a test can pick which survive
//! ([`SimVfs::crash_keeping`]) — every subset in turn, on copies of one
//! halted disk ([`SimVfs::halt_after_ops`], [`SimVfs::fork`]).
//!
//! This is how the file-protocol enumeration works: run a protocol, halt it
//! after its n-th mutating operation, and recover from every combination of
//! what was not yet synced, instead of the one the seeded RNG of
//! [`SimVfs::crash`] would pick — and, with [`SimVfs::crash_keeping_torn`],
//! from a write the power cut in the middle, of which only a prefix (whole
//! sectors, say) reached the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Change, DirOp, Inode, InodeId, SimVfs, State, write_into};

/// One operation not yet made durable, which a crash may keep or drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    /// The file it applies to (for a rename: the source name). For a
    /// content change: the file's current name, else a name it had.
    pub path: PathBuf,
    pub kind: PendingKind,
}

/// What a [`PendingOp`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingKind {
    /// `write_all_at` of `len` bytes at `offset`.
    Write { offset: u64, len: u64 },
    /// `set_len`.
    SetLen(u64),
    /// The creation of the name.
    Create,
    /// A rename to `to`.
    Rename { to: PathBuf },
    /// The removal of the name.
    Remove,
}

impl SimVfs {
    /// The operations a crash now may keep or drop, in the order
    /// [`SimVfs::crash_keeping`] takes its choices: first the directory
    /// operations not made durable by `sync_dir` (in the order they were
    /// made), then, file by file (in creation order), the unsynced writes
    /// and `set_len`s of every file that can survive a crash.
    pub fn pending_ops(&self) -> Vec<PendingOp> {
        let s = self.state.lock();
        let mut ops: Vec<PendingOp> = s.dir_log.iter().map(dir_pending_op).collect();
        for id in s.pending_inodes() {
            let path = s.some_name_of(id);
            let Some(inode) = s.inodes.get(&id) else {
                continue;
            };
            ops.extend(inode.pending.iter().map(|change| PendingOp {
                path: path.clone(),
                kind: match change {
                    Change::Write { offset, data } => PendingKind::Write {
                        offset: *offset,
                        len: data.len() as u64,
                    },
                    Change::SetLen(len) => PendingKind::SetLen(*len),
                },
            }));
        }
        ops
    }

    /// Power loss in which exactly the chosen pending operations survive:
    /// `keep[i]` for the i-th entry of [`SimVfs::pending_ops`] (missing
    /// entries count as dropped). Kept directory operations are replayed in
    /// order (one whose source is gone is skipped, as in [`SimVfs::crash`]);
    /// a file's kept changes are applied in order, so holes are possible;
    /// nothing is torn. Otherwise as [`SimVfs::crash`]: old handles and
    /// locks die, and the seeded RNG is not consulted.
    pub fn crash_keeping(&self, keep: &[bool]) {
        self.state.lock().crash_keeping(keep, None);
    }

    /// As [`SimVfs::crash_keeping`], but pending operation `torn` (an
    /// index into [`SimVfs::pending_ops`], which must be a write) is torn:
    /// only its first `bytes` bytes survive (whatever `keep[torn]` says), as
    /// when the power fails while the disk is writing it. A test picks
    /// `bytes` at the disk's atomic unit (512-byte sectors: the prefix ends
    /// at a sector boundary of the file).
    ///
    /// # Panics
    /// If operation `torn` is not a write of more than `bytes` bytes.
    pub fn crash_keeping_torn(&self, keep: &[bool], torn: usize, bytes: u64) {
        let ops = self.pending_ops();
        assert!(
            matches!(ops.get(torn), Some(PendingOp { kind: PendingKind::Write { len, .. }, .. }) if *len > bytes),
            "pending operation {torn} is not a write longer than {bytes} bytes: {:?}",
            ops.get(torn)
        );
        self.state.lock().crash_keeping(keep, Some((torn, bytes)));
    }

    /// As [`SimVfs::crash_after_ops`], but the operation after the next `n`
    /// halts the disk instead of crashing it: that operation fails without
    /// effect, every handle and lock opened before dies, and every later
    /// operation fails, while the unsynced operations stay pending — for
    /// [`SimVfs::pending_ops`], [`SimVfs::fork`] and a chosen crash. Any
    /// crash ends the halt.
    pub fn halt_after_ops(&self, n: u64) {
        let mut s = self.state.lock();
        s.crash_at_op = Some(s.mutating_ops.saturating_add(n));
        s.halt_at_op = true;
    }

    /// True between a halt and the next crash.
    pub fn is_halted(&self) -> bool {
        self.state.lock().halted
    }

    /// An independent copy of the disk as it is now: files, names, what is
    /// durable and what is pending, the halt, the counters and the RNG. Not
    /// copied: open handles and locks (they belong to the processes of the
    /// original), armed faults and an armed crash or halt.
    pub fn fork(&self) -> SimVfs {
        let mut copy = self.state.lock().clone();
        copy.locks.clear();
        copy.faults.clear();
        copy.crash_at_op = None;
        copy.halt_at_op = false;
        for inode in copy.inodes.values_mut() {
            inode.open_handles = 0;
        }
        copy.collect_garbage();
        SimVfs {
            state: Arc::new(Mutex::new(copy)),
            session: None,
        }
    }
}

fn dir_pending_op(op: &DirOp) -> PendingOp {
    match op {
        DirOp::Create { path, .. } => PendingOp {
            path: path.clone(),
            kind: PendingKind::Create,
        },
        DirOp::Rename { from, to, .. } => PendingOp {
            path: from.clone(),
            kind: PendingKind::Rename { to: to.clone() },
        },
        DirOp::Remove { path, .. } => PendingOp {
            path: path.clone(),
            kind: PendingKind::Remove,
        },
    }
}

impl State {
    /// Inodes with pending changes that a crash could leave reachable, in
    /// id (creation) order.
    fn pending_inodes(&self) -> Vec<InodeId> {
        let reachable: BTreeSet<InodeId> = self
            .names
            .values()
            .chain(self.durable_names.values())
            .copied()
            .chain(self.dir_log.iter().map(DirOp::inode))
            .collect();
        self.inodes
            .iter()
            .filter(|(id, inode)| reachable.contains(id) && !inode.pending.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// A name of inode `id`: its current one, else a durable one, else the
    /// last one the directory log gave it.
    fn some_name_of(&self, id: InodeId) -> PathBuf {
        let find = |names: &BTreeMap<PathBuf, InodeId>| {
            names
                .iter()
                .find(|(_, i)| **i == id)
                .map(|(p, _)| p.clone())
        };
        find(&self.names)
            .or_else(|| find(&self.durable_names))
            .or_else(|| {
                self.dir_log
                    .iter()
                    .rev()
                    .find(|op| op.inode() == id)
                    .map(|op| {
                        let [_, to] = op.paths();
                        to.to_path_buf()
                    })
            })
            .unwrap_or_default()
    }

    /// The power goes out without a crash: handles die, the disk stays as
    /// it is, every later operation fails.
    pub(super) fn halt(&mut self) {
        self.cut_power();
        self.halted = true;
    }

    /// `torn`: the index among the pending operations of a write of which
    /// only a prefix of that many bytes survives.
    fn crash_keeping(&mut self, keep: &[bool], torn: Option<(usize, u64)>) {
        let mut keep = keep
            .iter()
            .copied()
            .chain(std::iter::repeat(false))
            .enumerate()
            .map(|(i, kept)| match torn {
                Some((at, bytes)) if at == i => Kept::Prefix(bytes),
                _ if kept => Kept::Whole,
                _ => Kept::Nothing,
            });
        let order = self.pending_inodes();
        self.cut_power();
        self.crashes += 1;
        self.crash_point = None;
        self.halted = false;

        let mut names = std::mem::take(&mut self.durable_names);
        for op in std::mem::take(&mut self.dir_log) {
            if keep.next() == Some(Kept::Whole) {
                op.apply(&mut names);
            }
        }
        self.names.clone_from(&names);
        self.durable_names = names;

        let mut choices: BTreeMap<InodeId, Vec<Kept>> = BTreeMap::new();
        for id in order {
            if let Some(inode) = self.inodes.get(&id) {
                let kept = inode.pending.iter().filter_map(|_| keep.next());
                choices.insert(id, kept.collect());
            }
        }
        let survivors: BTreeSet<InodeId> = self.names.values().copied().collect();
        self.inodes.retain(|id, _| survivors.contains(id));
        for (id, inode) in &mut self.inodes {
            inode.settle_keeping(choices.get(id).map_or(&[], Vec::as_slice));
        }
    }
}

/// What a chosen crash keeps of one pending operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kept {
    Nothing,
    Whole,
    /// The first that many bytes of a write.
    Prefix(u64),
}

impl Inode {
    /// Power loss keeping exactly the pending changes marked in `keep`.
    fn settle_keeping(&mut self, keep: &[Kept]) {
        for (change, kept) in std::mem::take(&mut self.pending).iter().zip(keep) {
            match (kept, change) {
                (Kept::Nothing, _) => {}
                (Kept::Whole, _) => change.apply(&mut self.durable),
                (Kept::Prefix(bytes), Change::Write { offset, data }) => {
                    let prefix = &data[..data.len().min(*bytes as usize)];
                    write_into(&mut self.durable, *offset, prefix);
                }
                (Kept::Prefix(_), Change::SetLen(_)) => {}
            }
        }
        self.current.clone_from(&self.durable);
        self.open_handles = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{OpenMode, Vfs};

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// A synced file `/d/a` = "base", then unsynced: write "XY" at 0,
    /// write "Z" at 3, create `/d/b`, rename `/d/b` to `/d/c`.
    fn setup() -> SimVfs {
        let vfs = SimVfs::new(9);
        let a = vfs.open(&p("/d/a"), OpenMode::Create).unwrap();
        a.write_all_at(b"base", 0).unwrap();
        a.sync().unwrap();
        vfs.sync_dir(&p("/d")).unwrap();
        a.write_all_at(b"XY", 0).unwrap();
        a.write_all_at(b"Z", 3).unwrap();
        let b = vfs.open(&p("/d/b"), OpenMode::Create).unwrap();
        b.write_all_at(b"new", 0).unwrap();
        vfs.rename(&p("/d/b"), &p("/d/c")).unwrap();
        vfs
    }

    #[test]
    fn pending_ops_lists_directory_operations_then_content_changes() {
        let ops = setup().pending_ops();
        let kinds: Vec<(&Path, &PendingKind)> =
            ops.iter().map(|o| (o.path.as_path(), &o.kind)).collect();
        assert_eq!(
            kinds,
            [
                (Path::new("/d/b"), &PendingKind::Create),
                (Path::new("/d/b"), &PendingKind::Rename { to: p("/d/c") }),
                (Path::new("/d/a"), &PendingKind::Write { offset: 0, len: 2 }),
                (Path::new("/d/a"), &PendingKind::Write { offset: 3, len: 1 }),
                (Path::new("/d/c"), &PendingKind::Write { offset: 0, len: 3 }),
            ]
        );
        let vfs = setup();
        vfs.open(&p("/d/a"), OpenMode::ReadWrite)
            .unwrap()
            .sync()
            .unwrap();
        vfs.sync_dir(&p("/d")).unwrap();
        assert_eq!(vfs.pending_ops().len(), 1, "only /d/c's write is left");
    }

    #[test]
    fn crash_keeping_keeps_exactly_the_chosen_operations() {
        let outcome = |keep: &[bool]| {
            let vfs = setup();
            vfs.crash_keeping(keep);
            assert!(vfs.pending_ops().is_empty());
            (
                vfs.file_contents(&p("/d/a")).unwrap(),
                vfs.file_contents(&p("/d/b")),
                vfs.file_contents(&p("/d/c")),
            )
        };
        let new = Some(b"new".to_vec());
        assert_eq!(outcome(&[]), (b"base".to_vec(), None, None));
        assert_eq!(outcome(&[true; 5]), (b"XYsZ".to_vec(), None, new.clone()));
        // A hole: the later write survives, the earlier one does not.
        assert_eq!(
            outcome(&[false, false, false, true]),
            (b"basZ".to_vec(), None, None)
        );
        // The create without the rename; its content without its write.
        assert_eq!(
            outcome(&[true, false, true]),
            (b"XYse".to_vec(), Some(Vec::new()), None)
        );
        // The rename cannot happen without the create it depends on.
        assert_eq!(outcome(&[false, true, false, false, true]).2, None);
        // Every subset gives a different state of /d/a.
        let states: BTreeSet<Vec<u8>> = (0..4u8)
            .map(|m| outcome(&[false, false, m & 1 != 0, m & 2 != 0]).0)
            .collect();
        assert_eq!(states.len(), 4);
    }

    #[test]
    fn crash_keeping_torn_keeps_a_prefix_of_one_write() {
        let torn = |keep: &[bool], at: usize, bytes: u64| {
            let vfs = setup();
            vfs.crash_keeping_torn(keep, at, bytes);
            assert!(vfs.pending_ops().is_empty());
            (
                vfs.file_contents(&p("/d/a")).unwrap(),
                vfs.file_contents(&p("/d/c")),
            )
        };
        // "XY" at 0 torn after one byte, nothing else kept.
        assert_eq!(torn(&[], 2, 1), (b"Xase".to_vec(), None));
        // The same whatever keep says about the torn write itself.
        assert_eq!(torn(&[false, false, true], 2, 1).0, b"Xase");
        // Everything kept but the new file's write, torn after 2 bytes.
        assert_eq!(
            torn(&[true; 5], 4, 2),
            (b"XYsZ".to_vec(), Some(b"ne".to_vec()))
        );
        // A torn write that keeps nothing: as if dropped.
        assert_eq!(torn(&[true; 5], 4, 0).1, Some(Vec::new()));
    }

    #[test]
    #[should_panic(expected = "not a write longer than")]
    fn crash_keeping_torn_refuses_what_is_not_a_longer_write() {
        setup().crash_keeping_torn(&[], 0, 1);
    }

    #[test]
    fn halt_freezes_the_disk_and_forks_crash_independently() {
        let vfs = setup();
        let a = vfs.open(&p("/d/a"), OpenMode::ReadWrite).unwrap();
        vfs.halt_after_ops(1);
        a.write_all_at(b"1", 0).unwrap();
        let err = a.write_all_at(b"2", 1).unwrap_err();
        assert!(err.to_string().contains("simulated power loss"), "{err}");
        assert!(vfs.is_halted());
        assert_eq!(vfs.crashes(), 0);
        // Everything fails now, old handles and new operations alike.
        assert!(a.read_all().is_err());
        assert!(vfs.open(&p("/d/a"), OpenMode::Read).is_err());
        assert!(vfs.open(&p("/d/new"), OpenMode::Create).is_err());
        assert!(vfs.rename(&p("/d/a"), &p("/d/z")).is_err());
        assert!(vfs.sync_dir(&p("/d")).is_err());
        assert!(vfs.lock(&p("/d/LOCK")).is_err());
        let ops = vfs.pending_ops();
        assert_eq!(ops.len(), 6, "the halted write is not pending: {ops:?}");

        let kept_all = vfs.fork();
        let kept_none = vfs.fork();
        assert!(kept_all.is_halted());
        kept_all.crash_keeping(&[true; 6]);
        kept_none.crash_keeping(&[]);
        assert!(!kept_all.is_halted());
        assert_eq!(kept_all.file_contents(&p("/d/a")).unwrap(), b"1YsZ");
        assert_eq!(kept_none.file_contents(&p("/d/a")).unwrap(), b"base");
        // The forks are independent disks that work normally.
        let f = kept_none.open(&p("/d/a"), OpenMode::ReadWrite).unwrap();
        f.write_all_at(b"B", 0).unwrap();
        assert_eq!(kept_all.file_contents(&p("/d/a")).unwrap(), b"1YsZ");
        assert_eq!(vfs.pending_ops(), ops, "the original is untouched");
        // A plain crash ends the halt of the original.
        vfs.crash();
        assert!(!vfs.is_halted());
        vfs.open(&p("/d/a"), OpenMode::ReadWrite).unwrap();
    }

    #[test]
    fn fork_copies_what_is_durable_and_what_is_pending() {
        let vfs = setup();
        let fork = vfs.fork();
        assert_eq!(fork.pending_ops(), vfs.pending_ops());
        assert_eq!(fork.files(), vfs.files());
        fork.crash_keeping(&[]);
        assert_eq!(fork.files(), [p("/d/a")]);
        assert_eq!(vfs.files(), [p("/d/a"), p("/d/c")]);
    }
}
